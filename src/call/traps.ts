/**
 * Names the trap behind an engine error. V8 gives traps as
 * `WebAssembly.RuntimeError` with a fixed message per trap, and stack
 * overflow as a `RangeError`; the messages below were read off V8 in Deno 2.9.
 *
 * @module
 */

import { GuestTrap, type TrapKind } from "../errors.ts";
import { DEFAULT_ARRAY_BYTES } from "../module/limits.ts";
import { CONCAT_CHARACTER_BYTES } from "../wasm/string_builtin_helpers.ts";
import { outsideCallTrap, reachedAsyncTrap } from "./outside_call.ts";

const TRAP_MESSAGES: [RegExp, TrapKind][] = [
  [/^unreachable/, "unreachable"],
  [
    /memory access out of bounds|data segment out of bounds/,
    "memory_out_of_bounds",
  ],
  [
    /table index is out of bounds|table access out of bounds|element segment out of bounds|table.*out of bounds/,
    "table_out_of_bounds",
  ],
  [/divide by zero|remainder by zero/, "divide_by_zero"],
  [/divide result unrepresentable/, "integer_overflow"],
  [/float unrepresentable in integer range/, "invalid_conversion"],
  [/function signature mismatch/, "signature_mismatch"],
  [/null function/, "null_function"],
  [/null pointer|null reference|dereferencing a null/, "null_reference"],
  [/illegal cast/, "bad_cast"],
  [
    /array element access out of bounds|array.*out of bounds/,
    "array_out_of_bounds",
  ],
  [/unaligned/, "unaligned_atomic"],
  [/requested new array is too large/, "array_too_large"],
];

/**
 * What a too-large array's trap adds to the engine's words: the cap a
 * stoppable guest's arrays are held to, and how to raise it.
 */
const ARRAY_TOO_LARGE =
  `: the array is over limits.arrays (${DEFAULT_ARRAY_BYTES} bytes unless raised, in a guest loaded with a deadline, signal or stop) or the engine's largest; raise limits.arrays or allocate a smaller array`;

/**
 * What a too-long string's error adds: the engine's longest, or the cap a
 * stoppable guest's `concat` results are held to, and how to raise it.
 */
const STRING_TOO_LONG =
  `: the string is over the engine's longest or, in a guest loaded with a deadline, signal or stop, a wasm:js-string concat's result is over limits.arrays / ${CONCAT_CHARACTER_BYTES} characters (${
    DEFAULT_ARRAY_BYTES / CONCAT_CHARACTER_BYTES
  } unless raised; the engine flattens a long string in one step no stop can cut short); raise limits.arrays or build a shorter string`;

/** JSPI's refusal to suspend, which TypeScript's DOM types do not declare yet. */
const SuspendError = (WebAssembly as unknown as {
  SuspendError?: abstract new (...args: never[]) => object;
}).SuspendError;

/** `WebAssembly.Exception`, which TypeScript's DOM types do not declare yet. */
const WasmException = (WebAssembly as unknown as {
  Exception?: abstract new (...args: never[]) => object;
}).Exception;

/**
 * Turns an engine error into a {@linkcode GuestTrap}, or returns `undefined`
 * when the error is not a trap.
 *
 * @param error What the call threw.
 * @returns The trap, or `undefined`.
 */
export function toGuestTrap(error: unknown): GuestTrap | undefined {
  try {
    return engineTrap(error);
  } catch {
    return undefined; // a proxy whose traps throw is no engine error
  }
}

function engineTrap(error: unknown): GuestTrap | undefined {
  if (error instanceof WebAssembly.RuntimeError) {
    const kind = TRAP_MESSAGES.find(([pattern]) => pattern.test(error.message))
      ?.[1];
    // A check of a guest none of whose calls is in progress traps so.
    const outside = kind === "unreachable" ? outsideCallTrap(error) : undefined;
    if (outside !== undefined) return outside;
    const message = kind === "array_too_large"
      ? error.message + ARRAY_TOO_LARGE
      : error.message;
    return new GuestTrap(kind ?? "other", message, { cause: error });
  }
  if (
    error instanceof RangeError &&
    error.message.includes("Maximum call stack size exceeded")
  ) {
    return new GuestTrap("stack_overflow", error.message, { cause: error });
  }
  // A string builtin (`wasm:js-string`) asked for a string past V8's
  // longest, or past the cap a stoppable guest's concat is held to; host
  // imports' errors are wrapped before they get here.
  if (
    error instanceof RangeError &&
    error.message.includes("Invalid string length")
  ) {
    return new GuestTrap("other", error.message + STRING_TOO_LONG, {
      cause: error,
    });
  }
  // An async guest's check asks the host through JSPI, which refuses from
  // outside a call made through it: a check of such a guest outside its
  // calls fails so, and so does one reached from another guest's call
  // while its own waits; any other refusal stays the caller's to see.
  if (SuspendError !== undefined && error instanceof SuspendError) {
    return outsideCallTrap(error) ?? reachedAsyncTrap(error);
  }
  if (WasmException !== undefined && error instanceof WasmException) {
    return new GuestTrap(
      "uncaught_exception",
      "the guest threw a WebAssembly exception that nothing caught",
      { cause: error },
    );
  }
  return undefined;
}
