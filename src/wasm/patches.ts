/**
 * Index patches: places in the input where an unsigned LEB128 index must be
 * replaced by another value (shifted function indices), applied while the
 * surrounding bytes are copied through in bulk.
 *
 * @module
 */

import { u32Size, type Writer } from "./writer.ts";

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
  #pos: number[] = [];
  #len: number[] = [];
  #value: number[] = [];

  /** How many patches there are. */
  get length(): number {
    return this.#pos.length;
  }

  /**
   * Records that the `len`-byte LEB128 at `pos` becomes `value`.
   *
   * @param pos Where the old integer starts.
   * @param len How many bytes it takes.
   * @param value The new value.
   */
  add(pos: number, len: number, value: number): void {
    this.#pos.push(pos);
    this.#len.push(len);
    this.#value.push(value);
  }

  /**
   * How many bytes longer the output is than the input.
   *
   * @returns The size difference (may be negative for padded input).
   */
  growth(): number {
    let growth = 0;
    for (let i = 0; i < this.#pos.length; i++) {
      growth += u32Size(this.#value[i]!) - this.#len[i]!;
    }
    return growth;
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
    let at = from;
    for (let i = 0; i < this.#pos.length; i++) {
      const pos = this.#pos[i]!;
      if (pos < from || pos >= to) continue;
      w.copy(input, at, pos);
      w.u32(this.#value[i]!);
      at = pos + this.#len[i]!;
    }
    w.copy(input, at, to);
  }
}
