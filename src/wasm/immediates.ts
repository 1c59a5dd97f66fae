/**
 * Decoders for operator immediates that more than one pass reads: the scan
 * that checks and segments a body, and the register copies that rewrite it.
 *
 * @module
 */

import { fail, type Reader } from "./reader.ts";

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
  const flags = r.u32();
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
