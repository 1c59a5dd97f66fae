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
