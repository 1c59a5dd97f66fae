/**
 * The rewrite as steps. Its long loops (the scan of the bodies, their
 * emission, the copy of the input's large sections) are generators that
 * yield after about {@linkcode STEP_BYTES} of work, so that a loader can
 * give the event loop a turn between steps and a stop that comes during a
 * rewrite of a large module lands at once, not when the rewrite ends.
 * `instrument()` runs every step at once.
 *
 * @module
 */

/** A piece of the rewrite that pauses between steps and returns `T`. */
export type Steps<T> = Generator<void, T, void>;

/**
 * About how many bytes of input (scanned, emitted or copied) a step covers:
 * a fraction of a millisecond of a warm rewriter, about a millisecond of a
 * cold one.
 */
export const STEP_BYTES = 64 * 1024;

/**
 * How many bytes of an unchanged range are copied in one step: copying is
 * faster than rewriting, mostly page faults of the fresh output.
 */
export const COPY_STEP_BYTES = 256 * 1024;

/**
 * Runs every step at once.
 *
 * @param steps The steps.
 * @returns What they return.
 *
 * @example Usage
 * ```ts
 * import { runSteps, type Steps } from "./steps.ts";
 * import assert from "node:assert/strict";
 *
 * function* count(): Steps<number> {
 *   yield;
 *   yield;
 *   return 2;
 * }
 * assert.equal(runSteps(count()), 2);
 * ```
 */
export function runSteps<T>(steps: Steps<T>): T {
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}
