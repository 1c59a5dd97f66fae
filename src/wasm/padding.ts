/**
 * Padding for V8's small-function heuristics: checks make small bodies
 * bigger, and V8 gives a module with fewer small bodies less inlining
 * budget, so the rewriter may add a few empty functions that are never
 * called.
 *
 * @module
 */

import { Emitter } from "./emitter.ts";

/**
 * V8 counts a function body shorter than this many bytes as small, and
 * gives a module whose bodies are mostly small more inlining budget.
 */
export const SMALL_FUNCTION = 50;

/**
 * A body that only traps, with its size prefix: valid whatever the type it
 * is given (the slow path's).
 */
export const PAD_BODY: Uint8Array = (() => {
  const e = new Emitter(4);
  e.u32(0); // no locals
  e.unreachable();
  e.end();
  return e.sized();
})();

/**
 * How many empty functions keep V8's view of how much inlining a module
 * deserves as it was before metering.
 *
 * V8 (`BudgetScaleFactor` in its `inlining-tree.h`) scales every function's
 * inlining budget by the module's share of small bodies: a share of 25% or
 * less reads as "the toolchain already inlined", 50% or more as "inline
 * freely", with a linear ramp between. Checks grow small bodies past the
 * line, which cut the budget of a recursive `fib` enough to halve the depth
 * V8 inlines it to. Empty functions, never called and so never compiled,
 * bring the share back to what it was (or to 50%, past which more changes
 * nothing).
 *
 * @param before Bodies in the input.
 * @param smallBefore Small bodies in the input.
 * @param after Bodies in the output, before padding.
 * @param smallAfter Small bodies in the output, before padding.
 * @returns How many empty functions to add.
 *
 * @example Usage
 * ```ts
 * import { paddingFunctions } from "./padding.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(paddingFunctions(4, 4, 5, 1), 3); // back to one half
 * ```
 */
export function paddingFunctions(
  before: number,
  smallBefore: number,
  after: number,
  smallAfter: number,
): number {
  if (before === 0 || smallBefore * 4 <= before) return 0;
  // The share to reach: smallBefore / before, capped at one half.
  const [s, n] = smallBefore * 2 >= before ? [1, 2] : [smallBefore, before];
  // Least k with (smallAfter + k) / (after + k) >= s / n.
  const k = Math.ceil((s * after - n * smallAfter) / (n - s));
  return Math.max(0, k);
}
