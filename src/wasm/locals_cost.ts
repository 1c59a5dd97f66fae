/**
 * What a function's entry pays for its declared locals, which the engine
 * zeroes at every call: nothing for the first {@linkcode FREE_LOCALS}, then
 * `perElement` for every {@linkcode LOCALS_PER_ELEMENT}.
 *
 * @module
 */

/** Declared locals a function's entry zeroes for nothing. */
export const FREE_LOCALS = 256;
/** Declared locals past {@linkcode FREE_LOCALS} that cost `perElement`. */
export const LOCALS_PER_ELEMENT = 8;

/**
 * What a function's entry pays for zeroing `declared` locals: `perElement`
 * for each {@linkcode LOCALS_PER_ELEMENT} (or part) beyond the first
 * {@linkcode FREE_LOCALS}.
 *
 * @param declared The function's declared locals (not its parameters).
 * @param perElement The cost table's `perElement`.
 * @returns The cost.
 *
 * @example Usage
 * ```ts
 * import { localsCost } from "./locals_cost.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(localsCost(256, 1), 0);
 * assert.equal(localsCost(257, 1), 1);
 * assert.equal(localsCost(40_256, 1), 5_000);
 * ```
 */
export function localsCost(declared: number, perElement: number): number {
  if (declared <= FREE_LOCALS) return 0;
  return Math.ceil((declared - FREE_LOCALS) / LOCALS_PER_ELEMENT) * perElement;
}

/**
 * Declared locals from which a body whose stop flag is checked apart from
 * the fuel (without fuel: an async guest's check, which asks the host, or
 * a plain call's, which traps at once) reads the flag through a call of an
 * added function, at its entry and loop headers, instead of in an `if` of
 * its own. V8's baseline compile, at the function's first call and before
 * any check can run, carries every local into each branch: an inline check
 * in a body of 40,000 locals took 3 to 6 ms of CPU to compile (an `if` a
 * local, 100 to 150 ns; one that traps at once, 4 to 5 ms, as dear), a call
 * next to nothing, and a call costs little beside zeroing this many locals
 * at every entry.
 */
export const WIDE_LOCALS = 1_024;

/**
 * Whether a body of `declared` locals (not its parameters) reads the stop
 * flag through the added function (see {@linkcode WIDE_LOCALS}).
 *
 * @param declared The body's declared locals.
 * @returns Whether its flag checks are calls.
 *
 * @example Usage
 * ```ts
 * import { readsFlagByCall } from "./locals_cost.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(readsFlagByCall(40_000), true);
 * assert.equal(readsFlagByCall(16), false);
 * ```
 */
export function readsFlagByCall(declared: number): boolean {
  return declared >= WIDE_LOCALS;
}
