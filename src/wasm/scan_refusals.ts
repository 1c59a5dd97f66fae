/**
 * The scan's refusals of a body: each says what the body holds, what the
 * limit is and why, and how to fix it.
 *
 * @module
 */

import { fail, failAtLimit, failBeforeEngine } from "./reader.ts";
import {
  IF_POINTS,
  IF_UNITS,
  localUnits,
  MAX_CATCH_CLAUSES,
  MAX_COMPILE_COST,
  MAX_COMPILE_UNITS,
  MAX_NESTING,
  NARROW_LOCAL_WEIGHT,
  NARROW_LOCALS,
  REF_LOCAL_UNITS,
  refLocalUnits,
  STACKED_VALUE_UNITS,
  WIDE_LOCAL_WEIGHT,
} from "./scan_limits.ts";

/** Refuses a `try` or `try_table` with more than `MAX_CATCH_CLAUSES`. */
export function tooManyClauses(at: number): never {
  return failAtLimit(
    `a try or try_table has more than ${MAX_CATCH_CLAUSES} catch clauses, which the engine may run out of memory optimising (ending the process): split them among nested tries`,
    at,
  );
}

/** Refuses a function whose compile would hold the thread too long. */
export function tooDearToCompile(
  functionIndex: number,
  locals: number,
  controls: number,
  stacked: number,
  refLocals: number,
  arms: number,
  at: number,
): never {
  const values = stacked > 0
    ? ` and ${stacked} values on the operand stack at them, ${STACKED_VALUE_UNITS} each`
    : "";
  const sum = stacked > 0 ? ` + ${STACKED_VALUE_UNITS} * ${stacked}` : "";
  const wide = locals > NARROW_LOCALS;
  const weight = wide ? WIDE_LOCAL_WEIGHT : NARROW_LOCAL_WEIGHT;
  const weighed = `${weight} * ${locals}`;
  const refs = refLocalUnits(locals, refLocals);
  const wideNote = `; each local counts ${weight} in a function of ${
    wide ? "over" : "at most"
  } ${NARROW_LOCALS} locals${
    refs > 0
      ? `, and each of its ${refLocals} locals of reference types ${REF_LOCAL_UNITS} more once`
      : ""
  }`;
  const refSum = refs > 0 ? ` + ${REF_LOCAL_UNITS} * ${refLocals}` : "";
  const armNote = arms > 0
    ? `, and each of its ${arms} ifs and elses ${IF_UNITS} more once`
    : "";
  const armSum = arms > 0 ? ` + ${IF_UNITS} * ${arms}` : "";
  return failAtLimit(
    `function ${functionIndex} has ${locals} locals and ${controls} control points (a loop counts 10; an if, else, br_if or br_on_* ${IF_POINTS}; other branches, br_table targets, returns, traps, throws, tries, catches and checks 1${wideNote}${armNote})${values}: (${weighed} + 16) * ${controls}${sum}${refSum}${armSum} = ${
      localUnits(locals) * controls + STACKED_VALUE_UNITS * stacked + refs +
      IF_UNITS * arms
    } is over the limit of ${MAX_COMPILE_UNITS}, above which the engine's compile at its first call holds the thread past any deadline or stop: split the function or use fewer locals, or run it with invokeIsolated and a timeout but no fuel, whose child is killed at the deadline`,
    at,
  );
}

/** Refuses a function whose operators would take long to compile. */
export function tooDearOperators(
  functionIndex: number,
  cost: number,
  at: number,
): never {
  // Not shown to the engine, whose validation of it can be dear too (an
  // 18 KB function piling up 4,000,000 call results: 1.1 to 1.9 s).
  return failBeforeEngine(
    `function ${functionIndex} has a compile cost of ${cost} (its bytes, and each operator, call, block type, nesting level and value on the operand stack weighed as docs/rewriter.md#refused-functions lists), over the limit of ${MAX_COMPILE_COST}, above which the engine's compile at its first call holds the thread past any deadline or stop: split the function, or run it with invokeIsolated and a timeout but no fuel, whose child is killed at the deadline`,
    at,
  );
}

/** Refuses a function whose blocks nest past `MAX_NESTING`. */
export function tooDeep(functionIndex: number, at: number): never {
  // Not shown to the engine, whose validation of it is dear too.
  return failBeforeEngine(
    `function ${functionIndex} nests its blocks, loops, ifs and tries more than ${
      MAX_NESTING - 1
    } deep, which the engine's compile at its first call takes a long time over, holding the thread past any deadline or stop: nest them less deeply, or run it with invokeIsolated and a timeout but no fuel, whose child is killed at the deadline`,
    at,
  );
}

/** Refuses an opcode the operator table does not know. */
export function unknownOpcode(prefix: number, code: number, at: number): never {
  const hex = (n: number) => `0x${n.toString(16).padStart(2, "0")}`;
  return fail(
    prefix < 0
      ? `unknown opcode ${hex(code)}`
      : `unknown opcode ${hex(prefix)} ${hex(code)}`,
    at,
  );
}
