/**
 * A typed instruction writer: every instruction the rewriter adds (checks,
 * run-time charges, register copies, the added functions) is written
 * through one of these methods, whose opcodes come from the operator table.
 *
 * @module
 */

import { ATOMIC_OPS, opcode } from "./opcodes.ts";
import { Writer } from "./writer.ts";

const UNREACHABLE = opcode("unreachable");
const BLOCK = opcode("block");
const IF = opcode("if");
const END = opcode("end");
const BR = opcode("br");
const RETURN = opcode("return");
const CALL = opcode("call");
const SELECT = opcode("select");
const LOCAL_GET = opcode("local.get");
const LOCAL_SET = opcode("local.set");
const LOCAL_TEE = opcode("local.tee");
const GLOBAL_GET = opcode("global.get");
const GLOBAL_SET = opcode("global.set");
const I32_CONST = opcode("i32.const");
const I64_CONST = opcode("i64.const");
const F32_CONST = opcode("f32.const");
const F64_CONST = opcode("f64.const");
const I64_LT_S = opcode("i64.lt_s");
const I64_GT_U = opcode("i64.gt_u");
const I64_ADD = opcode("i64.add");
const I64_SUB = opcode("i64.sub");
const I64_MUL = opcode("i64.mul");
const I64_EXTEND_I32_U = opcode("i64.extend_i32_u");

const ATOMIC_PREFIX = ATOMIC_OPS.prefix;
const I32_ATOMIC_LOAD = ATOMIC_OPS.name.indexOf("i32.atomic.load");
/** Bit 6 of a memory argument's flags: a memory index follows. */
const MEMARG_HAS_MEMORY = 0x40;

/** The empty block type. */
export const EMPTY_BLOCK = 0x40;

/**
 * Writes instructions into a growable buffer.
 *
 * @example Usage
 * ```ts
 * import { Emitter } from "./emitter.ts";
 * import assert from "node:assert/strict";
 *
 * const e = new Emitter(8);
 * e.localGet(0);
 * e.i64Const(-1);
 * e.i64Add();
 * assert.deepEqual([...e.finish()], [0x20, 0x00, 0x42, 0x7f, 0x7c]);
 * ```
 */
export class Emitter extends Writer {
  /** `unreachable`. */
  unreachable(): void {
    this.u8(UNREACHABLE);
  }

  /**
   * `block` typed by a type index.
   *
   * @param typeIndex The block's function type.
   */
  blockOfType(typeIndex: number): void {
    this.u8(BLOCK);
    this.s64(typeIndex);
  }

  /**
   * `if` with no parameters or results.
   *
   * @returns Where the `if` was written.
   */
  ifEmpty(): number {
    const at = this.len;
    this.u8(IF);
    this.u8(EMPTY_BLOCK);
    return at;
  }

  /** `end`. */
  end(): void {
    this.u8(END);
  }

  /**
   * `br`.
   *
   * @param label The label depth.
   */
  br(label: number): void {
    this.u8(BR);
    this.u32(label);
  }

  /** `return`. */
  return(): void {
    this.u8(RETURN);
  }

  /**
   * `call`.
   *
   * @param func The function index.
   */
  call(func: number): void {
    this.u8(CALL);
    this.u32(func);
  }

  /** `select` without a type. */
  select(): void {
    this.u8(SELECT);
  }

  /**
   * `local.get`.
   *
   * @param local The local index.
   */
  localGet(local: number): void {
    this.u8(LOCAL_GET);
    this.u32(local);
  }

  /**
   * `local.set`.
   *
   * @param local The local index.
   */
  localSet(local: number): void {
    this.u8(LOCAL_SET);
    this.u32(local);
  }

  /**
   * `local.tee`.
   *
   * @param local The local index.
   */
  localTee(local: number): void {
    this.u8(LOCAL_TEE);
    this.u32(local);
  }

  /**
   * `global.get`.
   *
   * @param global The global index.
   */
  globalGet(global: number): void {
    this.u8(GLOBAL_GET);
    this.u32(global);
  }

  /**
   * `global.set`.
   *
   * @param global The global index.
   */
  globalSet(global: number): void {
    this.u8(GLOBAL_SET);
    this.u32(global);
  }

  /**
   * `i32.const`.
   *
   * @param value A 32-bit integer.
   */
  i32Const(value: number): void {
    this.u8(I32_CONST);
    this.s64(value | 0);
  }

  /**
   * `f32.const`.
   *
   * @param value The value, rounded to 32 bits.
   */
  f32Const(value: number): void {
    this.u8(F32_CONST);
    this.ensure(4);
    new DataView(this.buf.buffer).setFloat32(this.len, value, true);
    this.len += 4;
  }

  /**
   * `f64.const`.
   *
   * @param value The value.
   */
  f64Const(value: number): void {
    this.u8(F64_CONST);
    this.ensure(8);
    new DataView(this.buf.buffer).setFloat64(this.len, value, true);
    this.len += 8;
  }

  /**
   * `i64.const`.
   *
   * @param value A safe integer or any 64-bit bigint.
   */
  i64Const(value: number | bigint): void {
    this.u8(I64_CONST);
    if (typeof value === "bigint") this.s64Big(value);
    else this.s64(value);
  }

  /**
   * `i32.atomic.load` of an aligned word at a constant offset.
   *
   * @param memory The memory index.
   * @param offset The offset.
   */
  i32AtomicLoad(memory: number, offset = 0): void {
    this.u8(ATOMIC_PREFIX);
    this.u32(I32_ATOMIC_LOAD);
    if (memory === 0) this.u8(2); // align 4
    else {
      this.u8(2 | MEMARG_HAS_MEMORY);
      this.u32(memory);
    }
    this.u32(offset);
  }

  /** `i64.lt_s`. */
  i64LtS(): void {
    this.u8(I64_LT_S);
  }

  /** `i64.gt_u`. */
  i64GtU(): void {
    this.u8(I64_GT_U);
  }

  /** `i64.add`. */
  i64Add(): void {
    this.u8(I64_ADD);
  }

  /** `i64.sub`. */
  i64Sub(): void {
    this.u8(I64_SUB);
  }

  /** `i64.mul`. */
  i64Mul(): void {
    this.u8(I64_MUL);
  }

  /** `i64.extend_i32_u`. */
  i64ExtendI32U(): void {
    this.u8(I64_EXTEND_I32_U);
  }

  /**
   * The written bytes as a function body entry: prefixed with their size.
   *
   * @returns The sized body.
   */
  sized(): Uint8Array {
    const sized = new Writer(this.len + 5);
    sized.u32(this.len);
    sized.copy(this.buf, 0, this.len);
    return sized.finish();
  }
}
