/**
 * {@linkcode FuelMeter.create}'s way through the rewrite cache. The
 * constructor is synchronous and the cache is not, so the meter is made
 * twice: the first time only to learn which bytes and rewriter options the
 * constructor asks for (it stops there), the second with the cache's answer
 * for them. Both runs are the constructor's own code, so the options the
 * key is made of are the ones the constructor rewrites with.
 *
 * @module
 */

import {
  type CachedRewrite,
  type RewriteCache,
  rewriteThrough,
} from "./rewrite_cache.ts";
import type { InstrumentOptions } from "./wasm/mod.ts";
import { instrumentModule } from "./wasm/instrument.ts";

/** How a meter's constructor rewrites: `instrumentModule`'s signature. */
export type MeterRewriter = (
  bytes: Uint8Array,
  options: InstrumentOptions,
) => CachedRewrite;

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
  let asked: [Uint8Array, InstrumentOptions] | undefined;
  try {
    // A meter of an already rewritten module asks for nothing: made at once.
    return construct((bytes, options) => {
      asked = [bytes, options];
      throw ASKED;
    });
  } catch (error) {
    if (error !== ASKED) throw error;
  }
  const [bytes, options] = asked!;
  const rewrite = await rewriteThrough(cache, bytes, options, instrumentModule);
  return construct(() => rewrite);
}
