/**
 * Decoders for operator immediates that more than one pass reads: the scan
 * that checks and segments a body, and the register copies that rewrite it.
 *
 * @module
 */

import type { ModuleInfo } from "./module.ts";
import { Imm } from "./opcodes.ts";
import { fail, type Reader } from "./reader.ts";
import {
  isAbstractHeapType,
  readBlockType,
  readHeapType,
  readValType,
} from "./types.ts";

/** The table or memory indices a bulk operator names. */
export interface BulkOperands {
  /** The first (the destination of a copy); a `try_table`'s clauses. */
  first: number;
  /** The second (the source of a copy); the first when there is one. */
  second: number;
  /** The data or element segment of an `init`, else 0. */
  segment: number;
}

/**
 * The largest alignment exponent any operator allows: 2^4, the 16 bytes of
 * a `v128`. The engine rejects a larger one unless a flag of its gives the
 * bits another meaning.
 */
export const MAX_ALIGNMENT = 4;

/**
 * Reads a memory argument: alignment flags, a memory index when bit 6 of
 * the flags is set, and the offset. The offset is a u64 in the binary
 * format whatever the memory, so a 32-bit memory's offset may be written
 * with up to ten bytes; its value must still fit in 32 bits.
 *
 * @param r The reader, at the flags.
 * @param memoryIs64 Per memory: whether it is 64-bit.
 * @param opPos Where the operator starts, for the error message.
 * @returns The memory index.
 *
 * @example Usage
 * ```ts
 * import { readMemArg } from "./immediates.ts";
 * import { Reader } from "./reader.ts";
 * import assert from "node:assert/strict";
 *
 * // align=2, offset=5 written in six bytes
 * const r = new Reader(new Uint8Array([2, 0x85, 0x80, 0x80, 0x80, 0x80, 0]));
 * assert.equal(readMemArg(r, [false], 0), 0);
 * assert.ok(r.atEnd());
 * ```
 */
export function readMemArg(
  r: Reader,
  memoryIs64: readonly boolean[],
  opPos: number,
): number {
  const flagsAt = r.pos;
  const flags = r.u32();
  // Fail closed: an engine flag can give other bits a meaning (bit 5 makes
  // an ordering byte follow, with acquire-release), and bytes this reader
  // skipped wrongly would hide code from the rewriter.
  if (flags >= 0x80 || (flags & 0x3f) > MAX_ALIGNMENT) {
    fail(
      `memory argument flags 0x${
        flags.toString(16)
      } are not an alignment up to 2^${MAX_ALIGNMENT} and a memory index`,
      flagsAt,
    );
  }
  let memory = 0;
  if (flags & 0x40) {
    const at = r.pos;
    memory = r.u32();
    if (memory >= memoryIs64.length) {
      fail(`memory index ${memory} out of range`, at);
    }
  } else if (memoryIs64.length === 0) {
    fail("memory access without a memory", opPos);
  }
  const at = r.pos;
  const offset = r.u64();
  if (offset > 0xffff_ffff && !memoryIs64[memory]) {
    fail(`memory offset ${offset} is outside a 32-bit memory's range`, at);
  }
  return memory;
}

/**
 * Reads the immediates of the operators the scan does not decode inline,
 * checking their indices and labels. Leaves the table or memory indices
 * that bulk charges need in `operands`, and marks the frames a
 * `try_table` can land in in `catchTargets`.
 *
 * @param r The reader; its window ends where the body does.
 * @param imm The operator's {@linkcode Imm} layout.
 * @param p Where the immediates start.
 * @param info The module.
 * @param depth How many blocks are open, the function's included.
 * @param catchTargets Per open block: bit 1 if a `try_table` lands there,
 *   bit 2 if a branch names it, bit 4 if a `br_table` does.
 * @param operands Where to leave a bulk operator's table or memory indices.
 * @param opPos Where the operator starts, for the error message.
 * @returns Where the immediates end.
 *
 * @example Usage
 * ```ts
 * import { readOtherImmediate } from "./immediates.ts";
 * import { ModuleInfo } from "./module.ts";
 * import { Imm } from "./opcodes.ts";
 * import { Reader } from "./reader.ts";
 * import assert from "node:assert/strict";
 *
 * const r = new Reader(new Uint8Array([1, 0, 0]));
 * const targets = new Uint8Array(1);
 * const operands = { first: 0, second: 0, segment: 0 };
 * const info = new ModuleInfo();
 * const end = readOtherImmediate(r, Imm.BrTable, 0, info, 1, targets, operands, 0);
 * assert.equal(end, 3);
 * ```
 */
export function readOtherImmediate(
  r: Reader,
  imm: number,
  p: number,
  info: ModuleInfo,
  depth: number,
  catchTargets: Uint8Array,
  operands: BulkOperands,
  opPos: number,
): number {
  const typeCount = info.typeCount;
  const end = r.end;
  r.pos = p;
  switch (imm) {
    case Imm.BrTable: {
      const n = r.count("br_table target");
      for (let i = 0; i <= n; i++) {
        const at = r.pos;
        const label = r.u32();
        if (label >= depth) fail(`label ${label} out of range`, at);
        catchTargets[depth - 1 - label] |= 6; // a `br_table` names it
      }
      break;
    }
    case Imm.CallIndirect: {
      r.index(typeCount, "type", "module");
      const at = r.pos;
      const table = r.u32();
      if (table >= info.tableIs64.length) {
        fail(`table index ${table} out of range`, at);
      }
      break;
    }
    case Imm.Table:
    case Imm.TablePair:
    case Imm.ElemTable:
    case Imm.Memory:
    case Imm.MemoryPair:
    case Imm.DataMemory: {
      const isTable = imm === Imm.Table || imm === Imm.TablePair ||
        imm === Imm.ElemTable;
      const what = isTable ? "table" : "memory";
      const limit = isTable ? info.tableIs64.length : info.memoryIs64.length;
      operands.segment = imm === Imm.ElemTable || imm === Imm.DataMemory
        ? r.u32()
        : 0;
      let at = r.pos;
      const first = r.u32();
      operands.first = operands.second = first;
      if (first >= limit) fail(`${what} index ${first} out of range`, at);
      if (imm === Imm.TablePair || imm === Imm.MemoryPair) {
        at = r.pos;
        const second = r.u32();
        operands.second = second;
        if (second >= limit) fail(`${what} index ${second} out of range`, at);
      }
      break;
    }
    case Imm.F32:
    case Imm.V128:
    case Imm.Lane: {
      const size = imm === Imm.F32 ? 4 : imm === Imm.V128 ? 16 : 1;
      if (end - p < size) fail(`unexpected end: expected ${size} bytes`, p);
      return p + size;
    }
    case Imm.Zero:
      if (p >= end || r.bytes[p] !== 0) fail("expected a zero byte", p);
      return p + 1;
    case Imm.ValTypes: {
      const n = r.count("value type");
      for (let i = 0; i < n; i++) readValType(r, typeCount);
      break;
    }
    case Imm.HeapType:
      if (p < end && isAbstractHeapType(r.bytes[p]!)) return p + 1;
      readHeapType(r, typeCount);
      break;
    case Imm.TryTable: {
      info.countBlockType(readBlockType(r, typeCount), opPos);
      const n = r.count("catch clause", 2);
      operands.first = n; // each is paid for
      for (let i = 0; i < n; i++) {
        const kindAt = r.pos;
        const kind = r.u8("catch kind");
        if (kind > 3) r.fail(`unknown catch kind ${kind}`, kindAt);
        if (kind < 2) r.u32();
        const at = r.pos;
        // Catch labels are resolved outside the `try_table` itself.
        const label = r.u32();
        if (label >= depth) r.fail(`label ${label} out of range`, at);
        catchTargets[depth - 1 - label] |= 1; // an exception lands there
      }
      break;
    }
    case Imm.BrOnCast: {
      if (p >= end) fail("unexpected end: expected cast flags", p);
      const flags = r.u8();
      if (flags > 3) fail(`invalid cast flags ${flags}`, p);
      const at = r.pos;
      const label = r.u32();
      if (label >= depth) fail(`label ${label} out of range`, at);
      catchTargets[depth - 1 - label] |= 2; // a branch names it
      readHeapType(r, typeCount);
      readHeapType(r, typeCount);
      break;
    }
    case Imm.TypeField:
    case Imm.TypeIndex:
      operands.first = operands.second = r.index(typeCount, "type", "module");
      operands.segment = r.u32();
      break;
    case Imm.TypeType:
      operands.first = r.index(typeCount, "type", "module");
      operands.second = r.index(typeCount, "type", "module");
      break;
    default:
      return fail(`cannot decode the operator at ${opPos}`, opPos);
  }
  return r.pos;
}
