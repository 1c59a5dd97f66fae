/**
 * What the scan reads per opcode, in tables built once from the operator
 * table (`opcodes.ts`): whether a segment that holds it must write the fuel
 * back, whether it rules out a register copy, how it changes the operand
 * stack's height, and its compile weights. Typed arrays indexed by opcode,
 * so that the scan loop reads each with one load.
 *
 * @module
 */

import {
  ATOMIC_OPS,
  Copy,
  GC_OPS,
  MISC_OPS,
  type OpcodeSpace,
  SIMD_OPS,
  SINGLE_BYTE,
} from "./opcodes.ts";

/**
 * Per one-byte opcode: not 0 if a segment that holds it must write the fuel
 * from its register to the counter, because it can trap, call, throw or
 * leave the function (`br`/`br_if` to the function's label are found by
 * their label): 1, or `TRAPS_ONLY` for one that can only trap. Per 0xFC
 * opcode likewise (0 or 1); every other prefixed operator counts as 1.
 */
export const SYNC_SINGLE = new Uint8Array(256).fill(1);
/**
 * The `SYNC_SINGLE` bit of an operator that can trap but neither call nor
 * leave: see `#closeSegment` in `scan.ts`.
 */
export const TRAPS_ONLY = 2;
export const SYNC_MISC = new Uint8Array(MISC_OPS.copy.length).fill(1);
for (let op = 0; op < 256; op++) {
  const copy = SINGLE_BYTE.copy[op];
  if (copy === Copy.Pure) SYNC_SINGLE[op] = 0;
  // Loads, stores, divisions and truncations can only trap: a segment a
  // dispatch pays for in advance need not write the counter for them.
  else if (copy === Copy.Traps) SYNC_SINGLE[op] = TRAPS_ONLY;
}
// block, loop, if, else, end, br, br_if
for (const op of [0x02, 0x03, 0x04, 0x05, 0x0b, 0x0c, 0x0d]) {
  SYNC_SINGLE[op] = 0;
}
for (let code = 0; code < SYNC_MISC.length; code++) {
  if (MISC_OPS.copy[code] === Copy.Pure) SYNC_MISC[code] = 0;
}

/**
 * Per one-byte opcode: 1 if a body that holds it can have no register copy
 * (see `register_copies.ts`, which refuses it), so that the scan can skip
 * the attempt. Only the calls are marked; the copy refuses the rest.
 */
export const NO_COPY = new Uint8Array(256);
for (const op of [0x11, 0x12, 0x13, 0x14, 0x15]) {
  const copy = SINGLE_BYTE.copy[op];
  if (copy !== Copy.Pure && copy !== Copy.Traps) NO_COPY[op] = 1;
}

/**
 * Per opcode of one space, how it changes the height of the operand stack
 * (its pushes less its pops in the operator table; see `pops` there for
 * what the scan adds).
 */
function stackDeltas(space: OpcodeSpace): Int8Array {
  const deltas = new Int8Array(space.pops.length);
  for (let code = 0; code < deltas.length; code++) {
    deltas[code] = space.pushes[code]! - space.pops[code]!;
  }
  return deltas;
}
export const GC_DELTAS = stackDeltas(GC_OPS);
export const MISC_DELTAS = stackDeltas(MISC_OPS);
export const SIMD_DELTAS = stackDeltas(SIMD_OPS);
export const ATOMIC_DELTAS = stackDeltas(ATOMIC_OPS);

/**
 * Per one-byte opcode, what the scan loop reads for each operator, in one
 * load: its `Imm` in bits 0-7, its `Role` in bits 8-15, its `SYNC_SINGLE`
 * bits in bits 16-17, and how it changes the operand stack's height (see
 * `stackDeltas`), signed, in bits 24-31.
 */
export const SINGLE_OPS = new Int32Array(256);
{
  const deltas = stackDeltas(SINGLE_BYTE);
  for (let op = 0; op < 256; op++) {
    SINGLE_OPS[op] = SINGLE_BYTE.imm[op]! | SINGLE_BYTE.role[op]! << 8 |
      SYNC_SINGLE[op]! << 16 | deltas[op]! << 24;
  }
}

/**
 * What each one-byte operator adds to a function's compile cost (see
 * `MAX_COMPILE_COST`) beyond its bytes: the operator table's column.
 */
export const COMPILE_WEIGHT = SINGLE_BYTE.compileWeight;
/**
 * What each operator adds to a function's compile cost per value on the
 * operand stack, in sixteenths: the operator table's column, for one-byte
 * operators and for each prefix from 0xFB on.
 */
export const HEIGHT_WEIGHT = SINGLE_BYTE.heightWeight;
export const PREFIXED_HEIGHT_WEIGHTS = [GC_OPS, MISC_OPS, SIMD_OPS, ATOMIC_OPS]
  .map(
    (space) => space.heightWeight,
  );
