/**
 * Small functions over bytes that several modules need: joining pieces, and
 * SHA-256 digests in bytes or hex.
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
