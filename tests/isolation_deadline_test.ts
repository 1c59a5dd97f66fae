/**
 * An isolated call's deadline: a timer set early, finished in
 * `Atomics.wait`. It fires once, never before its time, and not at all
 * once disarmed; and it counts from the call, as its caller does.
 */

import assert from "./support/assert.ts";
import {
  DEADLINE_MARGIN_MS,
  startDeadline,
} from "../src/isolate/isolate_deadline.ts";
import { invokeIsolated, isolatedChildrenExited } from "../mod.ts";

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

Deno.test("invokeIsolated: the deadline counts from the call, the reading of its options included", async () => {
  // The caller's own code, run as the call reads its options, holds the
  // thread this long (by the clock the call's elapsed time is read on).
  const held = 300;
  const options = {
    timeout: 20,
    get env() {
      const from = performance.now();
      while (performance.now() < from + held) {
        // Busy, as a getter that computes would be.
      }
      return undefined;
    },
  };
  const result = await invokeIsolated(
    new URL("../guest/runaway.wasm", import.meta.url),
    "spin",
    [],
    options,
  );
  await isolatedChildrenExited();
  assert.equal(result.outcome, "timeout");
  // Counted from after the options were read, it would be the timeout and
  // the stop's lateness, not the time they held the call.
  if (result.outcome === "timeout") {
    assert.ok(
      result.error.elapsed >= held,
      `the call's elapsed ${result.error.elapsed} ms leaves out the ${held} ms its options held it`,
    );
  }
});
