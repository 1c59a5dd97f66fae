/**
 * The SHA-256 of some bytes, as lowercase hex: how tests name a module's or
 * a file's exact contents.
 *
 * @module
 */

/** The SHA-256 digest of `bytes`, as 64 lowercase hex digits. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    bytes as Uint8Array<ArrayBuffer>,
  );
  return Array.from(
    new Uint8Array(digest),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}
