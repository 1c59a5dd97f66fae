/**
 * A growable byte buffer with the rewriter's one set of LEB128 encoders.
 *
 * @module
 */

/**
 * Writes the unsigned LEB128 of `value` at `at`, where the caller has made
 * room; for loops that write straight into a buffer.
 *
 * @param buf The buffer.
 * @param at Where to write.
 * @param value An integer, 0 to 2^53.
 * @returns The position after the integer.
 *
 * @example Usage
 * ```ts
 * import { putU32 } from "./writer.ts";
 * import assert from "node:assert/strict";
 *
 * const buf = new Uint8Array(3);
 * assert.equal(putU32(buf, 0, 624485), 3);
 * assert.deepEqual([...buf], [0xe5, 0x8e, 0x26]);
 * ```
 */
export function putU32(buf: Uint8Array, at: number, value: number): number {
  while (value >= 0x80) {
    buf[at++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 0x80);
  }
  buf[at++] = value;
  return at;
}

/**
 * The number of bytes the unsigned LEB128 encoding of `value` takes.
 *
 * @param value An integer, 0 to 2^53.
 * @returns 1 to 8.
 *
 * @example Usage
 * ```ts
 * import { u32Size } from "./writer.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(u32Size(127), 1);
 * assert.equal(u32Size(128), 2);
 * ```
 */
export function u32Size(value: number): number {
  let n = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    n++;
  }
  return n;
}

/**
 * The number of bytes the signed LEB128 encoding of a non-negative `value`
 * takes.
 *
 * @param value A non-negative integer up to 2^53.
 * @returns 1 to 8.
 *
 * @example Usage
 * ```ts
 * import { s64Size } from "./writer.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(s64Size(63), 1);
 * assert.equal(s64Size(64), 2);
 * ```
 */
export function s64Size(value: number): number {
  let n = 1;
  while (value >= 0x40) {
    value = Math.floor(value / 0x80);
    n++;
  }
  return n;
}

/**
 * Appends bytes to a buffer that doubles when full.
 *
 * @example Usage
 * ```ts
 * import { Writer } from "./writer.ts";
 * import assert from "node:assert/strict";
 *
 * const writer = new Writer(4);
 * writer.u32(624485);
 * writer.s64(64);
 * assert.deepEqual([...writer.finish()], [0xe5, 0x8e, 0x26, 0xc0, 0x00]);
 * ```
 */
export class Writer {
  /** The storage; only the first {@linkcode Writer.len} bytes are written. */
  buf: Uint8Array<ArrayBuffer>;
  /** How many bytes have been written. */
  len = 0;

  /** @param capacity The initial capacity in bytes. */
  constructor(capacity = 1024) {
    this.buf = new Uint8Array(capacity);
  }

  /**
   * Makes room for `n` more bytes.
   *
   * @param n How many bytes will be written next.
   */
  ensure(n: number): void {
    const need = this.len + n;
    if (need > this.buf.length) {
      const next = new Uint8Array(Math.max(need, this.buf.length * 2));
      next.set(this.buf.subarray(0, this.len));
      this.buf = next;
    }
  }

  /**
   * Appends one byte.
   *
   * @param byte The byte.
   */
  u8(byte: number): void {
    if (this.len >= this.buf.length) this.ensure(1);
    this.buf[this.len++] = byte;
  }

  /**
   * Appends an unsigned LEB128 (minimal encoding).
   *
   * @param value An integer, 0 to 2^53.
   */
  u32(value: number): void {
    this.ensure(u32Size(value));
    this.len = putU32(this.buf, this.len, value);
  }

  /**
   * Appends an unsigned LEB128 padded to exactly `width` bytes (LEB128
   * allows continuation bytes that add nothing), so that a size can be known
   * before the value is.
   *
   * @param value An integer below `2 ** (7 * width)`.
   * @param width The number of bytes, 1 to 5.
   */
  u32Padded(value: number, width: number): void {
    this.ensure(width);
    const buf = this.buf;
    let len = this.len;
    for (let i = 1; i < width; i++) {
      buf[len++] = (value & 0x7f) | 0x80;
      value >>>= 7;
    }
    buf[len++] = value;
    this.len = len;
  }

  /**
   * Appends a signed LEB128 of a safe integer.
   *
   * @param value The value, within ±2^53.
   */
  s64(value: number): void {
    if (value < 0) {
      for (;;) {
        const byte = value & 0x7f;
        value = Math.floor(value / 0x80);
        const done = value === -1 && (byte & 0x40) !== 0;
        this.u8(done ? byte : byte | 0x80);
        if (done) return;
      }
    }
    this.ensure(s64Size(value));
    const buf = this.buf;
    let len = this.len;
    while (value >= 0x40) {
      buf[len++] = (value & 0x7f) | 0x80;
      value = Math.floor(value / 0x80);
    }
    buf[len++] = value;
    this.len = len;
  }

  /**
   * Appends a signed LEB128 of any 64-bit value.
   *
   * @param value The value, -2^63 to 2^63 - 1.
   */
  s64Big(value: bigint): void {
    for (;;) {
      const byte = Number(value & 0x7fn);
      value >>= 7n;
      const done = (value === 0n && !(byte & 0x40)) ||
        (value === -1n && (byte & 0x40) !== 0);
      this.u8(done ? byte : byte | 0x80);
      if (done) return;
    }
  }

  /**
   * Appends `src[from, to)`.
   *
   * @param src The source bytes.
   * @param from First byte to copy.
   * @param to One past the last byte to copy.
   */
  copy(src: Uint8Array, from: number, to: number): void {
    const n = to - from;
    if (n <= 0) return;
    this.ensure(n);
    if (n < 32) {
      // A short loop beats allocating a subarray for a handful of bytes.
      const buf = this.buf;
      let len = this.len;
      for (let i = from; i < to; i++) buf[len++] = src[i]!;
      this.len = len;
    } else {
      this.buf.set(src.subarray(from, to), this.len);
      this.len += n;
    }
  }

  /**
   * Appends all of `src`.
   *
   * @param src The bytes.
   */
  bytes(src: Uint8Array): void {
    this.copy(src, 0, src.length);
  }

  /**
   * Appends a length-prefixed UTF-8 name.
   *
   * @param name The name.
   */
  name(name: string): void {
    const encoded = new TextEncoder().encode(name);
    this.u32(encoded.length);
    this.bytes(encoded);
  }

  /**
   * The written bytes: the buffer itself if it is full, else a copy of its
   * written part.
   *
   * @returns An array of exactly the written length.
   */
  finish(): Uint8Array<ArrayBuffer> {
    if (this.len === this.buf.length) return this.buf;
    return this.buf.slice(0, this.len);
  }
}
