/**
 * Index patches: places in the input where an unsigned LEB128 index must be
 * replaced by another value (shifted function indices), applied while the
 * surrounding bytes are copied through in bulk.
 *
 * @module
 */

import { putU32, u32Size, type Writer } from "./writer.ts";

/**
 * A list of LEB128 replacements, in increasing input order.
 *
 * @example Usage
 * ```ts
 * import { Patches } from "./patches.ts";
 * import { Writer } from "./writer.ts";
 * import assert from "node:assert/strict";
 *
 * const input = new Uint8Array([9, 0x7f, 9]);
 * const patches = new Patches();
 * patches.add(1, 1, 128);
 * const writer = new Writer();
 * patches.copy(writer, input, 0, 3);
 * assert.deepEqual([...writer.finish()], [9, 0x80, 0x01, 9]);
 * assert.equal(patches.growth(), 1);
 * ```
 */
export class Patches {
  // Chunks of typed arrays, not arrays of numbers: a module of nothing but
  // one-byte function indices (10 million of them in one valid element
  // segment) has a patch per byte, and 9 bytes a patch, never copied on
  // growth, keep the rewriter's memory near the size of its input.
  #pos: Uint32Array[] = [];
  #value: Uint32Array[] = [];
  #len: Uint8Array[] = [];
  #count = 0;
  // Kept as patches are added: a section's size is asked for more than
  // once, and a loop over esbuild's 5,307 patches run 9 times was enough
  // for V8 to compile it twice on a first rewrite.
  #growth = 0;

  /** How many patches there are. */
  get length(): number {
    return this.#count;
  }

  /**
   * Records that the `len`-byte LEB128 at `pos` becomes `value`.
   *
   * @param pos Where the old integer starts.
   * @param len How many bytes it takes.
   * @param value The new value.
   */
  add(pos: number, len: number, value: number): void {
    const at = this.#count % CHUNK;
    if (at === 0) {
      // Small lists (most sections have a handful) start small.
      const size = this.#count === 0 ? FIRST_CHUNK : CHUNK;
      this.#pos.push(new Uint32Array(size));
      this.#value.push(new Uint32Array(size));
      this.#len.push(new Uint8Array(size));
    } else if (this.#count === FIRST_CHUNK) this.#growFirst();
    const chunk = this.#pos.length - 1;
    this.#pos[chunk]![at] = pos;
    this.#value[chunk]![at] = value;
    this.#len[chunk]![at] = len;
    this.#count++;
    this.#growth += u32Size(this.#value[chunk]![at]!) - this.#len[chunk]![at]!;
  }

  #growFirst(): void {
    const pos = new Uint32Array(CHUNK);
    const value = new Uint32Array(CHUNK);
    const len = new Uint8Array(CHUNK);
    pos.set(this.#pos[0]!);
    value.set(this.#value[0]!);
    len.set(this.#len[0]!);
    this.#pos[0] = pos;
    this.#value[0] = value;
    this.#len[0] = len;
  }

  /**
   * How many bytes longer the output is than the input.
   *
   * @returns The size difference (may be negative for padded input).
   */
  growth(): number {
    return this.#growth;
  }

  /**
   * Copies `input[from, to)` to `w`, applying the patches inside that range.
   *
   * @param w The output.
   * @param input The input module.
   * @param from First byte.
   * @param to One past the last byte.
   */
  copy(w: Writer, input: Uint8Array, from: number, to: number): void {
    // One loop that writes straight into the buffer, small enough for V8
    // to compile in little time (it inlined the Writer's copy and encoder,
    // and their ways to grow, at every patch).
    let buf = w.buf;
    let o = w.len;
    let at = from;
    for (let chunk = 0; chunk * CHUNK < this.#count; chunk++) {
      const positions = this.#pos[chunk]!;
      const values = this.#value[chunk]!;
      const lengths = this.#len[chunk]!;
      const n = Math.min(CHUNK, this.#count - chunk * CHUNK);
      for (let i = 0; i < n; i++) {
        const pos = positions[i]!;
        if (pos < from || pos >= to) continue;
        const value = values[i]!;
        if (o + (pos - at) + 5 > buf.length) {
          w.len = o;
          w.ensure(pos - at + u32Size(value));
          buf = w.buf;
        }
        if (pos - at >= 32) {
          buf.set(input.subarray(at, pos), o);
          o += pos - at;
        } else {
          for (let k = at; k < pos; k++) buf[o++] = input[k]!;
        }
        o = putU32(buf, o, value);
        at = pos + lengths[i]!;
      }
    }
    w.len = o;
    w.copy(input, at, to);
  }
}

/** Patches per chunk once there are more than {@linkcode FIRST_CHUNK}. */
const CHUNK = 65536;
/** The first chunk's size, grown to {@linkcode CHUNK} when it fills. */
const FIRST_CHUNK = 64;
