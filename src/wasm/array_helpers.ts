/**
 * Interruptible GC array operators, as `bulk_helpers.ts` does for memories
 * and tables: with a stop flag, `array.fill`, `array.copy`,
 * `array.init_data` and `array.init_elem` become calls to added functions
 * that trap exactly when the operator would, before writing anything (a
 * zero-length run at the end offsets, or the operator itself when an end
 * offset passes 2^32), then work in chunks of {@linkcode ARRAY_CHUNK}
 * elements with a flag check between them. A copy whose destination index
 * lies above its source index goes from the end backwards, which is right
 * whether or not the two arrays are the same.
 *
 * @module
 */

import { type StopFlagTargets, writeFlagCheck } from "./checks.ts";
import { Emitter } from "./emitter.ts";
import { type BulkHelper, writeChunkLoop } from "./bulk_helpers.ts";
import { arrayElementBytes } from "./array_new_cap.ts";
import { Writer } from "./writer.ts";

/** Array elements per chunk. */
export const ARRAY_CHUNK = 1 << 14;

/** The array operators a helper stands in for. */
export const ArrayOp = {
  /** `array.fill type` */
  Fill: 0,
  /** `array.copy destination source` */
  Copy: 1,
  /** `array.init_data type segment` */
  InitData: 2,
  /** `array.init_elem type segment` */
  InitElem: 3,
} as const;

/** One of {@linkcode ArrayOp}'s values. */
export type ArrayOp = typeof ArrayOp[keyof typeof ArrayOp];

/** An array operator and its immediates. */
export interface ArraySite {
  /** The operator. */
  readonly op: ArrayOp;
  /** The array type (the destination's for a copy). */
  readonly first: number;
  /** The source's array type for a copy; else `first`. */
  readonly second: number;
  /** The segment of an `init`; else 0. */
  readonly segment: number;
}

const I32 = 0x7f;
const I64 = 0x7e;

/** `(ref null type)` as encoded. */
function nullableRef(type: number): Uint8Array {
  const w = new Writer(8);
  w.u8(0x63);
  w.s64(type);
  return w.finish();
}

/**
 * Writes the helper for one array operator and its immediates.
 *
 * @param site The operator and its immediates.
 * @param element The first array type's element storage type, as encoded.
 * @param flag The stop flag's memory and callback.
 * @returns The helper's type and body.
 *
 * @example Usage
 * ```ts
 * import { ArrayOp, arrayHelper } from "./array_helpers.ts";
 * import assert from "node:assert/strict";
 *
 * const site = { op: ArrayOp.Fill, first: 0, second: 0, segment: 0 };
 * const helper = arrayHelper(site, new Uint8Array([0x78]), {
 *   memory: 0,
 *   onStopFlag: 0,
 * });
 * assert.deepEqual([...helper.type], [0x60, 4, 0x63, 0, 0x7f, 0x7f, 0x7f, 0]);
 * ```
 */
export function arrayHelper(
  site: ArraySite,
  element: Uint8Array,
  flag: StopFlagTargets,
): BulkHelper {
  const { op, first, second, segment } = site;
  const copy = op === ArrayOp.Copy;
  const fill = op === ArrayOp.Fill;
  // Packed elements are filled from an i32.
  const value = element[0] === 0x78 || element[0] === 0x77
    ? Uint8Array.of(I32)
    : element;
  const params: Uint8Array[] = copy
    ? [
      nullableRef(first),
      Uint8Array.of(I32),
      nullableRef(second),
      Uint8Array.of(I32),
      Uint8Array.of(I32),
    ]
    : [
      nullableRef(first),
      Uint8Array.of(I32),
      fill ? value : Uint8Array.of(I32),
      Uint8Array.of(I32),
    ];
  const typeWriter = new Writer(32);
  typeWriter.u8(0x60);
  typeWriter.u32(params.length);
  for (const param of params) typeWriter.bytes(param);
  typeWriter.u8(0);
  const type = typeWriter.finish();

  // Parameters: the array, its index, the second operand (the fill value,
  // the source array, or the segment offset), [the source index], length.
  const count = params.length;
  const indexParam = 1;
  const sourceParam = copy ? 3 : fill ? -1 : 2;
  const lengthParam = count - 1;
  // Locals: the indices and the length, widened to i64.
  const D = count;
  const S = count + 1;
  const N = count + 2;
  // How far the source offset moves per element.
  const unit = op === ArrayOp.InitData ? arrayElementBytes(element[0]!) : 1;

  const e = new Emitter(256);
  e.u32(1);
  e.u32(3);
  e.u8(I64);
  // First the flag, as every added bulk function does (`bulk_helpers.ts`).
  writeFlagCheck(e, flag);
  const widen = (param: number, local: number) => {
    e.localGet(param);
    e.i64ExtendI32U();
    e.localSet(local);
  };
  widen(indexParam, D);
  if (sourceParam >= 0) widen(sourceParam, S);
  widen(lengthParam, N);

  const operator = () => {
    if (fill) e.arrayFill(first);
    else if (copy) e.arrayCopy(first, second);
    else e.arrayInit(first, segment, op === ArrayOp.InitElem);
  };
  // `local + n × scale`, in i64.
  const pushEnd = (local: number, scale: number) => {
    e.localGet(local);
    e.localGet(N);
    if (scale !== 1) {
      e.i64Const(scale);
      e.i64Mul();
    }
    e.i64Add();
  };
  // The operands before the length: the array, the index, and so on;
  // `moved` adds the remaining length to the indices.
  const pushOperands = (moved: boolean) => {
    e.localGet(0);
    if (moved) pushEnd(D, 1);
    else e.localGet(D);
    e.i32WrapI64();
    if (fill) e.localGet(2);
    else {
      if (copy) e.localGet(2);
      if (moved) pushEnd(S, unit);
      else e.localGet(S);
      e.i32WrapI64();
    }
  };

  // An end offset past 2^32: the operator itself traps.
  pushEnd(D, 1);
  e.i64Const(0xffffffff);
  e.i64GtU();
  if (sourceParam >= 0) {
    pushEnd(S, unit);
    e.i64Const(0xffffffff);
    e.i64GtU();
    e.i32Or();
  }
  e.ifEmpty();
  for (let i = 0; i < count; i++) e.localGet(i);
  operator();
  e.unreachable();
  e.end();

  // Nothing at the end offsets: traps iff the whole range is out of bounds.
  pushOperands(true);
  e.i32Const(0);
  operator();

  const step = (local: number, by: number) => {
    e.localGet(local);
    e.i64Const(by);
    if (local === N) e.i64Sub();
    else e.i64Add();
    e.localSet(local);
  };
  const chunks = (body: () => void) =>
    writeChunkLoop(e, N, ARRAY_CHUNK, flag, body);
  const forwards = () =>
    chunks(() => {
      pushOperands(false);
      e.i32Const(ARRAY_CHUNK);
      operator();
      step(D, ARRAY_CHUNK);
      if (sourceParam >= 0) step(S, ARRAY_CHUNK * unit);
      step(N, ARRAY_CHUNK);
    });
  if (copy) {
    e.localGet(D);
    e.localGet(S);
    e.i64GtU();
    e.ifEmpty();
    chunks(() => {
      step(N, ARRAY_CHUNK);
      pushOperands(true);
      e.i32Const(ARRAY_CHUNK);
      operator();
    });
    e.else();
    forwards();
    e.end();
  } else {
    forwards();
  }
  pushOperands(false);
  e.localGet(N);
  e.i32WrapI64();
  operator();
  e.end();
  return { type, bytes: e.sized() };
}
