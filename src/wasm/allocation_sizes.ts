/**
 * What the allocations whose size their operator fixes take: a struct's
 * fields, `array.new_fixed`'s elements, and the exception a `throw` makes.
 * The scan pays for them up front with fuel, and with a stop flag counts
 * their bytes toward the host's heap (`heap_count.ts`).
 *
 * @module
 */

import { arrayElementBytes } from "./array_new_cap.ts";
import { EXCEPTION_HEADER_BYTES, OBJECT_HEADER_BYTES } from "./heap_count.ts";
import type { FunctionSignature, ModuleInfo } from "./module.ts";
import type { Reader } from "./reader.ts";

/**
 * The static part of an allocation's cost: a struct's fields, or the
 * elements of `array.new_fixed`, at `perElement` each (`array.new` and
 * `array.new_default` are charged at run time by their length).
 */
export function allocationCost(
  info: ModuleInfo,
  r: Reader,
  perElement: number,
  code: number,
  type: number,
  immAt: number,
): number {
  if (code <= 1) { // struct.new, struct.new_default
    return Math.max(0, info.structFields[type]!) * perElement;
  }
  if (code !== 8) return 0;
  r.pos = immAt;
  r.u32(); // the type
  return r.u32() * perElement;
}

/**
 * The bytes of the host's heap an allocation of a size its operator
 * fixes takes: a struct's fields, `array.new_fixed`'s elements, or a
 * thrown exception's values, as V8 lays them out, and a header; 0 for a
 * type or tag the engine will refuse.
 */
export function allocationBytes(
  info: ModuleInfo,
  r: Reader,
  op: number,
  code: number,
  index: number,
  immAt: number,
): number {
  if (op === 0x08) {
    const type = info.tagTypes[index];
    const signature = type === undefined
      ? undefined
      : info.typeSignatures[type];
    return signature === undefined
      ? 0
      : exceptionSlots(signature) * 8 + EXCEPTION_HEADER_BYTES;
  }
  if (code <= 1) {
    const fields = info.structFields[index];
    return fields === undefined || fields < 0
      ? 0
      : fields * 8 + OBJECT_HEADER_BYTES;
  }
  const element = info.arrayElements[index];
  if (element === undefined) return 0;
  return allocationValues(info, r, code, index, immAt) *
      arrayElementBytes(element[0]!) + OBJECT_HEADER_BYTES;
}

/**
 * How many values `struct.new` (its fields) or `array.new_fixed` (its
 * count) takes from the operand stack.
 */
export function allocationValues(
  info: ModuleInfo,
  r: Reader,
  code: number,
  type: number,
  immAt: number,
): number {
  if (code === 0) return Math.max(0, info.structFields[type]!);
  r.pos = immAt;
  r.u32(); // the type
  return r.u32();
}

/**
 * What a `throw` of `tag` allocates: an exception holding the tag's
 * parameters, at `perElement` per 8 bytes of it, as a struct's `i64`
 * fields are paid (see {@linkcode exceptionSlots}). A guest that kept the
 * exceptions of a tag of 999 `v128` parameters (with `catch_ref`, in a
 * table) took down a host of 1.5 GB under `fuel: 1_000_000`, at 21 fuel
 * a 64 KB exception.
 */
export function exceptionCost(
  info: ModuleInfo,
  perElement: number,
  tag: number,
): number {
  const type = info.tagTypes[tag];
  const signature = type === undefined ? undefined : info.typeSignatures[type];
  if (signature === undefined) return 0; // the engine refuses the index
  return exceptionSlots(signature) * perElement;
}

/** {@linkcode exceptionSlots} of each tag signature met, read once. */
const slotsOfSignature = new WeakMap<FunctionSignature, number>();

/**
 * The 8-byte slots an exception of a tag of `signature` holds: V8 stores
 * each value in 16-bit pieces, a slot each, so an `i32` or `f32` takes 2,
 * an `i64` or `f64` 4, a `v128` 8 (64 bytes), and a reference 1. Kept per
 * signature (signatures are shared), so that a throw of a tag of a
 * thousand parameters is read once however many throws name it.
 *
 * @param signature The tag's type.
 * @returns Its slots.
 */
function exceptionSlots(signature: FunctionSignature): number {
  let slots = slotsOfSignature.get(signature);
  if (slots !== undefined) return slots;
  slots = 0;
  for (const type of signature.params) {
    slots += type === "i32" || type === "f32"
      ? 2
      : type === "i64" || type === "f64"
      ? 4
      : type === "v128"
      ? 8
      : 1;
  }
  slotsOfSignature.set(signature, slots);
  return slots;
}
