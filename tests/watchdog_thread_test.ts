/**
 * The watchdog's thread, driven by hand: it takes the messages it needs
 * without going back to its event loop, so that a binding posted as a
 * guest loads is not received through a turn of that loop during the
 * guest's first call; and the warm-up it runs before it says it is ready
 * leaves nothing behind.
 */
import assert from "./support/assert.ts";
import { MessageChannel, Worker } from "node:worker_threads";
import {
  boardBytes,
  POSTED,
  READY,
  RECEIVED,
  runWatchdog,
  SLOTS_BYTE,
  WAKE,
  type WatchdogMessage,
  type WatchdogSettings,
} from "../src/watchdog/watchdog_worker.ts";
import { GUARD_MS } from "./support/guarded.ts";

const SLOTS = 2;

interface Thread {
  worker: Worker;
  control: Int32Array;
  states: Int32Array;
  deadlines: Float64Array;
  /** Posts a message on the thread's channel, counts it and rings. */
  post(message: WatchdogMessage): void;
}

function ring(control: Int32Array): void {
  Atomics.add(control, WAKE, 1);
  Atomics.notify(control, WAKE);
}

/**
 * A thread running `runWatchdog` whose channel has no listener, so that its
 * event loop never delivers a message posted on it: only its own
 * `receiveNow` (`receiveMessageOnPort`) takes them. Its start comes on the
 * Worker's own port.
 */
async function startThread(settings: WatchdogSettings): Promise<Thread> {
  const channel = new MessageChannel();
  const worker = new Worker(
    `const threads = require("node:worker_threads");
    const port = threads.workerData.port;
    let listener;
    const start = { on(_event, fn) { listener = fn; } };
    threads.parentPort.once("message", (message) => listener(message));
    (${runWatchdog.toString()})(start, ${JSON.stringify(settings)},
      () => threads.receiveMessageOnPort(port));`,
    {
      eval: true,
      workerData: { port: channel.port2 },
      transferList: [channel.port2],
      env: {},
    },
  );
  const board = new SharedArrayBuffer(boardBytes(SLOTS));
  const control = new Int32Array(board, 0, SLOTS_BYTE / 4);
  worker.postMessage({ op: "start", board } satisfies WatchdogMessage);
  Atomics.add(control, POSTED, 1);
  assert.ok(await changes(control, READY, 0), "the thread started");
  return {
    worker,
    control,
    states: new Int32Array(board, SLOTS_BYTE, SLOTS),
    deadlines: new Float64Array(board, SLOTS_BYTE + SLOTS * 8, SLOTS),
    post(message) {
      channel.port1.postMessage(message);
      Atomics.add(control, POSTED, 1);
      ring(control);
    },
  };
}

/**
 * Whether `word[index]` leaves `from` within the guard (read every few
 * milliseconds: the thread sets a flag without a notify).
 */
async function changes(
  word: Int32Array,
  index: number,
  from: number,
): Promise<boolean> {
  const until = performance.now() + GUARD_MS;
  while (Atomics.load(word, index) === from) {
    if (performance.now() > until) return false;
    // A timer, not Atomics.waitAsync: it keeps the event loop alive.
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return true;
}

function arm(thread: Thread, slot: number, tag: number, inMs: number): void {
  thread.deadlines[slot] = performance.timeOrigin + performance.now() + inMs;
  Atomics.store(thread.states, slot, tag);
  ring(thread.control);
}

Deno.test("the watchdog's thread takes its messages without its event loop, and keeps the deadline", async () => {
  const thread = await startThread({ pollMs: 0.5, slots: SLOTS });
  try {
    const flag = new Int32Array(new SharedArrayBuffer(4));
    thread.post({ op: "bind", slot: 0, tag: 1, flag });
    assert.ok(
      await changes(thread.control, RECEIVED, 1),
      "the binding was received, with no message listener on its port",
    );
    arm(thread, 0, 1, 20);
    assert.ok(await changes(flag, 0, 0), "the deadline set the flag");
  } finally {
    await thread.worker.terminate();
  }
});

Deno.test("the watchdog's thread starts with nothing of its warm-up left: no message counted, no slot bound", async () => {
  const thread = await startThread({ pollMs: 0.5, slots: SLOTS });
  try {
    assert.equal(
      Atomics.load(thread.control, RECEIVED),
      1,
      "only the start was counted",
    );
    // Slot 0 armed, and its deadline passed, but never bound: its flag
    // is nobody's, and it must never be taken as fired.
    const fired = new Int32Array(
      thread.control.buffer,
      SLOTS_BYTE + SLOTS * 4,
      SLOTS,
    );
    arm(thread, 0, 1, -1_000);
    const flag = new Int32Array(new SharedArrayBuffer(4));
    thread.post({ op: "bind", slot: 1, tag: 1, flag });
    arm(thread, 1, 1, 5);
    assert.ok(await changes(flag, 0, 0), "the bound slot's deadline fired");
    assert.equal(Atomics.load(fired, 1), 1, "slot 1 fired");
    assert.equal(Atomics.load(fired, 0), 0, "the unbound slot never fired");
  } finally {
    await thread.worker.terminate();
  }
});
