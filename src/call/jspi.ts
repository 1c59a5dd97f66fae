/**
 * JSPI (JavaScript Promise Integration), as early-exit uses it: whether
 * this Deno has it, and its two wrappers. An import wrapped by
 * {@linkcode suspending} may suspend the guest by returning a promise; only
 * an export wrapped by {@linkcode promising} may be suspended, and it then
 * returns a promise. The lib types of Deno 2.9.6 name neither, hence the
 * casts.
 *
 * @module
 */

import { isInstance } from "../thrown_values.ts";

/** Whether this Deno has JSPI (`WebAssembly.Suspending`, since Deno 2.4). */
export const HAS_JSPI: boolean =
  typeof (WebAssembly as unknown as { Suspending?: unknown }).Suspending ===
    "function";

/**
 * Wraps a host function so that it may suspend the guest by returning a
 * promise. Only calls made through `WebAssembly.promising` may reach such an
 * import. Without JSPI, the function as it is.
 *
 * @param fn The host function.
 * @returns The import to give the guest.
 *
 * @example Usage
 * ```ts
 * import { HAS_JSPI, suspending } from "./jspi.ts";
 * import assert from "node:assert/strict";
 *
 * const wait = suspending(() => Promise.resolve(1));
 * assert.equal(typeof wait === "function", !HAS_JSPI);
 * ```
 */
export function suspending(
  fn: (...args: never[]) => unknown,
): WebAssembly.ImportValue {
  if (!HAS_JSPI) return fn as WebAssembly.ImportValue;
  const Suspending = (WebAssembly as unknown as {
    Suspending: new (fn: (...args: never[]) => unknown) => object;
  }).Suspending;
  return new Suspending(fn) as WebAssembly.ImportValue;
}

/** An export wrapped by {@linkcode promising}. */
export type PromisingFunction = (...args: unknown[]) => Promise<unknown>;

/**
 * Wraps an export so that the guest may suspend inside it (at a
 * {@linkcode suspending} import): the call returns a promise. Needs JSPI.
 *
 * @param fn The exported function.
 * @returns The function to call instead.
 *
 * @example Usage
 * ```ts
 * import { promising } from "./jspi.ts";
 * import assert from "node:assert/strict";
 *
 * // (module (func (export "one") (result i32) i32.const 1))
 * const bytes = new Uint8Array([
 *   0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 127, 3, 2, 1, 0, 7, 7, 1,
 *   3, 111, 110, 101, 0, 0, 10, 6, 1, 4, 0, 65, 1, 11,
 * ]);
 * const { instance } = await WebAssembly.instantiate(bytes);
 * const one = promising(instance.exports.one as () => number);
 * assert.equal(await one(), 1);
 * ```
 */
export function promising(
  fn: (...args: never[]) => unknown,
): PromisingFunction {
  return (WebAssembly as unknown as {
    promising: (fn: (...args: never[]) => unknown) => PromisingFunction;
  }).promising(fn);
}

const SUSPEND_ERROR = (WebAssembly as unknown as {
  SuspendError?: new () => unknown;
}).SuspendError;

/**
 * Whether `error` is JSPI's refusal to suspend (`WebAssembly.SuspendError`):
 * a suspending import called with no {@linkcode promising} call below it,
 * or with a JavaScript frame between.
 *
 * @param error Anything thrown.
 * @returns Whether it is that refusal.
 *
 * @example Usage
 * ```ts
 * import { isSuspendError } from "./jspi.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(isSuspendError(new Error("no")), false);
 * ```
 */
export function isSuspendError(error: unknown): boolean {
  return SUSPEND_ERROR !== undefined && isInstance(error, SUSPEND_ERROR);
}
