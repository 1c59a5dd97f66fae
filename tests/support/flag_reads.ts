/**
 * Counting the stop flag's reads in a deadline-only rewrite (`fuel: false`,
 * with a flag that traps), by the bytes each read is made of.
 *
 * @module
 */

import { instrument } from "../../src/wasm/mod.ts";

/**
 * `i32.const 0; i32.atomic.load8_u` of memory 1 at offset 0: the flag's
 * memory in a guest that has one memory of its own.
 */
export const BYTE_READ: readonly number[] = [
  0x41,
  0x00,
  0xfe,
  0x12,
  0x40,
  0x01,
  0x00,
];

/** The same with `i32.atomic.load` (align 4). */
export const WORD_READ: readonly number[] = [
  0x41,
  0x00,
  0xfe,
  0x10,
  0x42,
  0x01,
  0x00,
];

/**
 * How often `read` occurs in the deadline-only rewrite of `bytes`.
 *
 * @param bytes The module to rewrite.
 * @param read The bytes of one read ({@linkcode BYTE_READ} unless given).
 * @returns The number of places the rewrite reads the flag that way.
 *
 * @example Usage
 * ```ts
 * import { flagReads } from "./flag_reads.ts";
 * import { assembleWat } from "../../guest/build.ts";
 * import assert from "./assert.ts";
 *
 * const bytes = await assembleWat(
 *   `(module (memory 1) (func (export "spin") (loop $l (br $l))))`,
 * );
 * assert.equal(flagReads(bytes), 2); // the entry and the loop header
 * ```
 */
export function flagReads(
  bytes: Uint8Array,
  read: readonly number[] = BYTE_READ,
): number {
  const out = instrument(bytes, {
    fuel: false,
    stopFlag: true,
    stopFlagTraps: true,
  }).bytes;
  let found = 0;
  for (let i = 0; i + read.length <= out.length; i++) {
    if (read.every((byte, j) => out[i + j] === byte)) found++;
  }
  return found;
}
