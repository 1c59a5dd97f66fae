/**
 * A `FuelMeter`'s functions dear to compile, compiled as its instance is
 * attached, before the library's first call needs them.
 *
 * V8 compiles a function at its first call, on the calling thread, and no
 * check runs until that compile ends: a library's first call through
 * `meter.run` compiled its dearest functions itself (QuickJS's two, 1.9
 * and 1.0 ms of thread CPU; sql.js's five), and a stop that fell in that
 * compile waited for it. The meter asks the rewrite for the export that
 * calls each of them (`src/wasm/precompile.ts`), and `attach` calls it on
 * the library's own instance, its stop flag held set, so that each
 * function is compiled and traps at its entry check, running nothing. No
 * stop is watched while a library's own loader compiles and instantiates
 * it (far longer), so the compile lands where it holds nothing up but the
 * load; the first call would have paid it anyway. (A stoppable load has
 * the compile thread do it instead: see `precompile.ts`. For a meter's
 * module, which its loader compiles, the thread would first compile the
 * whole module again, and in a fresh process it boots late: its work fell
 * in the library's first call.)
 *
 * @module
 */

/** How many functions each meter's instances had compiled ahead. */
const compiled = new WeakMap<object, number>();

let refused = false;

/**
 * Keeps loads (and meters) from compiling dear functions ahead, for the tests that
 * measure a first call without it; `false` lets them again.
 *
 * @param refuse Whether to keep them from it.
 *
 * @example Usage
 * ```ts
 * import { refusePrecompile } from "./meter_precompile.ts";
 *
 * refusePrecompile(true);
 * refusePrecompile(false);
 * ```
 */
export function refusePrecompile(refuse: boolean): void {
  refused = refuse;
}

/**
 * Whether loads and meters are kept from compiling dear functions ahead
 * (see {@linkcode refusePrecompile}).
 *
 * @returns Whether they are.
 *
 * @example Usage
 * ```ts
 * import { precompileRefused, refusePrecompile } from "./meter_precompile.ts";
 * import assert from "node:assert/strict";
 *
 * refusePrecompile(true);
 * assert.equal(precompileRefused(), true);
 * refusePrecompile(false);
 * ```
 */
export function precompileRefused(): boolean {
  return refused;
}

/**
 * Calls the rewrite's precompile export once per dear function, the stop
 * flag held set meanwhile; the caller makes the flag's callback and fuel
 * import answer "stop" while it runs.
 *
 * @param meter The meter, for {@linkcode meterPrecompiled}.
 * @param exports The attached instance's exports.
 * @param dear The precompile export and how many functions it calls.
 * @param flag The instance's stop flag.
 * @returns How many calls were made.
 */
export function compileDearFunctions(
  meter: object,
  exports: WebAssembly.Exports,
  dear: { export: string; functions: number },
  flag: Int32Array,
): number {
  const call = exports[dear.export];
  if (typeof call !== "function") return 0;
  const before = Atomics.load(flag, 0);
  Atomics.store(flag, 0, 1);
  try {
    for (let k = 0; k < dear.functions; k++) {
      try {
        call(k);
      } catch {
        // Its entry check's trap, after the engine compiled it.
      }
    }
  } finally {
    Atomics.store(flag, 0, before);
  }
  compiled.set(meter, (compiled.get(meter) ?? 0) + dear.functions);
  return dear.functions;
}

/**
 * How many functions a meter's attached instances had compiled ahead, in
 * all; `undefined` for none. For the tests.
 *
 * @param meter A `FuelMeter`.
 * @returns The count.
 *
 * @example Usage
 * ```ts
 * import { meterPrecompiled } from "./meter_precompile.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(meterPrecompiled({}), undefined);
 * ```
 */
export function meterPrecompiled(meter: object): number | undefined {
  return compiled.get(meter);
}
