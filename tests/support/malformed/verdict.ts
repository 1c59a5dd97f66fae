/**
 * What `instrument()` did with one input, against the contract: either a
 * module that V8 accepts, or a branded `InvalidModule` that is not the
 * rewriter's own code failing underneath; and, for the record, whether V8
 * agrees about the input.
 *
 * @module
 */

import { isInvalidModule } from "../../../src/errors.ts";
import { instrument } from "../../../src/wasm/instrument.ts";
import { refusedAtLimit } from "../../../src/wasm/reader.ts";
import { internalError } from "../fuzz/mod.ts";

/** The ways an input can break the contract. */
export const FAILURE_KINDS = [
  "threw a non-branded error",
  "failed inside the rewriter (relabelled as InvalidModule)",
  "returned an invalid module for input V8 accepts",
  "returned an invalid module for input V8 rejects",
] as const;
export type FailureKind = typeof FAILURE_KINDS[number];

/** The two ways the rewriter and V8 can disagree about an input. */
export type Disagreement =
  | "rejected though V8 accepts it"
  | "accepted though V8 rejects it";

/** What `instrument()` did with one input. */
export interface Verdict {
  outcome: "accepted" | "rejected";
  /** How long it took, for the record only: no test asserts on it. */
  ms: number;
  /** Set when the outcome breaks the contract. */
  failure?: { kind: FailureKind; detail: string };
  /** Set when V8 judges the input otherwise: how, and the rewriter's reason. */
  disagreement?: { kind: Disagreement; detail: string };
}

/** Instruments `input` and judges what came out. */
export function check(input: Uint8Array): Verdict {
  const started = performance.now();
  let output: Uint8Array;
  try {
    output = instrument(input).bytes;
  } catch (error) {
    const ms = performance.now() - started;
    const message = error instanceof Error
      ? `${error.name}: ${error.message}`
      : `thrown ${typeof error}: ${String(error)}`;
    if (!isInvalidModule(error)) {
      return {
        outcome: "rejected",
        ms,
        failure: { kind: FAILURE_KINDS[0], detail: message },
      };
    }
    const internal = internalError(error);
    if (internal) {
      return {
        outcome: "rejected",
        ms,
        failure: { kind: FAILURE_KINDS[1], detail: `${internal} → ${message}` },
      };
    }
    // A valid module turned away at one of the rewriter's documented
    // limits (a mutated local count of thousands in a function of a few
    // branches, say) is no disagreement.
    return {
      outcome: "rejected",
      ms,
      disagreement:
        WebAssembly.validate(input as BufferSource) && !refusedAtLimit(error)
          ? { kind: "rejected though V8 accepts it", detail: message }
          : undefined,
    };
  }
  const ms = performance.now() - started;
  const inputValid = WebAssembly.validate(input as BufferSource);
  try {
    new WebAssembly.Module(output as BufferSource);
  } catch (error) {
    return {
      outcome: "accepted",
      ms,
      failure: {
        kind: FAILURE_KINDS[inputValid ? 2 : 3],
        detail: (error as Error).message,
      },
    };
  }
  return {
    outcome: "accepted",
    ms,
    disagreement: inputValid ? undefined : {
      kind: "accepted though V8 rejects it",
      detail: "the output validates",
    },
  };
}
