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

import { Emitter } from "./emitter.ts";
import { Writer } from "./writer.ts";
import { BODY_STEPS, COPY_STEP_BYTES, STEP_BYTES } from "./steps.ts";

/** Inputs smaller than this are rewritten before V8 optimises anything. */
const PRIME_ABOVE = 64 * 1024;

/** The primer's bytes (see the module doc), in base64. */
const PRIMER_BASE64 =
  "AGFzbQEAAAABBgFgAX8BfwIKAQRob3N0AWYAAAMFBAAAAAAEBAFwAAMFAwEAAQYLAn8B" +
  "QQALfgFCAAsHCAEEd29yawADCQkBAEEACwMBAwIMAQIKnQQEHAAgAEECSAR/IAAFIABB" +
  "AWsQASAAQQJrEAFqCwt9AgF+AXwgAEUEQEEADwtCic+VmhIhAUQAAAAAAAD4P0MAACBA" +
  "u6AhAkEAKAIIJABBACMANgIAIABBA20aIAL8AhoCQANAIABFDQECQCAADgEAAgsMAAsL" +
  "IABBAEgEQAALIAAQARogAEEBaxACIAGnIABBAmsQAiAAIgAbagvxAgQBfgF9AXyIAX9B" +
  "+KzRkQEhiwFC75uvzfis0ZEBIQFDAADAPyECRAAAAAAAAARAIQMjACCLAWokACMArSQB" +
  "QQBBACgCxcYENgIEQQggATwAAD8AQAAaQQBBCEEE/AoAAEEAQQFBBPwLAEEAQQBBAvwI" +
  "AQD8CQEgAvwAGv0MAQAAAAIAAAADAAAABAAAAP0bARogAUIDfxogAEEBIADAIgAbGiAA" +
  "GiAAGiAAGiAAGiAAGiAAGiAAGiAAGiAAGiAAGiAAGiAAGiAAGiAAGiAAGiAAGiAAGiAA" +
  "GiAAGiAAGiAAGiAAGiAAGiAAGiAAGiAAGiAAGiAAGiAAGiAAGiAAGiAAGiAAGiAAGiAA" +
  "GiAAGgJAA0AgAEUNAQJAAkAgAA4CAQADCwsgAEEBayEADAALCyAARQRAAAUBCyAAEAAa" +
  "IABBAREAABogABABEAMaQQBBADYCgICAgAFCgICAgICAgIDAABogA0QAAAAAAADwP2MP" +
  "Cw0ABkAgABAAGhkLIAALCxACAEEQCwZwcmltZXIBAnh5";

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

/** How far apart the pauses inside a body are while the primer runs. */
const PRIMER_STEP_BYTES = 16;

let primed = false;

/**
 * The rewriter {@linkcode keepShapes} holds on to, and a writer and an
 * emitter of the process's life: most writers live only while a section or
 * a check is written, and V8's optimised code for theirs (`u8`, `u32`,
 * `ensure`, the emitter's operators) checks their hidden classes.
 */
const kept: { rewriter?: object; writers: Writer[] } = {
  writers: [new Writer(0), new Emitter(0)],
};

/**
 * Holds on to `rewriter`, a finished rewrite of `size` bytes if that is under
 * 64 kB (as the primer is), until the next such one takes its place: its
 * objects keep the rewriter's hidden classes alive. V8's optimised code
 * for the rewriter checks the classes of the objects it meets, and throws
 * that code away when a full garbage collection finds no object of them
 * left; with every rewrite's objects gone by then, the hot loops were
 * compiled again after nearly every load. What a rewrite under 64 kB holds
 * stays under 1 MB (0.47 MB of heap for a 52 kB input).
 *
 * @param rewriter The rewrite's `ModuleRewriter`, after its run.
 * @param size Its input's size.
 *
 * @example Usage
 * ```ts
 * import { keepShapes } from "./primer.ts";
 *
 * keepShapes({}, 100);
 * ```
 */
export function keepShapes(rewriter: object, size: number): void {
  if (size < PRIME_ABOVE) kept.rewriter = rewriter;
}

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
  // The pauses inside a long body come every few bytes, so that the
  // primer's short bodies meet them too.
  BODY_STEPS.bytes = PRIMER_STEP_BYTES;
  BODY_STEPS.copy = PRIMER_STEP_BYTES;
  try {
    // Twice: V8 records what a function meets only from its ninth call on,
    // and the primer calls some functions only a few times.
    const bytes = primerBytes();
    rewrite(bytes);
    rewrite(bytes);
  } catch {
    // Only a warm-up: the input's own rewrite reports what is wrong.
  } finally {
    BODY_STEPS.bytes = STEP_BYTES;
    BODY_STEPS.copy = COPY_STEP_BYTES;
  }
}
