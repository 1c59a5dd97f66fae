/**
 * The sizes of the checks a body's plan will have the emitter write, known
 * before they are written so that the output is allocated once at its exact
 * size: a fuel check, one that also tests in advance for the segments a
 * `br_table` leads to (a margin check), and a charge without a test.
 *
 * @module
 */

import { type CheckTemplates, FUSED, LOAD, SYNC } from "./check_templates.ts";
import { writeCheck } from "./checks.ts";
import type { FuelTargets } from "./code_plan.ts";
import { Emitter } from "./emitter.ts";
import { s64Size, u32Size } from "./writer.ts";

/** The sizes of checks, for the body being scanned. */
export class CheckSizes {
  readonly #templates: CheckTemplates;
  readonly #targets: FuelTargets;
  /** The fuel's local in the body being scanned. */
  fuelLocal = 0;
  /** Where margin checks are written to be measured. */
  readonly #scratch = new Emitter(64);
  /**
   * Per check variant, the size of a margin check without its constants
   * (see `marginCheckSize`), for the fuel local `#marginBasesFor`; -1 if
   * not yet measured.
   */
  readonly #marginBases = new Int32Array(8);
  #marginBasesFor = -1;

  /**
   * @param templates The checks, for their sizes.
   * @param targets The added global and function.
   */
  constructor(templates: CheckTemplates, targets: FuelTargets) {
    this.#templates = templates;
    this.#targets = targets;
  }

  /** The size of a check of variant `variant` and cost `cost`. */
  checkSize(variant: number, cost: number): number {
    const check = this.#templates.variants[variant]!;
    return check.fixed + check.costAt.length * s64Size(cost);
  }

  /**
   * The size of a check that also tests for `margin` (above 0): the size
   * of its variant's code without constants, measured once per variant and
   * fuel local, and the constants' sizes (a `br_table` with many targets
   * asks for each target, twice).
   */
  marginCheckSize(kind: number, cost: number, margin: number): number {
    const variant = kind >> 5 & 7;
    if (this.#marginBasesFor !== this.fuelLocal) {
      this.#marginBases.fill(-1);
      this.#marginBasesFor = this.fuelLocal;
    }
    let base = this.#marginBases[variant]!;
    if (base < 0) {
      base = this.#writeMarginCheck(variant, 1, 1) -
        this.#marginConstants(1, 1);
      this.#marginBases[variant] = base;
    }
    return base + this.#marginConstants(cost, margin);
  }

  /**
   * The size of the constants of a margin check (see `writeCheck`): the
   * cost, and with a slow path that resumes, the margin three times and the
   * demand; else the margin and the cost again.
   */
  #marginConstants(cost: number, margin: number): number {
    return s64Size(cost) +
      (this.#targets.resumable
        ? 3 * s64Size(margin) + s64Size(cost + margin)
        : s64Size(margin) + s64Size(cost));
  }

  /** The size of a margin check, written out. */
  #writeMarginCheck(variant: number, cost: number, margin: number): number {
    const e = this.#scratch;
    e.len = 0;
    writeCheck(
      e,
      this.#targets,
      {
        local: this.fuelLocal,
        inRegister: true,
        load: (variant & LOAD) !== 0,
        sync: (variant & SYNC) !== 0,
        flag: (variant & FUSED) !== 0,
      },
      cost,
      margin,
    );
    return e.len;
  }

  /** `local.get $f; i64.const c; i64.sub; local.set $f`, and a sync. */
  chargeSize(cost: number, sync: number): number {
    return 2 * (1 + u32Size(this.fuelLocal)) + 2 + s64Size(cost) +
      (sync ? this.#templates.sync.length : 0);
  }
}
