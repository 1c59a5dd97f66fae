/**
 * {@linkcode FuelMeter.create}'s way through the rewrite cache. The
 * constructor is synchronous and the cache is not, so the meter is made
 * twice: the first time only to learn which bytes and rewriter options the
 * constructor asks for (it stops there), the second with the cache's answer
 * for them. Both runs are the constructor's own code, so the options the
 * key is made of are the ones the constructor rewrites with; the input's
 * checks and limits, which come before the rewrite, run in the first only.
 *
 * @module
 */

import {
  type CachedRewrite,
  type RewriteCache,
  rewriteThrough,
} from "../cache/rewrite_cache.ts";
import type { InstrumentOptions } from "../wasm/mod.ts";
import { instrumentModule } from "../wasm/instrument.ts";

/**
 * How a meter's constructor rewrites: `instrumentModule`'s signature (and
 * `owned` when the bytes are a copy of the constructor's own), and
 * `checked` when the input's checks and limits ran in the run that asked
 * for this rewrite (the cache's answer, which the second run is given).
 */
export type MeterRewriter =
  & ((
    bytes: Uint8Array,
    options: InstrumentOptions,
    owned?: boolean,
  ) => CachedRewrite)
  & { readonly checked?: true };

/** Thrown by the first run's rewriter, where the constructor stops. */
const ASKED = Symbol("the constructor asked for a rewrite");

/**
 * Makes a meter whose rewrite comes through `cache`.
 *
 * @param cache The cache.
 * @param construct Makes the meter, rewriting with the rewriter it is given.
 * @returns The meter.
 */
export async function constructCached<T>(
  cache: RewriteCache,
  construct: (rewriter: MeterRewriter) => T,
): Promise<T> {
  let asked: [Uint8Array, InstrumentOptions, boolean] | undefined;
  try {
    // A meter of an already rewritten module asks for nothing: made at once.
    return construct((bytes, options, owned = false) => {
      asked = [bytes, options, owned];
      throw ASKED;
    });
  } catch (error) {
    if (error !== ASKED) throw error;
  }
  const [bytes, options, owned] = asked!;
  // Bytes of the constructor's own (the limits written into a copy) need
  // no copy of the cache's: a fresh buffer costs a page fault per 4 kB.
  const rewrite = await rewriteThrough(
    cache,
    bytes,
    options,
    instrumentModule,
    undefined,
    false,
    owned,
  );
  // The first run checked and limited the input, in the turn in which the
  // cache took its copy of the bytes that were rewritten (or had its own);
  // the caller's bytes may have changed since, and the second run's would
  // be unused.
  return construct(Object.assign(() => rewrite, { checked: true as const }));
}
