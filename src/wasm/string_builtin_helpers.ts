/**
 * Paid string builtins. A guest compiled with the JS String Builtins calls
 * functions of the module `wasm:js-string` that allocate strings, or walk
 * their characters, by a size the call's price does not see. In a metered
 * module, a call of the imported `fromCharCodeArray`, `concat`, `equals`,
 * `compare` or `intoCharCodeArray` becomes a call of an added helper with
 * the same type, which charges that size and then calls it:
 * `fromCharCodeArray(array, start, end)` pays `end - start` characters (0
 * when `end <= start`, where the builtin traps), `concat(a, b)` the length
 * of its result, `equals(a, b)` and `compare(a, b)` the length of the
 * shorter string (0 when either is null), and
 * `intoCharCodeArray(s, array, start)` the length of `s` (0 when it is
 * null), each length read through the module's own `length` import.
 * `concat` itself makes a cons string of constant size, but the first
 * builtin that reads its characters flattens it, allocating all of them
 * once; charging the length at `concat` pays for that flattening before it
 * can happen. A comparison or a copy into an array takes time in
 * proportion to the characters it reads: one call of `equals` on two equal
 * strings of 2^28 characters took 25 ms.
 *
 * With a stop flag, every added function checks the flag before it calls
 * the builtin (a straight run of such calls, with no loop or call of the
 * guest's own between them, stops at the next one), and those of
 * `fromCharCodeArray` and `concat` also count the string's bytes toward
 * the host's heap (`heap_count.ts`); a rewrite without fuel adds the one
 * of `fromCharCodeArray` for that alone, where the guest calls it.
 *
 * The rewriter cannot know whether the host turns the builtins on; a
 * user-supplied function of the same name and type is charged the same.
 *
 * @module
 */

import { type CheckTargets, writeCheck, writeFlagCheck } from "./checks.ts";
import { Emitter } from "./emitter.ts";
import type { BulkHelper } from "./bulk_helpers.ts";
import { OBJECT_HEADER_BYTES, writeHeapCount } from "./heap_count.ts";
import type { FunctionSignature } from "./module.ts";

/** The module name of the JS String Builtins. */
export const JS_STRING = "wasm:js-string";

/** The builtins a helper stands in for. */
export const StringBuiltin = {
  /** `fromCharCodeArray(array, start, end) -> externref` */
  FromCharCodeArray: 0,
  /** `concat(a, b) -> externref` */
  Concat: 1,
  /** `equals(a, b) -> i32` */
  Equals: 2,
  /** `compare(a, b) -> i32` */
  Compare: 3,
  /** `intoCharCodeArray(string, array, start) -> i32` */
  IntoCharCodeArray: 4,
} as const;

/** The builtins' names, by {@linkcode StringBuiltin} value. */
export const STRING_BUILTIN_NAMES: readonly string[] = [
  "fromCharCodeArray",
  "concat",
  "equals",
  "compare",
  "intoCharCodeArray",
];

/** One of {@linkcode StringBuiltin}'s values. */
export type StringBuiltin = typeof StringBuiltin[keyof typeof StringBuiltin];

/** The charged imports of one module, by function index. */
export interface StringImports {
  /** Charged imports: function index to builtin. */
  readonly charged: Map<number, StringBuiltin>;
  /** The function index of an `(externref) -> i32` `length`, or -1. */
  readonly length: number;
}

/**
 * Finds the imports of `wasm:js-string` that allocate by a size the call's
 * price does not see. Only an import with the builtin's shape counts: with
 * the builtins on, any other shape fails to compile.
 *
 * @param imports The module's function imports, in order.
 * @param signatures Per function import: its signature.
 * @returns The charged imports and `length`.
 *
 * @example Usage
 * ```ts
 * import { findStringImports } from "./string_builtin_helpers.ts";
 * import assert from "node:assert/strict";
 *
 * const found = findStringImports(
 *   [{ module: "wasm:js-string", name: "concat" }],
 *   [{ params: ["externref", "externref"], results: ["(ref extern)"] }],
 * );
 * assert.equal(found.charged.get(0), 1);
 * assert.equal(found.length, -1);
 * ```
 */
export function findStringImports(
  imports: readonly { module: string; name: string }[],
  signatures: readonly (FunctionSignature | undefined)[],
): StringImports {
  const charged = new Map<number, StringBuiltin>();
  let length = -1;
  imports.forEach(({ module, name }, index) => {
    const signature = signatures[index];
    if (module !== JS_STRING || signature === undefined) return;
    const { params, results } = signature;
    if (results.length !== 1) return;
    if (
      name === "fromCharCodeArray" && params.length === 3 &&
      params[1] === "i32" && params[2] === "i32"
    ) {
      charged.set(index, StringBuiltin.FromCharCodeArray);
    } else if (
      name === "concat" && params.length === 2 && EXTERN.has(params[0]!) &&
      EXTERN.has(params[1]!)
    ) {
      charged.set(index, StringBuiltin.Concat);
    } else if (
      (name === "equals" || name === "compare") && params.length === 2 &&
      results[0] === "i32" && EXTERN.has(params[0]!) && EXTERN.has(params[1]!)
    ) {
      charged.set(
        index,
        name === "equals" ? StringBuiltin.Equals : StringBuiltin.Compare,
      );
    } else if (
      name === "intoCharCodeArray" && params.length === 3 &&
      results[0] === "i32" && EXTERN.has(params[0]!) && params[2] === "i32"
    ) {
      charged.set(index, StringBuiltin.IntoCharCodeArray);
    } else if (
      name === "length" && params.length === 1 && results[0] === "i32" &&
      EXTERN_TOP.has(params[0]!) && length < 0
    ) {
      length = index;
    }
  });
  return { charged, length };
}

/** Every way to write `externref`, which takes any extern reference. */
const EXTERN_TOP = new Set(["externref", "(ref null extern)"]);
/** The extern references, which only the builtins' own types take. */
const EXTERN = new Set([
  ...EXTERN_TOP,
  "(ref extern)",
  "nullexternref",
  "(ref null noextern)",
  "(ref noextern)",
]);

/** Costs past this saturate, as the bulk charges do. */
const SATURATED = 1n << 62n;

/**
 * The bytes a character of a `concat`'s result counts toward
 * `limits.arrays` in a guest loaded to be stopped. A string of one-character
 * pieces holds a 32-byte cons cell for each (V8's `ConsString`), and the
 * engine flattens them all in one step at the first builtin that reads the
 * characters (on a quiet 2-core machine, 2^18 such pieces took about 4 ms
 * of CPU and 2^20 8 to 16, against 1.2 ms for 2^20 characters doubled):
 * 8 keeps the default cap (262,144 bytes) at 32,768 characters, the most
 * one flattening was held to before, when the cap was 1 MiB and this 32.
 */
export const CONCAT_CHARACTER_BYTES = 8;

/**
 * The longest result a `concat` may make under an array cap of `bytes`.
 *
 * @param bytes `limits.arrays`.
 * @returns The most characters.
 *
 * @example Usage
 * ```ts
 * import { concatLengthCap } from "./string_builtin_helpers.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(concatLengthCap(262_144), 32_768);
 * ```
 */
export function concatLengthCap(bytes: number): number {
  return Math.floor(bytes / CONCAT_CHARACTER_BYTES);
}

/**
 * Writes the added function that charges one string builtin and calls it,
 * or (for `concat`, in a guest loaded to be stopped) first holds its result
 * to `cap` characters: a longer one is made from the operands and doubled
 * until the engine refuses it as longer than its longest string (each
 * `concat` makes a rope of constant size, so that takes at most about 30
 * of them and reads no characters), which throws the engine's own
 * `RangeError` for that.
 *
 * @param builtin What the import is.
 * @param importIndex The import's function index.
 * @param typeIndex The import's type index: the helper's too.
 * @param lengthIndex The `length` import's function index (for every
 *   builtin but `fromCharCodeArray`).
 * @param unit The cost per character (`perElement`), above 0, or 0 for a
 *   function that does not charge.
 * @param targets The counter and the slow path; with a stop flag, the
 *   strings `fromCharCodeArray` and `concat` make are counted toward the
 *   host's heap too.
 * @param cap For `concat`, the longest result, if any.
 * @returns The helper; its `type` is empty, `typeIndex` names its type.
 *
 * @example Usage
 * ```ts
 * import { stringHelper, StringBuiltin } from "./string_builtin_helpers.ts";
 * import assert from "node:assert/strict";
 *
 * const targets = { fuelGlobal: 0, slowFunction: 1, resumable: true };
 * const helper = stringHelper(StringBuiltin.FromCharCodeArray, 0, 3, -1, 1, targets);
 * assert.equal(helper.typeIndex, 3);
 * ```
 */
export function stringHelper(
  builtin: StringBuiltin,
  importIndex: number,
  typeIndex: number,
  lengthIndex: number,
  unit: number,
  targets: CheckTargets,
  cap?: number,
): BulkHelper {
  const params = builtin === StringBuiltin.FromCharCodeArray ||
      builtin === StringBuiltin.IntoCharCodeArray
    ? 3
    : 2;
  const scratch = params;
  const amount = params + 1;
  const bytes = params + 2;
  const capped = builtin === StringBuiltin.Concat && cap !== undefined;
  const rope = amount + 2;
  const left = amount + 3;
  const e = new Emitter(128);
  e.u32(capped ? 3 : 1);
  e.u32(3);
  e.u8(0x7e); // i64
  if (capped) {
    e.u32(1);
    e.u8(0x6f); // externref
    e.u32(1);
    e.u8(0x7f); // i32
  }
  const flag = targets.stopFlag;
  // The flag before anything is read, made or paid for.
  if (flag !== undefined) writeFlagCheck(e, flag);
  if (builtin === StringBuiltin.FromCharCodeArray) {
    // end > start ? end - start : 0, unsigned.
    e.localGet(2);
    e.localGet(1);
    e.i32Sub();
    e.i64ExtendI32U();
    e.i64Const(0);
    e.localGet(2);
    e.localGet(1);
    e.u8(0x4b); // i32.gt_u
    e.select();
  } else if (builtin === StringBuiltin.Concat) {
    e.localGet(0);
    e.call(lengthIndex);
    e.i64ExtendI32U();
    e.localGet(1);
    e.call(lengthIndex);
    e.i64ExtendI32U();
    e.i64Add();
  } else if (builtin === StringBuiltin.IntoCharCodeArray) {
    // null ? 0 : length(s); the builtin traps on null.
    e.localGet(0);
    e.u8(0xd1); // ref.is_null
    e.u8(0x04); // if (result i64)
    e.u8(0x7e);
    e.i64Const(0);
    e.else();
    e.localGet(0);
    e.call(lengthIndex);
    e.i64ExtendI32U();
    e.end();
  } else {
    // equals, compare: null in either ? 0 : min(length(a), length(b)), the
    // most characters either reads (`equals` takes null, `compare` traps).
    e.localGet(0);
    e.u8(0xd1); // ref.is_null
    e.localGet(1);
    e.u8(0xd1); // ref.is_null
    e.i32Or();
    e.u8(0x04); // if (result i64)
    e.u8(0x7e);
    e.i64Const(0);
    e.else();
    e.localGet(0);
    e.call(lengthIndex);
    e.i64ExtendI32U();
    e.localTee(amount);
    e.localGet(1);
    e.call(lengthIndex);
    e.i64ExtendI32U();
    e.localTee(scratch);
    e.localGet(amount);
    e.localGet(scratch);
    e.i64LtU();
    e.select();
    e.end();
  }
  e.localSet(amount);
  const counted = flag !== undefined &&
    (builtin === StringBuiltin.FromCharCodeArray ||
      builtin === StringBuiltin.Concat);
  if (counted) {
    // The string's bytes, two a character as V8 may keep them: `concat`'s
    // result in full, since the first read of its characters flattens it.
    e.localGet(amount);
    e.i64Const(2);
    e.i64Mul();
    e.i64Const(OBJECT_HEADER_BYTES);
    e.i64Add();
    e.localSet(bytes);
  }
  if (capped) writeRefusal(e, importIndex, amount, cap!, rope, left);
  if (unit > 0) writeCharge(e, unit, targets, amount, scratch);
  // Counted once paid for: a budget that cannot pay ends the call first.
  if (counted) {
    e.localGet(bytes);
    writeHeapCount(e, flag, scratch);
  }
  for (let i = 0; i < params; i++) e.localGet(i);
  e.call(importIndex);
  e.end();
  return { type: new Uint8Array(0), typeIndex, bytes: e.sized() };
}

/**
 * `if (amount > cap) { rope = concat(a, b); doubled until it throws }`.
 * The engine's longest string is under 2^30 characters, so 32 doublings
 * of a rope of at least one reach it; the `unreachable` after them is never
 * met.
 */
function writeRefusal(
  e: Emitter,
  concat: number,
  amount: number,
  cap: number,
  rope: number,
  left: number,
): void {
  e.localGet(amount);
  e.i64Const(cap);
  e.i64GtU();
  e.ifEmpty();
  e.localGet(0);
  e.localGet(1);
  e.call(concat);
  e.localSet(rope);
  e.i32Const(32);
  e.localSet(left);
  e.loopEmpty();
  e.localGet(rope);
  e.localGet(rope);
  e.call(concat);
  e.localSet(rope);
  e.localGet(left);
  e.i32Const(1);
  e.i32Sub();
  e.localTee(left);
  e.brIf(0);
  e.end();
  e.unreachable();
  e.end();
}

/** Charges `amount` characters at `unit` each, saturated. */
function writeCharge(
  e: Emitter,
  unit: number,
  targets: CheckTargets,
  amount: number,
  scratch: number,
): void {
  // At most 2^33 characters: times the unit, saturated.
  e.i64Const(SATURATED);
  e.localGet(amount);
  if (unit !== 1) {
    e.i64Const(unit);
    e.i64Mul();
  }
  e.localGet(amount);
  e.i64Const(SATURATED / BigInt(unit));
  e.i64GtU();
  e.select();
  e.localSet(amount);
  writeCheck(e, targets, { local: scratch, inRegister: false }, {
    local: amount,
  });
}
