import assert from "./support/assert.ts";
import { setImmediate } from "node:timers";
import { PUNCTUAL_LEAD_MS, startPunctualTimer } from "../src/punctual_timer.ts";

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
