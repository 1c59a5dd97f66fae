/**
 * A process that meters a guest through the rewrite cache, for
 * tests/rewrite_cache_process_test.ts. Prints one line of JSON: the SHA-256
 * of the metered bytes and the cache's counters; or, when the cache is
 * refused, the error's name, reason and message on stderr, exit code 2.
 *
 * Usage: rewrite_cache_child.ts meter|guest|quickjs <cache directory>
 */
import {
  FuelMeter,
  isGuestLoadError,
  loadGuest,
  RewriteCache,
} from "../../mod.ts";
import { COMPUTE } from "./guests.ts";
import { sha256Hex as hex } from "./sha256.ts";

const [what, directory] = Deno.args;

try {
  const cache = new RewriteCache(directory!);
  let bytes: Uint8Array;
  if (what === "meter") {
    bytes = (await FuelMeter.create(await Deno.readFile(COMPUTE), { cache }))
      .bytes;
  } else if (what === "quickjs") {
    const { quickjsBytes } = await import("./quickjs.ts");
    bytes = (await FuelMeter.create(await quickjsBytes, { cache })).bytes;
  } else if (what === "guest") {
    const guest = await loadGuest(COMPUTE, { fuel: 1e6, cache });
    if (guest.call("fib", 20) !== 6765) throw new Error("fib(20) is wrong");
    bytes = new Uint8Array(0);
  } else {
    throw new Error(`expected meter, quickjs or guest, got ${what}`);
  }
  console.log(JSON.stringify({
    sha256: await hex(bytes),
    hits: cache.hits,
    misses: cache.misses,
  }));
} catch (error) {
  if (!isGuestLoadError(error)) throw error;
  console.error(`${error.name} (${error.reason}): ${error.message}`);
  Deno.exit(2);
}
