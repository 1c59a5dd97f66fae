/** Narrows a guest call's outcome in tests, with a useful message when it is not the one expected. */

import assert from "./assert.ts";
import type { CallOutcome } from "../../mod.ts";

/**
 * Asserts that `result` ended as `outcome` and returns it narrowed to that
 * case. On a mismatch the message shows the whole outcome, with the error's
 * own message, since that is what says why the call went another way.
 */
export function expectOutcome<K extends CallOutcome["outcome"]>(
  result: CallOutcome,
  outcome: K,
): Extract<CallOutcome, { outcome: K }> {
  // Described only on a mismatch: a library's error can hold its whole
  // heap (QuickJS's context), which takes minutes to write out.
  if (result.outcome !== outcome) {
    assert.equal(result.outcome, outcome, describeOutcome(result));
  }
  return result as Extract<CallOutcome, { outcome: K }>;
}

function describeOutcome(result: CallOutcome): string {
  const fields = JSON.stringify(
    result,
    (_, value) => typeof value === "bigint" ? `${value}n` : value,
  );
  return "error" in result
    ? `${result.outcome}: ${result.error.message} ${fields}`
    : `${result.outcome}: ${fields}`;
}
