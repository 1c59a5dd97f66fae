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
  "sha256:4e2089da78205cce2003c234a077a21233d6d8e7156d14c00859b5838d4b3c58";
