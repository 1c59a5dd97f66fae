/**
 * A typed instruction writer: every instruction the rewriter adds (checks,
 * run-time charges, register copies, the added functions) is written
 * through one of these methods, whose opcodes come from the operator table.
 *
 * @module
 */

import { ATOMIC_OPS, GC_OPS, MISC_OPS, opcode } from "./opcodes.ts";
import { Writer } from "./writer.ts";

/** The bytes of {@linkcode Emitter.callPadded}: `call` and a five-byte index. */
export const PADDED_CALL_SIZE = 6;

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
const I64_SHR_U = opcode("i64.shr_u");
const I64_EXTEND_I32_U = opcode("i64.extend_i32_u");

const LOOP = opcode("loop");
const ELSE = opcode("else");
const BR_IF = opcode("br_if");
const I32_AND = opcode("i32.and");
const I32_OR = opcode("i32.or");
const I32_EQZ = opcode("i32.eqz");
const I32_GT_U = opcode("i32.gt_u");
const I32_LT_U = opcode("i32.lt_u");
const I32_SUB = opcode("i32.sub");
const I32_ADD = opcode("i32.add");
const I32_LOAD = opcode("i32.load");
const I32_STORE = opcode("i32.store");
const I64_LOAD = opcode("i64.load");
const I64_STORE = opcode("i64.store");
/** log2 of an `i64`'s natural alignment. */
const ALIGN_4 = 2;
const ALIGN_8 = 3;
const I32_EQ = opcode("i32.eq");
const I64_EQ = opcode("i64.eq");
const I32_WRAP_I64 = opcode("i32.wrap_i64");
const I64_LT_U = opcode("i64.lt_u");
const I64_LE_U = opcode("i64.le_u");
const MISC_PREFIX = MISC_OPS.prefix;
const MEMORY_INIT = MISC_OPS.name.indexOf("memory.init");
const MEMORY_COPY = MISC_OPS.name.indexOf("memory.copy");
const MEMORY_FILL = MISC_OPS.name.indexOf("memory.fill");
const TABLE_INIT = MISC_OPS.name.indexOf("table.init");
const TABLE_COPY = MISC_OPS.name.indexOf("table.copy");
const TABLE_FILL = MISC_OPS.name.indexOf("table.fill");
const TABLE_GROW = MISC_OPS.name.indexOf("table.grow");
const TABLE_SIZE = MISC_OPS.name.indexOf("table.size");
const GC_PREFIX = GC_OPS.prefix;
const ARRAY_FILL = GC_OPS.name.indexOf("array.fill");
const ARRAY_COPY = GC_OPS.name.indexOf("array.copy");
const ARRAY_INIT_DATA = GC_OPS.name.indexOf("array.init_data");
const ARRAY_INIT_ELEM = GC_OPS.name.indexOf("array.init_elem");
const ATOMIC_PREFIX = ATOMIC_OPS.prefix;
const I32_ATOMIC_LOAD8_U = ATOMIC_OPS.name.indexOf("i32.atomic.load8_u");
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

  /**
   * `if` typed by a type index.
   *
   * @param typeIndex The `if`'s function type.
   * @returns Where the `if` was written.
   */
  ifOfType(typeIndex: number): number {
    const at = this.len;
    this.u8(IF);
    this.s64(typeIndex);
    return at;
  }

  /** `block` with no parameters or results. */
  blockEmpty(): void {
    this.u8(BLOCK);
    this.u8(EMPTY_BLOCK);
  }

  /** `loop` with no parameters or results. */
  loopEmpty(): void {
    this.u8(LOOP);
    this.u8(EMPTY_BLOCK);
  }

  /** `else`. */
  else(): void {
    this.u8(ELSE);
  }

  /** `end`. */
  end(): void {
    this.u8(END);
  }

  /**
   * `br_if`.
   *
   * @param label The label depth.
   */
  brIf(label: number): void {
    this.u8(BR_IF);
    this.u32(label);
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

  /**
   * `call` with its index padded to five bytes ({@linkcode PADDED_CALL_SIZE}
   * in all), for an index known only after the call's size must be.
   *
   * @param func The function index.
   */
  callPadded(func: number): void {
    this.u8(CALL);
    for (let i = 0; i < 4; i++) this.u8((func >>> (7 * i)) & 0x7f | 0x80);
    this.u8(func >>> 28);
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
   * `i32.atomic.load8_u` of the stop flag, the first byte of `memory`: an
   * atomic load, which the engine cannot hoist out of a loop, of a single
   * byte, for which V8 tests no alignment (an `i32.atomic.load` costs a
   * test of its address's low bits wherever no earlier one covers it).
   *
   * @param memory The flag's memory index.
   */
  flagLoad(memory: number): void {
    this.u8(ATOMIC_PREFIX);
    this.u32(I32_ATOMIC_LOAD8_U);
    this.memarg(0, memory, 0); // align 1
  }

  /**
   * `i32.load`, naturally aligned.
   *
   * @param memory The memory index.
   * @param offset The static offset.
   */
  i32Load(memory: number, offset: number): void {
    this.u8(I32_LOAD);
    this.memarg(ALIGN_4, memory, offset);
  }

  /**
   * `i32.store`, naturally aligned.
   *
   * @param memory The memory index.
   * @param offset The static offset.
   */
  i32Store(memory: number, offset: number): void {
    this.u8(I32_STORE);
    this.memarg(ALIGN_4, memory, offset);
  }

  /**
   * `i64.load`, naturally aligned.
   *
   * @param memory The memory index.
   * @param offset The static offset.
   */
  i64Load(memory: number, offset: number): void {
    this.u8(I64_LOAD);
    this.memarg(ALIGN_8, memory, offset);
  }

  /**
   * `i64.store`, naturally aligned.
   *
   * @param memory The memory index.
   * @param offset The static offset.
   */
  i64Store(memory: number, offset: number): void {
    this.u8(I64_STORE);
    this.memarg(ALIGN_8, memory, offset);
  }

  /** A memory argument: memory 0 goes unnamed, as the short form has it. */
  private memarg(align: number, memory: number, offset: number): void {
    if (memory === 0) this.u8(align);
    else {
      this.u8(align | MEMARG_HAS_MEMORY);
      this.u32(memory);
    }
    this.u32(offset);
  }

  /**
   * `memory.init`.
   *
   * @param segment The data segment.
   * @param memory The memory index.
   */
  memoryInit(segment: number, memory: number): void {
    this.u8(MISC_PREFIX);
    this.u32(MEMORY_INIT);
    this.u32(segment);
    this.u32(memory);
  }

  /**
   * `memory.copy`.
   *
   * @param destination The destination memory.
   * @param source The source memory.
   */
  memoryCopy(destination: number, source: number): void {
    this.u8(MISC_PREFIX);
    this.u32(MEMORY_COPY);
    this.u32(destination);
    this.u32(source);
  }

  /**
   * `memory.fill`.
   *
   * @param memory The memory index.
   */
  memoryFill(memory: number): void {
    this.u8(MISC_PREFIX);
    this.u32(MEMORY_FILL);
    this.u32(memory);
  }

  /**
   * `table.init`.
   *
   * @param segment The element segment.
   * @param table The table index.
   */
  tableInit(segment: number, table: number): void {
    this.u8(MISC_PREFIX);
    this.u32(TABLE_INIT);
    this.u32(segment);
    this.u32(table);
  }

  /**
   * `table.copy`.
   *
   * @param destination The destination table.
   * @param source The source table.
   */
  tableCopy(destination: number, source: number): void {
    this.u8(MISC_PREFIX);
    this.u32(TABLE_COPY);
    this.u32(destination);
    this.u32(source);
  }

  /**
   * `table.fill`.
   *
   * @param table The table index.
   */
  tableFill(table: number): void {
    this.u8(MISC_PREFIX);
    this.u32(TABLE_FILL);
    this.u32(table);
  }

  /**
   * `table.grow`.
   *
   * @param table The table index.
   */
  tableGrow(table: number): void {
    this.u8(MISC_PREFIX);
    this.u32(TABLE_GROW);
    this.u32(table);
  }

  /**
   * `table.size`.
   *
   * @param table The table index.
   */
  tableSize(table: number): void {
    this.u8(MISC_PREFIX);
    this.u32(TABLE_SIZE);
    this.u32(table);
  }

  /**
   * `array.fill`.
   *
   * @param type The array type.
   */
  arrayFill(type: number): void {
    this.u8(GC_PREFIX);
    this.u32(ARRAY_FILL);
    this.u32(type);
  }

  /**
   * `array.copy`.
   *
   * @param destination The destination's array type.
   * @param source The source's array type.
   */
  arrayCopy(destination: number, source: number): void {
    this.u8(GC_PREFIX);
    this.u32(ARRAY_COPY);
    this.u32(destination);
    this.u32(source);
  }

  /**
   * `array.init_data` or, with `elements`, `array.init_elem`.
   *
   * @param type The array type.
   * @param segment The data or element segment.
   * @param elements Whether the segment is an element segment.
   */
  arrayInit(type: number, segment: number, elements: boolean): void {
    this.u8(GC_PREFIX);
    this.u32(elements ? ARRAY_INIT_ELEM : ARRAY_INIT_DATA);
    this.u32(type);
    this.u32(segment);
  }

  /** `i32.eqz`. */
  i32Eqz(): void {
    this.u8(I32_EQZ);
  }

  /** `i32.gt_u`. */
  i32GtU(): void {
    this.u8(I32_GT_U);
  }

  /** `i32.lt_u`. */
  i32LtU(): void {
    this.u8(I32_LT_U);
  }

  /** `i32.add`. */
  i32Add(): void {
    this.u8(I32_ADD);
  }

  /** `i32.sub`. */
  i32Sub(): void {
    this.u8(I32_SUB);
  }

  /**
   * An allocation of an array by length: `array.new`, `array.new_default`,
   * `array.new_data` or `array.new_elem`.
   *
   * @param code The operator's code after the GC prefix.
   * @param type The array type.
   * @param segment The data or element segment of `array.new_data` and
   *   `array.new_elem`.
   */
  arrayNew(code: number, type: number, segment?: number): void {
    this.u8(GC_PREFIX);
    this.u32(code);
    this.u32(type);
    if (segment !== undefined) this.u32(segment);
  }

  /** `i32.eq`. */
  i32Eq(): void {
    this.u8(I32_EQ);
  }

  /** `i64.eq`. */
  i64Eq(): void {
    this.u8(I64_EQ);
  }

  /** `i32.and`. */
  i32And(): void {
    this.u8(I32_AND);
  }

  /** `i32.or`. */
  i32Or(): void {
    this.u8(I32_OR);
  }

  /** `i32.wrap_i64`. */
  i32WrapI64(): void {
    this.u8(I32_WRAP_I64);
  }

  /** `i64.lt_u`. */
  i64LtU(): void {
    this.u8(I64_LT_U);
  }

  /** `i64.le_u`. */
  i64LeU(): void {
    this.u8(I64_LE_U);
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

  /** `i64.shr_u`. */
  i64ShrU(): void {
    this.u8(I64_SHR_U);
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
