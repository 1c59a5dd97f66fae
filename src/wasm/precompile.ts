/**
 * The functions dear to compile, and an added export that calls them, so
 * that a host can have the engine compile them before a call needs them.
 *
 * V8 compiles a function at its first call, on the calling thread, and no
 * check runs until that compile ends: a deadline that falls in it waits
 * for it (a function of 1,024 `v128` locals and 42 `if`s took 4 to 7 ms of
 * thread CPU, most of it page faults of the compiler's 1.6 MB of memory).
 * The engine shares a compiled module's code between every instance of it,
 * on any thread, so a host can instantiate the module elsewhere, its stop
 * flag set, and call this export once per function: each function is
 * compiled as it is entered and traps at its entry check, running nothing.
 *
 * @module
 */

import type { ModuleInfo } from "./module.ts";
import { MAX_COMPILE_COST, MAX_COMPILE_UNITS } from "./scan_limits.ts";
import { Writer } from "./writer.ts";

/**
 * The compile units (see `MAX_COMPILE_UNITS`) past which a function counts
 * as dear to compile: an eighth of the limit, about a millisecond of a
 * quiet core.
 */
export const PRECOMPILE_UNITS = MAX_COMPILE_UNITS / 8;

/**
 * The compile cost (see `MAX_COMPILE_COST`) past which a function counts as
 * dear to compile: an eighth of the limit.
 */
export const PRECOMPILE_COST = MAX_COMPILE_COST / 8;

/** The parameter types the added export can pass a zero of. */
const ZEROS: Record<string, number[]> = {
  i32: [0x41, 0],
  i64: [0x42, 0],
  f32: [0x43, 0, 0, 0, 0],
  f64: [0x44, 0, 0, 0, 0, 0, 0, 0, 0],
  v128: [0xfd, 0x0c, ...new Array(16).fill(0)],
};

/**
 * The defined functions that are dear to compile, by their scan's counts.
 *
 * @example Usage
 * ```ts
 * import { DearFunctions, PRECOMPILE_UNITS } from "./precompile.ts";
 * import assert from "node:assert/strict";
 *
 * const dear = new DearFunctions();
 * dear.note(3, PRECOMPILE_UNITS + 1, 10);
 * dear.note(4, 10, 10);
 * assert.deepEqual(dear.indices, [3]);
 * ```
 */
export class DearFunctions {
  readonly #indices = new Set<number>();

  /**
   * Notes a scanned body (again, when it is scanned twice).
   *
   * @param functionIndex The function's original index.
   * @param units Its compile units.
   * @param cost Its compile cost.
   */
  note(functionIndex: number, units: number, cost: number): void {
    if (units > PRECOMPILE_UNITS || cost > PRECOMPILE_COST) {
      this.#indices.add(functionIndex);
    }
  }

  /** The dear functions' original indices, in order. */
  get indices(): number[] {
    return [...this.#indices].sort((a, b) => a - b);
  }
}

/** The added export's type: `(param i32)`. */
export const PRECOMPILE_TYPE: Uint8Array = new Uint8Array([0x60, 1, 0x7f, 0]);

/**
 * The body of the added function (its size prefix included) that calls
 * the `k`th of `functions` when given `k`, with zeros for its parameters,
 * and drops what it returns. Functions whose parameters are not all
 * numbers or vectors are left out: what is left, in order, is returned.
 *
 * @param info The module.
 * @param functions The dear functions' original indices.
 * @returns The body and the functions it calls, or `undefined` if none.
 *
 * @example Usage
 * ```ts
 * import { precompileBody } from "./precompile.ts";
 * import { ModuleInfo } from "./module.ts";
 * import assert from "node:assert/strict";
 *
 * const info = new ModuleInfo();
 * assert.equal(precompileBody(info, []), undefined);
 * ```
 */
export function precompileBody(
  info: ModuleInfo,
  functions: readonly number[],
): { bytes: Uint8Array; functions: number[] } | undefined {
  const code = new Writer(64);
  code.u8(0); // no locals
  const called: number[] = [];
  for (const index of functions) {
    const signature = info.typeSignatures[info.functionTypes[index]!];
    if (signature === undefined) continue;
    if (!signature.params.every((type) => ZEROS[type] !== undefined)) continue;
    // `if (k == param) { call f(0, ...); drop ...; return }`
    code.u8(0x20);
    code.u32(0);
    code.u8(0x41);
    code.s64(called.length);
    code.u8(0x46);
    code.u8(0x04);
    code.u8(0x40);
    for (const type of signature.params) {
      code.bytes(Uint8Array.from(ZEROS[type]!));
    }
    code.u8(0x10);
    code.u32(info.shiftFunction(index));
    for (let i = 0; i < signature.results.length; i++) code.u8(0x1a);
    code.u8(0x0f);
    code.u8(0x0b);
    called.push(index);
  }
  if (called.length === 0) return undefined;
  code.u8(0x0b);
  const body = code.finish();
  const w = new Writer(body.length + 5);
  w.u32(body.length);
  w.bytes(body);
  return { bytes: w.finish(), functions: called };
}
