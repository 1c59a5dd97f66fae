/**
 * How the command line shows what an export returned, in its text report
 * and in `--json`: every value a guest can return, so that none is an
 * internal error: references, which have no text of their own, and the
 * numbers JSON cannot hold (an i64 past 2^53, Infinity, NaN, -0).
 *
 * @module
 */

/**
 * What a reference result is, in words, when it has no text of its own: a
 * function (funcref), or a GC struct or array, which the engine gives no
 * prototype, so that `String` of it throws.
 */
function referenceText(value: unknown): string | undefined {
  if (typeof value === "function") return "a function reference";
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return undefined;
  }
  try {
    String(value);
    return undefined;
  } catch {
    return "a reference (a GC struct or array)";
  }
}

/**
 * A result as `--json` reports it: bigints that fit become numbers, others
 * strings, as do the numbers JSON has no word for.
 *
 * @param value What the export returned (an array for several results).
 * @returns A value `JSON.stringify` writes faithfully.
 *
 * @example Usage
 * ```ts
 * import { resultJson } from "./cli_results.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(resultJson([7n, 2n ** 60n, -0, NaN]), [7, "1152921504606846976", "-0", "NaN"]);
 * ```
 */
export function resultJson(value: unknown): unknown {
  const reference = referenceText(value);
  if (reference !== undefined) return reference;
  if (typeof value === "bigint") {
    return Number.isSafeInteger(Number(value))
      ? Number(value)
      : value.toString();
  }
  if (Array.isArray(value)) return value.map(resultJson);
  // JSON has no Infinity or NaN, and JSON.stringify writes -0 as 0.
  if (typeof value === "number" && !Number.isFinite(value)) {
    return String(value);
  }
  if (Object.is(value, -0)) return "-0";
  return value ?? null;
}

/**
 * A result as the text report says it.
 *
 * @param value What the export returned (an array for several results).
 * @returns Its text: `nothing` for no result.
 *
 * @example Usage
 * ```ts
 * import { resultText } from "./cli_results.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(resultText([1, -0]), "[1, -0]");
 * assert.equal(resultText(undefined), "nothing");
 * ```
 */
export function resultText(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(resultText).join(", ")}]`;
  if (Object.is(value, -0)) return "-0";
  const reference = referenceText(value);
  if (reference !== undefined) return reference;
  return value === undefined ? "nothing" : String(value);
}
