/**
 * The rewriter's fingerprint: the SHA-256 of the source of every module the
 * rewriter (`src/wasm/instrument.ts`) is made of. The rewrite cache keys
 * each entry on it, so that an entry made by another version of the
 * rewriter is never read. `tests/rewrite_cache_fingerprint_test.ts`
 * recomputes it from the source and fails, with the new value, when a
 * change to the rewriter has not been carried here; run
 * `deno run -A tests/support/rewriter_fingerprint.ts` to print it.
 *
 * @module
 */

/** The fingerprint of the rewriter this copy of early-exit holds. */
export const REWRITER_FINGERPRINT =
  "sha256:04917cd0ae5e66eda50edb834fc0309df8b60eca52341670f6f087523f112568";
