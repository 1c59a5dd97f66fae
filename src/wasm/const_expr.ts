/**
 * Constant expressions (global initializers, segment offsets, element
 * expressions): which operators they may use comes from the operator
 * table; global and function indices are checked, and function indices
 * recorded for the shift.
 *
 * @module
 */

import type { Footprint } from "./footprint.ts";
import { Imm, prefixSpace, SINGLE_BYTE, Trait } from "./opcodes.ts";
import type { Patches } from "./patches.ts";
import type { Reader } from "./reader.ts";
import { readHeapType } from "./types.ts";

/** What checking the indices in a constant expression needs. */
export interface IndexContext {
  /** How many types the module defines. */
  readonly typeCount: number;
  /** How many functions are imported. */
  readonly importedFunctions: number;
  /** The new index of an original function index. */
  shiftFunction(index: number): number;
  /** Checks a function index against the original function count. */
  checkFunction(r: Reader, index: number, at: number): void;
  /** Checks a global index against a limit. */
  checkGlobal(r: Reader, index: number, at: number, limit?: number): void;
  /** Per type: the number of fields of a struct type, else -1. */
  readonly structFields: ArrayLike<number>;
  /**
   * Per global so far: its value when it is an `i32` known before
   * instantiation, else `NaN`.
   */
  readonly globalValues: ArrayLike<number>;
  /** Where the allocations of constant expressions are added up. */
  readonly footprint: Footprint;
  /** The imported functions an element segment or `ref.func` names. */
  readonly referencedImports?: Set<number>;
  /**
   * Notes that an element segment or constant expression names a function,
   * which declares it for `ref.func` in code.
   */
  declareFunction?(index: number): void;
}

/**
 * Reads a function index, checks it and records its shift.
 *
 * @param r The reader.
 * @param info The module so far.
 * @param patches Where to record the shifted index.
 *
 * @example Usage
 * ```ts
 * import { readFunctionIndex } from "./const_expr.ts";
 * import { ModuleInfo } from "./module.ts";
 * import { Patches } from "./patches.ts";
 * import { Reader } from "./reader.ts";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() =>
 *   readFunctionIndex(new Reader(new Uint8Array([0])), new ModuleInfo(), new Patches())
 * );
 * ```
 */
export function readFunctionIndex(
  r: Reader,
  info: IndexContext,
  patches: Patches,
): void {
  const at = r.pos;
  const index = r.u32();
  info.checkFunction(r, index, at);
  info.declareFunction?.(index);
  if (index >= info.importedFunctions) {
    patches.add(at, r.pos - at, info.shiftFunction(index));
  } else info.referencedImports?.add(index);
}

/**
 * Reads a constant expression up to its `end`, checking that it uses only
 * constant operators, checking global and function indices and recording
 * shifted function indices. It also evaluates the expression's `i32`
 * arithmetic, so that the GC objects it allocates are added to
 * `info.footprint` by size (an allocation whose size is unknown before
 * instantiation makes the footprint unbounded).
 *
 * @param r The reader, at the first operator.
 * @param info The module so far.
 * @param globalLimit How many globals the expression may read.
 * @param patches Where to record shifted function indices.
 * @returns The expression's value when it is an `i32` known before
 *   instantiation, else `NaN`.
 *
 * @example Usage
 * ```ts
 * import { readConstExpr } from "./const_expr.ts";
 * import { ModuleInfo } from "./module.ts";
 * import { Patches } from "./patches.ts";
 * import { Reader } from "./reader.ts";
 * import assert from "node:assert/strict";
 *
 * const r = new Reader(new Uint8Array([0x41, 0x2a, 0x0b]));
 * assert.equal(readConstExpr(r, new ModuleInfo(), 0, new Patches()), 42);
 * assert.ok(r.atEnd());
 * ```
 */
export function readConstExpr(
  r: Reader,
  info: IndexContext,
  globalLimit: number,
  patches: Patches,
): number {
  // The operand stack, as far as the allocations' sizes need it: an `i32`
  // known before instantiation, or NaN for anything else.
  const stack: number[] = [];
  // Operators, which the engine evaluates one by one when there is more
  // than one (see `Footprint.evaluatedOperators`).
  let operators = 0;
  for (;;) {
    const at = r.pos;
    const op = r.u8("constant expression");
    // The usual offsets and initializers, without the table lookups.
    if (op === 0x0b) {
      if (operators > 1) info.footprint.evaluatedOperators += operators;
      return stack.length === 1 ? stack[0]! : NaN;
    }
    operators++;
    if (op === 0x41) {
      stack.push(r.s32());
      continue;
    }
    let imm: number;
    let name: string;
    let traits: number;
    let sub = -1;
    if (op >= 0xfb && op <= 0xfe) {
      const space = prefixSpace(op)!;
      sub = r.u32();
      imm = sub < space.imm.length ? space.imm[sub]! : Imm.Unknown;
      name = space.name[sub] ?? "";
      if (imm === Imm.Unknown) {
        r.fail(`unknown opcode 0x${op.toString(16)} 0x${sub.toString(16)}`, at);
      }
      traits = space.trait[sub]!;
    } else {
      imm = SINGLE_BYTE.imm[op]!;
      name = SINGLE_BYTE.name[op]!;
      if (imm === Imm.Unknown) {
        r.fail(`unknown opcode 0x${op.toString(16)}`, at);
      }
      traits = SINGLE_BYTE.trait[op]!;
    }
    if (!(traits & Trait.Const)) {
      r.fail(`operator ${name} is not allowed in a constant expression`, at);
    }
    let type = -1;
    let fixed = 0;
    switch (imm) {
      case Imm.None:
        break;
      case Imm.I32:
        r.s32();
        break;
      case Imm.I64:
        r.s64();
        break;
      case Imm.F32:
        r.skip(4, "f32 bytes");
        break;
      case Imm.F64:
        r.skip(8, "f64 bytes");
        break;
      case Imm.V128:
        r.skip(16, "v128 bytes");
        break;
      case Imm.HeapType:
        readHeapType(r, info.typeCount);
        break;
      case Imm.Func:
        readFunctionIndex(r, info, patches);
        break;
      case Imm.Global: {
        const gAt = r.pos;
        const index = r.u32();
        info.checkGlobal(r, index, gAt, globalLimit);
        type = index;
        break;
      }
      case Imm.Type:
      case Imm.TypeIndex: {
        const tAt = r.pos;
        type = r.u32();
        if (type >= info.typeCount) r.fail("type index out of range", tAt);
        if (imm === Imm.TypeIndex) fixed = r.u32();
        break;
      }
      default:
        // Every constant operator is covered above; this keeps a future
        // table entry from being skipped silently.
        r.fail(`cannot decode ${name} in a constant expression`, at);
    }
    evaluate(stack, op, sub, type, fixed, info);
  }
}

/**
 * Applies one constant operator (other than `i32.const` and `end`) to the
 * operand stack, and adds what it allocates to the footprint. `type` is
 * the operator's type or global index; `fixed` the length of
 * `array.new_fixed`.
 */
function evaluate(
  stack: number[],
  op: number,
  sub: number,
  type: number,
  fixed: number,
  info: IndexContext,
): void {
  const footprint = info.footprint;
  // `sized`: a count the module gives as a number, not element by element.
  const allocate = (elements: number, sized = false) => {
    if (Number.isNaN(elements)) footprint.unbounded = true;
    else {
      footprint.allocatedElements += elements;
      if (sized) footprint.sizedElements += elements;
    }
  };
  const pop = () => stack.length > 0 ? stack.pop()! : NaN;
  // Drops `n` operands at once: `n` comes from the input (up to 2^32 - 1
  // for `array.new_fixed`), and one pop each held the host for seconds.
  const popMany = (n: number) => {
    stack.length = Math.max(0, stack.length - n);
  };
  if (op === 0xfb) {
    switch (sub) {
      case 0x00: // struct.new: one operand per field
        popMany(Math.max(0, info.structFields[type]!));
        allocate(Math.max(0, info.structFields[type]!));
        break;
      case 0x01: // struct.new_default
        allocate(Math.max(0, info.structFields[type]!), true);
        break;
      case 0x06: // array.new: the value, then the length
      case 0x07: { // array.new_default: the length
        const length = pop();
        if (sub === 0x06) pop();
        allocate(Number.isNaN(length) ? NaN : length >>> 0, true);
        break;
      }
      case 0x08: // array.new_fixed
        popMany(fixed);
        allocate(fixed);
        break;
      case 0x1a: // any.convert_extern
      case 0x1b: // extern.convert_any
      case 0x1c: // ref.i31
        pop();
        break;
      default:
        footprint.unbounded = true;
    }
    stack.push(NaN);
    return;
  }
  switch (op) {
    case 0x23: // global.get
      stack.push(
        type < info.globalValues.length ? info.globalValues[type]! : NaN,
      );
      return;
    case 0x6a: // i32.add
    case 0x6b: // i32.sub
    case 0x6c: { // i32.mul
      const b = pop();
      const a = pop();
      if (Number.isNaN(a) || Number.isNaN(b)) stack.push(NaN);
      else if (op === 0x6a) stack.push((a + b) | 0);
      else if (op === 0x6b) stack.push((a - b) | 0);
      else stack.push(Math.imul(a, b));
      return;
    }
    case 0x7c: // i64.add
    case 0x7d: // i64.sub
    case 0x7e: // i64.mul
      pop();
      pop();
      stack.push(NaN);
      return;
    case 0x42: // i64.const
    case 0x43: // f32.const
    case 0x44: // f64.const
    case 0xd0: // ref.null
    case 0xd2: // ref.func
    case 0xfd: // v128.const
      stack.push(NaN);
      return;
  }
  footprint.unbounded = true;
  stack.push(NaN);
}
