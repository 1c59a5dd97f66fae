/**
 * The checks: the one instruction sequence that takes a cost from the fuel
 * and leaves for the slow path when the fuel is spent, and the one that
 * reads the stop flag. Plain checks, run-time charges before bulk
 * operators and the checks inside register copies are all written here. `docs/rewriter.md` explains the design.
 *
 * @module
 */

import type { Emitter } from "./emitter.ts";

/** What the stop flag's check refers to. */
export interface StopFlagTargets {
  /** The index of the shared memory whose first byte is the flag. */
  readonly memory: number;
  /** The index of the `on_stop_flag` import. */
  readonly onStopFlag: number;
  /**
   * Whether a set flag traps at once instead of asking `on_stop_flag`: a
   * loop with a call in it, even one that never runs, is optimised much
   * worse by V8.
   */
  readonly traps?: boolean;
  /**
   * The most bytes one GC array allocated by length may take; a longer
   * one traps as too large (see `array_new_cap.ts`). Without it, any.
   */
  readonly arrayBytes?: number;
}

/** What every check refers to. */
export interface CheckTargets {
  /** The index of the fuel counter global. */
  readonly fuelGlobal: number;
  /** The index of the added slow-path function. */
  readonly slowFunction: number;
  /**
   * Whether a failed check calls the slow path with the counter and the
   * cost (which can hand out more fuel and resume), or calls the trap path,
   * which folds the fuel and traps.
   */
  readonly resumable: boolean;
  /**
   * With a stop flag, the flag's memory and callback; function entries and
   * loop headers then check the flag as well as the fuel.
   */
  readonly stopFlag?: StopFlagTargets;
  /**
   * The index of a function type `[i64] -> [i64]`, best below 64 (a
   * one-byte block type): a check whose cost is a constant then hands the
   * fuel left to its `if` as a parameter, which the failure arm replaces
   * (see {@linkcode writeCheck}). Without it, checks keep the fuel in a
   * local across the `if`.
   */
  readonly fuelType?: number;
}

/** Where the fuel is while a check runs. */
export interface FuelPlace {
  /**
   * The local that holds the fuel: a scratch copy of the counter global in
   * a plain check, or the fuel itself in a register copy.
   */
  readonly local: number;
  /** Whether the fuel lives in `local` (a register copy) and not in the global. */
  readonly inRegister: boolean;
  /**
   * With the fuel in a register: whether the check first reads it from the
   * counter (at function entry and after a call, where the caller, the
   * callee or the host may have changed the counter).
   */
  readonly load?: boolean;
  /**
   * With the fuel in a register: whether the check writes the fuel to the
   * counter once it passes, because its segment can trap, call or leave
   * the function, where the counter must be exact.
   */
  readonly sync?: boolean;
  /**
   * Whether the check also reads the stop flag (at a function entry or a
   * loop header): one test, `(fuel < margin) | flag`, and one failure arm,
   * whose slow path answers the flag before the fuel (see `slowBody`).
   */
  readonly flag?: boolean;
}

/**
 * A check's cost: a constant, or (for a run-time charge) an `i64` local.
 */
export type CheckCost = number | { readonly local: number };

function pushCost(e: Emitter, cost: CheckCost): void {
  if (typeof cost === "number") e.i64Const(cost);
  else e.localGet(cost.local);
}

/**
 * Writes a check: `fuel -= cost; if (fuel < 0) fuel = slow(fuel, cost)`.
 *
 * The fuel is in `fuel.local`: read from the counter first when the check
 * loads it (or the body keeps its fuel in the counter), written to the
 * counter after when the check syncs it (likewise). The slow path stores
 * the fuel it is given in the counter, then asks the host (resumable: it
 * returns the fuel the host hands out, or traps) or folds the counter and
 * traps. A check that also reads the stop flag (`fuel.flag`) tests
 * `(fuel < 0) | flag`: its slow path is then also called with fuel left,
 * and answers the flag first.
 *
 * @param e The output.
 * @param targets The counter and the slow path.
 * @param fuel Where the fuel is.
 * @param cost What the check takes.
 * @param margin How much fuel must be left over after `cost` (a constant
 *   cost only): the check then also pays in advance for what follows
 *   without a test of its own, by testing `fuel < margin`; a slow path
 *   that asks the host asks for `cost + margin`.
 * @returns Where the check's `if` is in `e`, for the branch hints.
 *
 * @example Usage
 * ```ts
 * import { writeCheck } from "./checks.ts";
 * import { Emitter } from "./emitter.ts";
 * import assert from "node:assert/strict";
 *
 * const e = new Emitter(32);
 * const targets = { fuelGlobal: 0, slowFunction: 1, resumable: true };
 * const ifAt = writeCheck(e, targets, { local: 2, inRegister: false }, 5);
 * assert.equal(e.buf[ifAt], 0x04);
 * ```
 */
export function writeCheck(
  e: Emitter,
  targets: CheckTargets,
  fuel: FuelPlace,
  cost: CheckCost,
  margin = 0,
): number {
  const { fuelGlobal, slowFunction, resumable } = targets;
  const f = fuel.local;
  // A trapping check's arm never returns: the older shape is as short
  // without a write of the fuel after the `if`, and QuickJS ran it no
  // slower.
  if (targets.fuelType !== undefined && margin === 0 && resumable) {
    return writeTypedCheck(e, targets.fuelType, targets, fuel, cost);
  }
  if (fuel.inRegister && !fuel.load) e.localGet(f);
  else e.globalGet(fuelGlobal);
  pushCost(e, cost);
  e.i64Sub();
  e.localTee(f);
  e.i64Const(margin);
  e.i64LtS();
  if (fuel.flag) {
    e.i32Const(0);
    e.flagLoad(targets.stopFlag!.memory);
    e.i32Or();
  }
  const ifAt = e.ifEmpty();
  e.localGet(f);
  if (margin > 0 && resumable) {
    // The host sees a demand of `cost + margin`, and what it hands out
    // is what is left after that: the margin comes back on top.
    e.i64Const(margin);
    e.i64Sub();
    e.i64Const((cost as number) + margin);
    e.call(slowFunction);
    e.i64Const(margin);
    e.i64Add();
  } else {
    // Folding the counter needs only what was left before the check.
    pushCost(e, cost);
    e.call(slowFunction);
  }
  if (resumable) e.localSet(f);
  // The trap path never returns. Saying so keeps V8 from merging the arm
  // back into the code after the check: a tight loop ran 1.59 times plain
  // without this `unreachable` and 1.37 with it.
  else e.unreachable();
  e.end();
  if (!fuel.inRegister || fuel.sync) {
    e.localGet(f);
    e.globalSet(fuelGlobal);
  }
  return ifAt;
}

/**
 * {@linkcode writeCheck} of a resumable check with the fuel left passed
 * through the `if`:
 * `fuel - cost`, then `fuel < cost` (the same test as `fuel - cost < 0`
 * wherever the subtraction does not wrap; where it would, the slow path
 * is called with the wrapped fuel),
 * then `if [i64] -> [i64]`, whose failure arm replaces the fuel left with
 * the slow path's answer; the fuel left is then stored, in the local or
 * the counter. Two bytes shorter a check than a local read in the arm and
 * again after it, and one local write fewer.
 */
function writeTypedCheck(
  e: Emitter,
  fuelType: number,
  targets: CheckTargets,
  fuel: FuelPlace,
  cost: CheckCost,
): number {
  const { fuelGlobal, slowFunction } = targets;
  const f = fuel.local;
  const fromCounter = !fuel.inRegister || fuel.load;
  for (let i = 0; i < 2; i++) {
    if (fromCounter) e.globalGet(fuelGlobal);
    else e.localGet(f);
    pushCost(e, cost);
    if (i === 0) e.i64Sub();
    else e.i64LtS();
  }
  if (fuel.flag) {
    e.i32Const(0);
    e.flagLoad(targets.stopFlag!.memory);
    e.i32Or();
  }
  const ifAt = e.ifOfType(fuelType);
  pushCost(e, cost);
  e.call(slowFunction);
  e.end();
  if (!fuel.inRegister) e.globalSet(fuelGlobal);
  else if (fuel.sync) {
    e.localTee(f);
    e.globalSet(fuelGlobal);
  } else e.localSet(f);
  return ifAt;
}

/**
 * Writes the stop flag's check:
 * `if (flag != 0) { if (on_stop_flag()) unreachable }`, or, when it
 * traps, `if (flag != 0) unreachable`. The host sets the flag from any
 * thread; the callback decides, and returns 1 to stop the guest (with a
 * trap no guest can catch) or 0 to let it go on. The load is
 * atomic so that the engine cannot hoist it out of a loop.
 *
 * In a register copy, the fuel is written to the counter before the
 * callback (which may read it, or leave it as the guest's last word when
 * the guest stops) and read back after it.
 *
 * @param e The output.
 * @param flag The flag's memory and callback.
 * @param register In a register copy: the fuel's local and the counter.
 * @returns Where the check's outer `if` is in `e`, for the branch hints.
 *
 * @example Usage
 * ```ts
 * import { writeFlagCheck } from "./checks.ts";
 * import { Emitter } from "./emitter.ts";
 * import assert from "node:assert/strict";
 *
 * const e = new Emitter(32);
 * const ifAt = writeFlagCheck(e, { memory: 1, onStopFlag: 0 });
 * assert.equal(e.buf[ifAt], 0x04);
 * ```
 */
export function writeFlagCheck(
  e: Emitter,
  flag: StopFlagTargets,
  register?: { readonly local: number; readonly fuelGlobal: number },
): number {
  e.i32Const(0);
  e.flagLoad(flag.memory);
  const ifAt = e.ifEmpty();
  if (register) {
    e.localGet(register.local);
    e.globalSet(register.fuelGlobal);
  }
  if (flag.traps) {
    e.unreachable();
    e.end();
    return ifAt;
  }
  writeAskHost(e, flag.onStopFlag);
  if (register) {
    e.globalGet(register.fuelGlobal);
    e.localSet(register.local);
  }
  e.end();
  return ifAt;
}

/**
 * Asks the host whether to stop: calls `on_stop_flag` (index `onStopFlag`)
 * and traps with `unreachable` when it answers 1. Every place that asks
 * the host rather than trapping on the flag at once ends this way, so the
 * guest cannot catch the stop.
 *
 * @example
 * ```ts
 * import { Emitter } from "./emitter.ts";
 * import { writeAskHost } from "./checks.ts";
 * import assert from "node:assert/strict";
 *
 * const e = new Emitter(8);
 * writeAskHost(e, 0);
 * assert.deepEqual([...e.finish()], [0x10, 0x00, 0x04, 0x40, 0x00, 0x0b]);
 * ```
 */
export function writeAskHost(e: Emitter, onStopFlag: number): void {
  e.call(onStopFlag);
  e.ifEmpty();
  e.unreachable();
  e.end();
}

/**
 * Where in the flag memory the added functions that stand in for
 * operators the engine runs as calls of its runtime (`memory.grow`,
 * `table.grow`, the waits, `memory.atomic.notify`) count those calls: a
 * word of the flag memory's page, which only the guest's own thread
 * writes, past the flag's.
 */
export const RUNTIME_CALLS_AT = 4;

/**
 * How many such runtime calls go between two polls of the host, which
 * reads the call's deadline and StopSignal by this thread's clock. Each
 * costs the guest's own check one unit or so but the engine 0.3 to 1.5 µs,
 * so that a loop of them spent a backstop slice of fuel in 8 to 167 ms
 * where the watchdog's flag came late (or not at all); 256 of them take
 * 0.4 ms at most, for a poll of about a microsecond.
 */
export const RUNTIME_CALLS_PER_POLL = 256;

/**
 * Counts one runtime call in the flag memory's word at
 * {@linkcode RUNTIME_CALLS_AT}, and asks the host (a poll, the flag being
 * clear) at every {@linkcode RUNTIME_CALLS_PER_POLL}th: a loop of such
 * calls then meets the host's clock as often as a loop of arithmetic
 * meets a backstop slice's end, whether or not the guest counts fuel.
 *
 * @example
 * ```ts
 * import { Emitter } from "./emitter.ts";
 * import { writeRuntimeCallCount } from "./checks.ts";
 * import assert from "node:assert/strict";
 *
 * const e = new Emitter(32);
 * writeRuntimeCallCount(e, { memory: 1, onStopFlag: 0 });
 * // A load of the count from memory 1, at offset 4.
 * assert.deepEqual([...e.finish().subarray(4, 9)], [0x28, 0x42, 1, 4, 0x41]);
 * ```
 */
export function writeRuntimeCallCount(e: Emitter, flag: StopFlagTargets): void {
  writeRuntimeWorkCount(e, flag, () => e.i32Const(1));
}

/**
 * Counts `units` (1 to 255, which `pushUnits` pushes as an `i32`) of work
 * in the flag memory's word at {@linkcode RUNTIME_CALLS_AT}, as
 * {@linkcode writeRuntimeCallCount} counts one, and asks the host (a poll,
 * the flag being clear) whenever the count passes a multiple of
 * {@linkcode RUNTIME_CALLS_PER_POLL}: its low byte is then below `units`.
 *
 * @example
 * ```ts
 * import { Emitter } from "./emitter.ts";
 * import { writeRuntimeWorkCount } from "./checks.ts";
 * import assert from "node:assert/strict";
 *
 * const e = new Emitter(48);
 * writeRuntimeWorkCount(e, { memory: 1, onStopFlag: 0 }, () => e.i32Const(16));
 * // A load of the count from memory 1, at offset 4.
 * assert.deepEqual([...e.finish().subarray(4, 9)], [0x28, 0x42, 1, 4, 0x41]);
 * ```
 */
export function writeRuntimeWorkCount(
  e: Emitter,
  flag: StopFlagTargets,
  pushUnits: () => void,
): void {
  e.i32Const(0);
  e.i32Const(0);
  e.i32Load(flag.memory, RUNTIME_CALLS_AT);
  pushUnits();
  e.i32Add();
  e.i32Store(flag.memory, RUNTIME_CALLS_AT);
  e.i32Const(0);
  e.i32Load(flag.memory, RUNTIME_CALLS_AT);
  e.i32Const(RUNTIME_CALLS_PER_POLL - 1);
  e.i32And();
  pushUnits();
  e.i32LtU();
  e.ifEmpty();
  writeAskHost(e, flag.onStopFlag);
  e.end();
}

/**
 * The most a run-time charge of a 64-bit operand costs: 2^48 units, the
 * reach of a 64-bit memory (2^48 pages, or 2^48 bytes far past what any
 * engine maps), so that the product never wraps and an operand no operator
 * could act on (`memory.grow` by -1, a `memory.fill` of 2^64 - 1 bytes) is
 * charged no more than a host with an unbounded budget holds at once (a
 * trapping guest's tank is 2^52): it then fails or traps as the operator
 * does, rather than running out of fuel.
 */
export const MAX_WIDE_CHARGE = 1n << 48n;

/** The locals a run-time charge uses, after the body's own. */
export interface ChargeLocals {
  /** `$f: i64`, the check's scratch. */
  readonly scratch: number;
  /** `$d: i64`, the amount to charge. */
  readonly amount: number;
  /** `$n: i32`, a 32-bit operand. */
  readonly operand32: number;
}

/**
 * Writes the run-time charge before a bulk operator: `unit` times the
 * operand on top of the stack (which stays there), capped at
 * {@linkcode MAX_WIDE_CHARGE} for a 64-bit operand, then a check of that
 * amount.
 *
 * @param e The output.
 * @param targets The counter and the slow path.
 * @param locals The added locals.
 * @param is64 Whether the operand is an `i64`.
 * @param unit The cost per unit of the operand.
 * @param inRegister Whether the body keeps its fuel in `locals.scratch`.
 * @returns Where the check's `if` is in `e`.
 *
 * @example Usage
 * ```ts
 * import { writeBulkCharge } from "./checks.ts";
 * import { Emitter } from "./emitter.ts";
 * import assert from "node:assert/strict";
 *
 * const e = new Emitter(64);
 * const targets = { fuelGlobal: 0, slowFunction: 1, resumable: false };
 * const locals = { scratch: 1, amount: 2, operand32: 3 };
 * const ifAt = writeBulkCharge(e, targets, locals, false, 1);
 * assert.equal(e.buf[ifAt], 0x04);
 * ```
 */
export function writeBulkCharge(
  e: Emitter,
  targets: CheckTargets,
  locals: ChargeLocals,
  is64: boolean,
  unit: number,
  inRegister = false,
): number {
  const d = locals.amount;
  if (is64) {
    e.localTee(d);
    e.i64Const(MAX_WIDE_CHARGE);
    e.localGet(d);
    if (unit !== 1) {
      e.i64Const(unit);
      e.i64Mul();
    }
    e.localGet(d);
    e.i64Const(MAX_WIDE_CHARGE / BigInt(unit));
    e.i64GtU();
    e.select(); // saturate instead of wrapping
    e.localSet(d);
  } else {
    e.localTee(locals.operand32);
    e.localGet(locals.operand32);
    e.i64ExtendI32U();
    if (unit !== 1) {
      e.i64Const(unit);
      e.i64Mul();
    }
    e.localSet(d);
  }
  return writeCheck(
    e,
    targets,
    // With the fuel in a register, the charge writes it back: the
    // operator after it can trap.
    { local: locals.scratch, inRegister, sync: inRegister },
    { local: d },
  );
}

/** The locals a grow's refund uses. */
export interface RefundLocals {
  /** The fuel's local (`$f`): the fuel itself, or a scratch copy. */
  readonly fuel: number;
  /** The charge the grow was given (`$d`). */
  readonly amount: number;
  /** Where the grow's result is kept while it is tested (`$n` or `$r`). */
  readonly result: number;
}

/**
 * Writes the refund after a `memory.grow` or `table.grow` charged at run
 * time: when the grow failed (it returned -1, having added nothing), its
 * charge goes back to the fuel, so that a failed grow costs what any other
 * operator does. The grow's result stays on the stack.
 *
 * @param e The output.
 * @param targets The counter.
 * @param locals The fuel, the charge and the result's scratch local.
 * @param is64 Whether the grow's result is an `i64` (a 64-bit memory or table).
 * @param inRegister Whether the fuel lives in `locals.fuel` (the counter is
 *   then written too, so that it stays exact should the segment trap).
 *
 * @example Usage
 * ```ts
 * import { writeGrowRefund } from "./checks.ts";
 * import { Emitter } from "./emitter.ts";
 * import assert from "node:assert/strict";
 *
 * const e = new Emitter(32);
 * const targets = { fuelGlobal: 0, slowFunction: 1, resumable: false };
 * writeGrowRefund(e, targets, { fuel: 1, amount: 2, result: 3 }, false, true);
 * assert.equal(e.finish()[0], 0x22); // local.tee of the result
 * ```
 */
export function writeGrowRefund(
  e: Emitter,
  targets: CheckTargets,
  locals: RefundLocals,
  is64: boolean,
  inRegister: boolean,
): void {
  e.localTee(locals.result);
  e.localGet(locals.result);
  if (is64) {
    e.i64Const(-1);
    e.i64Eq();
  } else {
    e.i32Const(-1);
    e.i32Eq();
  }
  e.ifEmpty();
  if (inRegister) e.localGet(locals.fuel);
  else e.globalGet(targets.fuelGlobal);
  e.localGet(locals.amount);
  e.i64Add();
  if (inRegister) e.localTee(locals.fuel);
  e.globalSet(targets.fuelGlobal);
  e.end();
}
