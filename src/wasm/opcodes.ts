/**
 * The operator table: for every opcode V8 accepts by default (Deno 2.9.6),
 * its text-format name, the layout of its immediates and its role for
 * metering. Single-byte opcodes and the four prefixed spaces (0xFB GC, 0xFC
 * misc, 0xFD SIMD, 0xFE threads) are each one {@linkcode OpcodeSpace}.
 *
 * Operators that share a name in the text format (the two encodings of
 * `select`, `ref.test`, `ref.cast`) share it here too.
 *
 * @module
 */

/** How an operator's immediates are laid out. */
export const Imm = {
  /** Not an operator. */
  Unknown: 0,
  /** No immediates. */
  None: 1,
  /** A block type (s33). */
  BlockType: 2,
  /** A label depth. */
  Label: 3,
  /** `br_table`: a vector of label depths and a default. */
  BrTable: 4,
  /** A function index. */
  Func: 5,
  /** A type index and a table index. */
  CallIndirect: 6,
  /** A type index. */
  Type: 7,
  /** A local index. */
  Local: 8,
  /** A global index. */
  Global: 9,
  /** A table index. */
  Table: 10,
  /** A memory argument: alignment flags, optional memory index, offset. */
  MemArg: 11,
  /** A memory argument and a lane index byte. */
  MemArgLane: 12,
  /** A memory index. */
  Memory: 13,
  /** Two memory indices (destination, source). */
  MemoryPair: 14,
  /** A data index and a memory index. */
  DataMemory: 15,
  /** An index this rewriter does not interpret (data, element, tag). */
  Index: 16,
  /** Two table indices (destination, source). */
  TablePair: 17,
  /** An element index and a table index. */
  ElemTable: 18,
  /** A signed 32-bit LEB128. */
  I32: 19,
  /** A signed 64-bit LEB128. */
  I64: 20,
  /** Four raw bytes. */
  F32: 21,
  /** Eight raw bytes. */
  F64: 22,
  /** Sixteen raw bytes (`v128.const`, `i8x16.shuffle`). */
  V128: 23,
  /** One lane-index byte. */
  Lane: 24,
  /** A vector of value types (`select t*`). */
  ValTypes: 25,
  /** A heap type. */
  HeapType: 26,
  /** `try_table`: a block type and a vector of catch clauses. */
  TryTable: 27,
  /** `br_on_cast*`: cast flags, a label and two heap types. */
  BrOnCast: 28,
  /** A type index and a field index. */
  TypeField: 29,
  /** A type index and another u32 (a count, data or element index). */
  TypeIndex: 30,
  /** Two type indices. */
  TypeType: 31,
  /** A single zero byte (`atomic.fence`). */
  Zero: 32,
} as const;

/** What an operator means for metering. */
export const Role = {
  /** Costs its price and nothing else. */
  Plain: 0,
  /** `block`. */
  Block: 1,
  /** `loop`: a new segment (with a check) starts after it. */
  Loop: 2,
  /** `if`: its then-arm is prepaid with the operators before it. */
  If: 3,
  /** `else`. */
  Else: 4,
  /** `end`. */
  End: 5,
  /** Legacy `try`. */
  Try: 6,
  /** Legacy `catch` and `catch_all`: a landing site. */
  Catch: 7,
  /** Legacy `delegate`. */
  Delegate: 8,
  /** `try_table`. */
  TryTable: 9,
  /** A conditional branch: a new segment starts after it. */
  BranchIf: 10,
  /** `call`: a new segment starts after a call to an imported function. */
  Call: 11,
  /** `call_indirect`, `call_ref`: a new segment starts after it. */
  CallDynamic: 12,
  /** An unconditional transfer: what follows is unreachable. */
  Transfer: 13,
  /** `memory.fill`, `memory.copy`, `memory.init`: charged per byte. */
  PerByte: 14,
  /** Table bulk operators and GC array bulk operators: charged per element. */
  PerElement: 15,
  /** `memory.grow`: charged per page. */
  PerPage: 16,
  /**
   * `memory.atomic.wait32` and `wait64`: with a stop flag, a call of a
   * helper that waits in slices and checks the flag between them; also
   * `memory.atomic.notify`, a call of a helper that counts it toward a
   * poll of the host's clock.
   */
  Wait: 17,
} as const;

/** Facts about an operator, as bits. */
export const Trait = {
  /** May appear in a constant expression. */
  Const: 1,
  /** Costs nothing unless a cost table says otherwise. */
  Free: 2,
} as const;

/**
 * What a register copy (see `register_copies.ts`) may do with an operator.
 * Only these operators may appear in a body that gets a copy.
 */
export const Copy = {
  /** Not allowed: a body using it gets no copy. */
  No: 0,
  /** Copied as is; cannot trap and calls nothing. */
  Pure: 1,
  /** Copied as is, after the counter is written: it may trap. */
  Traps: 2,
  /** Control: the copy rewrites it. */
  Control: 3,
} as const;

/**
 * One opcode space: parallel arrays indexed by opcode (or sub-opcode).
 *
 * @example Usage
 * ```ts
 * import { Imm, SINGLE_BYTE } from "./opcodes.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(SINGLE_BYTE.name[0x6a], "i32.add");
 * assert.equal(SINGLE_BYTE.imm[0x41], Imm.I32);
 * assert.equal(SINGLE_BYTE.compileWeight[0x10], 256); // call
 * ```
 */
export interface OpcodeSpace {
  /** The prefix byte, or -1 for single-byte opcodes. */
  readonly prefix: number;
  /** Immediate layout per opcode ({@linkcode Imm}); `Imm.Unknown` if none. */
  readonly imm: Uint8Array;
  /** Metering role per opcode ({@linkcode Role}). */
  readonly role: Uint8Array;
  /** {@linkcode Trait} bits per opcode. */
  readonly trait: Uint8Array;
  /** What a register copy does with each opcode ({@linkcode Copy}). */
  readonly copy: Uint8Array;
  /**
   * What each opcode adds to a function's compile cost beyond its bytes
   * (see `MAX_COMPILE_COST` in `scan_limits.ts`), in units of about 10 ns of V8's
   * baseline compile at the first call on 2 busy cores.
   */
  readonly compileWeight: Int16Array;
  /**
   * What each opcode adds to a function's compile cost per value on the
   * operand stack where it stands, in sixteenths of a `compileWeight` unit:
   * V8's baseline compile handles every value on the stack at a call (or a
   * call out of line, as a bulk operator makes), whatever pushed it.
   */
  readonly heightWeight: Uint8Array;
  /**
   * How many values each opcode pops from the operand stack, and how many
   * it pushes. Where that depends on an immediate (a call's type, a
   * block's, a tag's, a struct's fields, `array.new_fixed`'s count), this
   * is the part that does not: the scan adds the rest. `end`, `else`, the
   * catches and the unconditional transfers set the height instead.
   */
  readonly pops: Uint8Array;
  /** See {@linkcode OpcodeSpace.pops}. */
  readonly pushes: Uint8Array;
  /** Text-format name per opcode; `""` if unknown. */
  readonly name: readonly string[];
}

function space(prefix: number, size: number): OpcodeSpace & {
  name: string[];
} {
  return {
    prefix,
    imm: new Uint8Array(size),
    role: new Uint8Array(size),
    trait: new Uint8Array(size),
    copy: new Uint8Array(size),
    compileWeight: new Int16Array(size),
    heightWeight: new Uint8Array(size),
    pops: new Uint8Array(size),
    pushes: new Uint8Array(size),
    name: new Array<string>(size).fill(""),
  };
}

/**
 * Defines consecutive opcodes from `first`, one per whitespace-separated
 * name, all with the same immediates and role. A `-` skips an opcode.
 */
function define(
  target: ReturnType<typeof space>,
  first: number,
  imm: number,
  names: string,
  role: number = Role.Plain,
): void {
  let code = first;
  for (const name of names.trim().split(/\s+/)) {
    if (name !== "-") {
      target.imm[code] = imm;
      target.role[code] = role;
      target.name[code] = name;
    }
    code++;
  }
}

/** Sets `bits` in the traits of the named operators of one space. */
function trait(target: OpcodeSpace, bits: number, names: string): void {
  for (const name of names.trim().split(/\s+/)) {
    const code = target.name.indexOf(name);
    if (code < 0) throw new Error(`no operator ${name} here`);
    target.trait[code] |= bits;
  }
}

/** Sets the register-copy class of an opcode range `[first, last]`. */
function copyClass(
  target: OpcodeSpace,
  kind: number,
  first: number,
  last = first,
): void {
  target.copy.fill(kind, first, last + 1);
}

const single = space(-1, 256);
define(single, 0x00, Imm.None, "unreachable", Role.Transfer);
define(single, 0x01, Imm.None, "nop");
define(single, 0x02, Imm.BlockType, "block", Role.Block);
define(single, 0x03, Imm.BlockType, "loop", Role.Loop);
define(single, 0x04, Imm.BlockType, "if", Role.If);
define(single, 0x05, Imm.None, "else", Role.Else);
define(single, 0x06, Imm.BlockType, "try", Role.Try);
define(single, 0x07, Imm.Index, "catch", Role.Catch);
define(single, 0x08, Imm.Index, "throw", Role.Transfer);
define(single, 0x09, Imm.Label, "rethrow", Role.Transfer);
define(single, 0x0a, Imm.None, "throw_ref", Role.Transfer);
define(single, 0x0b, Imm.None, "end", Role.End);
define(single, 0x0c, Imm.Label, "br", Role.Transfer);
define(single, 0x0d, Imm.Label, "br_if", Role.BranchIf);
define(single, 0x0e, Imm.BrTable, "br_table", Role.Transfer);
define(single, 0x0f, Imm.None, "return", Role.Transfer);
define(single, 0x10, Imm.Func, "call", Role.Call);
define(single, 0x11, Imm.CallIndirect, "call_indirect", Role.CallDynamic);
define(single, 0x12, Imm.Func, "return_call", Role.Transfer);
define(
  single,
  0x13,
  Imm.CallIndirect,
  "return_call_indirect",
  Role.Transfer,
);
define(single, 0x14, Imm.Type, "call_ref", Role.CallDynamic);
define(single, 0x15, Imm.Type, "return_call_ref", Role.Transfer);
define(single, 0x18, Imm.Label, "delegate", Role.Delegate);
define(single, 0x19, Imm.None, "catch_all", Role.Catch);
define(single, 0x1a, Imm.None, "drop select");
define(single, 0x1c, Imm.ValTypes, "select");
define(single, 0x1f, Imm.TryTable, "try_table", Role.TryTable);
define(single, 0x20, Imm.Local, "local.get local.set local.tee");
define(single, 0x23, Imm.Global, "global.get global.set");
define(single, 0x25, Imm.Table, "table.get table.set");
define(
  single,
  0x28,
  Imm.MemArg,
  `i32.load i64.load f32.load f64.load
   i32.load8_s i32.load8_u i32.load16_s i32.load16_u
   i64.load8_s i64.load8_u i64.load16_s i64.load16_u i64.load32_s i64.load32_u
   i32.store i64.store f32.store f64.store
   i32.store8 i32.store16 i64.store8 i64.store16 i64.store32`,
);
define(single, 0x3f, Imm.Memory, "memory.size");
define(single, 0x40, Imm.Memory, "memory.grow", Role.PerPage);
define(single, 0x41, Imm.I32, "i32.const");
define(single, 0x42, Imm.I64, "i64.const");
define(single, 0x43, Imm.F32, "f32.const");
define(single, 0x44, Imm.F64, "f64.const");
define(
  single,
  0x45,
  Imm.None,
  `i32.eqz i32.eq i32.ne i32.lt_s i32.lt_u i32.gt_s i32.gt_u
   i32.le_s i32.le_u i32.ge_s i32.ge_u
   i64.eqz i64.eq i64.ne i64.lt_s i64.lt_u i64.gt_s i64.gt_u
   i64.le_s i64.le_u i64.ge_s i64.ge_u
   f32.eq f32.ne f32.lt f32.gt f32.le f32.ge
   f64.eq f64.ne f64.lt f64.gt f64.le f64.ge
   i32.clz i32.ctz i32.popcnt i32.add i32.sub i32.mul i32.div_s i32.div_u
   i32.rem_s i32.rem_u i32.and i32.or i32.xor i32.shl i32.shr_s i32.shr_u
   i32.rotl i32.rotr
   i64.clz i64.ctz i64.popcnt i64.add i64.sub i64.mul i64.div_s i64.div_u
   i64.rem_s i64.rem_u i64.and i64.or i64.xor i64.shl i64.shr_s i64.shr_u
   i64.rotl i64.rotr
   f32.abs f32.neg f32.ceil f32.floor f32.trunc f32.nearest f32.sqrt
   f32.add f32.sub f32.mul f32.div f32.min f32.max f32.copysign
   f64.abs f64.neg f64.ceil f64.floor f64.trunc f64.nearest f64.sqrt
   f64.add f64.sub f64.mul f64.div f64.min f64.max f64.copysign
   i32.wrap_i64 i32.trunc_f32_s i32.trunc_f32_u i32.trunc_f64_s i32.trunc_f64_u
   i64.extend_i32_s i64.extend_i32_u i64.trunc_f32_s i64.trunc_f32_u
   i64.trunc_f64_s i64.trunc_f64_u
   f32.convert_i32_s f32.convert_i32_u f32.convert_i64_s f32.convert_i64_u
   f32.demote_f64
   f64.convert_i32_s f64.convert_i32_u f64.convert_i64_s f64.convert_i64_u
   f64.promote_f32
   i32.reinterpret_f32 i64.reinterpret_f64 f32.reinterpret_i32
   f64.reinterpret_i64
   i32.extend8_s i32.extend16_s i64.extend8_s i64.extend16_s i64.extend32_s`,
);
define(single, 0xd0, Imm.HeapType, "ref.null");
define(single, 0xd1, Imm.None, "ref.is_null");
define(single, 0xd2, Imm.Func, "ref.func");
define(single, 0xd3, Imm.None, "ref.eq ref.as_non_null");
define(single, 0xd5, Imm.Label, "br_on_null br_on_non_null", Role.BranchIf);

const gc = space(0xfb, 0x1f);
define(gc, 0x00, Imm.Type, "struct.new struct.new_default");
define(
  gc,
  0x02,
  Imm.TypeField,
  "struct.get struct.get_s struct.get_u struct.set",
);
define(gc, 0x06, Imm.Type, "array.new array.new_default", Role.PerElement);
define(gc, 0x08, Imm.TypeIndex, "array.new_fixed");
define(
  gc,
  0x09,
  Imm.TypeIndex,
  "array.new_data array.new_elem",
  Role.PerElement,
);
define(gc, 0x0b, Imm.Type, "array.get array.get_s array.get_u array.set");
define(gc, 0x0f, Imm.None, "array.len");
define(gc, 0x10, Imm.Type, "array.fill", Role.PerElement);
define(gc, 0x11, Imm.TypeType, "array.copy", Role.PerElement);
define(
  gc,
  0x12,
  Imm.TypeIndex,
  "array.init_data array.init_elem",
  Role.PerElement,
);
define(gc, 0x14, Imm.HeapType, "ref.test ref.test ref.cast ref.cast");
define(gc, 0x18, Imm.BrOnCast, "br_on_cast br_on_cast_fail", Role.BranchIf);
define(
  gc,
  0x1a,
  Imm.None,
  "any.convert_extern extern.convert_any ref.i31 i31.get_s i31.get_u",
);

const misc = space(0xfc, 0x12);
define(
  misc,
  0x00,
  Imm.None,
  `i32.trunc_sat_f32_s i32.trunc_sat_f32_u i32.trunc_sat_f64_s
   i32.trunc_sat_f64_u i64.trunc_sat_f32_s i64.trunc_sat_f32_u
   i64.trunc_sat_f64_s i64.trunc_sat_f64_u`,
);
define(misc, 0x08, Imm.DataMemory, "memory.init", Role.PerByte);
define(misc, 0x09, Imm.Index, "data.drop");
define(misc, 0x0a, Imm.MemoryPair, "memory.copy", Role.PerByte);
define(misc, 0x0b, Imm.Memory, "memory.fill", Role.PerByte);
define(misc, 0x0c, Imm.ElemTable, "table.init", Role.PerElement);
define(misc, 0x0d, Imm.Index, "elem.drop");
define(misc, 0x0e, Imm.TablePair, "table.copy", Role.PerElement);
define(misc, 0x0f, Imm.Table, "table.grow", Role.PerElement);
define(misc, 0x10, Imm.Table, "table.size");
define(misc, 0x11, Imm.Table, "table.fill", Role.PerElement);

const simd = space(0xfd, 0x114);
define(
  simd,
  0x00,
  Imm.MemArg,
  `v128.load v128.load8x8_s v128.load8x8_u v128.load16x4_s v128.load16x4_u
   v128.load32x2_s v128.load32x2_u v128.load8_splat v128.load16_splat
   v128.load32_splat v128.load64_splat v128.store`,
);
define(simd, 0x0c, Imm.V128, "v128.const i8x16.shuffle");
define(
  simd,
  0x0e,
  Imm.None,
  `i8x16.swizzle i8x16.splat i16x8.splat i32x4.splat i64x2.splat f32x4.splat
   f64x2.splat`,
);
define(
  simd,
  0x15,
  Imm.Lane,
  `i8x16.extract_lane_s i8x16.extract_lane_u i8x16.replace_lane
   i16x8.extract_lane_s i16x8.extract_lane_u i16x8.replace_lane
   i32x4.extract_lane i32x4.replace_lane i64x2.extract_lane i64x2.replace_lane
   f32x4.extract_lane f32x4.replace_lane f64x2.extract_lane f64x2.replace_lane`,
);
define(
  simd,
  0x23,
  Imm.None,
  `i8x16.eq i8x16.ne i8x16.lt_s i8x16.lt_u i8x16.gt_s i8x16.gt_u
   i8x16.le_s i8x16.le_u i8x16.ge_s i8x16.ge_u
   i16x8.eq i16x8.ne i16x8.lt_s i16x8.lt_u i16x8.gt_s i16x8.gt_u
   i16x8.le_s i16x8.le_u i16x8.ge_s i16x8.ge_u
   i32x4.eq i32x4.ne i32x4.lt_s i32x4.lt_u i32x4.gt_s i32x4.gt_u
   i32x4.le_s i32x4.le_u i32x4.ge_s i32x4.ge_u
   f32x4.eq f32x4.ne f32x4.lt f32x4.gt f32x4.le f32x4.ge
   f64x2.eq f64x2.ne f64x2.lt f64x2.gt f64x2.le f64x2.ge
   v128.not v128.and v128.andnot v128.or v128.xor v128.bitselect
   v128.any_true`,
);
define(
  simd,
  0x54,
  Imm.MemArgLane,
  `v128.load8_lane v128.load16_lane v128.load32_lane v128.load64_lane
   v128.store8_lane v128.store16_lane v128.store32_lane v128.store64_lane`,
);
define(simd, 0x5c, Imm.MemArg, "v128.load32_zero v128.load64_zero");
define(
  simd,
  0x5e,
  Imm.None,
  `f32x4.demote_f64x2_zero f64x2.promote_low_f32x4
   i8x16.abs i8x16.neg i8x16.popcnt i8x16.all_true i8x16.bitmask
   i8x16.narrow_i16x8_s i8x16.narrow_i16x8_u
   f32x4.ceil f32x4.floor f32x4.trunc f32x4.nearest
   i8x16.shl i8x16.shr_s i8x16.shr_u i8x16.add i8x16.add_sat_s i8x16.add_sat_u
   i8x16.sub i8x16.sub_sat_s i8x16.sub_sat_u f64x2.ceil f64x2.floor
   i8x16.min_s i8x16.min_u i8x16.max_s i8x16.max_u f64x2.trunc i8x16.avgr_u
   i16x8.extadd_pairwise_i8x16_s i16x8.extadd_pairwise_i8x16_u
   i32x4.extadd_pairwise_i16x8_s i32x4.extadd_pairwise_i16x8_u
   i16x8.abs i16x8.neg i16x8.q15mulr_sat_s i16x8.all_true i16x8.bitmask
   i16x8.narrow_i32x4_s i16x8.narrow_i32x4_u
   i16x8.extend_low_i8x16_s i16x8.extend_high_i8x16_s
   i16x8.extend_low_i8x16_u i16x8.extend_high_i8x16_u
   i16x8.shl i16x8.shr_s i16x8.shr_u i16x8.add i16x8.add_sat_s i16x8.add_sat_u
   i16x8.sub i16x8.sub_sat_s i16x8.sub_sat_u f64x2.nearest i16x8.mul
   i16x8.min_s i16x8.min_u i16x8.max_s i16x8.max_u - i16x8.avgr_u
   i16x8.extmul_low_i8x16_s i16x8.extmul_high_i8x16_s
   i16x8.extmul_low_i8x16_u i16x8.extmul_high_i8x16_u
   i32x4.abs i32x4.neg - i32x4.all_true i32x4.bitmask - -
   i32x4.extend_low_i16x8_s i32x4.extend_high_i16x8_s
   i32x4.extend_low_i16x8_u i32x4.extend_high_i16x8_u
   i32x4.shl i32x4.shr_s i32x4.shr_u i32x4.add - - i32x4.sub - - -
   i32x4.mul i32x4.min_s i32x4.min_u i32x4.max_s i32x4.max_u
   i32x4.dot_i16x8_s -
   i32x4.extmul_low_i16x8_s i32x4.extmul_high_i16x8_s
   i32x4.extmul_low_i16x8_u i32x4.extmul_high_i16x8_u
   i64x2.abs i64x2.neg - i64x2.all_true i64x2.bitmask - -
   i64x2.extend_low_i32x4_s i64x2.extend_high_i32x4_s
   i64x2.extend_low_i32x4_u i64x2.extend_high_i32x4_u
   i64x2.shl i64x2.shr_s i64x2.shr_u i64x2.add - - i64x2.sub - - -
   i64x2.mul i64x2.eq i64x2.ne i64x2.lt_s i64x2.gt_s i64x2.le_s i64x2.ge_s
   i64x2.extmul_low_i32x4_s i64x2.extmul_high_i32x4_s
   i64x2.extmul_low_i32x4_u i64x2.extmul_high_i32x4_u
   f32x4.abs f32x4.neg - f32x4.sqrt f32x4.add f32x4.sub f32x4.mul f32x4.div
   f32x4.min f32x4.max f32x4.pmin f32x4.pmax
   f64x2.abs f64x2.neg - f64x2.sqrt f64x2.add f64x2.sub f64x2.mul f64x2.div
   f64x2.min f64x2.max f64x2.pmin f64x2.pmax
   i32x4.trunc_sat_f32x4_s i32x4.trunc_sat_f32x4_u
   f32x4.convert_i32x4_s f32x4.convert_i32x4_u
   i32x4.trunc_sat_f64x2_s_zero i32x4.trunc_sat_f64x2_u_zero
   f64x2.convert_low_i32x4_s f64x2.convert_low_i32x4_u
   i8x16.relaxed_swizzle
   i32x4.relaxed_trunc_f32x4_s i32x4.relaxed_trunc_f32x4_u
   i32x4.relaxed_trunc_f64x2_s_zero i32x4.relaxed_trunc_f64x2_u_zero
   f32x4.relaxed_madd f32x4.relaxed_nmadd f64x2.relaxed_madd
   f64x2.relaxed_nmadd
   i8x16.relaxed_laneselect i16x8.relaxed_laneselect i32x4.relaxed_laneselect
   i64x2.relaxed_laneselect
   f32x4.relaxed_min f32x4.relaxed_max f64x2.relaxed_min f64x2.relaxed_max
   i16x8.relaxed_q15mulr_s i16x8.relaxed_dot_i8x16_i7x16_s
   i32x4.relaxed_dot_i8x16_i7x16_add_s`,
);

const atomics = space(0xfe, 0x4f);
define(atomics, 0x00, Imm.MemArg, "memory.atomic.notify", Role.Wait);
define(
  atomics,
  0x01,
  Imm.MemArg,
  "memory.atomic.wait32 memory.atomic.wait64",
  Role.Wait,
);
define(atomics, 0x03, Imm.Zero, "atomic.fence");
{
  const names = [
    "i32.atomic.load i64.atomic.load i32.atomic.load8_u i32.atomic.load16_u",
    "i64.atomic.load8_u i64.atomic.load16_u i64.atomic.load32_u",
    "i32.atomic.store i64.atomic.store i32.atomic.store8 i32.atomic.store16",
    "i64.atomic.store8 i64.atomic.store16 i64.atomic.store32",
  ];
  for (const op of ["add", "sub", "and", "or", "xor", "xchg", "cmpxchg"]) {
    names.push(
      `i32.atomic.rmw.${op} i64.atomic.rmw.${op} i32.atomic.rmw8.${op}_u`,
      `i32.atomic.rmw16.${op}_u i64.atomic.rmw8.${op}_u`,
      `i64.atomic.rmw16.${op}_u i64.atomic.rmw32.${op}_u`,
    );
  }
  define(atomics, 0x10, Imm.MemArg, names.join(" "));
}

trait(
  single,
  Trait.Const,
  `i32.const i64.const f32.const f64.const ref.null ref.func global.get
   i32.add i32.sub i32.mul i64.add i64.sub i64.mul end`,
);
trait(
  gc,
  Trait.Const,
  `struct.new struct.new_default array.new array.new_default array.new_fixed
   ref.i31 any.convert_extern extern.convert_any`,
);
trait(simd, Trait.Const, "v128.const");
trait(
  single,
  Trait.Free,
  `nop drop block loop end else unreachable return try try_table catch
   catch_all delegate`,
);

// Register copies: numeric operators, locals and globals are pure; memory
// access, division, remainder and float-to-int truncation may trap.
copyClass(single, Copy.Pure, 0x01);
copyClass(single, Copy.Pure, 0x1a, 0x1b); // drop, select
copyClass(single, Copy.Pure, 0x20, 0x24); // local.*, global.*
copyClass(single, Copy.Pure, 0x41, 0xc4); // constants and numeric operators
copyClass(single, Copy.Traps, 0x28, 0x3e); // loads and stores
copyClass(single, Copy.Traps, 0x6d, 0x70); // i32 division and remainder
copyClass(single, Copy.Traps, 0x7f, 0x82); // i64 division and remainder
copyClass(single, Copy.Traps, 0xa8, 0xab); // i32.trunc_f32/f64
copyClass(single, Copy.Traps, 0xae, 0xb1); // i64.trunc_f32/f64
copyClass(misc, Copy.Pure, 0x00, 0x07); // saturating truncations
// unreachable, block, loop, if, else, end, br, br_if, br_table, return, call
for (const code of [0x00, 0x02, 0x03, 0x04, 0x05, 0x0b, 0x0c, 0x0d, 0x0e]) {
  copyClass(single, Copy.Control, code);
}
copyClass(single, Copy.Control, 0x0f, 0x10);

/** The single-byte opcodes. */
export const SINGLE_BYTE: OpcodeSpace = single;
/** The 0xFB (GC) opcodes. */
export const GC_OPS: OpcodeSpace = gc;
/** The 0xFC (saturating, bulk memory and table) opcodes. */
export const MISC_OPS: OpcodeSpace = misc;
/** The 0xFD (SIMD and relaxed SIMD) opcodes. */
export const SIMD_OPS: OpcodeSpace = simd;
/** The 0xFE (threads and atomics) opcodes. */
export const ATOMIC_OPS: OpcodeSpace = atomics;

/** Sets the compile weight of the given opcodes of one space. */
function weigh(target: OpcodeSpace, weight: number, ...codes: number[]): void {
  for (const code of codes) target.compileWeight[code] = weight;
}

/** Sets the weight per stacked value of the given opcodes of one space. */
function heights(
  target: OpcodeSpace,
  sixteenths: number,
  ...codes: number[]
): void {
  for (const code of codes) target.heightWeight[code] = sixteenths;
}

// Compile weights, measured on Deno 2.9.6 at the first call: a constant or
// `local.*` next to nothing; arithmetic 30 to 50 ns; a call, an integer
// division or remainder, a trapping truncation, a `throw` or `memory.grow`
// spills the value stack or emits a trap's code, about 2.5 µs; a
// `call_indirect` or `call_ref` up to 10 µs.
// A `nop` compiles to nothing (7 MB of them, near the most a function may
// have, took 18 to 20 ms on 2 busy cores): its byte is taken back.
weigh(single, -1, 0x01);
// Numeric operators, then loads, stores and globals.
single.compileWeight.fill(8, 0x45, 0xc5);
single.compileWeight.fill(8, 0x23, 0x3f);
// A load or store whose address is not a constant costs a bounds check and
// its trap's code: 0.3 to 1 µs, where an `i32.add` costs 45 to 60 ns (16,384
// of one kind in a function, its first call's thread CPU less its second's,
// unrewritten, load average 3 to 5; a store up to 1 µs). At 8, 139,000
// `i32.load`s of a computed address held a first call 95 to 110 ms, as
// many stores 112 to 124; at 64, 29,000 held it 19 to 25 and 22 to 33 (load
// average 6 to 7). 80 for stores would leave esbuild's dearest function
// 5 % below the limit (64: 12 %).
single.compileWeight.fill(64, 0x28, 0x3f);
// Measured likewise: rotations 0.5 to 1.2 µs; `min` and `max` of floats
// 0.2 to 0.5 µs; float comparisons, `copysign` and conversions from an
// unsigned `i64` 0.15 to 0.25 µs.
weigh(single, 96, 0x77, 0x78, 0x89, 0x8a);
weigh(single, 40, 0x96, 0x97, 0xa4, 0xa5);
single.compileWeight.fill(16, 0x5b, 0x67);
weigh(single, 16, 0x98, 0xa6, 0xb5, 0xba);
// call, return_call, throw, rethrow, throw_ref, memory.grow.
weigh(single, 256, 0x10, 0x12, 0x08, 0x09, 0x0a, 0x40);
// call_indirect, return_call_indirect, call_ref, return_call_ref.
weigh(single, 1024, 0x11, 0x13, 0x14, 0x15);
// Integer divisions and remainders, trapping truncations.
weigh(single, 256, 0x6d, 0x6e, 0x6f, 0x70, 0x7f, 0x80, 0x81, 0x82);
weigh(single, 256, 0xa8, 0xa9, 0xaa, 0xab, 0xae, 0xaf, 0xb0, 0xb1);
// table.get, table.set, ref.func: about 3 µs. select: 0.4 µs.
weigh(single, 512, 0x25, 0x26, 0xd2);
weigh(single, 80, 0x1b, 0x1c);
// try, try_table: a handler each, dearer the more a function has (at no
// weight, 105,000 empty `try … catch_all` took 0.9 to 2 s, 84,000
// `try_table`s 0.2 to 1.1 s; at 512, 4,000 of either 0.5 to 16 ms).
weigh(single, 512, 0x06, 0x1f);
// Saturating truncations 1.5 µs; memory and table bulk operators 5 µs.
weigh(misc, 160, 0, 1, 2, 3, 4, 5, 6, 7);
weigh(misc, 1024, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17);
// SIMD, measured as the scalar operators above: most as arithmetic (45 to
// 150 ns), some 0.15 to 0.3 µs (swizzles, pairwise additions, float `abs`,
// `neg`, `min`, `max`, comparisons, `i64x2.mul`, lane replacements), so 16
// each; shifts up to 0.4 µs; truncations and unsigned conversions 0.2 to
// 0.45; loads and stores as the scalar ones, 0.25 to 0.85 µs; `v128.const`,
// `i8x16.shuffle` and `i8x16.popcnt` 0.5 to 0.85. At 8, 149,000
// `i8x16.popcnt`s held a first call 117 to 170 ms, 65,000 shuffles 52 to 77.
simd.compileWeight.fill(16);
weigh(simd, 64, 0x0c, 0x0d, 0x62);
simd.compileWeight.fill(64, 0x00, 0x0c);
simd.compileWeight.fill(64, 0x54, 0x5e);
weigh(simd, 32, 0x6b, 0x6c, 0x6d, 0x8b, 0x8c, 0x8d, 0xab, 0xac, 0xad);
weigh(simd, 32, 0xcb, 0xcc, 0xcd);
simd.compileWeight.fill(40, 0xf8, 0x100);
simd.compileWeight.fill(40, 0x101, 0x105);
// GC: allocations 2 to 4 µs, casts 0.7 µs; the array bulk operators as
// memory's; the rest 128.
gc.compileWeight.fill(128);
weigh(gc, 256, 0x00, 0x01, 0x06, 0x07, 0x08, 0x09, 0x0a);
weigh(gc, 64, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19);
weigh(gc, 1024, 0x10, 0x11, 0x12, 0x13);
// Atomics 128 (loads, stores and read-modify-writes of a computed
// address 0.8 to 1.5 µs, measured as the loads above; at 32, 1.5 to 38 ms
// at the limit of a constant address); memory.atomic.notify and the waits
// call the runtime.
atomics.compileWeight.fill(128);
weigh(atomics, 256, 0, 1, 2);

// Per value on the operand stack, in sixteenths of a unit, measured at the
// first call of a function that piles up constants and then makes calls
// over them (Deno 2.9.6, 2 cores): a `call` 0.4 to 0.5 ns a value, a
// `call_indirect` 4 ns, `memory.grow` 2.7 ns, a bulk operator, `ref.func` or
// `table.get` about 1 ns; arithmetic, divisions and a block's `end`
// nothing. Weighed at 2 to 4 times that, as real code keeps its stack low
// (its dearest function gains at most a few hundred units).
heights(single, 8, 0x10, 0x12); // call, return_call
heights(single, 64, 0x11, 0x13, 0x14, 0x15); // call_indirect, call_ref
heights(single, 32, 0x08, 0x09, 0x0a, 0x40); // throw, rethrow, memory.grow
heights(single, 16, 0x25, 0x26, 0xd2); // table.get, table.set, ref.func
heights(misc, 16, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17);
heights(gc, 16, 0x00, 0x01, 0x06, 0x07, 0x08, 0x09, 0x0a);
heights(gc, 16, 0x10, 0x11, 0x12, 0x13);
heights(atomics, 32, 0, 1, 2);

/** Sets how many values the named operators of one space pop and push. */
function stack(
  target: OpcodeSpace,
  pops: number,
  pushes: number,
  names: string,
): void {
  for (const name of names.trim().split(/\s+/)) {
    let found = false;
    target.name.forEach((n, code) => {
      if (n !== name) return;
      target.pops[code] = pops;
      target.pushes[code] = pushes;
      found = true;
    });
    if (!found) throw new Error(`no operator ${name} here`);
  }
}

/** Sets the pops and pushes of the opcodes `[first, last]` of one space. */
function stackRange(
  target: OpcodeSpace,
  pops: number,
  pushes: number,
  first: number,
  last: number,
): void {
  target.pops.fill(pops, first, last + 1);
  target.pushes.fill(pushes, first, last + 1);
}

// The operand stack. Blocks, calls, `throw`, the catches, `end` and `else`
// are left at 0: their counts come from their types.
stack(single, 1, 0, "if br_if br_table call_indirect return_call_indirect");
stack(single, 1, 0, "call_ref return_call_ref throw_ref drop local.set");
stack(single, 1, 0, "global.set br_on_non_null");
stack(single, 3, 1, "select");
stack(single, 0, 1, "local.get global.get memory.size ref.null ref.func");
stack(single, 0, 1, "i32.const i64.const f32.const f64.const");
stack(single, 1, 1, "local.tee table.get memory.grow ref.is_null");
stack(single, 1, 1, "ref.as_non_null br_on_null i32.eqz i64.eqz");
stack(single, 2, 0, "table.set");
stack(single, 2, 1, "ref.eq");
stackRange(single, 1, 1, 0x28, 0x35); // loads
stackRange(single, 2, 0, 0x36, 0x3e); // stores
stackRange(single, 2, 1, 0x46, 0x4f); // i32 comparisons
stackRange(single, 2, 1, 0x51, 0x66); // i64 and float comparisons
stackRange(single, 1, 1, 0x67, 0x69); // i32.clz, ctz, popcnt
stackRange(single, 2, 1, 0x6a, 0x78); // i32 binary
stackRange(single, 1, 1, 0x79, 0x7b); // i64.clz, ctz, popcnt
stackRange(single, 2, 1, 0x7c, 0x8a); // i64 binary
stackRange(single, 1, 1, 0x8b, 0x91); // f32 unary
stackRange(single, 2, 1, 0x92, 0x98); // f32 binary
stackRange(single, 1, 1, 0x99, 0x9f); // f64 unary
stackRange(single, 2, 1, 0xa0, 0xa6); // f64 binary
stackRange(single, 1, 1, 0xa7, 0xc4); // conversions, extensions
stack(gc, 0, 1, "struct.new struct.new_default array.new_fixed");
stack(gc, 1, 1, "struct.get struct.get_s struct.get_u array.new_default");
stack(gc, 1, 1, "array.len ref.test ref.cast br_on_cast br_on_cast_fail");
stack(gc, 1, 1, "any.convert_extern extern.convert_any ref.i31 i31.get_s");
stack(gc, 1, 1, "i31.get_u");
stack(gc, 2, 0, "struct.set");
stack(gc, 2, 1, "array.new array.new_data array.new_elem array.get");
stack(gc, 2, 1, "array.get_s array.get_u");
stack(gc, 3, 0, "array.set");
stack(gc, 4, 0, "array.fill array.init_data array.init_elem");
stack(gc, 5, 0, "array.copy");
stackRange(misc, 1, 1, 0x00, 0x07); // saturating truncations
stack(misc, 3, 0, "memory.init memory.copy memory.fill table.init");
stack(misc, 3, 0, "table.copy table.fill");
stack(misc, 2, 1, "table.grow");
stack(misc, 0, 1, "table.size");
simd.name.forEach((name, code) => {
  if (name === "") return;
  const ternary = /bitselect|relaxed_(n?madd|laneselect)|_add_s$/.test(name);
  const binary =
    /\.(add|sub|mul|div|min|max|pmin|pmax|avgr_u|and|andnot|or|xor|swizzle|shuffle|q15mulr_sat_s|eq|ne|lt|gt|le|ge)(_[su])?$|_sat_[su]$|narrow|shl|shr_|extmul|dot_|relaxed_(swizzle|min|max|q15mulr_s)|replace_lane|load\d+_lane$/
      .test(name);
  if (name === "v128.const") stackRange(simd, 0, 1, code, code);
  else if (/store(\d+_lane)?$/.test(name)) stackRange(simd, 2, 0, code, code);
  else if (ternary) stackRange(simd, 3, 1, code, code);
  else if (binary) stackRange(simd, 2, 1, code, code);
  else stackRange(simd, 1, 1, code, code);
});
stack(atomics, 2, 1, "memory.atomic.notify");
stack(atomics, 3, 1, "memory.atomic.wait32 memory.atomic.wait64");
stackRange(atomics, 1, 1, 0x10, 0x16); // loads
stackRange(atomics, 2, 0, 0x17, 0x1d); // stores
stackRange(atomics, 2, 1, 0x1e, 0x47); // read-modify-write
stackRange(atomics, 3, 1, 0x48, 0x4e); // cmpxchg

/** Every opcode space, keyed by prefix byte (-1 for single-byte opcodes). */
export const SPACES: readonly OpcodeSpace[] = [
  single,
  gc,
  misc,
  simd,
  atomics,
];

/**
 * The prefixed space for a prefix byte.
 *
 * @param prefix 0xFB, 0xFC, 0xFD or 0xFE.
 * @returns The space, or `undefined` if `prefix` is not a prefix.
 *
 * @example Usage
 * ```ts
 * import { prefixSpace } from "./opcodes.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(prefixSpace(0xfc)?.name[0x0b], "memory.fill");
 * ```
 */
export function prefixSpace(prefix: number): OpcodeSpace | undefined {
  switch (prefix) {
    case 0xfb:
      return gc;
    case 0xfc:
      return misc;
    case 0xfd:
      return simd;
    case 0xfe:
      return atomics;
  }
  return undefined;
}

/**
 * Every operator name, with the (prefix, opcode) pairs that carry it.
 *
 * @returns A map from text name to its encodings.
 *
 * @example Usage
 * ```ts
 * import { operatorNames } from "./opcodes.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(operatorNames().get("select"), [[-1, 0x1b], [-1, 0x1c]]);
 * ```
 */
export function operatorNames(): Map<string, Array<[number, number]>> {
  const names = new Map<string, Array<[number, number]>>();
  for (const s of SPACES) {
    s.name.forEach((name, code) => {
      if (name === "") return;
      const list = names.get(name);
      if (list) list.push([s.prefix, code]);
      else names.set(name, [[s.prefix, code]]);
    });
  }
  return names;
}

/**
 * The opcode of a single-byte operator, by its text name.
 *
 * @param name The operator's name, e.g. `"i64.sub"`.
 * @returns Its opcode.
 * @throws {Error} If no single-byte operator has that name.
 *
 * @example Usage
 * ```ts
 * import { opcode } from "./opcodes.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(opcode("i32.add"), 0x6a);
 * ```
 */
export function opcode(name: string): number {
  const code = single.name.indexOf(name);
  if (code < 0) throw new Error(`no single-byte operator is named ${name}`);
  return code;
}
