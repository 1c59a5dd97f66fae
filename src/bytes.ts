/**
 * Small functions over bytes that several modules need: joining pieces,
 * SHA-256 digests in bytes or hex, and a copy of bytes another thread may
 * write.
 *
 * @module
 */

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
  return bytes.buffer instanceof SharedArrayBuffer;
}

/**
 * `bytes` where no other thread can write them: a copy of them as they are
 * now when they lie in a `SharedArrayBuffer`, the bytes themselves
 * otherwise.
 *
 * @example Usage
 * ```ts
 * import { unshared } from "./bytes.ts";
 * import assert from "node:assert/strict";
 *
 * const shared = new Uint8Array(new SharedArrayBuffer(2));
 * assert.ok(unshared(shared).buffer instanceof ArrayBuffer);
 * const own = Uint8Array.of(1, 2);
 * assert.equal(unshared(own), own);
 * ```
 */
export function unshared(bytes: Uint8Array): Uint8Array {
  return inSharedMemory(bytes) ? bytes.slice() : bytes;
}
