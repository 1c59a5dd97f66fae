/**
 * The watchdog's thread may receive a message before the main thread has
 * counted it (the main thread posts, then counts, then rings). Seen in
 * fresh processes under load: the thread went back to its event loop to
 * wait for a message it already had, nothing called it back, and a 1 GiB
 * `memory.fill` under `timeout: 50` ran to its end. This drives the thread
 * through that order on purpose.
 */
import assert from "./support/assert.ts";
import { Worker } from "node:worker_threads";
import {
  boardBytes,
  POSTED,
  RECEIVED,
  runWatchdog,
  SLOTS_BYTE,
  WAKE,
  type WatchdogMessage,
  type WatchdogSettings,
} from "../src/watchdog/watchdog_worker.ts";
import { GUARD_MS } from "./support/guarded.ts";

const SLOTS = 2;

function ring(control: Int32Array): void {
  Atomics.add(control, WAKE, 1);
  Atomics.notify(control, WAKE);
}

/** Waits until the thread has received `count` messages, or `ms` passed. */
async function receivedBy(
  control: Int32Array,
  count: number,
  ms: number,
): Promise<boolean> {
  const until = performance.now() + ms;
  for (;;) {
    const seen = Atomics.load(control, RECEIVED);
    if (seen >= count) return true;
    const left = until - performance.now();
    if (left <= 0) return false;
    const waited = Atomics.waitAsync(control, RECEIVED, seen, left);
    if (waited.async) await waited.value;
  }
}

Deno.test("the watchdog sets a flag on time after messages that arrived before they were counted", async () => {
  const settings: WatchdogSettings = { pollMs: 0.5, slots: SLOTS };
  const worker = new Worker(
    `(${runWatchdog.toString()})(require("node:worker_threads").parentPort, ${
      JSON.stringify(settings)
    });`,
    { eval: true },
  );
  try {
    const board = new SharedArrayBuffer(boardBytes(SLOTS));
    const control = new Int32Array(board, 0, SLOTS_BYTE / 4);
    const states = new Int32Array(board, SLOTS_BYTE, SLOTS);
    const deadlines = new Float64Array(board, SLOTS_BYTE + SLOTS * 8, SLOTS);
    const flag = new Int32Array(new SharedArrayBuffer(4));

    // Each message is counted well after the thread has it (a thread that
    // waits for the count's ring before it reads messages gets it after
    // the count), then rung for, as the main thread does.
    const messages: WatchdogMessage[] = [
      { op: "start", board },
      { op: "bind", slot: 0, tag: 1, flag },
    ];
    for (const [index, message] of messages.entries()) {
      worker.postMessage(message);
      await receivedBy(control, index + 1, 200);
      await new Promise((resolve) => setTimeout(resolve, 100));
      Atomics.add(control, POSTED, 1);
      ring(control);
    }
    assert.ok(
      await receivedBy(control, messages.length, GUARD_MS),
      "the thread received its messages",
    );

    // A deadline in the slot, armed with no message: only a thread that
    // keeps scanning its slots sets the flag.
    deadlines[0] = performance.timeOrigin + performance.now() + 5;
    Atomics.store(states, 0, 1);
    ring(control);
    const until = performance.now() + GUARD_MS;
    while (Atomics.load(flag, 0) === 0 && performance.now() < until) {
      const waited = Atomics.waitAsync(flag, 0, 0, 50);
      if (waited.async) await waited.value;
    }
    assert.equal(Atomics.load(flag, 0), 1, "the watchdog set the flag");
  } finally {
    await worker.terminate();
  }
});
