/**
 * Small functions over bytes that several modules need: joining pieces,
 * SHA-256 digests in bytes or hex, and a copy of bytes another thread may
 * write.
 *
 * @module
 */

import { ownUrl } from "./caller_urls.ts";

/**
 * The parts (bytes, or arrays of byte values), one after another, in a
 * buffer of their own: without spreading them, which fails on parts of
 * megabytes.
 *
 * @example Usage
 * ```ts
 * import { concatBytes } from "./bytes.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(concatBytes(Uint8Array.of(1), Uint8Array.of(2, 3)), Uint8Array.of(1, 2, 3));
 * ```
 */
export function concatBytes(
  ...parts: ArrayLike<number>[]
): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/**
 * The SHA-256 digest of `data`.
 *
 * @example Usage
 * ```ts
 * import { sha256 } from "./bytes.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal((await sha256(new Uint8Array())).length, 32);
 * ```
 */
export async function sha256(data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(
    await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>),
  );
}

/**
 * Bytes as lowercase hex, two digits each.
 *
 * @example Usage
 * ```ts
 * import { hex } from "./bytes.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(hex(Uint8Array.of(0, 255)), "00ff");
 * ```
 */
export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Whether `bytes` lie in a `SharedArrayBuffer`, where another thread may
 * write them while they are read: a check that passed on one read would not
 * hold for the next.
 *
 * @example Usage
 * ```ts
 * import { inSharedMemory } from "./bytes.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(inSharedMemory(new Uint8Array(new SharedArrayBuffer(4))), true);
 * assert.equal(inSharedMemory(new Uint8Array(4)), false);
 * ```
 */
export function inSharedMemory(bytes: Uint8Array): boolean {
  return isSharedBuffer(VIEW_BUFFER.call(bytes));
}

/** A getter of `%TypedArray%.prototype`: it reads only a real typed array. */
function viewGetter(name: string): (this: Uint8Array) => unknown {
  return Object.getOwnPropertyDescriptor(
    Object.getPrototypeOf(Uint8Array.prototype),
    name,
  )!.get!;
}

const VIEW_BUFFER = viewGetter("buffer") as (
  this: Uint8Array,
) => ArrayBufferLike;
const VIEW_OFFSET = viewGetter("byteOffset") as (this: Uint8Array) => number;
const VIEW_LENGTH = viewGetter("byteLength") as (this: Uint8Array) => number;
const BUFFER_DETACHED = Object.getOwnPropertyDescriptor(
  ArrayBuffer.prototype,
  "detached",
)!.get! as (this: ArrayBufferLike) => boolean;
const SHARED_LENGTH = Object.getOwnPropertyDescriptor(
  SharedArrayBuffer.prototype,
  "byteLength",
)!.get!;

/**
 * Whether `buffer` is a `SharedArrayBuffer`, by what it is rather than by
 * its prototype (which a caller can swap for `ArrayBuffer`'s).
 */
function isSharedBuffer(buffer: ArrayBufferLike): boolean {
  try {
    SHARED_LENGTH.call(buffer);
    return true;
  } catch {
    return false;
  }
}

/**
 * A view of the host's own over the bytes of a caller's `Uint8Array`,
 * read through `%TypedArray%.prototype`: the caller's view may carry
 * properties of its own over the real ones (a `length` or `buffer` getter
 * that throws, a `byteOffset` that points elsewhere, a `subarray` that
 * does something else), which would fail a load with their own unbranded
 * error or show two passes different bytes.
 *
 * @example Usage
 * ```ts
 * import { ownView } from "./bytes.ts";
 * import assert from "node:assert/strict";
 *
 * const given = Uint8Array.of(0, 97, 115, 109);
 * Object.defineProperty(given, "length", { get: () => 1 });
 * assert.equal(ownView(given).length, 4);
 * ```
 */
export function ownView(bytes: Uint8Array): Uint8Array {
  const buffer = VIEW_BUFFER.call(bytes);
  // Bytes transferred away are left to the checks that say so.
  if (!isSharedBuffer(buffer) && BUFFER_DETACHED.call(buffer)) return bytes;
  return new Uint8Array(
    buffer,
    VIEW_OFFSET.call(bytes),
    VIEW_LENGTH.call(bytes),
  );
}

/**
 * A guest's source as the host reads it: bytes, or an `ArrayBuffer`'s, in a
 * view of its own (see {@linkcode ownView}), a URL as a URL of its own (see
 * `caller_urls.ts`), a path as given.
 *
 * @example Usage
 * ```ts
 * import { ownSource } from "./bytes.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(ownSource("guest.wasm"), "guest.wasm");
 * assert.equal(ownSource(Uint8Array.of(1, 2)).length, 2);
 * ```
 */
export function ownSource<T>(source: T): T {
  try {
    if (source instanceof Uint8Array) return ownView(source) as T;
    if (source instanceof URL) return ownUrl(source) as T;
    // A SharedArrayBuffer dressed as an ArrayBuffer (its prototype swapped)
    // is then seen for what it is, and copied before it is read.
    if (
      source instanceof ArrayBuffer &&
      (isSharedBuffer(source) || !BUFFER_DETACHED.call(source))
    ) {
      return new Uint8Array(source) as T;
    }
  } catch {
    // Not bytes (a revoked proxy cannot even be asked): the source's own
    // check describes it.
  }
  return source;
}

/**
 * `bytes` where no other thread can write them: a copy of them as they are
 * now when they lie in a `SharedArrayBuffer`, a view of the host's own
 * over them otherwise (see {@linkcode ownView}).
 *
 * @example Usage
 * ```ts
 * import { unshared } from "./bytes.ts";
 * import assert from "node:assert/strict";
 *
 * const shared = new Uint8Array(new SharedArrayBuffer(2));
 * assert.ok(unshared(shared).buffer instanceof ArrayBuffer);
 * const own = Uint8Array.of(1, 2);
 * assert.equal(unshared(own).buffer, own.buffer);
 * ```
 */
export function unshared(bytes: Uint8Array): Uint8Array {
  const view = ownView(bytes);
  return isSharedBuffer(view.buffer) ? view.slice() : view;
}
