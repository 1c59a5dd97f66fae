/**
 * The SHA-256 of some bytes, as lowercase hex: how tests name a module's or
 * a file's exact contents.
 *
 * @module
 */

import { hex, sha256 } from "../../src/bytes.ts";

/** The SHA-256 digest of `bytes`, as 64 lowercase hex digits. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  return hex(await sha256(bytes));
}
