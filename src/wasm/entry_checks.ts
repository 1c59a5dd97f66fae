/**
 * Deadline-only (a stop flag, no fuel): which functions may go without their
 * entry check, and which calls must then read the flag before they call.
 * The scan records every body's calls ({@linkcode CallSites}) and plans every
 * body with its entry check; once all are scanned,
 * {@linkcode settleEntryChecks} walks the calls and changes those plans.
 *
 * @module
 */

import { Body, type CodePlan, Edit } from "./code_plan.ts";
import { dynamicLeafRuns } from "./dynamic_leaf_runs.ts";
import { LIMITS, type ModuleInfo } from "./module.ts";
import { fail } from "./reader.ts";
import { STEP_BODIES, type Steps } from "./steps.ts";
import { u32Size } from "./writer.ts";

/**
 * Deadline-only (a stop flag, no fuel): the most code, in bytes, that a
 * call of a function without an entry check may run before it returns or
 * meets a check (see {@linkcode settleEntryChecks}). Small, so that the
 * checks that go are those of short functions, where a check is the
 * largest part of a call.
 */
export const UNCHECKED_FUNCTION_BYTES = 512;

/**
 * Deadline-only: the most code, in bytes, of functions without an entry
 * check that the calls written in one body may run without a check.
 */
export const UNCHECKED_CALL_BYTES = 65536;

/**
 * Deadline-only: the most code, in bytes, of a function that a table or a
 * reference can call and that calls no defined function, up to which it
 * goes without an entry check. Every call through a table or reference
 * that may reach one counts as running that much (see
 * {@linkcode settleEntryChecks}): small, so that the calls that may reach
 * one weigh little against {@linkcode UNCHECKED_CALL_BYTES}.
 */
export const UNCHECKED_DYNAMIC_BYTES = 64;

/**
 * Deadline-only, the direct calls of defined functions (`call` and
 * `return_call`) and the calls through a table or reference
 * (`call_indirect`, `call_ref` and their tail forms) of defined function
 * `f` are those from `from[f]` to `from[f + 1]`: each its callee (a defined
 * function's number, or -1 less the type index for a call through a table or
 * reference) and the edit right before it, left out unless the flag must be
 * read there.
 */
export class CallSites {
  /** Per defined function: the size of its code. */
  codeBytes: Int32Array = new Int32Array(0);
  from: Int32Array = new Int32Array(0);
  callee: Int32Array = new Int32Array(64);
  edit: Int32Array = new Int32Array(64);
  count = 0;

  /** Starts the calls of defined function `f`, of `defined` in all. */
  startBody(defined: number, f: number): void {
    if (this.from.length <= defined) {
      this.codeBytes = new Int32Array(defined);
      this.from = new Int32Array(defined + 1);
    }
    this.from[f] = this.count;
    this.from[f + 1] = this.count;
  }

  /**
   * Records a direct call of defined function `callee`, or a call through a
   * table or reference if it is negative.
   */
  add(callee: number, edit: number): void {
    const n = this.count;
    if (n === this.callee.length) {
      const callees = new Int32Array(n * 2);
      callees.set(this.callee);
      this.callee = callees;
      const edits = new Int32Array(n * 2);
      edits.set(this.edit);
      this.edit = edits;
    }
    this.callee[n] = callee;
    this.edit[n] = edit;
    this.count = n + 1;
  }

  /** Ends the calls of defined function `f`, whose code weighs `bytes`. */
  endBody(f: number, bytes: number): void {
    this.codeBytes[f] = bytes;
    this.from[f + 1] = this.count;
  }
}

/**
 * Deadline-only (a stop flag, no fuel), once every body is scanned:
 * leaves out the entry check of the functions that need none, and reads
 * the flag before the calls that need it. Every body was planned with its
 * entry check and none before a call; this changes their sizes.
 *
 * A function loses its entry check when neither the host nor a table nor
 * a reference can call it, no cycle of direct calls leads back to it
 * through functions whose checks went (a depth-first walk keeps the check
 * of each function it comes back to; it starts from the largest bodies,
 * so that a cycle keeps the check of one of its larger functions), and
 * its code plus what its direct calls of such functions run comes to at
 * most {@linkcode UNCHECKED_FUNCTION_BYTES} (its loops keep their checks).
 * One that a table or a reference can call loses it too when it is
 * neither exported nor the start function (so a call from the host by
 * name lands on a check), calls no defined function, directly or
 * through a table or reference, and its code is at most
 * {@linkcode UNCHECKED_DYNAMIC_BYTES}: every `call_indirect`, `call_ref`
 * and tail form of them counts as a call of the longest such function
 * it may reach (see `dynamicLeafRuns`). Each body's calls of functions
 * without an entry check may run up to {@linkcode UNCHECKED_CALL_BYTES}
 * of their code; each further call gets the flag's check right before
 * it. Between two of its checks a body passes each of its call sites once
 * at most (every way back goes through a loop header's check), however
 * the calls are nested in blocks, so no stretch without a check runs more
 * than one body's code and that much more. A bulk operator's helper
 * checks the flag between its chunks; a host (an import, or its own code)
 * that calls a function it took from a table or reference runs at most
 * {@linkcode UNCHECKED_DYNAMIC_BYTES} of code before it returns or meets
 * a check, and every other function it can call keeps its check.
 *
 * It pauses every {@linkcode STEP_BODIES} functions and calls it walks
 * (100,000 empty functions took 13 to 48 ms at once on a busy machine).
 *
 * @param info The module.
 * @param code The plan of every body.
 * @param flagSize The size of the flag's check.
 * @param sites Every body's calls.
 * @param small The size, size prefix included, up to which a body
 * counts as small.
 * @returns The steps, which return how much the bodies' sizes (size
 * prefixes included) grow, and how many more bodies are small.
 */
export function* settleEntryChecks(
  info: ModuleInfo,
  code: CodePlan,
  flagSize: number,
  sites: CallSites,
  small: number,
): Steps<{ growth: number; small: number }> {
  const n = info.definedFunctions;
  const result = { growth: 0, small: 0 };
  if (sites.from.length <= n || n === 0) return result;
  const imported = info.importedFunctions;
  const hostCallable = info.hostCallable;
  const sitesFrom = sites.from;
  const callees = sites.callee;
  const siteEdits = sites.edit;
  // 0: not met yet, 1: on the walk's path, 2: settled.
  const state = new Uint8Array(n);
  // A call leads back to it while it is on the path: its check stays.
  const keep = new Uint8Array(n);
  // What a call of it runs before a check, if its check went; else 0.
  const runs = new Int32Array(n);
  const path = new Int32Array(n);
  const nextSite = new Int32Array(n);
  const codeBytes = sites.codeBytes;
  const hostEntered = info.hostEntered;
  // The functions a table or reference can call that may go unchecked,
  // and per type, the most code a call through a table or reference of
  // that type then runs.
  const dynamicLeaf = new Uint8Array(n);
  const dynamicRuns = dynamicLeafRuns(info, (index) => {
    const f = index - imported;
    if (f < 0 || hostEntered.has(index)) return 0;
    if (sitesFrom[f] !== sitesFrom[f + 1]) return 0;
    const bytes = codeBytes[f]!;
    if (bytes > UNCHECKED_DYNAMIC_BYTES) return 0;
    dynamicLeaf[f] = 1;
    return bytes;
  });
  yield;
  // Largest code first, then by index: sorted as numbers, one exact key
  // each (a comparator took 13 to 35 ms for 100,000 functions on a busy
  // machine). The code's bytes are an int32, the engine takes at most a
  // million functions: the key stays under 2^52.
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    keys[i] = (2 ** 31 - codeBytes[i]!) * 2 ** 21 + i;
  }
  keys.sort();
  yield;
  const roots = new Int32Array(n);
  for (let i = 0; i < n; i++) roots[i] = keys[i]! % 2 ** 21;
  let walked = 0;
  for (let r = 0; r < n; r++) {
    const root = roots[r]!;
    if (state[root] !== 0) continue;
    let top = 0;
    path[0] = root;
    state[root] = 1;
    nextSite[root] = sitesFrom[root]!;
    while (top >= 0) {
      if (++walked >= STEP_BODIES) {
        walked = 0;
        yield;
      }
      const f = path[top]!;
      const site = nextSite[f]!;
      if (site < sitesFrom[f + 1]!) {
        nextSite[f] = site + 1;
        const g = callees[site]!;
        if (g < 0) continue;
        if (state[g] === 0) {
          state[g] = 1;
          nextSite[g] = sitesFrom[g]!;
          path[++top] = g;
        } else if (state[g] === 1) keep[g] = 1;
        continue;
      }
      top--;
      // Every callee is settled, or on the path and keeps its check.
      let calls = 0;
      let added = 0;
      for (let i = sitesFrom[f]!; i < sitesFrom[f + 1]!; i++) {
        const g = callees[i]!;
        const w = g < 0 ? dynamicRuns[-1 - g]! : state[g] === 2 ? runs[g]! : 0;
        if (w === 0) continue;
        if (calls + w <= UNCHECKED_CALL_BYTES) calls += w;
        else {
          code.setKind(siteEdits[i]!, Edit.Flag);
          added++;
        }
      }
      state[f] = 2;
      const bound = codeBytes[f]! + calls;
      const drop = keep[f] === 0 && bound <= UNCHECKED_FUNCTION_BYTES &&
        (dynamicLeaf[f] === 1 || !hostCallable.has(f + imported));
      if (drop) runs[f] = bound;
      if (!drop && added === 0) continue;
      const b = f * Body.Fields;
      const bodies = code.bodies;
      if (drop) {
        // The entry's flag check, the body's first edit.
        code.setKind(bodies[b + Body.EditsFrom]!, Edit.Skip);
      }
      const checks = added - (drop ? 1 : 0);
      const before = bodies[b + Body.Size]!;
      const after = before + checks * flagSize;
      if (after > LIMITS.functionSize) {
        fail(
          `function ${
            f + imported
          } would exceed ${LIMITS.functionSize} bytes once instrumented`,
          bodies[b + Body.Start]!,
        );
      }
      bodies[b + Body.Size] = after;
      bodies[b + Body.Hints] += checks;
      const sizedBefore = u32Size(before) + before;
      const sizedAfter = u32Size(after) + after;
      result.growth += sizedAfter - sizedBefore;
      result.small += (sizedAfter <= small ? 1 : 0) -
        (sizedBefore <= small ? 1 : 0);
    }
  }
  return result;
}
