/**
 * What a caller who passed the wrong kind of guest source should pass
 * instead: the bytes of a `Response`, a `Blob` or a stream, a `Uint8Array`
 * over another view's or a shared buffer's bytes. And whether the bytes are
 * gone: a buffer transferred to another thread (or a view of one) reads as
 * empty, which the decoder would report as a module with no magic number.
 *
 * @module
 */

import { isInstance, thenOf } from "../thrown_values.ts";

/**
 * Whether `source` is an `ArrayBuffer`, or a view of one, whose bytes were
 * transferred away (`postMessage`, `structuredClone`, `transfer()`).
 *
 * @param source What the caller gave as the guest.
 * @returns Whether its bytes are gone.
 *
 * @example Usage
 * ```ts
 * import { isDetached } from "./source_hints.ts";
 * import assert from "node:assert/strict";
 *
 * const buffer = new ArrayBuffer(8);
 * buffer.transfer();
 * assert.equal(isDetached(buffer), true);
 * assert.equal(isDetached(new Uint8Array(8)), false);
 * ```
 */
export function isDetached(source: unknown): boolean {
  try {
    const buffer = ArrayBuffer.isView(source) ? source.buffer : source;
    return isInstance(buffer, ArrayBuffer) &&
      (buffer as ArrayBuffer).detached;
  } catch {
    return false; // a proxy whose traps throw: not a buffer
  }
}

/** The refusal of a guest whose bytes were transferred away. */
export const DETACHED =
  "its bytes were transferred to another thread or context (the ArrayBuffer is detached): pass a copy made before the transfer";

/**
 * How to turn `source`, which is not a guest source, into one (a promise
 * of one included), or `undefined` when there is no such way.
 *
 * @param source What the caller gave as the guest.
 * @returns A parenthesised hint, with a space before it, or `undefined`.
 *
 * @example Usage
 * ```ts
 * import { sourceHint } from "./source_hints.ts";
 * import assert from "node:assert/strict";
 *
 * assert.match(sourceHint(new Blob([]))!, /await blob\.bytes\(\)/);
 * assert.equal(sourceHint(42), undefined);
 * ```
 */
export function sourceHint(source: unknown): string | undefined {
  // deno-lint-ignore no-explicit-any
  const is = (type: abstract new (...args: any[]) => unknown) =>
    typeof type === "function" && isInstance(source, type);
  if (is(Promise) || thenOf(source) !== undefined) {
    return " (this is a promise: await it first)";
  }
  if (is(Response)) {
    return " (a Response: pass its URL, or its bytes: await response.bytes())";
  }
  if (is(Blob)) return " (a Blob: pass its bytes: await blob.bytes())";
  if (is(ReadableStream)) {
    return " (a stream: pass its bytes, read to the end: await new Response(stream).bytes())";
  }
  if (is(SharedArrayBuffer)) {
    return " (a SharedArrayBuffer: pass a view of it: new Uint8Array(buffer))";
  }
  let view = false;
  try {
    view = ArrayBuffer.isView(source);
  } catch {
    // a revoked proxy
  }
  if (view) {
    return " (a view of other than bytes: pass new Uint8Array(view.buffer, view.byteOffset, view.byteLength))";
  }
  return undefined;
}
