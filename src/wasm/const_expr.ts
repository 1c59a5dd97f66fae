/**
 * Constant expressions (global initializers, segment offsets, element
 * expressions): which operators they may use comes from the operator
 * table; global and function indices are checked, and function indices
 * recorded for the shift.
 *
 * @module
 */

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
  if (index >= info.importedFunctions) {
    patches.add(at, r.pos - at, info.shiftFunction(index));
  }
}

/**
 * Reads a constant expression up to its `end`, checking that it uses only
 * constant operators, checking global and function indices and recording
 * shifted function indices.
 *
 * @param r The reader, at the first operator.
 * @param info The module so far.
 * @param globalLimit How many globals the expression may read.
 * @param patches Where to record shifted function indices.
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
 * readConstExpr(r, new ModuleInfo(), 0, new Patches());
 * assert.ok(r.atEnd());
 * ```
 */
export function readConstExpr(
  r: Reader,
  info: IndexContext,
  globalLimit: number,
  patches: Patches,
): void {
  for (;;) {
    const at = r.pos;
    const op = r.u8("constant expression");
    // The usual offsets and initializers, without the table lookups.
    if (op === 0x0b) return;
    if (op === 0x41) {
      r.s32();
      continue;
    }
    let imm: number;
    let name: string;
    let traits: number;
    if (op >= 0xfb && op <= 0xfe) {
      const space = prefixSpace(op)!;
      const sub = r.u32();
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
    switch (imm) {
      case Imm.None:
        if (op === 0x0b) return;
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
        info.checkGlobal(r, r.u32(), gAt, globalLimit);
        break;
      }
      case Imm.Type:
      case Imm.TypeIndex: {
        const tAt = r.pos;
        if (r.u32() >= info.typeCount) r.fail("type index out of range", tAt);
        if (imm === Imm.TypeIndex) r.u32();
        break;
      }
      default:
        // Every constant operator is covered above; this keeps a future
        // table entry from being skipped silently.
        r.fail(`cannot decode ${name} in a constant expression`, at);
    }
  }
}
