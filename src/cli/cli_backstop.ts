/**
 * The command line's last resort under `--timeout`, while the `--imports`
 * module loads: that module's own top-level code runs on the JavaScript
 * thread, where a loop that never returns (`while (true) {}`) holds every
 * timer and stop flag, so the run's deadline could not end it. A thread of
 * its own waits for the deadline instead; if the module has still not
 * finished loading by then (and {@linkcode BACKSTOP_GRACE_MS} more, so that
 * a thread that is only late reports itself), it writes the run's report
 * and kills the process (SIGKILL, its own pid, which needs no permission):
 * exit status 137.
 *
 * The watchdog's thread creates it (`spawnOnWatchdog`), so that creating a
 * thread does not hold this one, and only for a run with both `--imports`
 * and `--timeout`, before the run's deadline starts: created once the
 * module was already looping, it came hundreds of milliseconds late on a
 * busy machine.
 *
 * @module
 */

import { MessageChannel } from "node:worker_threads";
import { spawnOnWatchdog } from "../watchdog/watchdog.ts";

/**
 * How long after the deadline the backstop waits for the JavaScript
 * thread to report it, in milliseconds.
 */
export const BACKSTOP_GRACE_MS = 20;

/** The report the backstop writes, with `@MS@` for the time it stopped at. */
export interface BackstopReport {
  /** What goes to stdout, `@MS@` in it replaced. */
  stdout: string;
  /** What goes to stderr, the same way. */
  stderr: string;
  /** What `--json-file` names, and what it is to hold, the same way. */
  file?: { path: string; text: string };
}

/** Word 0 of the shared state: what the backstop is to do. */
const STATE = 0;
/** Word 1: set by the backstop once it runs. */
const READY = 1;
/** States, after 0 (waiting to be armed): armed, disarmed. */
const ARMED = 1, DISARMED = 2;
/** Float64 slots after the words: the run's start and the kill's time. */
const STARTED_SLOT = 1, AT_SLOT = 2;

/**
 * The backstop's body, run from its source text on a thread of its own:
 * it refers to nothing outside itself.
 */
function backstop(): void {
  // deno-lint-ignore no-explicit-any
  const { workerData } = (globalThis as any).require("node:worker_threads");
  const shared = workerData.shared as SharedArrayBuffer;
  const words = new Int32Array(shared, 0, 2);
  const times = new Float64Array(shared);
  const now = () => performance.timeOrigin + performance.now();
  Atomics.store(words, 1, 1);
  Atomics.notify(words, 1);
  while (Atomics.load(words, 0) === 0) Atomics.wait(words, 0, 0);
  if (Atomics.load(words, 0) !== 1) return;
  const at = times[2];
  for (let left = at - now(); left > 0; left = at - now()) {
    if (Atomics.wait(words, 0, 1, left) !== "timed-out") break;
  }
  if (Atomics.load(words, 0) !== 1) return;
  const { stdout, stderr, file } = workerData as BackstopReport;
  // One reading for every copy of the report.
  const elapsed = String(Number((now() - times[1]).toFixed(1)));
  const ms = (text: string) => text.replaceAll("@MS@", elapsed);
  const encoder = new TextEncoder();
  try {
    Deno.stdout.writeSync(encoder.encode(ms(stdout)));
  } catch {
    // Nowhere to say it: the status says it.
  }
  try {
    Deno.stderr.writeSync(encoder.encode(ms(stderr)));
  } catch {
    // As above.
  }
  try {
    if (file !== undefined) Deno.writeTextFileSync(file.path, ms(file.text));
  } catch {
    // As above.
  }
  Deno.kill(Deno.pid, "SIGKILL");
}

/** A backstop, started and waiting to be armed. */
export class Backstop {
  readonly #shared = new SharedArrayBuffer(8 * 3);
  readonly #words = new Int32Array(this.#shared, 0, 2);
  readonly #times = new Float64Array(this.#shared);

  /**
   * Has the watchdog's thread create the backstop's thread.
   *
   * @param report What to write before the process is killed.
   */
  constructor(report: BackstopReport) {
    const channel = new MessageChannel();
    // `require`, which an eval'd Worker's code has, as the backstop reads it.
    const source = `globalThis.require = require;\n(${backstop})();`;
    spawnOnWatchdog(source, "early-exit backstop", {
      shared: this.#shared,
      stdout: report.stdout,
      stderr: report.stderr,
      file: report.file,
    }, channel.port2);
    channel.port1.close();
  }

  /**
   * Resolves once the backstop's thread runs, or after `waitMs`.
   *
   * @param waitMs The longest wait, in milliseconds.
   */
  async ready(waitMs: number): Promise<void> {
    const alive = setTimeout(() => {}, waitMs);
    try {
      const waited = Atomics.waitAsync(this.#words, READY, 0, waitMs);
      if (waited.async) await waited.value;
    } finally {
      clearTimeout(alive);
    }
  }

  /**
   * Arms it: past `deadline`, and its grace, it reports and kills.
   *
   * @param started The run's start, from `performance.now()`.
   * @param deadline The run's deadline, from `performance.now()`.
   */
  arm(started: number, deadline: number): void {
    // Epoch milliseconds, which the thread's clock reads alike.
    this.#times[STARTED_SLOT] = performance.timeOrigin + started;
    this.#times[AT_SLOT] = performance.timeOrigin + deadline +
      BACKSTOP_GRACE_MS;
    this.#set(ARMED);
  }

  /** Disarms it for good: its thread ends. */
  disarm(): void {
    this.#set(DISARMED);
  }

  #set(state: number): void {
    if (Atomics.load(this.#words, STATE) === DISARMED) return;
    Atomics.store(this.#words, STATE, state);
    Atomics.notify(this.#words, STATE);
  }
}
