/**
 * The watchdog's thread wakes a margin before a call's deadline and spins
 * on the clock through the rest. These drive the thread's program with a
 * margin of minutes, so that it spins through the whole of each test
 * whatever the machine's load: a deadline disarmed while it spins is never
 * set, and one armed earlier than the one it spins toward is set first.
 */
import assert from "./support/assert.ts";
import { Worker } from "node:worker_threads";
import {
  boardBytes,
  FIRING,
  LAST_FIRED_AT,
  LAST_FIRED_DEADLINE,
  POSTED,
  RECEIVED,
  runWatchdog,
  SCANNING,
  SLEEP_AT,
  SLOTS_BYTE,
  WAKE,
  type WatchdogMessage,
  type WatchdogSettings,
} from "../src/watchdog_worker.ts";
import { GUARD_MS } from "./support/guarded.ts";

const SLOTS = 2;
/** Longer than any test here runs: every deadline falls in the margin. */
const MARGIN_MS = 10 * 60_000;

interface Thread {
  worker: Worker;
  control: Int32Array;
  sleepAt: Float64Array;
  states: Int32Array;
  deadlines: Float64Array;
  flags: Int32Array[];
}

const now = () => performance.timeOrigin + performance.now();

function ring(control: Int32Array): void {
  Atomics.add(control, WAKE, 1);
  Atomics.notify(control, WAKE);
}

/** A watchdog thread with a slot bound to a flag of its own per slot. */
async function startThread(spinStepMs: number): Promise<Thread> {
  const settings: WatchdogSettings = {
    pollMs: 0.5,
    slots: SLOTS,
    spinMs: MARGIN_MS,
    spinStepMs,
  };
  const worker = new Worker(
    `(${runWatchdog.toString()})(require("node:worker_threads").parentPort, ${
      JSON.stringify(settings)
    });`,
    { eval: true },
  );
  const board = new SharedArrayBuffer(boardBytes(SLOTS));
  const control = new Int32Array(board, 0, SLOTS_BYTE / 4);
  const flags = [0, 1].map(() => new Int32Array(new SharedArrayBuffer(4)));
  const messages: WatchdogMessage[] = [
    { op: "start", board },
    ...flags.map((flag, slot) => ({ op: "bind" as const, slot, tag: 1, flag })),
  ];
  for (const message of messages) {
    worker.postMessage(message);
    Atomics.add(control, POSTED, 1);
    ring(control);
  }
  const until = performance.now() + GUARD_MS;
  while (Atomics.load(control, RECEIVED) < messages.length) {
    assert.ok(performance.now() < until, "the thread received its bindings");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return {
    worker,
    control,
    sleepAt: new Float64Array(board, 0, SLOTS_BYTE / 8),
    states: new Int32Array(board, SLOTS_BYTE, SLOTS),
    deadlines: new Float64Array(board, SLOTS_BYTE + SLOTS * 8, SLOTS),
    flags,
  };
}

/** Arms `slot` for `at`, ringing as the main thread does. */
function arm(thread: Thread, slot: number, at: number): void {
  thread.deadlines[slot] = at;
  Atomics.store(thread.states, slot, 1);
  const { control, sleepAt } = thread;
  if (Atomics.load(control, SCANNING) !== 0 || at < sleepAt[SLEEP_AT]) {
    ring(control);
  }
}

/** Disarms `slot`, waiting out a thread caught setting its flag. */
function disarm(thread: Thread, slot: number): void {
  while (Atomics.compareExchange(thread.states, slot, 1, 0) === FIRING);
}

/** Waits until the time the thread sleeps toward passes `test`. */
async function published(
  thread: Thread,
  test: (time: number) => boolean,
): Promise<boolean> {
  const until = performance.now() + GUARD_MS;
  while (!test(thread.sleepAt[SLEEP_AT]) && performance.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return test(thread.sleepAt[SLEEP_AT]);
}

/** Waits until `flag` is set; false if it was not within the guard. */
async function setWithin(flag: Int32Array): Promise<boolean> {
  const until = performance.now() + GUARD_MS;
  while (Atomics.load(flag, 0) === 0 && performance.now() < until) {
    const waited = Atomics.waitAsync(flag, 0, 0, 50);
    if (waited.async) await waited.value;
  }
  return Atomics.load(flag, 0) === 1;
}

for (const [how, step] of [["busy", 0], ["in short waits", 0.05]] as const) {
  Deno.test(`a deadline disarmed while the watchdog spins ${how} toward it is never set`, async () => {
    const thread = await startThread(step);
    try {
      const at = now() + 5 * 60_000;
      arm(thread, 0, at);
      assert.ok(
        await published(thread, (time) => Math.abs(time - at) < 0.01),
        "the thread spins toward the deadline",
      );
      disarm(thread, 0);
      // It stops spinning at once: with nothing armed, it sleeps for good.
      assert.ok(
        await published(thread, (time) => time === Infinity),
        "the thread left its spin for the disarm",
      );
      assert.equal(Atomics.load(thread.flags[0], 0), 0, "the flag stays clear");

      // A deadline armed in the same slot after it is set, on the thread's clock not before it.
      const next = now() + 30;
      arm(thread, 0, next);
      assert.ok(await setWithin(thread.flags[0]), "the next deadline set");
      assert.ok(
        thread.sleepAt[LAST_FIRED_AT] >= thread.sleepAt[LAST_FIRED_DEADLINE],
        "not before its deadline",
      );
      assert.equal(thread.sleepAt[LAST_FIRED_DEADLINE], next);
      disarm(thread, 0);
    } finally {
      await thread.worker.terminate();
    }
  });

  Deno.test(`a deadline armed while the watchdog spins ${how} toward a later one is set first`, async () => {
    const thread = await startThread(step);
    try {
      // The thread spins toward the far deadline; the near one rings it.
      arm(thread, 0, now() + 5 * 60_000);
      await new Promise((resolve) => setTimeout(resolve, 20));
      const near = now() + 10;
      arm(thread, 1, near);
      assert.ok(await setWithin(thread.flags[1]), "the near deadline set");
      assert.equal(Atomics.load(thread.flags[0], 0), 0, "the far one not");
      assert.equal(thread.sleepAt[LAST_FIRED_DEADLINE], near);
      assert.ok(
        thread.sleepAt[LAST_FIRED_AT] >= near,
        "not before its deadline",
      );
      disarm(thread, 1);
      disarm(thread, 0);
    } finally {
      await thread.worker.terminate();
    }
  });
}
