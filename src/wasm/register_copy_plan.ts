/**
 * Which self-recursive bodies get a register copy (see
 * `register_copies.ts`): the copy's type, and the edits that route the
 * original's calls to itself through the copy.
 *
 * @module
 */

import {
  type CodePlan,
  Edit,
  type FuelTargets,
  LENGTH_SHIFT,
  RELOAD,
} from "./code_plan.ts";
import { FUSED } from "./check_templates.ts";
import { Emitter } from "./emitter.ts";
import type { ModuleInfo } from "./module.ts";
import type { Reader } from "./reader.ts";
import { FLAG_CHECK, registerBody } from "./register_copies.ts";
import { readValType } from "./types.ts";
import { u32Size, Writer } from "./writer.ts";

/** The most parameters or results V8 allows a function type. */
const MAX_ARITY = 1000;

/**
 * How large a body may be, in bytes of code, to get a register copy. A
 * copy pays where calls are most of the work, as in `fib`; a larger body
 * spends its time on its own code, and its copy, up to five times its size
 * with the inlined calls, only made the module larger: without the copies
 * of bodies above this size, QuickJS and SQLite ran as fast (CPU time,
 * interleaved) and their metered output lost 24 kB and 44 kB (20 of 22
 * copies and 38 of 54).
 */
const COPY_MAX_CODE = 128;

/**
 * The type of a register copy, `(params…, i64) -> (results…, i64)`, built
 * from a plain function type at `offset`, and each parameter's encoded
 * type; `undefined` if too wide.
 *
 * @param r A reader at the `0x60` of the function type.
 * @param typeCount How many types the module defines.
 */
export function registerType(
  r: Reader,
  typeCount: number,
): { type: Uint8Array; paramTypes: Uint8Array[] } | undefined {
  const bytes = r.bytes;
  const offset = r.pos;
  r.pos++;
  const params = r.u32();
  const paramsStart = r.pos;
  const paramTypes: Uint8Array[] = [];
  for (let i = 0; i < params; i++) {
    const at = r.pos;
    readValType(r, typeCount);
    paramTypes.push(bytes.subarray(at, r.pos));
  }
  const paramsEnd = r.pos;
  const results = r.u32();
  const resultsStart = r.pos;
  for (let i = 0; i < results; i++) readValType(r, typeCount);
  const p = r.pos;
  if (params + 1 > MAX_ARITY || results + 1 > MAX_ARITY) return undefined;
  const w = new Writer(p - offset + 16);
  w.u8(0x60);
  w.u32(params + 1);
  w.copy(bytes, paramsStart, paramsEnd);
  w.u8(0x7e);
  w.u32(results + 1);
  w.copy(bytes, resultsStart, p);
  w.u8(0x7e);
  return { type: w.finish(), paramTypes };
}

/**
 * Writes a call of a register copy where the original calls itself: the
 * fuel goes in from the counter and comes back into it.
 *
 * @param e The output.
 * @param fuelGlobal The counter.
 * @param copyIndex The copy.
 *
 * @example Usage
 * ```ts
 * import { writeCopyCall } from "./register_copy_plan.ts";
 * import { Emitter } from "./emitter.ts";
 * import assert from "node:assert/strict";
 *
 * const e = new Emitter(8);
 * writeCopyCall(e, 0, 5);
 * assert.deepEqual([...e.finish()], [0x23, 0, 0x10, 5, 0x24, 0]);
 * ```
 */
export function writeCopyCall(
  e: Emitter,
  fuelGlobal: number,
  copyIndex: number,
): void {
  e.globalGet(fuelGlobal);
  e.call(copyIndex);
  e.globalSet(fuelGlobal);
}

/** A scanned self-recursive body. */
export interface ScannedBody {
  /** The body's first byte (its local declarations). */
  readonly start: number;
  /** Its first operator. */
  readonly codeStart: number;
  /** One past its final `end`. */
  readonly end: number;
  /** Its function index. */
  readonly functionIndex: number;
  /** Its first edit. */
  readonly editsFrom: number;
  /** The edits of its calls to itself. */
  readonly selfCalls: readonly number[];
}

/**
 * Makes the register copy of a self-recursive body if it qualifies, and
 * routes the body's calls to itself there.
 *
 * @param code The plan, with the body's edits.
 * @param r A reader over the module, to read the body's type.
 * @param info The module.
 * @param targets The counter and the slow path.
 * @param scanned The body.
 * @returns The bytes that adds to the body.
 */
export function planRegisterCopy(
  code: CodePlan,
  r: Reader,
  info: ModuleInfo,
  targets: FuelTargets,
  scanned: ScannedBody,
): number {
  const { start, codeStart, end, functionIndex, editsFrom, selfCalls } =
    scanned;
  if (end - codeStart > COPY_MAX_CODE) return 0;
  const bytes = r.bytes;
  const typeIndex = info.functionTypes[functionIndex]!;
  const typeOffset = info.typeOffsets[typeIndex]!;
  if (typeOffset < 0) return 0;
  r.pos = typeOffset;
  r.end = bytes.length;
  const signature = registerType(r, info.typeCount);
  if (signature === undefined) return 0;
  const checks: number[] = [];
  for (let edit = editsFrom; edit < code.editCount; edit++) {
    const kind = code.kindAt(edit) & 0xf;
    const pos = code.positionAt(edit);
    // A check that reads the flag too: the copy checks the flag first, on
    // its own, as without one.
    if (kind === Edit.Check && (code.kindAt(edit) & FUSED << 5) !== 0) {
      checks.push(pos, FLAG_CHECK);
    }
    // A dispatch that pays for its cases in advance stops short of them,
    // and a trap in them leaves them uncharged (see `#closeSegment` in the
    // scan); the copy tests and writes at each, so it would count
    // otherwise: such a body gets none.
    if (kind === Edit.Charge) return 0;
    if (kind === Edit.Check) {
      checks.push(pos, code.cost(code.valueAt(edit)));
    } else if (kind === Edit.Flag) checks.push(pos, FLAG_CHECK);
  }
  const copyIndex = targets.firstAppended + code.copies.length;
  const made = registerBody({
    bytes,
    start,
    codeStart,
    end,
    params: info.typeParams[typeIndex]!,
    functionIndex,
    copyIndex,
    importedFunctions: info.importedFunctions,
    functionShift: info.functionShift,
    memoryIs64: info.memoryIs64,
    typeCount: info.typeCount,
    fuelGlobal: targets.fuelGlobal,
    slowFunction: targets.slowFunction,
    resumable: targets.resumable,
    stopFlag: targets.stopFlag,
    checks,
    typeIndex,
    paramTypes: signature.paramTypes,
    inlineSites: selfCalls.length,
  });
  if (made === undefined) return 0;
  code.copies.push({ type: signature.type, bytes: made.bytes });
  code.copyHints.push(copyIndex, made.hints.length, ...made.hints);
  const call = new Emitter(16);
  writeCopyCall(call, targets.fuelGlobal, copyIndex);
  let growth = 0;
  for (const edit of selfCalls) {
    const kind = code.kindAt(edit);
    const length = kind >> LENGTH_SHIFT;
    growth += call.len - (1 + length) -
      (u32Size(code.valueAt(edit)) - length);
    code.setEdit(
      edit,
      code.positionAt(edit) - 1, // the call's opcode
      Edit.SelfCall | (kind & RELOAD) | (1 + length) << LENGTH_SHIFT,
      copyIndex,
    );
  }
  return growth;
}
