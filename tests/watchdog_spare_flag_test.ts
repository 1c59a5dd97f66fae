/**
 * A guest's stop flag is bound to the watchdog's slots ahead of time: the
 * load takes a flag whose binding the thread has received, and binds the
 * next one without waiting for the thread, which takes that binding in
 * while the load goes on rather than as the guest's first call begins. The
 * flag so taken is kept on time as any other, and its calls' deadlines post
 * no message.
 */
import assert from "./support/assert.ts";
import {
  arm,
  type BoundFlag,
  boundFlag,
  messagesPosted,
  messagesReceived,
  watchdogCaughtUp,
  watchdogReady,
} from "../src/watchdog/watchdog.ts";
import { loadGuest } from "../mod.ts";
import { RUNAWAY } from "./support/guests.ts";

/**
 * Arms a deadline 1 ms ahead on the flag, which posts no message; resolves
 * once it is set (the thread stores it without a notify: read every
 * millisecond).
 */
async function firedSoon({ flag }: BoundFlag): Promise<void> {
  const posted = messagesPosted();
  const handle = arm(flag, performance.now() + 1);
  try {
    assert.equal(messagesPosted(), posted, "the deadline posted a message");
    const until = performance.now() + 10_000;
    while (Atomics.load(flag, 0) === 0 && performance.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    assert.equal(Atomics.load(flag, 0), 1, "the deadline set the flag");
  } finally {
    handle.disarm();
    Atomics.store(flag, 0, 0);
  }
}

Deno.test("a flag bound ahead of time is taken with the thread caught up, and its deadline lands", async () => {
  const first = boundFlag(1);
  await watchdogReady(10_000);
  const second = boundFlag(1);
  assert.notEqual(second.memory, first.memory);
  await watchdogReady(10_000);
  assert.ok(watchdogCaughtUp());
  // The thread receives every message posted before a ring ahead of the
  // slots it then reads: the spare bound as `second` was taken with it.
  await firedSoon(second);
  const third = boundFlag(1);
  assert.notEqual(third.memory, second.memory);
  // Nothing posted that this thread needs: the next spare waits quietly.
  assert.ok(watchdogCaughtUp());
  await firedSoon(third);
  for (const { memory, flag } of [first, second, third]) {
    assert.equal(flag.buffer, memory.buffer);
    assert.equal(memory.buffer.byteLength, 65_536);
    assert.ok(memory.buffer instanceof SharedArrayBuffer);
  }
});

Deno.test("flags of two slots (async guests) are spared apart from those of one", async () => {
  const one = boundFlag(1);
  const two = boundFlag(2);
  await watchdogReady(10_000);
  const twoAgain = boundFlag(2);
  const oneAgain = boundFlag(1);
  const memories = [one, two, twoAgain, oneAgain].map((bound) => bound.memory);
  assert.equal(new Set(memories).size, 4);
  await watchdogReady(10_000);
  assert.ok(watchdogCaughtUp());
  await firedSoon(twoAgain);
  await firedSoon(oneAgain);
});

Deno.test("loaded guests' deadlines post no message, and land", async () => {
  for (let i = 0; i < 3; i++) {
    const guest = await loadGuest(RUNAWAY, { interruptible: true });
    const posted = messagesPosted();
    assert.equal(guest.invoke("spin", [], { timeout: 5 }).outcome, "timeout");
    assert.equal(messagesPosted(), posted);
  }
});

Deno.test("the next spare's binding is taken in before the loaded guest's first call", async () => {
  for (let i = 0; i < 3; i++) {
    // The first call rings the thread, which takes in everything posted.
    const guest = await loadGuest(RUNAWAY, { interruptible: true });
    assert.equal(guest.invoke("spin", [], { timeout: 1 }).outcome, "timeout");
    // This load takes the spare bound by the one before, and binds another.
    const next = await loadGuest(RUNAWAY, { interruptible: true });
    const posted = messagesPosted();
    // Nothing rings the thread from here on but the load's own ring.
    for (let waited = 0; waited < 10_000; waited++) {
      if (messagesReceived() === posted) break;
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    assert.equal(
      messagesReceived(),
      posted,
      "the spare's binding was left for the first call",
    );
    assert.equal(next.invoke("spin", [], { timeout: 1 }).outcome, "timeout");
    assert.equal(messagesPosted(), posted);
  }
});
