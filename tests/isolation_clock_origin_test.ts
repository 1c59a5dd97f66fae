/**
 * An isolated call's deadline is kept by the host's timer and, should the
 * host's thread be held, by the child's guard a few milliseconds after it.
 * Each runtime reckons its own `performance.timeOrigin` from two clock
 * reads that a busy machine can hold apart, so a time of
 * `performance.timeOrigin + performance.now()` in one process is not the
 * same time in another: a child whose origin ran 68 ms ahead of its host's
 * killed itself that much before the host's deadline, in a CI run. Here the
 * host's origin is set back on purpose; the child must not die before the
 * deadline.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { assembleWat } from "../guest/build.ts";
import { invokeIsolated, isolatedChildrenExited } from "../mod.ts";
import { expectOutcome } from "./support/outcome.ts";

/** How far back the host's origin is set: more than a call's deadline. */
const ORIGIN_BACK_MS = 5_000;

Deno.test("an isolated call whose host's clock origin reads behind its child's is stopped at its deadline, not killed before it", async () => {
  const spin = await assembleWat(
    `(module (func (export "run") (loop $l (br $l))))`,
  );
  const real = performance.timeOrigin;
  Object.defineProperty(performance, "timeOrigin", {
    value: real - ORIGIN_BACK_MS,
    configurable: true,
  });
  try {
    const timeout = 1_000;
    const started = performance.now();
    const result = await invokeIsolated(spin, "run", [], { timeout });
    const took = performance.now() - started;
    // With the guard on the host's origin, the child was killed 4 s
    // before the deadline and the call failed as a child that died.
    expectOutcome(result, "timeout");
    assert.ok(took >= timeout, `stopped after ${took.toFixed(1)} ms`);
  } finally {
    delete (performance as { timeOrigin?: number }).timeOrigin;
    await isolatedChildrenExited();
  }
  assert.equal(performance.timeOrigin, real);
});
