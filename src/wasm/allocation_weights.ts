/**
 * What the allocations whose size their operator fixes add to a
 * function's compile cost (see `MAX_COMPILE_COST`): V8's baseline compile
 * writes each field, element or thrown value inline, so a few bytes of
 * code can ask it for thousands of stores.
 *
 * @module
 */

import type { FunctionSignature, ModuleInfo } from "./module.ts";
import type { Reader } from "./reader.ts";
import {
  ALLOCATED_VALUE_WEIGHT,
  THROWN_REFERENCE_WEIGHT,
  THROWN_SLOT_WEIGHT,
} from "./scan_limits.ts";

/**
 * The compile weight of a `struct.new` or `struct.new_default` (its
 * fields) or an `array.new_fixed` (its elements); 0 for any other GC
 * operator.
 *
 * @param info The module's types.
 * @param r A reader over the module.
 * @param code The GC operator's code.
 * @param type Its type index.
 * @param immAt Where its immediates start.
 * @returns The weight.
 */
export function allocationWeight(
  info: ModuleInfo,
  r: Reader,
  code: number,
  type: number,
  immAt: number,
): number {
  if (code <= 1) {
    return Math.max(0, info.structFields[type] ?? 0) * ALLOCATED_VALUE_WEIGHT;
  }
  if (code !== 8) return 0;
  r.pos = immAt;
  r.u32(); // the type
  return r.u32() * ALLOCATED_VALUE_WEIGHT;
}

/** {@linkcode throwWeight} of each tag signature met, read once. */
const weightOfSignature = new WeakMap<FunctionSignature, number>();

/**
 * The compile weight of a `throw` of `tag`: V8 writes each value into the
 * exception in 16-bit pieces, {@linkcode THROWN_SLOT_WEIGHT} for each 8
 * bytes they take (2 for an `i32` or `f32`, 4 for an `i64` or `f64`, 8
 * for a `v128`), and a reference {@linkcode THROWN_REFERENCE_WEIGHT}.
 *
 * @param info The module's types and tags.
 * @param tag The tag's index.
 * @returns The weight; 0 for a tag the engine will refuse.
 */
export function throwWeight(info: ModuleInfo, tag: number): number {
  const type = info.tagTypes[tag];
  const signature = type === undefined ? undefined : info.typeSignatures[type];
  if (signature === undefined) return 0;
  let weight = weightOfSignature.get(signature);
  if (weight !== undefined) return weight;
  weight = 0;
  for (const value of signature.params) {
    weight += value === "i32" || value === "f32"
      ? 2 * THROWN_SLOT_WEIGHT
      : value === "i64" || value === "f64"
      ? 4 * THROWN_SLOT_WEIGHT
      : value === "v128"
      ? 8 * THROWN_SLOT_WEIGHT
      : THROWN_REFERENCE_WEIGHT;
  }
  weightOfSignature.set(signature, weight);
  return weight;
}
