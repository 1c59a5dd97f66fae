/**
 * The refusals of the body scan that protect the engine itself, for a guest
 * that is not rewritten: blocks nested past the engine's comfort, blocks
 * typed by function types that carry too many parameters and results
 * across the module, a `try` or `try_table` of too many catch clauses, and
 * a function whose compile cost or compile units are over the rewrite's
 * limits (`MAX_COMPILE_COST`, `MAX_COMPILE_UNITS`). The engine compiles a
 * function at its first call, on the caller's thread, where no stop can
 * cut it short, and some shapes end the process there (8,000
 * `struct.new_default`s of a struct of 10,000 fields, 52 KB: V8 ran out of
 * memory growing its code buffer), so a plain load must refuse them
 * before the engine sees the module, as a rewrite does, with the same
 * refusals.
 *
 * The pass decodes each operator and weighs it as the rewrite's scan does
 * (`scan.ts`), by the same tables and weights: the operator table's
 * `compileWeight` and `heightWeight`, the values a call, block, catch,
 * allocation or throw moves by its type, and the operand stack's height.
 * It leaves out only what the rewrite adds: its checks, charges and helper
 * calls, which a plain load does not have. It checks nothing else. Bytes
 * it cannot decode end the body's pass (the engine says what is wrong with
 * them), and the next body is read.
 *
 * @module
 */

import { allocationWeight, throwWeight } from "./allocation_weights.ts";
import { allocationValues } from "./allocation_sizes.ts";
import { readOtherImmediate } from "./immediates.ts";
import type { ModuleInfo } from "./module.ts";
import { Imm, prefixSpace } from "./opcodes.ts";
import {
  ATOMIC_DELTAS,
  COMPILE_WEIGHT,
  GC_DELTAS,
  HEIGHT_WEIGHT,
  MISC_DELTAS,
  PREFIXED_HEIGHT_WEIGHTS,
  SIMD_DELTAS,
  SINGLE_OPS,
} from "./operator_tables.ts";
import {
  clausesWeight,
  tagValues,
  typeResults,
  valuesWeight,
} from "./pushed_values.ts";
import { fail, keptFromEngine, Reader } from "./reader.ts";
import {
  BLOCK_VALUE_WEIGHT,
  CALL_PARAM_WEIGHT,
  FREE_HEIGHT,
  FREE_NESTING,
  IF_POINTS,
  IF_UNITS,
  LOCAL_HEIGHT_SHARE,
  localUnits,
  MAX_CATCH_CLAUSES,
  MAX_COMPILE_COST,
  MAX_COMPILE_UNITS,
  MAX_HEIGHT_WEIGHT,
  MAX_NESTING,
  NESTING_WEIGHT,
  REF_LOCAL_WEIGHT,
  refLocalUnits,
  STACKED_VALUE_UNITS,
  TAIL_CALL_PARAM_WEIGHT,
} from "./scan_limits.ts";
import {
  tooDearOperators,
  tooDearToCompile,
  tooDeep,
  tooManyClauses,
} from "./scan_refusals.ts";
import { STEP_BYTES, type Steps } from "./steps.ts";
import { readBlockType, readValType } from "./types.ts";

/**
 * Walks a code section's bodies, refusing what a rewrite's scan refuses to
 * protect the engine ({@linkcode MAX_NESTING}, `LIMITS.blockTypeValues`,
 * {@linkcode MAX_CATCH_CLAUSES}, {@linkcode MAX_COMPILE_UNITS} and
 * {@linkcode MAX_COMPILE_COST}), in steps of about {@linkcode STEP_BYTES}.
 *
 * @param bytes The module.
 * @param start Where the code section's contents start.
 * @param end Where they end.
 * @param info The module's types, functions and tags (and counts) read so
 *   far.
 * @returns The steps.
 * @throws {InvalidModule} With the rewrite's refusal, for a body nested too
 *   deep, block types that carry too many values, a try of too many catch
 *   clauses, or a function too dear to compile; kept from the engine (see
 *   `keptFromEngine`) where the engine's validation itself would be dear.
 *
 * @example Usage
 * ```ts ignore
 * yield* checkBodyLimitsSteps(bytes, start, end, info);
 * ```
 */
export function* checkBodyLimitsSteps(
  bytes: Uint8Array,
  start: number,
  end: number,
  info: ModuleInfo,
): Steps<void> {
  const walker = new BodyWalker(bytes, info);
  let pauseAt = start + STEP_BYTES;
  for (
    const [bodyStart, bodyEnd, index] of everyBody(bytes, start, end, info)
  ) {
    try {
      walker.begin(bodyStart, bodyEnd, index);
      while (!walker.walk(pauseAt)) {
        pauseAt = walker.pos + STEP_BYTES;
        yield;
      }
    } catch (error) {
      if (keptFromEngine(error)) throw error;
      if (walker.refused) {
        // The engine's verdict first, as after a rewrite's refusal.
        if (!WebAssembly.validate(bytes as Uint8Array<ArrayBuffer>)) return;
        REFUSALS.add(error as object);
        throw error;
      }
      // Undecodable: the engine's verdict says what is wrong.
    }
    if (bodyEnd >= pauseAt) {
      pauseAt = bodyEnd + STEP_BYTES;
      yield;
    }
  }
}

/** The refusals thrown that the engine may see but the load must not pass. */
const REFUSALS = new WeakSet<object>();

/**
 * Whether `error` is a refusal of {@linkcode checkBodyLimitsSteps} (a
 * function too dear to compile, or a try of too many clauses), which the
 * engine's verdict on the module did not overrule.
 *
 * @param error What the steps threw.
 * @returns Whether it refused the module.
 *
 * @example Usage
 * ```ts
 * import { refusedBodies } from "./body_limits.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(refusedBodies(new Error("x")), false);
 * ```
 */
export function refusedBodies(error: unknown): boolean {
  return typeof error === "object" && error !== null && REFUSALS.has(error);
}

/** A body: where it starts and ends, and its function's index. */
type Body = [start: number, end: number, functionIndex: number];

/** Every body of the code section `[start, end)`, as far as it decodes. */
function* everyBody(
  bytes: Uint8Array,
  start: number,
  end: number,
  info: ModuleInfo,
): Generator<Body> {
  const r = new Reader(bytes, start, end);
  let count: number;
  try {
    count = r.count("function body");
  } catch {
    return;
  }
  for (let i = 0; i < count; i++) {
    let size: number;
    try {
      size = r.u32();
    } catch {
      return;
    }
    const bodyStart = r.pos;
    if (size > end - bodyStart) return;
    yield [bodyStart, bodyStart + size, info.importedFunctions + i];
    r.pos = bodyStart + size;
  }
}

/** The value types of a local that is not a reference. */
const NUMERIC_LOCALS = new Set(["i32", "i64", "f32", "f64", "v128"]);

/** Per prefix from 0xFB on, how each operator changes the stack's height. */
const PREFIXED_DELTAS = [GC_DELTAS, MISC_DELTAS, SIMD_DELTAS, ATOMIC_DELTAS];

/**
 * Per one-byte opcode that plays no role, weighs nothing by the stack's
 * height and has a short immediate: how the walk's inner loop skips it (1:
 * no immediate; 2: one LEB128 integer; 3: a memory argument), else 0.
 * Most of a real guest's code is these.
 */
const PLAIN = new Uint8Array(256);
for (let op = 0; op < 0xfb; op++) {
  const described = SINGLE_OPS[op]!;
  if ((described >> 8 & 0xff) !== 0 || HEIGHT_WEIGHT[op] !== 0) continue;
  const imm = described & 0xff;
  PLAIN[op] = imm === Imm.None
    ? 1
    : imm === Imm.Local || imm === Imm.Global || imm === Imm.I32 ||
        imm === Imm.I64
    ? 2
    : imm === Imm.MemArg
    ? 3
    : 0;
}

/**
 * One body's walk, resumable between steps: the operand stack's height
 * and the compile cost and units, summed as the rewrite's scan sums them.
 */
class BodyWalker {
  readonly #bytes: Uint8Array;
  readonly #info: ModuleInfo;
  readonly #reader: Reader;
  readonly #catchTargets = new Uint8Array(MAX_NESTING + 1);
  readonly #operands = { first: 0, second: 0, segment: 0 };
  /**
   * Per open frame, three fields: the operand stack's height below it
   * (its parameters excluded), its parameters and its results.
   */
  #frames = new Int32Array(3 * 64);
  /** Per open frame, the offset of the legacy `try` it is, if it is one. */
  readonly #tryAt: number[] = [];
  /** Per open frame, the catch clauses of the legacy `try` seen so far. */
  readonly #clausesSeen: number[] = [];
  #start = 0;
  #end = 0;
  #codeStart = 0;
  #depth = 0;
  #function = 0;
  #locals = 0;
  #refLocals = 0;
  #height = 0;
  #most = 0;
  #deepest = 1;
  #controls = 0;
  #weights = 0;
  /**
   * The compile weights of the values on the stack at the operators that
   * call out, the values at the control points, the sum of those
   * operators' `heightWeight`s, the locals' weight, and the `if`s and
   * `else`s (as the scan's `heightSums`).
   */
  readonly #sums = new Float64Array(5);
  /** The next byte to read. */
  pos = 0;
  /** Whether the last error thrown is a refusal (not undecodable bytes). */
  refused = false;

  constructor(bytes: Uint8Array, info: ModuleInfo) {
    this.#bytes = bytes;
    this.#info = info;
    this.#reader = new Reader(bytes);
  }

  /** Starts the body `[start, end)` of function `functionIndex`: reads its locals. */
  begin(start: number, end: number, functionIndex: number): void {
    const info = this.#info;
    const r = this.#reader;
    r.pos = start;
    r.end = end;
    this.refused = false;
    this.#start = start;
    this.#end = end;
    this.#depth = 1;
    this.#function = functionIndex;
    const type = info.functionTypes[functionIndex];
    let locals = type === undefined
      ? 0
      : Math.max(0, info.typeParams[type] ?? 0);
    let refLocals = 0;
    const groups = r.count("local group", 2);
    for (let i = 0; i < groups; i++) {
      const count = r.u32();
      locals += count;
      if (!NUMERIC_LOCALS.has(readValType(r, info.typeCount))) {
        refLocals += count;
      }
    }
    this.#locals = locals;
    this.#refLocals = refLocals;
    this.#codeStart = r.pos;
    this.#height = 0;
    this.#most = 0;
    this.#deepest = 1;
    this.#controls = 0;
    this.#weights = 0;
    this.#frames.fill(0, 0, 3);
    this.#sums.fill(0);
    this.#sums[3] = locals + (REF_LOCAL_WEIGHT - 1) * refLocals;
    this.pos = r.pos;
  }

  /**
   * Walks operators until `until` or the body's final `end`, and then
   * refuses the function if its compile is too dear.
   *
   * @returns Whether the body ended.
   */
  walk(until: number): boolean {
    const bytes = this.#bytes;
    const r = this.#reader;
    const info = this.#info;
    const end = this.#end;
    const typeCount = info.typeCount;
    const sums = this.#sums;
    let frames = this.#frames;
    let depth = this.#depth;
    let height = this.#height;
    let most = this.#most;
    let controls = this.#controls;
    let weights = this.#weights;
    let p = this.pos;
    try {
      while (depth > 0) {
        // Runs of plain operators, in a small loop of their own, which V8
        // optimises early: their weights, and the stack's height.
        const last = until < end ? until : end;
        while (p < last) {
          const op = bytes[p]!;
          const kind = PLAIN[op]!;
          if (kind === 0) break;
          let q = p + 1;
          if (kind === 2) {
            while (q < last && bytes[q]! >= 0x80) q++;
            q++;
          } else if (kind === 3) {
            // Alignment (with its memory index), then the offset.
            if (q >= last || bytes[q]! >= 0x80) break;
            if (bytes[q++]! & 0x40) {
              while (q < last && bytes[q]! >= 0x80) q++;
              q++;
            }
            while (q < last && bytes[q]! >= 0x80) q++;
            q++;
          }
          if (q > last) break;
          weights += COMPILE_WEIGHT[op]!;
          height += SINGLE_OPS[op]! >> 24;
          if (height > most) most = height;
          p = q;
        }
        if (p >= until) return false;
        if (p >= end) fail("unexpected end of the function body", p);
        const opPos = p;
        const op = bytes[p++]!;
        let code = op;
        let imm: number;
        let role: number;
        let heightWeight: number;
        if (op < 0xfb) {
          const described = SINGLE_OPS[op]!;
          imm = described & 0xff;
          role = described >> 8 & 0xff;
          height += described >> 24;
          weights += COMPILE_WEIGHT[op]!;
          heightWeight = HEIGHT_WEIGHT[op]!;
        } else {
          const space = prefixSpace(op);
          if (space === undefined) return fail("unknown opcode", opPos);
          r.pos = p;
          code = r.u32();
          p = r.pos;
          if (code >= space.imm.length) return fail("unknown opcode", opPos);
          imm = space.imm[code]!;
          role = space.role[code]!;
          height += PREFIXED_DELTAS[op - 0xfb]![code]!;
          weights += space.compileWeight[code]!;
          heightWeight = PREFIXED_HEIGHT_WEIGHTS[op - 0xfb]![code]!;
        }
        const immAt = p;
        const opHeight = height;
        let index = 0;
        switch (imm) {
          case Imm.None:
            break;
          case Imm.Unknown:
            return fail("unknown opcode", opPos);
          case Imm.BlockType:
            // The empty type and numeric types take one byte.
            if (p < end && (bytes[p]! === 0x40 || bytes[p]! >= 0x7b)) {
              if (bytes[p]! < 0x80) {
                p++;
                break;
              }
            }
            r.pos = p;
            info.countBlockType(readBlockType(r, typeCount), opPos);
            p = r.pos;
            break;
          case Imm.Label:
          case Imm.Func:
          case Imm.Type:
          case Imm.Local:
          case Imm.Global:
          case Imm.Table:
          case Imm.Memory:
          case Imm.Index:
            if (p < end && bytes[p]! < 0x80) index = bytes[p++]!;
            else {
              r.pos = p;
              index = r.u32();
              p = r.pos;
            }
            break;
          case Imm.CallIndirect:
          case Imm.TablePair:
          case Imm.MemoryPair:
          case Imm.DataMemory:
          case Imm.ElemTable:
          case Imm.TypeField:
          case Imm.TypeIndex:
          case Imm.TypeType:
            r.pos = p;
            index = r.u32();
            r.u32();
            p = r.pos;
            break;
          case Imm.I32:
            r.pos = p;
            r.skipSigned(32);
            p = r.pos;
            break;
          case Imm.I64:
            r.pos = p;
            r.skipSigned(64);
            p = r.pos;
            break;
          case Imm.F64:
            p += 8;
            break;
          case Imm.MemArg:
          case Imm.MemArgLane: {
            r.pos = p;
            const flags = r.u32();
            if (flags & 0x40) r.u32();
            r.u64();
            p = r.pos + (imm === Imm.MemArgLane ? 1 : 0);
            break;
          }
          default:
            // The other layouts, as the scan reads them (a `try_table`
            // counts its block type there, and its clauses).
            p = readOtherImmediate(
              r,
              imm,
              p,
              info,
              depth,
              this.#catchTargets,
              this.#operands,
              opPos,
            );
        }
        if (imm === Imm.Label) {
          controls++;
          if (opHeight > 0) sums[1] += opHeight;
        }
        if (op === 0xfb && code <= 8) {
          // The compile writes each field or element inline.
          weights += allocationWeight(info, r, code, index, immAt);
          if (code === 0 || code === 8) {
            height -= allocationValues(info, r, code, index, immAt);
          }
        } else if (op === 0x08) {
          weights += throwWeight(info, index);
        }
        if (heightWeight !== 0) {
          sums[2] += heightWeight;
          if (opHeight > FREE_HEIGHT) {
            sums[0] += (opHeight - FREE_HEIGHT) * heightWeight >> 4;
          }
        }
        switch (role) {
          case 0: // Role.Plain
            break;
          case 1: // Role.Block
          case 2: // Role.Loop
          case 3: // Role.If
          case 6: // Role.Try
          case 9: { // Role.TryTable
            const points = role === 9
              ? 1 + this.#operands.first
              : role === 2
              ? 8
              : role === 3
              ? IF_POINTS
              : role !== 1
              ? 1
              : 0;
            controls += points;
            if (opHeight > 0) sums[1] += points * opHeight;
            if (role === 3) sums[4]++;
            if (role === 6) {
              this.#tryAt[depth] = opPos;
              this.#clausesSeen[depth] = 0;
            } else if (role === 9) {
              const clauses = this.#operands.first;
              if (clauses > MAX_CATCH_CLAUSES) {
                this.#refuse(tooManyClauses, opPos);
              }
              if (clauses > 0) weights += clausesWeight(info, r, immAt);
            }
            if (depth >= MAX_NESTING) {
              this.refused = true;
              tooDeep(this.#function, opPos);
            }
            if (3 * depth + 3 > frames.length) {
              const grown = new Int32Array(frames.length * 2);
              grown.set(frames);
              frames = this.#frames = grown;
            }
            // Its parameters stay on the stack, in the frame.
            const type = bytes[immAt]!;
            let results = 0;
            let params = 0;
            if (type !== 0x40) {
              if (type > 0x40 && type < 0x80) results = 1;
              else {
                r.pos = immAt;
                const index = r.s33();
                if (index >= 0) {
                  params = Math.max(0, info.typeParams[index] ?? 0);
                  results = typeResults(info, index);
                }
              }
              weights += BLOCK_VALUE_WEIGHT * (params + results);
            }
            frames[depth * 3] = height - params;
            frames[depth * 3 + 1] = params;
            frames[depth * 3 + 2] = results;
            depth++;
            if (depth > this.#deepest) this.#deepest = depth;
            break;
          }
          case 4: // Role.Else
            controls += IF_POINTS;
            sums[4]++;
            if (opHeight > 0) sums[1] += IF_POINTS * opHeight;
            height = frames[depth * 3 - 3]! + frames[depth * 3 - 2]!;
            break;
          case 5: // Role.End
          case 8: // Role.Delegate
            depth--;
            if (depth === 0) {
              if (p !== end) {
                fail("operators after the function's final end", p);
              }
              this.#height = height;
              this.#most = most;
              this.#controls = controls;
              this.#weights = weights;
              this.#finish();
              return true;
            }
            height = frames[depth * 3]! + frames[depth * 3 + 2]!;
            break;
          case 10: { // Role.BranchIf
            // One with a label counted 1 at its label.
            const more = imm === Imm.Label ? IF_POINTS - 1 : IF_POINTS;
            controls += more;
            if (opHeight > 0) sums[1] += more * opHeight;
            break;
          }
          case 11: // Role.Call
          case 12: { // Role.CallDynamic
            // A call, `call_indirect` or `call_ref`: its type's values.
            const type = op === 0x10
              ? info.functionTypes[index]
              : op === 0x11 || op === 0x14
              ? index
              : undefined;
            if (type === undefined) break;
            const results = typeResults(info, type);
            const params = Math.max(0, info.typeParams[type] ?? 0);
            weights += valuesWeight(results) + CALL_PARAM_WEIGHT * params;
            height += results - params;
            break;
          }
          case 13: // Role.Transfer
            if (imm !== Imm.Label && op !== 0x0e) controls++;
            if (op === 0x0f && opHeight > 0) sums[1] += opHeight;
            if (op >= 0x12 && op <= 0x15 && op !== 0x14) {
              const type = op === 0x12 ? info.functionTypes[index] : index;
              weights += TAIL_CALL_PARAM_WEIGHT *
                Math.max(
                  0,
                  (type === undefined ? 0 : info.typeParams[type]) ?? 0,
                );
            }
            if (op === 0x0e) {
              r.pos = immAt;
              const points = r.u32() + 1;
              controls += points;
              if (opHeight > 0) sums[1] += points * opHeight;
            }
            // What follows is unreachable: the engine does not compile it.
            height = frames[depth * 3 - 3]!;
            break;
          case 7: // Role.Catch
            controls++;
            if (opHeight > 0) sums[1] += opHeight;
            height = frames[depth * 3 - 3]!;
            if (op === 0x07) {
              const values = tagValues(info, index);
              weights += valuesWeight(values);
              height += values;
            }
            if (++this.#clausesSeen[depth - 1]! > MAX_CATCH_CLAUSES) {
              this.#refuse(tooManyClauses, this.#tryAt[depth - 1]!);
            }
            break;
        }
        if (height > most) most = height;
      }
      return true;
    } finally {
      this.#depth = depth;
      this.#height = height;
      this.#most = most;
      this.#controls = controls;
      this.#weights = weights;
      this.pos = p;
    }
  }

  /** Throws `refusal`'s error at `at`, marked as a refusal. */
  #refuse(refusal: (at: number) => never, at: number): never {
    this.refused = true;
    return refusal(at);
  }

  /** Refuses the body just walked if its compile is too dear. */
  #finish(): void {
    const sums = this.#sums;
    const locals = this.#locals;
    const refLocals = this.#refLocals;
    const controls = this.#controls;
    const stacked = sums[1]!;
    const arms = sums[4]!;
    const weights = this.#weights +
      Math.max(0, this.#deepest - FREE_NESTING) * NESTING_WEIGHT;
    const piled = sums[0]! +
      Math.max(0, this.#most - FREE_HEIGHT) * MAX_HEIGHT_WEIGHT +
      Math.floor(sums[3]! * sums[2]! / (16 * LOCAL_HEIGHT_SHARE));
    const start = this.#start;
    this.refused = true;
    if (
      localUnits(locals) * controls + STACKED_VALUE_UNITS * stacked +
          refLocalUnits(locals, refLocals) + IF_UNITS * arms >
        MAX_COMPILE_UNITS
    ) {
      tooDearToCompile(
        this.#function,
        locals,
        controls,
        stacked,
        refLocals,
        arms,
        start,
      );
    }
    const cost = this.#end - this.#codeStart + weights + piled;
    if (cost > MAX_COMPILE_COST) tooDearOperators(this.#function, cost, start);
    this.refused = false;
  }
}
