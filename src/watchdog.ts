/**
 * The watchdog: a thread that sets stop flags in shared memory, on time,
 * however busy the main thread is.
 *
 * A guest running synchronously holds its thread: no timer, no
 * `AbortSignal` event and no message runs there until it returns. So the
 * deadline is kept on another thread, which writes `1` into a flag the
 * guest reads at its checks, as Wasmtime's epoch ticker does. The flag is
 * element 0 of an `Int32Array` over shared memory, for example the buffer of
 * a shared one-page `WebAssembly.Memory` the guest imports.
 *
 * One Worker serves the whole process. It starts with the first handle and
 * is terminated as soon as the last handle is disarmed, so it never keeps a
 * process (or a test's sanitizers) busy: every handle must be disarmed, also
 * after its flag fired. Starting the Worker takes some milliseconds, which
 * the first deadline after an idle spell waits for.
 *
 * @module
 */

import type { StopSignal } from "./stop_signal.ts";
import {
  POSTED,
  QUITTING,
  READY,
  runWatchdog,
  type WatchdogMessage,
  type WatchdogSettings,
} from "./watchdog_worker.ts";

/** How often the watchdog reads the StopSignals it watches, in milliseconds. */
export const WATCH_POLL_MS = 0.5;

/** A flag the watchdog sets; call `disarm` when it is no longer needed. */
export interface WatchdogHandle {
  /**
   * Stops the watchdog from setting the flag (again). Leaves the flag as it
   * is. Calling it twice does nothing.
   */
  disarm(): void;
}

interface Running {
  worker: Worker;
  control: Int32Array;
}

let running: Running | undefined;
let armed = 0;
let nextId = 1;

function workerSource(): string {
  const settings: WatchdogSettings = {
    pollMs: WATCH_POLL_MS,
    posted: POSTED,
    quitting: QUITTING,
    ready: READY,
  };
  const program = `(${runWatchdog.toString()})(self, ${
    JSON.stringify(settings)
  });`;
  return `data:text/javascript,${encodeURIComponent(program)}`;
}

function post(watchdog: Running, message: WatchdogMessage): void {
  watchdog.worker.postMessage(message);
  Atomics.add(watchdog.control, POSTED, 1);
  Atomics.notify(watchdog.control, POSTED);
}

function start(): Running {
  if (running !== undefined) return running;
  const worker = new Worker(workerSource(), {
    type: "module",
    name: "early-exit watchdog",
  });
  const control = new Int32Array(new SharedArrayBuffer(12));
  running = { worker, control };
  post(running, { op: "start", control });
  return running;
}

function stopIfIdle(): void {
  if (armed > 0 || running === undefined) return;
  const { worker, control } = running;
  running = undefined;
  // Wake the thread from its wait first: terminate() cannot stop a thread
  // blocked in Atomics.wait, and a live thread would keep the process up.
  Atomics.store(control, QUITTING, 1);
  Atomics.notify(control, POSTED);
  worker.terminate();
}

function checkFlag(flag: Int32Array): void {
  if (!(flag instanceof Int32Array) || !isShared(flag.buffer)) {
    throw new TypeError(
      "a watchdog flag must be an Int32Array over a SharedArrayBuffer (for example a shared WebAssembly.Memory's buffer)",
    );
  }
}

function isShared(buffer: ArrayBufferLike): boolean {
  return typeof SharedArrayBuffer === "function" &&
    buffer instanceof SharedArrayBuffer;
}

function checkTime(value: number, what: string): void {
  if (typeof value !== "number" || Number.isNaN(value)) {
    throw new TypeError(`${what} must be a number; got ${value}`);
  }
}

type Armed =
  | { op: "arm"; flag: Int32Array; at: number }
  | { op: "tick"; flag: Int32Array; at: number; every: number }
  | { op: "watch"; flag: Int32Array; stop: Int32Array };

function register(entry: Armed): WatchdogHandle {
  const watchdog = start();
  const id = nextId++;
  armed++;
  post(watchdog, { ...entry, id });
  let live = true;
  return {
    disarm() {
      if (!live) return;
      live = false;
      armed--;
      if (running === watchdog) post(watchdog, { op: "disarm", id });
      stopIfIdle();
    },
  };
}

/** This thread's `performance.now()` as a time every thread agrees on. */
function absolute(atMs: number): number {
  return performance.timeOrigin + atMs;
}

/**
 * Sets `flag[0]` to 1 at a deadline, and again every
 * {@linkcode WATCH_POLL_MS} after it until disarmed: the threads' clocks
 * may differ by a fraction of a millisecond, so a host that finds the
 * deadline not yet passed clears the flag and is asked again.
 *
 * @param flag An `Int32Array` over shared memory.
 * @param atMs The deadline, as a `performance.now()` time of this thread.
 * @returns The handle to disarm it.
 * @throws {TypeError} When `flag` is not over shared memory.
 */
export function arm(flag: Int32Array, atMs: number): WatchdogHandle {
  checkFlag(flag);
  checkTime(atMs, "the deadline");
  return register({ op: "arm", flag, at: absolute(atMs) });
}

/**
 * Sets `flag[0]` to 1 whenever `stop` is found set (it is read every
 * {@linkcode WATCH_POLL_MS}), whichever thread set it: a flag cleared while
 * the signal stays set is set again.
 *
 * @param stop The signal to copy into the flag.
 * @param flag An `Int32Array` over shared memory.
 * @returns The handle to disarm it.
 * @throws {TypeError} When `flag` is not over shared memory.
 */
export function watch(stop: StopSignal, flag: Int32Array): WatchdogHandle {
  checkFlag(flag);
  return register({
    op: "watch",
    flag,
    stop: new Int32Array(stop.buffer, 0, 1),
  });
}

/**
 * Sets `flag[0]` to 1 every `everyMs` milliseconds, for example so that an
 * async call yields to the event loop that often.
 *
 * @param flag An `Int32Array` over shared memory.
 * @param everyMs The period, in milliseconds.
 * @returns The handle to disarm it.
 * @throws {TypeError} When `flag` is not over shared memory.
 * @throws {RangeError} When the period is not positive.
 */
export function tick(flag: Int32Array, everyMs: number): WatchdogHandle {
  checkFlag(flag);
  checkTime(everyMs, "the period");
  if (!(everyMs > 0) || everyMs === Infinity) {
    throw new RangeError(
      `the period must be a positive number of milliseconds; got ${everyMs}`,
    );
  }
  const at = absolute(performance.now() + everyMs);
  return register({ op: "tick", flag, at, every: everyMs });
}

let lingering:
  | {
    handle: WatchdogHandle;
    timer: ReturnType<typeof setTimeout>;
    until: number;
  }
  | undefined;

/**
 * Keeps the Worker running (starting it if need be) for `ms` more
 * milliseconds, so that a run of short calls does not start a thread for
 * each: starting one costs some milliseconds, which a call whose deadline
 * comes sooner would be late by. A guest that can be stopped starts it as
 * it loads, while the module compiles.
 *
 * Meanwhile the thread keeps polling, as for a StopSignal: a Worker left
 * idle in its event loop was seen not to receive a message posted while the
 * main thread ran a guest, so it must never idle while it may be needed.
 * The timer is unref'd: it keeps no process alive, and the Worker is
 * terminated when it fires if nothing else is armed. Calls extend it
 * without touching the timer, which costs microseconds a call.
 *
 * @param ms How long to keep the Worker, in milliseconds.
 */
export function linger(ms: number): void {
  const until = performance.now() + ms;
  if (lingering !== undefined) {
    lingering.until = until;
    return;
  }
  const idle = new Int32Array(new SharedArrayBuffer(4));
  const handle = register({ op: "watch", flag: idle, stop: idle });
  lingering = { handle, timer: lingerTimer(ms), until };
}

function lingerTimer(ms: number): ReturnType<typeof setTimeout> {
  const timer = setTimeout(lingerDue, ms);
  Deno.unrefTimer(timer as unknown as number);
  return timer;
}

function lingerDue(): void {
  if (lingering === undefined) return;
  const left = lingering.until - performance.now();
  if (left > 0) lingering.timer = lingerTimer(left);
  else endLinger();
}

/**
 * Resolves once the Worker runs (at once when it is not starting), so that
 * a deadline armed next is kept on time; after `waitMs` it resolves anyway.
 *
 * @param waitMs The longest wait, in milliseconds.
 */
export async function watchdogReady(waitMs: number): Promise<void> {
  const control = running?.control;
  if (control === undefined) return;
  const waited = Atomics.waitAsync(control, READY, 0, waitMs);
  if (waited.async) await waited.value;
}

/** Ends {@linkcode linger} at once: an idle Worker is terminated now. */
export function endLinger(): void {
  if (lingering === undefined) return;
  clearTimeout(lingering.timer);
  const { handle } = lingering;
  lingering = undefined;
  handle.disarm();
}

/** Whether the watchdog's Worker is running (for tests). */
export function watchdogRunning(): boolean {
  return running !== undefined;
}
