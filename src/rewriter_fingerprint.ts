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
  "sha256:adc39b0c19493b4c855e51d04be9d833c3a088baa244ba07f5ba4a78d396d9d5";
