/**
 * Issue #10, at its root: each runtime reckons its own `timeOrigin` once,
 * so the watchdog's thread and the host's can read
 * `performance.timeOrigin + performance.now()` apart, and a thread whose
 * clock ran ahead set every flag that much too soon. The thread now
 * measures how far its clock runs ahead of the host's from the stamp the
 * host writes beside each ring, and compares deadlines on the host's
 * clock. Here one clock is set 5 s off on purpose, before the thread
 * starts: no flag may be set before its deadline by the host's clock.
 */

import assert from "./support/assert.ts";
import { Worker } from "node:worker_threads";
import {
  boardBytes,
  CLOCK_AHEAD,
  HOST_STAMP,
  POSTED,
  READY,
  runWatchdog,
  SLOTS_BYTE,
  WAKE,
  type WatchdogMessage,
  type WatchdogSettings,
} from "../src/watchdog/watchdog_worker.ts";
import { assembleWat } from "../guest/build.ts";
import { SPIN_AND_SUM_WAT } from "./support/guests.ts";
import { GUARD_MS } from "./support/guarded.ts";

const OFFSET_MS = 5000;
/**
 * How far two runtimes' own clocks may read apart before any offset is
 * set: each takes its origin and its monotonic start at slightly
 * different moments (a fraction of a millisecond on a busy machine; a
 * CI run saw the thread's clock 0.15 ms behind). The thread's bound is of
 * the true gap, offset plus that, so it may fall this short of the offset.
 */
const ORIGIN_GAP_MS = 50;

/** Waits until `word[index]` leaves `from`, or the guard passes. */
async function leaves(
  word: Int32Array,
  index: number,
  from: number,
): Promise<boolean> {
  const until = performance.now() + GUARD_MS;
  for (;;) {
    if (Atomics.load(word, index) !== from) return true;
    const left = until - performance.now();
    if (left <= 0) return false;
    // A timer keeps the event loop alive; the wait alone does not.
    const alive = setTimeout(() => {}, left);
    const waited = Atomics.waitAsync(word, index, from, Math.min(left, 5));
    if (waited.async) await waited.value;
    clearTimeout(alive);
  }
}

Deno.test(`a watchdog thread whose clock runs ${OFFSET_MS} ms ahead sets no flag before its deadline by the host's clock`, async () => {
  const settings: WatchdogSettings = { pollMs: 0.5, slots: 2 };
  const worker = new Worker(
    `{
      const real = performance.timeOrigin;
      Object.defineProperty(performance, "timeOrigin", {
        get: () => real + ${OFFSET_MS},
      });
    }
    (${runWatchdog.toString()})(require("node:worker_threads").parentPort,
      ${JSON.stringify(settings)});`,
    { eval: true, env: {} },
  );
  try {
    const board = new SharedArrayBuffer(boardBytes(settings.slots));
    const control = new Int32Array(board, 0, SLOTS_BYTE / 4);
    const clock = new Float64Array(board, 0, SLOTS_BYTE / 8);
    const states = new Int32Array(board, SLOTS_BYTE, settings.slots);
    const deadlines = new Float64Array(
      board,
      SLOTS_BYTE + settings.slots * 8,
      settings.slots,
    );
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const hostNow = () => performance.timeOrigin + performance.now();
    // As the host rings: its clock written first, once the thread waits.
    const ring = () => {
      if (Atomics.load(control, READY) !== 0) clock[HOST_STAMP] = hostNow();
      Atomics.add(control, WAKE, 1);
      Atomics.notify(control, WAKE);
    };
    const post = (message: WatchdogMessage) => {
      worker.postMessage(message);
      Atomics.add(control, POSTED, 1);
      ring();
    };
    post({ op: "start", board });
    assert.ok(await leaves(control, READY, 0), "the thread started");
    post({ op: "bind", slot: 0, tag: 1, flag });
    const early: string[] = [];
    let fired = 0;
    for (let round = 0; round < 12; round++) {
      Atomics.store(flag, 0, 0);
      const deadline = hostNow() + 2 + (round % 4);
      deadlines[0] = deadline;
      Atomics.store(states, 0, 1);
      ring();
      if (!await leaves(flag, 0, 0)) continue;
      const seen = hostNow();
      fired++;
      if (seen < deadline) early.push(`${(deadline - seen).toFixed(1)} ms`);
      // Disarmed as the host does, waiting out a thread caught firing.
      while (Atomics.compareExchange(states, 0, 1, 0) === -1);
    }
    assert.deepEqual(early, [], "flags set before their deadline");
    assert.equal(fired, 12, "every deadline set the flag");
    // An upper bound of the true gap, by how it is measured: the offset,
    // give or take the runtimes' own origins.
    assert.ok(
      clock[CLOCK_AHEAD] >= OFFSET_MS - ORIGIN_GAP_MS,
      `bound ${clock[CLOCK_AHEAD]} ms`,
    );
  } finally {
    await worker.terminate();
  }
});

/**
 * Runs in a Worker of its own, so that its `timeOrigin` is moved back
 * before early-exit is imported and its watchdog's thread starts: plain
 * calls, whose flag checks trap, lose no work to a flag set early.
 */
const RUNNER = `
const [bytes, offset, mod, watchdog] = await new Promise((resolve) =>
  self.onmessage = (event) => resolve(event.data));
const real = performance.timeOrigin;
Object.defineProperty(performance, "timeOrigin", {
  get: () => real - offset,
  configurable: true,
});
const { loadGuest } = await import(mod);
const { watchdogClockAhead } = await import(watchdog);
const lines = [];
let returned = 0;
for (let round = 0; round < 2; round++) {
  const guest = await loadGuest(bytes, { timeout: 1000 });
  // A few milliseconds long: the watchdog, woken as it starts, would set
  // its flag well before it ends.
  const quick = guest.invoke("sum", [3000000], { timeout: 1000 });
  if (quick.outcome === "returned" && quick.value === -1124226208) returned++;
  else lines.push("sum: " + quick.outcome);
  const spin = guest.invoke("spin", [], { timeout: 20 });
  if (spin.outcome !== "timeout" || spin.error.elapsed < spin.error.timeout) {
    lines.push("spin: " + spin.outcome);
  }
}
self.postMessage({ returned, lines, ahead: watchdogClockAhead() });
`;

Deno.test(`plain calls on a host whose clock reads ${OFFSET_MS} ms behind its watchdog's return, and stop no sooner than their deadline`, async () => {
  const bytes = await assembleWat(SPIN_AND_SUM_WAT);
  const url = URL.createObjectURL(
    new Blob([RUNNER], { type: "application/javascript" }),
  );
  const worker = new globalThis.Worker(url, { type: "module" });
  try {
    const done = new Promise<
      { returned: number; lines: string[]; ahead: number | undefined }
    >((resolve, reject) => {
      worker.onmessage = (event) => resolve(event.data);
      worker.onerror = (event) => {
        event.preventDefault();
        reject(new Error(event.message));
      };
    });
    worker.postMessage([
      bytes,
      OFFSET_MS,
      new URL("../mod.ts", import.meta.url).href,
      new URL("../src/watchdog/watchdog.ts", import.meta.url).href,
    ]);
    const { returned, lines, ahead } = await done;
    assert.deepEqual(lines, []);
    assert.equal(returned, 2, "the quick calls returned");
    assert.ok(
      ahead !== undefined && ahead >= OFFSET_MS - ORIGIN_GAP_MS,
      `bound ${ahead} ms`,
    );
  } finally {
    worker.terminate();
    URL.revokeObjectURL(url);
  }
});
