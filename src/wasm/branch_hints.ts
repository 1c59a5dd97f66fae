/**
 * The `metadata.code.branch_hint` custom section, which marks every check's
 * `if` as unlikely. Without it, V8 lays out and allocates registers for a
 * loop as if the out-of-fuel path were as likely as the loop body:
 * measured, a tight loop with resumable checks ran 2.6 times slower than
 * the plain loop, and 1.04 times with the hints.
 *
 * The section goes before the code, but the offsets are known only once
 * the code is written, so its size is planned after the scan and its
 * bytes written after the emission.
 *
 * @module
 */

import { Body, type CodePlan } from "./code_plan.ts";
import { fail } from "./reader.ts";
import { runSteps, STEP_BYTES, type Steps } from "./steps.ts";
import { putU32, u32Size, type Writer } from "./writer.ts";

/**
 * How many bodies a step of the hint plan goes through: esbuild's 40,000
 * took up to 3 ms at once.
 */
const PLAN_STEP_BODIES = 4096;

/**
 * The prefix of every code metadata section's name: sections that name
 * code by function index and byte offset, which the rewrite moves, and that
 * change no behaviour, so the rewrite drops the guest's.
 */
export const CODE_METADATA = "metadata.code.";

/** The custom section that marks branches likely or unlikely. */
export const BRANCH_HINTS = `${CODE_METADATA}branch_hint`;

/** The size of the branch hint section's content, from a hint plan. */
/** The plan {@linkcode branchHintsSize} made, until it is written. */
const plans = new WeakMap<CodePlan, number[]>();

function contentSize(plan: number[]): number {
  let size = 1 + BRANCH_HINTS.length + u32Size(plan.length / 3);
  for (let i = 0; i < plan.length; i += 3) {
    size += u32Size(plan[i]!) + u32Size(plan[i + 1]!) +
      plan[i + 1]! * (plan[i + 2]! + 2);
  }
  return size;
}

/**
 * Per hinted function, in the order the section lists them: its index,
 * its hint count, and how many bytes each hint's offset takes. Known after
 * the scan: an offset is below its body's size, so it is written padded to
 * the width of that size.
 */
function* hintPlan(code: CodePlan): Steps<number[]> {
  const plan: number[] = [];
  const bodies = code.bodies;
  for (let i = 0; i < code.bodyCount; i++) {
    if (i % PLAN_STEP_BODIES === PLAN_STEP_BODIES - 1) yield;
    const b = i * Body.Fields;
    // Counted by the scan: checks, charges and flag checks.
    const count = bodies[b + Body.Hints]!;
    if (count > 0) {
      plan.push(
        bodies[b + Body.FunctionIndex]! + code.functionShift,
        count,
        u32Size(bodies[b + Body.Size]!),
      );
    }
  }
  const copyHints = code.copyHints;
  for (let i = 0, k = 0; i < copyHints.length; k++) {
    const count = copyHints[i + 1]!;
    plan.push(copyHints[i]!, count, u32Size(code.copies[k]!.bytes.length));
    i += 2 + count;
  }
  return plan;
}

/**
 * The size of the section {@linkcode writeBranchHints} writes; 0 when
 * there are no checks. Call it after the scan.
 *
 * @param code The scanned code.
 * @returns The section's size, header included.
 *
 * @example Usage
 * ```ts
 * import { branchHintsSize } from "./branch_hints.ts";
 * import { CodePlan } from "./code_plan.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(branchHintsSize(new CodePlan(0)), 0);
 * ```
 */
export function branchHintsSize(code: CodePlan): number {
  return runSteps(branchHintsSizeSteps(code));
}

/**
 * {@linkcode branchHintsSize} in steps of {@linkcode PLAN_STEP_BODIES}
 * bodies.
 *
 * @param code The scanned code.
 * @returns The steps, which return the section's size.
 */
export function* branchHintsSizeSteps(code: CodePlan): Steps<number> {
  const plan = yield* hintPlan(code);
  plans.set(code, plan);
  if (plan.length === 0) return 0;
  const content = contentSize(plan);
  return 1 + u32Size(content) + content;
}

/**
 * Writes the section. Call it after the code is emitted.
 *
 * @param code The emitted code.
 * @param w The output.
 *
 * @example Usage
 * ```ts
 * import { writeBranchHints } from "./branch_hints.ts";
 * import { CodePlan } from "./code_plan.ts";
 * import { Writer } from "./writer.ts";
 * import assert from "node:assert/strict";
 *
 * const w = new Writer();
 * writeBranchHints(new CodePlan(0), w);
 * assert.equal(w.len, 0);
 * ```
 */
export function writeBranchHints(code: CodePlan, w: Writer): void {
  runSteps(writeBranchHintsSteps(code, w));
}

/**
 * {@linkcode writeBranchHints} in steps of about {@linkcode STEP_BYTES}
 * written: esbuild's section (millions of hints) took up to 7 ms at once.
 *
 * @param code The emitted code.
 * @param w The output, which nothing else writes to until the steps end.
 * @returns The steps.
 */
export function* writeBranchHintsSteps(
  code: CodePlan,
  w: Writer,
): Steps<void> {
  // The edits are final once sized: reuse the plan the size came from.
  const plan = plans.get(code) ?? (yield* hintPlan(code));
  plans.delete(code);
  if (plan.length === 0) return;
  const content = contentSize(plan);
  const start = w.len;
  w.u8(0);
  w.u32(content);
  w.name(BRANCH_HINTS);
  w.u32(plan.length / 3);
  // Copies come after every other function, as the section's order wants.
  // The room is known: write straight into the buffer.
  w.ensure(content);
  const buf = w.buf;
  let o = w.len;
  let hints: ArrayLike<number> = code.hints;
  let length = code.hintCount;
  let at = 0;
  let pauseAt = o + STEP_BYTES;
  for (let i = 0; i < plan.length; i += 3) {
    if (o >= pauseAt) {
      yield;
      pauseAt = o + STEP_BYTES;
    }
    if (at === length && hints !== code.copyHints) {
      hints = code.copyHints;
      length = hints.length;
      at = 0;
    }
    const count = hints[at + 1]!;
    if (hints[at] !== plan[i] || count !== plan[i + 1]) {
      fail(`internal error: the hints of function ${plan[i]} changed`, 0);
    }
    o = putU32(buf, o, plan[i]!);
    o = putU32(buf, o, count);
    const width = plan[i + 2]!;
    for (let j = at + 2; j < at + 2 + count; j++) {
      let value = hints[j]!;
      for (let k = 1; k < width; k++) {
        buf[o++] = (value & 0x7f) | 0x80;
        value >>>= 7;
      }
      buf[o++] = value;
      buf[o++] = 1; // the hint's size
      buf[o++] = 0; // unlikely
    }
    at += 2 + count;
  }
  w.len = o;
  if (hints !== code.copyHints && at === length) {
    hints = code.copyHints;
    length = hints.length;
    at = 0;
  }
  if (
    at !== length || w.len - start !== 1 + u32Size(content) + content
  ) {
    fail("internal error: the branch hints came out the wrong size", 0);
  }
}
