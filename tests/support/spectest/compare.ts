/**
 * Comparing outcomes: a stable text form of each, float and vector
 * patterns, and whether an outcome meets what a command expects.
 *
 * @module
 */

import type {
  Command,
  Expected,
  FloatPattern,
  V128Shape,
} from "../wast/mod.ts";
import { f32Bits, f64Bits, type Outcome, type Result } from "./call.ts";
import { hostRef, hostRefId } from "./host.ts";

function refClass(value: unknown): string {
  if (value === null) return "null";
  const host = hostRefId(value);
  if (host !== undefined) return `host ${host}`;
  if (typeof value === "function") return "func";
  if (typeof value === "number") return `i31 ${value}`;
  if (typeof value === "object") return "object";
  return `${typeof value} ${String(value)}`;
}

function describeResult(result: Result): string {
  switch (result.type) {
    case "i32":
    case "i64":
      return `${result.type}:${result.value}`;
    case "f32":
      return `f32:0x${result.bits.toString(16)}`;
    case "f64":
      return `f64:0x${result.bits.toString(16)}`;
    case "v128":
      return `v128:${
        Array.from(result.bytes, (b) => b.toString(16).padStart(2, "0")).join(
          "",
        )
      }`;
    case "ref":
      return `ref:${refClass(result.value)}`;
    case "js":
      return typeof result.value === "number"
        ? `number:0x${f64Bits(result.value).toString(16)}`
        : `${typeof result.value}:${refClass(result.value)}`;
  }
}

/**
 * A stable text form of an outcome. Two outcomes are the same when their
 * descriptions are: values bit for bit (NaN payloads included), traps by
 * message, references by kind (functions from different instances count as
 * equal, host references by number).
 *
 * @param outcome What happened.
 * @returns One line.
 */
export function describeOutcome(outcome: Outcome): string {
  switch (outcome.kind) {
    case "return":
      return `return [${outcome.results.map(describeResult).join(", ")}]`;
    case "instance":
      return "instantiated";
    case "trap":
      return `trap "${outcome.message}"`;
    case "exhaustion":
      return `exhaustion "${outcome.message}"`;
    case "exception":
      return "wasm exception";
    case "error":
      return `${outcome.name} "${outcome.message}"`;
  }
}

const canonicalNan = { f32: 0x7fc00000n, f64: 0x7ff8000000000000n };
const signMask = { f32: 0x7fffffffn, f64: 0x7fffffffffffffffn };

function floatMatches(
  value: bigint,
  pattern: FloatPattern,
  format: "f32" | "f64",
): boolean {
  if ("bits" in pattern) return value === pattern.bits;
  const magnitude = value & signMask[format];
  if (pattern.nan === "canonical") return magnitude === canonicalNan[format];
  // Arithmetic NaN: any NaN with the quiet bit set.
  return (magnitude & canonicalNan[format]) === canonicalNan[format];
}

const laneWidth: Record<V128Shape, number> = {
  i8x16: 1,
  i16x8: 2,
  i32x4: 4,
  i64x2: 8,
  f32x4: 4,
  f64x2: 8,
};

function laneBits(
  bytes: Uint8Array,
  index: number,
  width: number,
): bigint {
  let value = 0n;
  for (let b = width - 1; b >= 0; b--) {
    value = (value << 8n) | BigInt(bytes[index * width + b]);
  }
  return value;
}

function resultMatches(result: Result, expected: Expected): boolean {
  if (expected.type === "either") {
    return expected.options.some((o) => resultMatches(result, o));
  }
  const value = result.type === "js" ? result.value : undefined;
  switch (expected.type) {
    case "i32":
      if (result.type === "i32") return result.value === expected.value;
      return typeof value === "number" && (value | 0) === expected.value;
    case "i64":
      if (result.type === "i64") return result.value === expected.value;
      return typeof value === "bigint" && value === expected.value;
    case "f32":
      if (result.type === "f32") {
        return floatMatches(BigInt(result.bits), expected.pattern, "f32");
      }
      return typeof value === "number" &&
        floatMatches(BigInt(f32Bits(value)), expected.pattern, "f32");
    case "f64":
      if (result.type === "f64") {
        return floatMatches(result.bits, expected.pattern, "f64");
      }
      return typeof value === "number" &&
        floatMatches(f64Bits(value), expected.pattern, "f64");
    case "v128": {
      if (result.type !== "v128") return false;
      const width = laneWidth[expected.shape];
      const format = expected.shape === "f32x4" ? "f32" : "f64";
      return expected.lanes.every((lane, i) => {
        const got = laneBits(result.bytes, i, width);
        return expected.shape.startsWith("f")
          ? floatMatches(got, lane, format)
          : "bits" in lane && got === lane.bits;
      });
    }
  }
  if (result.type !== "ref" && result.type !== "js") return false;
  const ref = result.value;
  if (expected.type === "ref.null") return ref === null;
  if (expected.id !== undefined) return ref === hostRef(expected.id);
  if (expected.heap === "func") return typeof ref === "function";
  if (expected.heap === "i31") return typeof ref === "number";
  return ref !== null && ref !== undefined;
}

/** Whether an outcome is what the script expected of the unmetered module. */
export function meetsSpec(command: Command, outcome: Outcome): boolean {
  switch (command.type) {
    case "assert_return":
      return outcome.kind === "return" &&
        outcome.results.length === command.expected.length &&
        outcome.results.every((r, i) => resultMatches(r, command.expected[i]));
    case "assert_trap":
    case "assert_uninstantiable":
      return outcome.kind === "trap";
    case "assert_exhaustion":
      return outcome.kind === "exhaustion";
    case "assert_exception":
      return outcome.kind === "exception";
    case "assert_unlinkable":
      return outcome.kind === "error" &&
        (outcome.name === "LinkError" || outcome.name === "TypeError");
  }
  return true;
}
