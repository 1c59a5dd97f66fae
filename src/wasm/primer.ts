/**
 * The primer: a small module that uses every kind of operator the scan and
 * the emitter treat differently, rewritten once per process before the
 * first large input, its result thrown away.
 *
 * V8 optimises the rewriter's loops after a few thousand operators, from
 * what they have met so far; a branch they meet later for the first time
 * (the first prefixed operator, the first `call_indirect`, the first long
 * memory offset) throws the optimised code away, and the loop runs slowly
 * until it has been compiled again. On esbuild.wasm that was three to five
 * recompiles of the scan loop alone, and most of the first call's CPU time
 * went to compiling. Having met every branch in the primer first, the
 * loops are optimised once.
 *
 * The primer's text is in `tests/instrument_primer_test.ts`, which checks
 * these bytes against it.
 *
 * @module
 */

/** Inputs smaller than this are rewritten before V8 optimises anything. */
const PRIME_ABOVE = 64 * 1024;

/** The primer's bytes (see the module doc), in base64. */
const PRIMER_BASE64 =
  "AGFzbQEAAAABCQJgAX8Bf2AAAAIKAQRob3N0AWYAAAMFBAAAAAAEBAFwAAMFAwEAAQ0D" +
  "AQABBgsCfwFBAAt+AUIACwcIAQR3b3JrAAMJCQEAQQALAwEDAgwBAgqdBAQcACAAQQJI" +
  "BH8gAAUgAEEBaxABIABBAmsQAWoLC30CAX4BfCAARQRAQQAPC0KJz5WaEiEBRAAAAAAA" +
  "APg/QwAAIEC7oCECQQAoAggkAEEAIwA2AgAgAEEDbRogAvwCGgJAA0AgAEUNAQJAIAAO" +
  "AQACCwwACwsgAEEASARAAAsgABABGiAAQQFrEAIgAacgAEECaxACIAAiABtqC/ECBAF+" +
  "AX0BfIgBf0H4rNGRASGLAULvm6/N+KzRkQEhAUMAAMA/IQJEAAAAAAAABEAhAyMAIIsB" +
  "aiQAIwCtJAFBAEEAKALFxgQ2AgRBCCABPAAAPwBAABpBAEEIQQT8CgAAQQBBAUEE/AsA" +
  "QQBBAEEC/AgBAPwJASAC/AAa/QwBAAAAAgAAAAMAAAAEAAAA/RsBGiABQgN/GiAAQQEg" +
  "AMAiABsaIAAaIAAaIAAaIAAaIAAaIAAaIAAaIAAaIAAaIAAaIAAaIAAaIAAaIAAaIAAa" +
  "IAAaIAAaIAAaIAAaIAAaIAAaIAAaIAAaIAAaIAAaIAAaIAAaIAAaIAAaIAAaIAAaIAAa" +
  "IAAaIAAaIAAaIAAaAkADQCAARQ0BAkACQCAADgIBAAMLCyAAQQFrIQAMAAsLIABFBEAA" +
  "BQELIAAQABogAEEBEQAAGiAAEAEQAxpBAEEANgKAgICAAUKAgICAgICAgMAAGiADRAAA" +
  "AAAAAPA/Yw8LDQAGQCAAEAAaGQsgAAsLEAIAQRALBnByaW1lcgECeHk=";

/**
 * The primer's bytes.
 *
 * @returns A new copy of them.
 *
 * @example Usage
 * ```ts
 * import { primerBytes } from "./primer.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(WebAssembly.validate(primerBytes()));
 * ```
 */
export function primerBytes(): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(atob(PRIMER_BASE64), (c) => c.charCodeAt(0));
}

let primed = false;

/**
 * Rewrites the primer with `rewrite`, the first time an input of `size`
 * bytes or more comes; afterwards does nothing. The primer only warms V8
 * up: its result, and any error, are thrown away.
 *
 * @param size The size of the input about to be rewritten.
 * @param rewrite Rewrites a module as the input will be.
 *
 * @example Usage
 * ```ts
 * import { primeOnce } from "./primer.ts";
 * import assert from "node:assert/strict";
 *
 * let calls = 0;
 * primeOnce(10, () => calls++); // too small to be worth it
 * assert.equal(calls, 0);
 * ```
 */
export function primeOnce(
  size: number,
  rewrite: (bytes: Uint8Array) => unknown,
): void {
  if (primed || size < PRIME_ABOVE) return;
  primed = true;
  try {
    // Twice: V8 records what a function meets only from its ninth call on,
    // and the primer calls some functions only a few times.
    const bytes = primerBytes();
    rewrite(bytes);
    rewrite(bytes);
  } catch {
    // Only a warm-up: the input's own rewrite reports what is wrong.
  }
}
