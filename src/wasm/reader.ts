/**
 * Bounds-checked decoding of a WebAssembly binary.
 *
 * A {@linkcode Reader} returns each value it decodes and keeps its own
 * position; the hot code-section loop moves `pos` itself around the
 * one-byte immediates it skips inline. Every decoding problem becomes an
 * {@linkcode InvalidModule} naming what was expected and the absolute byte
 * offset, so no `RangeError` or silent `undefined` from a typed array can
 * escape.
 *
 * @module
 */

import { InvalidModule } from "../errors.ts";

// `ignoreBOM` keeps a leading U+FEFF: it is part of the name, not a mark.
const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Throws an {@linkcode InvalidModule} for a problem at `offset`.
 *
 * @param message What is wrong.
 * @param offset The absolute byte offset in the module.
 * @returns Never.
 *
 * @example Usage
 * ```ts
 * import { fail } from "./reader.ts";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => fail("bad", 3), /bad \(at byte offset 3\)/);
 * ```
 */
export function fail(message: string, offset: number): never {
  throw new InvalidModule(message, { offset });
}

/**
 * The refusals of modules that may well be valid, turned away at a limit
 * of this runner's (the engine's compile or validation of them would hold
 * the thread past any stop, or the rewrite has no room in them).
 */
const AT_LIMIT = new WeakSet<object>();

/**
 * {@linkcode fail} for a module refused at a limit of this runner's rather
 * than for being malformed: {@linkcode refusedAtLimit} tells the two apart
 * (the differential fuzzer counts such a refusal of a valid module apart
 * from a failure of the rewriter).
 *
 * @param message What is over which limit, and how to fix it.
 * @param offset The absolute byte offset in the module.
 * @returns Never.
 *
 * @example Usage
 * ```ts
 * import { failAtLimit, refusedAtLimit } from "./reader.ts";
 * import assert from "node:assert/strict";
 *
 * try {
 *   failAtLimit("too many locals to add fuel counters", 3);
 * } catch (error) {
 *   assert.ok(refusedAtLimit(error));
 * }
 * ```
 */
export function failAtLimit(message: string, offset: number): never {
  const error = new InvalidModule(message, { offset });
  AT_LIMIT.add(error);
  throw error;
}

/**
 * Whether `error` refused a module at a limit ({@linkcode failAtLimit} or
 * {@linkcode failBeforeEngine} threw it), not for being malformed.
 *
 * @param error What a rewrite or a check threw.
 * @returns Whether it is a refusal at a limit.
 *
 * @example Usage
 * ```ts
 * import { fail, refusedAtLimit } from "./reader.ts";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => fail("unknown opcode 0xff", 3), (error) => {
 *   assert.equal(refusedAtLimit(error), false);
 *   return true;
 * });
 * ```
 */
export function refusedAtLimit(error: unknown): boolean {
  return typeof error === "object" && error !== null && AT_LIMIT.has(error);
}

/** The refusals of modules the engine must not be given, not even to check. */
const KEPT_FROM_ENGINE = new WeakSet<object>();

/**
 * {@linkcode fail} for a module whose validation by the engine would itself
 * harm the host (hold its thread, exhaust its memory): a loader that asks
 * the engine for its verdict on a refused module must not ask for this one.
 *
 * @param message What is wrong.
 * @param offset The absolute byte offset in the module.
 * @returns Never.
 *
 * @example Usage
 * ```ts
 * import { failBeforeEngine, keptFromEngine } from "./reader.ts";
 * import assert from "node:assert/strict";
 *
 * try {
 *   failBeforeEngine("too dear", 3);
 * } catch (error) {
 *   assert.ok(keptFromEngine(error));
 * }
 * ```
 */
export function failBeforeEngine(message: string, offset: number): never {
  const error = new InvalidModule(message, { offset });
  KEPT_FROM_ENGINE.add(error);
  // Each is a limit: what the engine must not see is what is dear to it.
  AT_LIMIT.add(error);
  throw error;
}

/**
 * Whether `error` refused a module the engine must not be given.
 *
 * @param error What a rewrite threw.
 * @returns Whether {@linkcode failBeforeEngine} threw it.
 */
export function keptFromEngine(error: unknown): boolean {
  return typeof error === "object" && error !== null &&
    KEPT_FROM_ENGINE.has(error);
}

function unterminated(start: number): never {
  return fail("unexpected end: unterminated LEB128 integer", start);
}

/**
 * Reads LEB128 integers, bytes and names from a window `[pos, end)` of a
 * byte array. Positions are absolute offsets into `bytes`.
 *
 * @example Usage
 * ```ts
 * import { Reader } from "./reader.ts";
 * import assert from "node:assert/strict";
 *
 * const reader = new Reader(new Uint8Array([0xe5, 0x8e, 0x26, 0x7f]));
 * assert.equal(reader.u32(), 624485);
 * assert.equal(reader.s32(), -1);
 * assert.ok(reader.atEnd());
 * ```
 */
export class Reader {
  /** The whole module. */
  readonly bytes: Uint8Array;
  /** The next byte to read. */
  pos: number;
  /** One past the last byte this reader may read. */
  end: number;

  /**
   * @param bytes The bytes to read.
   * @param pos Where to start.
   * @param end Where to stop (exclusive); the array's length by default.
   */
  constructor(bytes: Uint8Array, pos = 0, end: number = bytes.length) {
    this.bytes = bytes;
    this.pos = pos;
    this.end = end;
  }

  /**
   * Throws an {@linkcode InvalidModule} at `offset` (the current position by
   * default).
   *
   * @param message What is wrong.
   * @param offset Where.
   * @returns Never.
   */
  fail(message: string, offset: number = this.pos): never {
    return fail(message, offset);
  }

  /**
   * Whether every byte of the window has been read.
   *
   * @returns `true` at the end.
   */
  atEnd(): boolean {
    return this.pos >= this.end;
  }

  /**
   * Reads one byte.
   *
   * @param what What the byte is, for the error message.
   * @returns The byte.
   */
  u8(what = "byte"): number {
    if (this.pos >= this.end) this.fail(`unexpected end: expected ${what}`);
    return this.bytes[this.pos++]!;
  }

  /**
   * Returns the next byte without consuming it.
   *
   * @param what What the byte is, for the error message.
   * @returns The byte.
   */
  peek(what = "byte"): number {
    if (this.pos >= this.end) this.fail(`unexpected end: expected ${what}`);
    return this.bytes[this.pos]!;
  }

  /**
   * Reads an unsigned 32-bit LEB128.
   *
   * @returns The value, 0 to 2^32 - 1.
   */
  u32(): number {
    const pos = this.pos;
    if (pos < this.end) {
      const b = this.bytes[pos]!;
      if (b < 0x80) {
        this.pos = pos + 1;
        return b;
      }
    }
    return this.#u32Slow();
  }

  #u32Slow(): number {
    const bytes = this.bytes;
    const end = this.end;
    const start = this.pos;
    let pos = start;
    let result = 0;
    for (let i = 0; i < 4; i++) {
      if (pos >= end) unterminated(start);
      const b = bytes[pos++]!;
      result |= (b & 0x7f) << (7 * i);
      if (b < 0x80) {
        this.pos = pos;
        return result >>> 0;
      }
    }
    if (pos >= end) unterminated(start);
    const last = bytes[pos++]!;
    if (last & 0x80) fail("LEB128 integer is too long (u32)", start);
    if (last & 0x70) fail("LEB128 integer is too large (u32)", start);
    this.pos = pos;
    return (result >>> 0) + last * 0x10000000;
  }

  /**
   * Reads an unsigned 32-bit LEB128 index and checks it against `count`.
   *
   * @param count How many there are.
   * @param what What the index names, for the error message.
   * @param owner What holds them, for the error message.
   * @returns The index.
   */
  index(count: number, what: string, owner: string): number {
    const at = this.pos;
    const index = this.u32();
    if (index >= count) {
      fail(
        `${what} index ${index} out of range: the ${owner} has ${count} ${what}s`,
        at,
      );
    }
    return index;
  }

  /**
   * Reads a signed LEB128 of at most `bits` bits (32, 33 or 64), checking
   * its length and that unused bits repeat the sign. Exact within ±2^53.
   *
   * @param bits The integer width.
   * @returns The value.
   */
  signed(bits: 32 | 33 | 64): number {
    const bytes = this.bytes;
    const end = this.end;
    const start = this.pos;
    let pos = start;
    const maxBytes = Math.ceil(bits / 7);
    let result = 0;
    let scale = 1;
    for (let i = 0; i < maxBytes; i++) {
      if (pos >= end) unterminated(start);
      const b = bytes[pos++]!;
      if (i === maxBytes - 1) {
        if (b & 0x80) fail(`LEB128 integer is too long (s${bits})`, start);
        // The last byte's bits above the value's width must repeat its sign.
        const usedBits = bits - 7 * i;
        const rest = b >> (usedBits - 1);
        if (rest !== 0 && rest !== 0x7f >> (usedBits - 1)) {
          fail(`LEB128 integer is too large (s${bits})`, start);
        }
      }
      result += (b & 0x7f) * scale;
      scale *= 128;
      if (b < 0x80) {
        this.pos = pos;
        return b & 0x40 ? result - scale : result;
      }
    }
    this.pos = pos;
    return result;
  }

  /**
   * Skips a signed LEB128 of at most `bits` bits, with the checks of
   * {@linkcode Reader.signed} but decoding only the longest encoding (the
   * only one with unused bits to check).
   *
   * @param bits The integer width.
   */
  skipSigned(bits: 32 | 33 | 64): void {
    const bytes = this.bytes;
    const pos = this.pos;
    const last = Math.min(this.end, pos + Math.ceil(bits / 7) - 1);
    for (let q = pos; q < last; q++) {
      if (bytes[q]! < 0x80) {
        this.pos = q + 1;
        return;
      }
    }
    this.signed(bits);
  }

  /**
   * Reads a signed 32-bit LEB128.
   *
   * @returns The value.
   */
  s32(): number {
    return this.signed(32);
  }

  /**
   * Reads a signed 33-bit LEB128 (block types and heap types).
   *
   * @returns The value.
   */
  s33(): number {
    return this.signed(33);
  }

  /**
   * Reads a signed 64-bit LEB128; the value is exact within ±2^53.
   *
   * @returns The value.
   */
  s64(): number {
    return this.signed(64);
  }

  /**
   * Reads an unsigned 64-bit LEB128; the value is exact up to 2^53.
   *
   * @returns The value.
   */
  u64(): number {
    const bytes = this.bytes;
    const end = this.end;
    const start = this.pos;
    if (start < end && bytes[start]! < 0x80) {
      this.pos = start + 1;
      return bytes[start]!;
    }
    let pos = start;
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= end) unterminated(start);
      const b = bytes[pos++]!;
      if (i === 9) {
        if (b & 0x80) fail("LEB128 integer is too long (u64)", start);
        if (b & 0x7e) fail("LEB128 integer is too large (u64)", start);
      }
      result += (b & 0x7f) * scale;
      scale *= 128;
      if (b < 0x80) break;
    }
    this.pos = pos;
    return result;
  }

  /**
   * Skips `n` bytes.
   *
   * @param n How many.
   * @param what What they are, for the error message.
   */
  skip(n: number, what = "bytes"): void {
    if (n > this.end - this.pos) {
      this.fail(`unexpected end: expected ${n} ${what}`);
    }
    this.pos += n;
  }

  /**
   * Reads a vector length and checks that the rest of the window could hold
   * that many items of at least `minItemBytes` bytes each, so that a forged
   * count can neither make a loop run long nor make an allocation huge.
   *
   * @param what The vector's name, for the error message.
   * @param minItemBytes The smallest encoding of one item.
   * @param most The engine's limit on the count, if it has one: a count
   *   above it is refused before any item is read, so that an input the
   *   engine would refuse cannot make the rewriter hold more than a valid
   *   one could.
   * @returns The count.
   */
  count(what: string, minItemBytes = 1, most = Infinity): number {
    const start = this.pos;
    const n = this.u32();
    if (n > most) {
      this.fail(
        `${what} count ${n} exceeds the engine's limit of ${most}`,
        start,
      );
    }
    if (n * minItemBytes > this.end - this.pos) {
      this.fail(`${what} count ${n} exceeds the remaining bytes`, start);
    }
    return n;
  }

  /**
   * Reads a length-prefixed UTF-8 name.
   *
   * @returns The decoded name.
   */
  name(): string {
    const start = this.pos;
    const n = this.u32();
    if (n > this.end - this.pos) {
      this.fail("unexpected end: expected name", start);
    }
    const from = this.pos;
    this.pos += n;
    // A short ASCII name is decoded here: the decoder's call cost more
    // than the rest of reading a custom section (a million of them).
    if (n <= 32) {
      let ascii = "";
      let i = from;
      for (; i < from + n && this.bytes[i]! < 0x80; i++) {
        ascii += String.fromCharCode(this.bytes[i]!);
      }
      if (i === from + n) return ascii;
    }
    try {
      return UTF8.decode(this.bytes.subarray(from, from + n));
    } catch {
      return this.fail("name is not valid UTF-8", start);
    }
  }
}
