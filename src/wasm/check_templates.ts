/**
 * Ready-made checks for the scan (which needs their sizes) and the emitter
 * (which copies them): per number of locals, the check with a one-byte
 * cost, and per body, the run-time charges. Both come from the one check
 * sequence in `checks.ts`.
 *
 * @module
 */

import {
  type CheckTargets,
  writeBulkCharge,
  writeCheck,
  writeFlagCheck,
  writeGrowRefund,
} from "./checks.ts";
import { Emitter } from "./emitter.ts";
import type { Writer } from "./writer.ts";

/** Check variant bit: the check reads the fuel from the counter first. */
export const LOAD = 1;
/** Check variant bit: the check writes the fuel to the counter after. */
export const SYNC = 2;
/**
 * Check variant bit: the check also reads the stop flag, in the same test
 * (function entries and loop headers of a meter whose slow path answers
 * the flag).
 */
export const FUSED = 4;

/**
 * Whether checks at function entries and loop headers can read the stop
 * flag in their own test (see {@linkcode CheckTemplates.fusesFlag}).
 *
 * @param targets The counter, the slow path and the flag.
 * @returns Whether they can.
 *
 * @example Usage
 * ```ts
 * import { fusesFlag } from "./check_templates.ts";
 * import assert from "node:assert/strict";
 *
 * const stopFlag = { memory: 1, onStopFlag: 0 };
 * const targets = { fuelGlobal: 0, slowFunction: 1, resumable: true };
 * assert.equal(fusesFlag({ ...targets, stopFlag }), true);
 * assert.equal(fusesFlag(targets), false);
 * ```
 */
export function fusesFlag(targets: CheckTargets): boolean {
  return targets.stopFlag !== undefined && !targets.stopFlag.traps &&
    targets.resumable;
}

/** A check with a one-byte cost, for bodies with a given number of locals. */
export interface PreparedCheck {
  /** The check, with cost 0. */
  readonly template: Uint8Array;
  /** `template` as little-endian words, for fast copying. */
  readonly words: Uint32Array;
  /**
   * Where the cost goes in `template`: in the subtraction, the test (when
   * the check compares the fuel with it) and the slow path's argument.
   */
  readonly costAt: readonly number[];
  /** `costAt[0]`, for the emitter's fast path. */
  readonly firstCostAt: number;
  /** `costAt[1]`, for the emitter's fast path. */
  readonly secondCostAt: number;
  /** The last of `costAt`, for the emitter's fast path. */
  readonly lastCostAt: number;
  /** Where the `if` is in `template`. */
  readonly ifAt: number;
  /** The check's size without its costs. */
  readonly fixed: number;
}

/** What {@linkcode CheckTemplates.prepare} makes once per number of locals. */
interface PreparedBody {
  variants: PreparedCheck[];
  sync: Uint8Array;
  reload: Uint8Array;
  flagInRegister: Uint8Array;
  flagInRegisterIfAt: number;
}

/**
 * The checks of the body being scanned or emitted.
 *
 * @example Usage
 * ```ts
 * import { CheckTemplates } from "./check_templates.ts";
 * import assert from "node:assert/strict";
 *
 * const templates = new CheckTemplates({
 *   fuelGlobal: 0,
 *   slowFunction: 1,
 *   resumable: true,
 * });
 * templates.prepare(2);
 * assert.equal(templates.check.costAt.length, 2);
 * ```
 */
export class CheckTemplates {
  readonly #targets: CheckTargets;
  readonly #byLocals = new Map<number, PreparedBody>();
  #preparedFor = -1;
  #preparedInRegister = false;
  /**
   * The checks of the body last prepared for, by variant: bit 0 set, the
   * check reads the counter first ({@linkcode LOAD}); bit 1 set, it writes
   * the counter after ({@linkcode SYNC}); bit 2 set, it also reads the
   * stop flag ({@linkcode FUSED}). A body whose fuel is in the counter
   * has only variants 0 and {@linkcode FUSED}.
   */
  variants: PreparedCheck[] = [];
  /** With the fuel in a register: `local.get $f; global.set $fuel`. */
  sync: Uint8Array = new Uint8Array(0);
  /** With the fuel in a register: `global.get $fuel; local.set $f`. */
  reload: Uint8Array = new Uint8Array(0);
  /**
   * The stop flag's check at a loop header of a body with its fuel in a
   * register, which writes the counter before the callback and reads it
   * after; empty without a flag.
   */
  flagInRegister: Uint8Array = new Uint8Array(0);
  /** Where the `if` is in {@linkcode CheckTemplates.flagInRegister}. */
  flagInRegisterIfAt = 0;
  #charges: (Uint8Array | undefined)[] = [];
  #chargeIfAt: number[] = [];
  #refunds: (Uint8Array | undefined)[] = [];
  /** The check of the body last prepared for. */
  check: PreparedCheck = {
    template: new Uint8Array(0),
    words: new Uint32Array(0),
    costAt: [0],
    firstCostAt: 0,
    secondCostAt: 0,
    lastCostAt: 0,
    ifAt: 0,
    fixed: 0,
  };

  /** The stop flag's check (the same in every body); empty without one. */
  readonly flag: Uint8Array;
  /**
   * Whether checks at function entries and loop headers read the stop flag
   * themselves ({@linkcode FUSED}) rather than after a check of their own:
   * with a flag that asks `on_stop_flag`, fuel counted and a slow path
   * that resumes, which then answers the flag (see `slowBody`).
   */
  readonly fusesFlag: boolean;
  /** Where the `if` is in {@linkcode CheckTemplates.flag}. */
  readonly flagIfAt: number;

  /** @param targets The counter and the slow path. */
  constructor(targets: CheckTargets) {
    this.#targets = targets;
    const flag = new Emitter(16);
    this.flagIfAt = targets.stopFlag
      ? writeFlagCheck(flag, targets.stopFlag)
      : 0;
    this.flag = flag.finish();
    this.fusesFlag = fusesFlag(targets);
  }

  /**
   * Makes {@linkcode CheckTemplates.check} and the run-time charges those of
   * a body with `localCount` locals (the checks name the locals added after
   * them).
   *
   * @param localCount The body's locals, parameters included.
   * @param inRegister Whether the body keeps its fuel in the local `$f`.
   * @returns The check's size without its costs.
   */
  prepare(localCount: number, inRegister = false): number {
    this.#charges.length = 0;
    this.#chargeIfAt.length = 0;
    this.#refunds.length = 0;
    if (
      localCount === this.#preparedFor &&
      inRegister === this.#preparedInRegister
    ) return this.check.fixed;
    this.#preparedFor = localCount;
    this.#preparedInRegister = inRegister;
    // Bodies with the same number of locals share their checks.
    const key = inRegister ? -1 - localCount : localCount;
    let prepared = this.#byLocals.get(key);
    if (prepared === undefined) {
      prepared = this.#prepareFor(localCount, inRegister);
      this.#byLocals.set(key, prepared);
    }
    this.variants = prepared.variants;
    this.check = prepared.variants[0]!;
    this.sync = prepared.sync;
    this.reload = prepared.reload;
    this.flagInRegister = prepared.flagInRegister;
    this.flagInRegisterIfAt = prepared.flagInRegisterIfAt;
    return this.check.fixed;
  }

  #prepareFor(localCount: number, inRegister: boolean): PreparedBody {
    const fuses = this.fusesFlag;
    const variants: PreparedCheck[] = [];
    for (let v = 0; v < (fuses ? 8 : 4); v++) {
      const fused = (v & FUSED) !== 0;
      variants.push(
        inRegister || v === 0 || v === FUSED
          ? this.#make(localCount, inRegister ? v & 3 : -1, fused)
          : variants[v & FUSED]!,
      );
    }
    const prepared: PreparedBody = {
      variants,
      sync: new Uint8Array(0),
      reload: new Uint8Array(0),
      flagInRegister: new Uint8Array(0),
      flagInRegisterIfAt: 0,
    };
    if (!inRegister) return prepared;
    const g = this.#targets.fuelGlobal;
    const sync = new Emitter(12);
    sync.localGet(localCount);
    sync.globalSet(g);
    prepared.sync = sync.finish();
    const reload = new Emitter(12);
    reload.globalGet(g);
    reload.localSet(localCount);
    prepared.reload = reload.finish();
    if (this.#targets.stopFlag) {
      const flag = new Emitter(32);
      prepared.flagInRegisterIfAt = writeFlagCheck(
        flag,
        this.#targets.stopFlag,
        { local: localCount, fuelGlobal: g },
      );
      prepared.flagInRegister = flag.finish();
    }
    return prepared;
  }

  /**
   * The check of cost 0; its costs are where it differs from cost 1.
   * `variant` -1 keeps the fuel in the counter; 0 to 3 keep it in `$f`,
   * with {@linkcode LOAD} and {@linkcode SYNC} bits.
   */
  #make(localCount: number, variant: number, flag: boolean): PreparedCheck {
    const fuel = {
      local: localCount,
      inRegister: variant >= 0,
      load: variant >= 0 && (variant & LOAD) !== 0,
      sync: variant >= 0 && (variant & SYNC) !== 0,
      flag,
    };
    const zero = new Emitter(64);
    const ifAt = writeCheck(zero, this.#targets, fuel, 0);
    const one = new Emitter(64);
    writeCheck(one, this.#targets, fuel, 1);
    const template = zero.finish();
    const costAt: number[] = [];
    for (let i = 0; i < template.length; i++) {
      if (template[i] !== one.buf[i]) costAt.push(i);
    }
    const words = new Uint32Array(template.length >> 2);
    for (let i = 0; i < words.length; i++) {
      const at = 4 * i;
      words[i] = template[at]! | template[at + 1]! << 8 |
        template[at + 2]! << 16 | template[at + 3]! << 24;
    }
    return {
      template,
      words,
      costAt,
      firstCostAt: costAt[0]!,
      secondCostAt: costAt[1] ?? costAt[0]!,
      lastCostAt: costAt[costAt.length - 1]!,
      ifAt,
      fixed: template.length - costAt.length,
    };
  }

  /**
   * Writes the prepared check with a cost of any size: the template with
   * the cost's encoding in place of each one-byte cost.
   *
   * @param w The output.
   * @param cost The cost, up to 2^53 - 1.
   * @param variant Which of {@linkcode CheckTemplates.variants}.
   * @returns Where the check's `if` is, from the check's start.
   */
  writeWithCost(w: Writer, cost: number, variant = 0): number {
    const { template, costAt, ifAt } = this.variants[variant]!;
    let from = 0;
    let ifShift = 0;
    for (const at of costAt) {
      w.copy(template, from, at);
      const before = w.len;
      w.s64(cost);
      if (at < ifAt) ifShift += w.len - before - 1;
      from = at + 1;
    }
    w.copy(template, from, template.length);
    return ifAt + ifShift;
  }

  /**
   * The run-time charge before a bulk operator, in the prepared body.
   *
   * @param is64 Whether the operand is an `i64`.
   * @param unit The cost per unit.
   * @returns The charge's bytes.
   */
  charge(is64: boolean, unit: number): Uint8Array {
    const key = (is64 ? 1 : 0) + 2 * unit;
    const cached = this.#charges[key];
    if (cached) return cached;
    const localCount = this.#preparedFor;
    const e = new Emitter(64);
    const ifAt = writeBulkCharge(
      e,
      this.#targets,
      {
        scratch: localCount,
        amount: localCount + 1,
        operand32: localCount + 2,
      },
      is64,
      unit,
      this.#preparedInRegister,
    );
    const bytes = e.finish();
    this.#charges[key] = bytes;
    this.#chargeIfAt[key] = ifAt;
    return bytes;
  }

  /**
   * The refund after a grow charged at run time, in the prepared body: its
   * result is kept in `$n` (an `i32`) or `$r` (an `i64`, the body's
   * last local) while it is tested.
   *
   * @param is64 Whether the grow's result is an `i64`.
   * @returns The refund's bytes.
   */
  refund(is64: boolean): Uint8Array {
    const key = is64 ? 1 : 0;
    const cached = this.#refunds[key];
    if (cached) return cached;
    const localCount = this.#preparedFor;
    const e = new Emitter(32);
    writeGrowRefund(
      e,
      this.#targets,
      {
        fuel: localCount,
        amount: localCount + 1,
        result: localCount + (is64 ? 3 : 2),
      },
      is64,
      this.#preparedInRegister,
    );
    const bytes = e.finish();
    this.#refunds[key] = bytes;
    return bytes;
  }

  /**
   * Where the `if` of a charge made by {@linkcode CheckTemplates.charge} is.
   *
   * @param is64 Whether the operand is an `i64`.
   * @param unit The cost per unit.
   * @returns The offset in the charge's bytes.
   */
  chargeIfAt(is64: boolean, unit: number): number {
    return this.#chargeIfAt[(is64 ? 1 : 0) + 2 * unit]!;
  }
}
