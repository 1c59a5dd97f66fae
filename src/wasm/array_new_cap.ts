/**
 * Allocations of GC arrays by length, held to a size: with a stop flag,
 * `array.new`, `array.new_default`, `array.new_data` and `array.new_elem`
 * become calls to added functions that let an array of up to the cap's
 * bytes through and make the engine refuse a longer one. The engine
 * allocates and fills an array in one step no check can interrupt, so the
 * cap bounds how long a deadline waits for one (see `DEFAULT_ARRAY_BYTES`
 * in `limits.ts`). A refused length becomes the largest there is, which
 * the engine refuses as too large before it reads anything else (a data
 * or element segment's bounds included), so an allocation over the cap
 * traps as one over the engine's own largest does. Each added function
 * checks the stop flag before it allocates, as an added bulk function
 * does: a straight run of allocations, with no loop or call of the guest's
 * own between them, stops at the next one. An array larger than
 * {@linkcode LARGE_OBJECT_BYTES} also asks the host whether a stop is due,
 * with the flag clear, before it is made.
 *
 * @module
 */

import type { BulkHelper } from "./bulk_helpers.ts";
import {
  type StopFlagTargets,
  writeAskHost,
  writeFlagCheck,
} from "./checks.ts";
import { Emitter } from "./emitter.ts";
import { OBJECT_HEADER_BYTES, writeHeapCount } from "./heap_count.ts";
import { GC_OPS } from "./opcodes.ts";
import { Writer } from "./writer.ts";

const ARRAY_NEW = GC_OPS.name.indexOf("array.new");
const ARRAY_NEW_DEFAULT = GC_OPS.name.indexOf("array.new_default");
const ARRAY_NEW_DATA = GC_OPS.name.indexOf("array.new_data");
const ARRAY_NEW_ELEM = GC_OPS.name.indexOf("array.new_elem");

/** The codes (after the GC prefix) of the allocations by length. */
export const ARRAY_NEW_CODES: ReadonlySet<number> = new Set([
  ARRAY_NEW,
  ARRAY_NEW_DEFAULT,
  ARRAY_NEW_DATA,
  ARRAY_NEW_ELEM,
]);

const I32 = 0x7f;

/**
 * The bytes the engine (V8 as Deno builds it, without pointer compression)
 * gives an element of a storage type, as encoded: packed types their own
 * size, references 8.
 *
 * @param storage The storage type's first byte.
 * @returns The element's bytes.
 */
export function arrayElementBytes(storage: number): number {
  switch (storage) {
    case 0x78: // i8
      return 1;
    case 0x77: // i16
      return 2;
    case 0x7f: // i32
    case 0x7d: // f32
      return 4;
    case 0x7b: // v128
      return 16;
    default: // i64, f64, references
      return 8;
  }
}

/**
 * The largest object V8 makes on its regular pages, header included: a
 * larger array is made in its large-object space, on pages of its own that
 * are fresh each time (measured here: 150 to 260 µs for an array of 128
 * KiB that the guest drops at once, 1.2 ms for 256 KiB, against 30 µs just
 * under it). Such an allocation asks the host first.
 */
export const LARGE_OBJECT_BYTES = 131_072;

/** The shortest length of `element` whose array asks the host first. */
function pollFromLength(element: Uint8Array): number {
  const bytes = arrayElementBytes(element[0]!);
  return Math.floor((LARGE_OBJECT_BYTES - OBJECT_HEADER_BYTES) / bytes) + 1;
}

/**
 * The most elements of `element` an array of up to `bytes` bytes holds, or
 * `undefined` when every length an operator takes (below 2^32) fits.
 *
 * @param element The storage type, as encoded.
 * @param bytes The cap in bytes.
 * @returns The longest length let through, or `undefined`.
 */
export function arrayLengthCap(
  element: Uint8Array,
  bytes: number,
): number | undefined {
  const most = Math.floor(bytes / arrayElementBytes(element[0]!));
  return most >= 0xffffffff ? undefined : most;
}

/**
 * Writes the added function that stands in for one allocation by length:
 * the stop flag checked first, then the same operands, the same result,
 * the engine's own trap for a length above `most`, and the array's bytes
 * counted (see `heap_count.ts`).
 *
 * @param code The operator's code after the GC prefix.
 * @param type The array type.
 * @param segment The segment of `array.new_data` or `array.new_elem`.
 * @param element The array's storage type, as encoded.
 * @param most The longest length let through, if any is refused.
 * @param flag The stop flag's memory and callback.
 * @returns The function's type and body.
 *
 * @example Usage
 * ```ts
 * import { arrayNewFunction } from "./array_new_cap.ts";
 * import { GC_OPS } from "./opcodes.ts";
 * import assert from "node:assert/strict";
 *
 * const code = GC_OPS.name.indexOf("array.new_default");
 * const flag = { memory: 1, onStopFlag: 0 };
 * const added = arrayNewFunction(code, 0, 0, Uint8Array.of(0x78), 1024, flag);
 * // (i32) -> (ref 0)
 * assert.deepEqual([...added.type], [0x60, 1, 0x7f, 1, 0x64, 0]);
 * ```
 */
export function arrayNewFunction(
  code: number,
  type: number,
  segment: number,
  element: Uint8Array,
  most: number | undefined,
  flag: StopFlagTargets,
): BulkHelper {
  const packed = element[0] === 0x78 || element[0] === 0x77;
  const params: Uint8Array[] = code === ARRAY_NEW_DEFAULT
    ? [Uint8Array.of(I32)]
    : code === ARRAY_NEW
    ? [packed ? Uint8Array.of(I32) : element, Uint8Array.of(I32)]
    : [Uint8Array.of(I32), Uint8Array.of(I32)];
  const w = new Writer(32);
  w.u8(0x60);
  w.u32(params.length);
  for (const param of params) w.bytes(param);
  w.u32(1);
  w.u8(0x64);
  w.s64(type);
  const withSegment = code === ARRAY_NEW_DATA || code === ARRAY_NEW_ELEM
    ? segment
    : undefined;
  const length = params.length - 1;

  const e = new Emitter(96);
  e.u32(1); // one group of locals:
  e.u32(1);
  e.u8(0x7e); // the bytes counted
  // The flag first: a body may allocate one array after another with no
  // loop or call between them, and each holds the thread until it is made.
  writeFlagCheck(e, flag);
  if (most !== undefined) {
    e.localGet(length);
    e.i32Const(most | 0);
    e.i32GtU();
    e.ifEmpty();
    for (let i = 0; i < length; i++) e.localGet(i);
    e.i32Const(-1);
    e.arrayNew(code, type, withSegment);
    e.unreachable();
    e.end();
  }
  // A large array holds the thread while the kernel faults in its fresh
  // pages, and the thread that sets the flag can wake milliseconds late
  // beside it, as beside a bulk operator's chunks: so the host is asked
  // first (a poll, which reads its own clock; 0.3 to 0.9 µs, under 1% of
  // the allocation).
  e.localGet(length);
  e.i32Const(pollFromLength(element) - 1);
  e.i32GtU();
  e.ifEmpty();
  writeAskHost(e, flag.onStopFlag);
  e.end();
  e.localGet(length);
  e.i64ExtendI32U();
  e.i64Const(arrayElementBytes(element[0]!));
  e.i64Mul();
  e.i64Const(OBJECT_HEADER_BYTES);
  e.i64Add();
  writeHeapCount(e, flag, length + 1);
  for (let i = 0; i <= length; i++) e.localGet(i);
  e.arrayNew(code, type, withSegment);
  e.end();
  return { type: w.finish(), bytes: e.sized() };
}
