/**
 * The values an operator pushes at once (a call's results, a catch's tag
 * parameters) and what they add to a function's compile cost: the ways to
 * push many values with a few bytes.
 *
 * @module
 */

import type { ModuleInfo } from "./module.ts";
import type { Reader } from "./reader.ts";
import { CALL_RESULT_WEIGHT } from "./scan_limits.ts";
import { readBlockType } from "./types.ts";

/** How many results function type `type` has. */
export function typeResults(info: ModuleInfo, type: number): number {
  return info.typeSignatures[type]?.results.length ?? 0;
}

/**
 * The compile weight of `values` pushed at once (a call's results, a
 * catch's values), after the first: each weighs as a call does. V8's
 * baseline compile handles every value on the operand stack at each call,
 * and results and catches are the ways to push many values with a few
 * bytes: an 18 KB function that piled up 4,000,000 results of
 * 1,000-result calls and took them back held its first call 25 to 37 s
 * past a 50 ms deadline, each call weighing 256.
 */
export function valuesWeight(values: number): number {
  return values > 1 ? (values - 1) * CALL_RESULT_WEIGHT : 0;
}

/** How many values a catch of `tag` pushes: its parameters. */
export function tagValues(info: ModuleInfo, tag: number): number {
  const type = info.tagTypes[tag];
  return type === undefined ? 0 : info.typeSignatures[type]?.params.length ?? 0;
}

/**
 * The compile weight of the values a `try_table`'s catch clauses push on
 * their labels (a tag's parameters, and an `exnref` for a `_ref`), whose
 * immediates start at `immAt`: a catch is the other way to push many
 * values with a few bytes.
 */
export function clausesWeight(
  info: ModuleInfo,
  r: Reader,
  immAt: number,
): number {
  r.pos = immAt;
  readBlockType(r, info.typeCount);
  const clauses = r.u32();
  let weight = 0;
  for (let i = 0; i < clauses; i++) {
    const kind = r.u8("catch kind");
    const values = kind < 2 ? tagValues(info, r.u32()) : 0;
    r.u32(); // the label
    weight += valuesWeight(values + (kind & 1));
  }
  return weight;
}
