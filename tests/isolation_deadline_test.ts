/**
 * An isolated call's deadline: a timer set early, finished in
 * `Atomics.wait`. It fires once, never before its time, and not at all
 * once disarmed.
 */

import assert from "./support/assert.ts";
import { DEADLINE_MARGIN_MS, startDeadline } from "../src/isolate_deadline.ts";

function firing(atMs: number): Promise<{ at: number; count: number }> {
  return new Promise((resolve) => {
    let count = 0;
    let at = 0;
    startDeadline(atMs, () => {
      count++;
      at = performance.now();
      // Later firings would show up in the count before this resolves.
      setTimeout(() => resolve({ at, count }), 3 * DEADLINE_MARGIN_MS);
    });
  });
}

Deno.test("isolation deadline: fires once and never before its time", async () => {
  for (const delay of [-5, 0, 0.5, 1, 2, 2.5, 3, 7, 20]) {
    const atMs = performance.now() + delay;
    const { at, count } = await firing(atMs);
    assert.equal(count, 1, `delay ${delay}`);
    assert.ok(at >= atMs, `delay ${delay}: fired ${atMs - at} ms early`);
  }
});

Deno.test("isolation deadline: a disarmed deadline never fires", async () => {
  for (const delay of [0, 1, 5]) {
    let fired = false;
    const disarm = startDeadline(performance.now() + delay, () => fired = true);
    disarm();
    await new Promise((resolve) => setTimeout(resolve, delay + 10));
    assert.equal(fired, false, `delay ${delay}`);
  }
});
