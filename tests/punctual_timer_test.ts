import assert from "./support/assert.ts";
import { setImmediate } from "node:timers";
import { PUNCTUAL_LEAD_MS, startPunctualTimer } from "../src/punctual_timer.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const turn = () => new Promise((resolve) => setImmediate(resolve));

Deno.test("a punctual timer fires once, never before its delay", async () => {
  for (const delay of [0, 1, PUNCTUAL_LEAD_MS, PUNCTUAL_LEAD_MS + 3]) {
    const start = performance.now();
    const fired: number[] = [];
    startPunctualTimer(delay, () => fired.push(performance.now() - start));
    await sleep(delay + 20);
    assert.equal(fired.length, 1, `delay ${delay}`);
    assert.ok(fired[0] >= delay, `fired at ${fired[0]} ms of ${delay}`);
  }
});

Deno.test("a punctual timer cancelled while it looks at the clock never fires", async () => {
  let fired = false;
  // Shorter than the lead: it looks at the clock from the first turn.
  const cancel = startPunctualTimer(PUNCTUAL_LEAD_MS - 1, () => {
    fired = true;
  });
  await turn();
  await turn();
  cancel();
  await sleep(PUNCTUAL_LEAD_MS + 20);
  assert.equal(fired, false);
});

Deno.test("a punctual timer cancelled before its lead never fires", async () => {
  let fired = false;
  const cancel = startPunctualTimer(PUNCTUAL_LEAD_MS + 30, () => {
    fired = true;
  });
  await sleep(5);
  cancel();
  await sleep(PUNCTUAL_LEAD_MS + 50);
  assert.equal(fired, false);
});

Deno.test("a punctual timer lets the thread's own turns run while it looks at the clock", async () => {
  const start = performance.now();
  let turns = 0;
  let fired = false;
  startPunctualTimer(PUNCTUAL_LEAD_MS + 1, () => {
    fired = true;
  });
  // The thread's work goes on turn by turn until the timer fires.
  while (!fired) {
    await turn();
    turns++;
  }
  assert.ok(performance.now() - start >= PUNCTUAL_LEAD_MS + 1);
  assert.ok(turns > 1, `${turns} turns`);
});
