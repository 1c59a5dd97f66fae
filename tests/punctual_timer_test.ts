import assert from "./support/assert.ts";
import { setImmediate } from "node:timers";
import {
  LOOK_SLICE_MS,
  PUNCTUAL_LEAD_MS,
  startPunctualTimer,
} from "../src/watchdog/punctual_timer.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const turn = () => new Promise((resolve) => setImmediate(resolve));

Deno.test("a punctual timer fires once, never before its delay", async () => {
  for (const delay of [0, 1, PUNCTUAL_LEAD_MS, PUNCTUAL_LEAD_MS + 3]) {
    const start = performance.now();
    const fired: number[] = [];
    let first!: () => void;
    const firstFire = new Promise<void>((resolve) => first = resolve);
    startPunctualTimer(delay, () => {
      fired.push(performance.now() - start);
      first();
    });
    await firstFire;
    // Long enough for a second fire, were there one.
    await sleep(PUNCTUAL_LEAD_MS + 20);
    assert.equal(fired.length, 1, `delay ${delay}`);
    assert.ok(fired[0] >= delay, `fired at ${fired[0]} ms of ${delay}`);
  }
});

/**
 * A lead longer than any wait here: the timer looks at the clock from its
 * first turn, and what the tests assert does not depend on how fast the
 * machine turns.
 */
const LONG_LEAD_MS = 60_000;

Deno.test("a punctual timer cancelled while it looks at the clock never fires", async () => {
  let fired = false;
  const cancel = startPunctualTimer(200, () => {
    fired = true;
  }, LONG_LEAD_MS);
  await turn();
  await turn();
  cancel();
  await sleep(250);
  assert.equal(fired, false);
});

Deno.test("a punctual timer cancelled before its lead never fires", async () => {
  let fired = false;
  const cancel = startPunctualTimer(PUNCTUAL_LEAD_MS + 30, () => {
    fired = true;
  });
  cancel();
  await sleep(PUNCTUAL_LEAD_MS + 50);
  assert.equal(fired, false);
});

Deno.test("a punctual timer lets the thread's own turns run while it looks at the clock", async () => {
  const start = performance.now();
  let turnsBefore = 0;
  let fired = false;
  startPunctualTimer(200, () => {
    fired = true;
  }, LONG_LEAD_MS);
  // The thread's work goes on turn by turn until the timer fires.
  while (!fired) {
    await turn();
    if (!fired) turnsBefore++;
  }
  assert.ok(performance.now() - start >= 200);
  assert.ok(turnsBefore > 0, `${turnsBefore} turns before it fired`);
});

Deno.test("a punctual timer's looks each watch the clock a while, so an idle thread turns a bounded number of times", async () => {
  const delay = 100;
  let fired = false;
  startPunctualTimer(delay, () => {
    fired = true;
  }, LONG_LEAD_MS);
  // Past the timer's first setTimeout, which comes a timer step late.
  await sleep(10);
  let turns = 0;
  while (!fired) {
    await turn();
    turns++;
  }
  // A look per turn, each at least LOOK_SLICE_MS unless the timer fires:
  // a thread turning as fast as it can (and allocating at every turn) made
  // tens of thousands of turns in that time.
  const most = delay / LOOK_SLICE_MS + 10;
  assert.ok(turns <= most, `${turns} turns in ${delay} ms, at most ${most}`);
});

Deno.test("punctual timers in their last stretch together each fire once, in the order of their times, never early", async () => {
  const start = performance.now();
  const delays = [40, 10, 30, 0, 20, 10];
  const fired: { delay: number; at: number }[] = [];
  await Promise.all(delays.map((delay) =>
    new Promise<void>((resolve) => {
      startPunctualTimer(delay, () => {
        fired.push({ delay, at: performance.now() - start });
        resolve();
      }, LONG_LEAD_MS);
    })
  ));
  await sleep(20);
  assert.deepEqual(
    fired.map((f) => f.delay),
    [...delays].sort((a, b) => a - b),
  );
  for (const { delay, at } of fired) {
    assert.ok(at >= delay, `fired at ${at} ms of ${delay}`);
  }
});

Deno.test("punctual timers that a late look finds due together fire in the order of their times", async () => {
  const start = performance.now();
  const delays = [40, 10, 30, 0, 20, 10];
  const fired: number[] = [];
  const all = Promise.all(delays.map((delay) =>
    new Promise<void>((resolve) => {
      startPunctualTimer(delay, () => {
        fired.push(delay);
        resolve();
      }, LONG_LEAD_MS);
    })
  ));
  // Set after the timers' own, this runs after they entered their last
  // stretch, and holds the thread past every timer's time: the next look
  // finds them all due at once.
  setTimeout(() => {
    while (performance.now() - start < 60) {
      // Busy, as a long step of other work would be.
    }
  }, 0);
  await all;
  assert.deepEqual(fired, [...delays].sort((a, b) => a - b));
});

Deno.test("a punctual timer that an earlier one cancels as it fires, both found due by one late look, never fires", async () => {
  const start = performance.now();
  const fired: string[] = [];
  let cancelLater = () => {};
  const first = new Promise<void>((resolve) => {
    startPunctualTimer(10, () => {
      fired.push("first");
      cancelLater();
      resolve();
    }, LONG_LEAD_MS);
  });
  cancelLater = startPunctualTimer(20, () => fired.push("later"), LONG_LEAD_MS);
  // Holds the thread past both times: one look finds both due.
  setTimeout(() => {
    while (performance.now() - start < 40) {
      // Busy.
    }
  }, 0);
  await first;
  await sleep(20);
  assert.deepEqual(fired, ["first"]);
});

Deno.test("a punctual timer cancelled while others look at the clock never fires, and they still do", async () => {
  let cancelledFired = false;
  const cancel = startPunctualTimer(30, () => {
    cancelledFired = true;
  }, LONG_LEAD_MS);
  const other = new Promise<void>((resolve) =>
    startPunctualTimer(50, resolve, LONG_LEAD_MS)
  );
  await turn();
  cancel();
  await other;
  assert.equal(cancelledFired, false);
});
