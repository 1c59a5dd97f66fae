/**
 * Decoding of value types, heap types, block types and limits, with every
 * type index checked against the module's original type count (so that a
 * malformed guest cannot name a type the rewriter adds).
 *
 * @module
 */

import type { Reader } from "./reader.ts";

/**
 * A WebAssembly value type, written as in the text format.
 *
 * @example A function type's parameters, as the rewriter reads them
 * ```ts
 * import type { ValueType } from "./types.ts";
 * import assert from "node:assert/strict";
 *
 * const params: ValueType[] = ["i32", "i64", "funcref"];
 * assert.equal(params.join(" "), "i32 i64 funcref");
 * ```
 */
export type ValueType = string;

/** One-byte value types, including the packed storage types. */
const SIMPLE_TYPES: Record<number, ValueType> = {
  0x7f: "i32",
  0x7e: "i64",
  0x7d: "f32",
  0x7c: "f64",
  0x7b: "v128",
  0x78: "i8",
  0x77: "i16",
  0x74: "nullexnref",
  0x73: "nullfuncref",
  0x72: "nullexternref",
  0x71: "nullref",
  0x70: "funcref",
  0x6f: "externref",
  0x6e: "anyref",
  0x6d: "eqref",
  0x6c: "i31ref",
  0x6b: "structref",
  0x6a: "arrayref",
  0x69: "exnref",
};

/** The abstract heap types, by their one-byte encoding. */
const HEAP_TYPES: Record<number, string> = {
  0x74: "noexn",
  0x73: "nofunc",
  0x72: "noextern",
  0x71: "none",
  0x70: "func",
  0x6f: "extern",
  0x6e: "any",
  0x6d: "eq",
  0x6c: "i31",
  0x6b: "struct",
  0x6a: "array",
  0x69: "exn",
};

/** `i32`, `i64`, `f32`, `f64`, `v128`. */
function isNumericOrVector(byte: number): boolean {
  return byte >= 0x7b && byte <= 0x7f;
}

/**
 * The text name of a heap type as {@linkcode readHeapType} returns it.
 *
 * @param heapType A type index, or a negative abstract heap type.
 * @returns Its name, e.g. `"func"` or `"3"`.
 *
 * @example Usage
 * ```ts
 * import { heapTypeName } from "./types.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(heapTypeName(0x70 - 0x80), "func");
 * assert.equal(heapTypeName(3), "3");
 * ```
 */
export function heapTypeName(heapType: number): string {
  return heapType >= 0 ? `${heapType}` : HEAP_TYPES[heapType + 0x80]!;
}

/**
 * Whether `byte` is an abstract heap type (`exn` 0x69 up to `noexn` 0x74),
 * which also serves as the one-byte shorthand of a nullable reference type.
 *
 * @param byte A type byte.
 * @returns `true` for an abstract heap type.
 *
 * @example Usage
 * ```ts
 * import { isAbstractHeapType } from "./types.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(isAbstractHeapType(0x70)); // func
 * assert.ok(!isAbstractHeapType(0x7f)); // i32
 * ```
 */
export function isAbstractHeapType(byte: number): boolean {
  return byte >= 0x69 && byte <= 0x74;
}

/**
 * Reads a heap type: an abstract one or a type index below `typeLimit`.
 *
 * @param r The reader.
 * @param typeLimit The number of types the guest defines.
 * @returns The type index, or the abstract heap type as a negative number
 *   (its byte minus 0x80).
 *
 * @example Usage
 * ```ts
 * import { Reader } from "./reader.ts";
 * import { readHeapType } from "./types.ts";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => readHeapType(new Reader(new Uint8Array([5])), 2));
 * ```
 */
export function readHeapType(r: Reader, typeLimit: number): number {
  const start = r.pos;
  const value = r.s33();
  if (value >= 0) {
    if (value >= typeLimit) {
      r.fail(
        `type index ${value} out of range: the module has ${typeLimit} types`,
        start,
      );
    }
  } else if (!isAbstractHeapType(value + 0x80)) {
    r.fail(`unknown heap type 0x${(value + 0x80).toString(16)}`, start);
  }
  return value;
}

function readRef(r: Reader, byte: number, typeLimit: number): ValueType {
  const heap = heapTypeName(readHeapType(r, typeLimit));
  return byte === 0x63 ? `(ref null ${heap})` : `(ref ${heap})`;
}

/**
 * Reads a value type (or, with `packed`, a storage type that may also be
 * `i8` or `i16`).
 *
 * @param r The reader.
 * @param typeLimit The number of types the guest defines.
 * @param packed Whether packed storage types are allowed.
 * @returns The type's text name.
 *
 * @example Usage
 * ```ts
 * import { Reader } from "./reader.ts";
 * import { readValType } from "./types.ts";
 * import assert from "node:assert/strict";
 *
 * const r = new Reader(new Uint8Array([0x63, 0x00, 0x7f]));
 * readValType(r, 1); // (ref null 0)
 * readValType(r, 1); // i32
 * assert.ok(r.atEnd());
 * ```
 */
export function readValType(
  r: Reader,
  typeLimit: number,
  packed = false,
): ValueType {
  const start = r.pos;
  const byte = r.u8("value type");
  if (isNumericOrVector(byte) || isAbstractHeapType(byte)) {
    return SIMPLE_TYPES[byte]!;
  }
  if (byte === 0x63 || byte === 0x64) return readRef(r, byte, typeLimit);
  if (packed && (byte === 0x78 || byte === 0x77)) return SIMPLE_TYPES[byte]!;
  return r.fail(`unknown value type 0x${byte.toString(16)}`, start);
}

/**
 * Reads a reference type.
 *
 * @param r The reader.
 * @param typeLimit The number of types the guest defines.
 * @returns The type's text name.
 *
 * @example Usage
 * ```ts
 * import { Reader } from "./reader.ts";
 * import { readRefType } from "./types.ts";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => readRefType(new Reader(new Uint8Array([0x7f])), 0));
 * ```
 */
export function readRefType(r: Reader, typeLimit: number): ValueType {
  const start = r.pos;
  const byte = r.u8("reference type");
  if (isAbstractHeapType(byte)) return SIMPLE_TYPES[byte]!;
  if (byte === 0x63 || byte === 0x64) return readRef(r, byte, typeLimit);
  return r.fail(
    `expected a reference type, found 0x${byte.toString(16)}`,
    start,
  );
}

/**
 * Reads a block type: empty (0x40), one value type, or a type index.
 *
 * @param r The reader.
 * @param typeLimit The number of types the guest defines.
 * @returns The type index, or -1 for an empty or one-value block type.
 *
 * @example Usage
 * ```ts
 * import { Reader } from "./reader.ts";
 * import { readBlockType } from "./types.ts";
 * import assert from "node:assert/strict";
 *
 * const r = new Reader(new Uint8Array([0x40, 0x7f, 0x01]));
 * readBlockType(r, 2);
 * readBlockType(r, 2);
 * readBlockType(r, 2);
 * assert.ok(r.atEnd());
 * ```
 */
export function readBlockType(r: Reader, typeLimit: number): number {
  const byte = r.peek("block type");
  if (byte === 0x40) {
    r.pos++;
    return -1;
  }
  // One byte with bit 6 set is a negative s33: a value type. A type index
  // is non-negative, and from 64 on takes more than one byte.
  if (byte >= 0x40 && byte < 0x80) {
    readValType(r, typeLimit);
    return -1;
  }
  const start = r.pos;
  const index = r.s33();
  // The empty block type written in more than one byte (0xc0 0x7f): the
  // engine reads a block type as an s33, so it takes this too.
  if (index === -64) return -1;
  if (index < 0) r.fail("invalid block type", start);
  if (index >= typeLimit) {
    r.fail(
      `type index ${index} out of range: the module has ${typeLimit} types`,
      start,
    );
  }
  return index;
}

/**
 * What a limits field says about the memory or table it belongs to.
 */
export interface Limits {
  /** Whether addresses are 64-bit (memory64 / table64). */
  is64: boolean;
  /** The initial size (exact up to 2^53). */
  min: number;
  /** The maximum size, if there is one. */
  max?: number;
  /** Whether the memory is shared. */
  shared: boolean;
}

/**
 * Reads the limits of a memory or table type.
 *
 * @param r The reader.
 * @returns Whether the memory or table is 64-bit.
 *
 * @example Usage
 * ```ts
 * import { Reader } from "./reader.ts";
 * import { readLimits } from "./types.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(readLimits(new Reader(new Uint8Array([0x05, 1, 2]))), {
 *   is64: true,
 *   min: 1,
 *   max: 2,
 *   shared: false,
 * });
 * ```
 */
export function readLimits(r: Reader): Limits {
  const start = r.pos;
  const flags = r.u8("limits flags");
  if (flags > 0x07) {
    r.fail(`unsupported limits flags 0x${flags.toString(16)}`, start);
  }
  const is64 = (flags & 0x04) !== 0;
  const shared = (flags & 0x02) !== 0;
  // Invalid, and it must stay so: a rewrite that writes a maximum (limits)
  // would otherwise make it valid.
  if (shared && (flags & 0x01) === 0) {
    r.fail(
      `limits flags 0x${flags.toString(16)}: shared limits need a maximum`,
      start,
    );
  }
  const min = is64 ? r.u64() : r.u32();
  if ((flags & 0x01) === 0) return { is64, min, shared };
  const maxAt = r.pos;
  const max = is64 ? r.u64() : r.u32();
  if (max < min) r.fail(`limits: maximum ${max} below minimum ${min}`, maxAt);
  return { is64, min, max, shared };
}

/**
 * Reads the limits of a table type, which cannot be shared (only
 * shared-everything threads, which the rewriter does not model, would make
 * one).
 *
 * @param r The reader.
 * @returns The table's limits.
 *
 * @example Usage
 * ```ts
 * import { Reader } from "./reader.ts";
 * import { readTableLimits } from "./types.ts";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => readTableLimits(new Reader(new Uint8Array([0x03, 1, 1]))));
 * ```
 */
export function readTableLimits(r: Reader): Limits {
  const at = r.pos;
  const limits = readLimits(r);
  if (limits.shared) r.fail("unsupported limits flags: a shared table", at);
  return limits;
}
