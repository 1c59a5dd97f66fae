/**
 * What the rewriter adds to every module besides the checks: the
 * `out_of_fuel` import, the slow path that calls it (or, when checks
 * cannot resume, the trap path), their types, and the fuel counter.
 *
 * @module
 */

import {
  type StopFlagTargets,
  writeAskHost,
  writeFlagCheck,
} from "./checks.ts";
import { Emitter } from "./emitter.ts";
import type { Writer } from "./writer.ts";

/** The field name of the added import. */
export const IMPORT_NAME = "out_of_fuel";

/** `(func (param i64 i64) (result i64))`: the slow path. */
export const SLOW_TYPE: Uint8Array = Uint8Array.from([
  0x60,
  0x02,
  0x7e,
  0x7e,
  0x01,
  0x7e,
]);
/** `(func (param i64 i64))`: the failure path of a check that cannot resume. */
export const TRAP_TYPE: Uint8Array = Uint8Array.from([
  0x60,
  0x02,
  0x7e,
  0x7e,
  0x00,
]);
/**
 * `(func (param i64) (result i64))`: the type of a check's `if`, which
 * takes the fuel left and gives it back, replaced in its failure arm.
 */
export const FUEL_TYPE: Uint8Array = Uint8Array.from([
  0x60,
  0x01,
  0x7e,
  0x01,
  0x7e,
]);
/**
 * `(func (param i64 i64) (result i64))`: `out_of_fuel`, the slow path's own
 * type, since the slow path hands its arguments on and returns the answer.
 */
export const IMPORT_TYPE: Uint8Array = SLOW_TYPE;

/**
 * `$slow(fuel, cost)`: stores the fuel the failed check left in the
 * counter (a check keeps it in a local), then
 * `fuel = out_of_fuel(fuel, cost)`, stored and returned, and a trap if
 * that is negative.
 *
 * With `flag`, the checks at function entries and loop headers test the
 * stop flag in the same `if` as the fuel, so the slow path is also called
 * with fuel left. It answers the flag first, as a check of its own before
 * the fuel's would: the counter holds the fuel from before the check
 * (`fuel + cost`) while `on_stop_flag` runs, which may stop the guest there
 * or change the counter, and the fuel is read back from it after. Then
 * only fuel below 0 asks `out_of_fuel`.
 *
 * @param outOfFuel The index of the `out_of_fuel` import.
 * @param fuelGlobal The index of the counter.
 * @param flag The stop flag's memory and callback, if checks fuse it.
 * @returns The body with its size prefix.
 *
 * @example Usage
 * ```ts
 * import { slowBody } from "./added_functions.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(slowBody(0, 0)[0], 27); // its size
 * ```
 */
export function slowBody(
  outOfFuel: number,
  fuelGlobal: number,
  flag?: { readonly memory: number; readonly onStopFlag: number },
): Uint8Array {
  const e = new Emitter(80);
  e.u32(0); // no locals
  if (flag) {
    e.i32Const(0);
    e.flagLoad(flag.memory);
    e.ifEmpty();
    e.localGet(0);
    e.localGet(1);
    e.i64Add();
    e.globalSet(fuelGlobal);
    writeAskHost(e, flag.onStopFlag);
    e.globalGet(fuelGlobal);
    e.localGet(1);
    e.i64Sub();
    e.localSet(0);
    e.end();
    e.localGet(0);
    e.i64Const(0);
    e.i64LtS();
    e.ifEmpty();
  }
  e.localGet(0);
  e.globalSet(fuelGlobal);
  e.localGet(0);
  e.localGet(1);
  e.call(outOfFuel);
  e.localTee(0);
  e.globalSet(fuelGlobal);
  e.localGet(0);
  e.i64Const(0);
  e.i64LtS();
  e.ifEmpty();
  e.unreachable();
  e.end();
  if (flag) e.end();
  e.localGet(0);
  e.end();
  return e.sized();
}

/**
 * `$trap(fuel, cost)`, the failure path of a check that cannot resume,
 * kept out of line so that small functions stay small enough for V8 to
 * inline: it folds the fuel the guest had before the check,
 * `fuel + cost`, to `-1 - (fuel + cost)` in the counter, unless the
 * counter is folded already, then traps.
 *
 * @param fuelGlobal The index of the counter.
 * @returns The body with its size prefix.
 *
 * @example Usage
 * ```ts
 * import { trapBody } from "./added_functions.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(trapBody(0)[0], 22); // its size
 * ```
 */
export function trapBody(fuelGlobal: number): Uint8Array {
  const e = new Emitter(40);
  e.u32(0); // no locals
  // Folded already: a check that runs after the trap (the glue's cleanup
  // calling back in) must not unfold it, which would grant the fuel again.
  e.globalGet(fuelGlobal);
  e.i64Const(0);
  e.i64LtS();
  e.ifEmpty();
  e.unreachable();
  e.end();
  e.i64Const(-1);
  e.localGet(0);
  e.localGet(1);
  e.i64Add();
  e.i64Sub();
  e.globalSet(fuelGlobal);
  e.unreachable();
  e.end();
  return e.sized();
}

/**
 * The counter's global entry: `(global (mut i64) (i64.const initialFuel))`.
 *
 * @param w The global section's contents.
 * @param initialFuel The counter's starting value.
 *
 * @example Usage
 * ```ts
 * import { writeFuelGlobal } from "./added_functions.ts";
 * import { Writer } from "./writer.ts";
 * import assert from "node:assert/strict";
 *
 * const w = new Writer();
 * writeFuelGlobal(w, 0n);
 * assert.deepEqual([...w.finish()], [0x7e, 0x01, 0x42, 0x00, 0x0b]);
 * ```
 */
export function writeFuelGlobal(w: Writer, initialFuel: bigint): void {
  w.u8(0x7e); // i64
  w.u8(0x01); // mutable
  const init = new Emitter(12);
  init.i64Const(initialFuel);
  init.end();
  w.copy(init.buf, 0, init.len);
}

/** The type `[] -> []` of {@linkcode flagCheckBody}. */
export const FLAG_CHECK_TYPE: Uint8Array = Uint8Array.from([0x60, 0x00, 0x00]);

/**
 * The body of the added function that reads the stop flag for a body of
 * many locals (see `WIDE_LOCALS` in `locals_cost.ts`): the flag's check as
 * it stands inline, `if (flag != 0) { if (on_stop_flag()) unreachable }`,
 * in a function of no locals, whose compile carries none into its branch.
 *
 * @param flag The flag's memory and callback.
 * @returns The body, size prefix included.
 *
 * @example Usage
 * ```ts
 * import { flagCheckBody } from "./added_functions.ts";
 * import assert from "node:assert/strict";
 *
 * const body = flagCheckBody({ memory: 1, onStopFlag: 0 });
 * assert.equal(body[0], body.length - 1); // the size prefix
 * assert.equal(body[1], 0); // no locals
 * assert.equal(body.at(-1), 0x0b); // end
 * ```
 */
export function flagCheckBody(flag: StopFlagTargets): Uint8Array {
  const e = new Emitter(24);
  e.u32(0); // no locals
  writeFlagCheck(e, flag);
  e.end();
  return e.sized();
}
