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
  "sha256:796ce21f4bf0b52d3bb921355a2760e998faa07012287d75741df46863e32d81";
