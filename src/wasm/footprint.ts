/**
 * What instantiating a module allocates and copies before any of its code
 * runs: its memories' and tables' initial sizes, its active segments, and
 * the GC objects its constant expressions build. The section readers add to
 * it as they go, so that the host can weigh instantiation against a fuel
 * budget before the engine does any of that work.
 *
 * @module
 */

import type { CostModel } from "./costs.ts";

/** The static work of instantiating a module, in the cost model's units. */
export interface Footprint {
  /** The initial pages of the memories the module defines. */
  memoryPages: number;
  /** The initial elements of the tables the module defines. */
  tableElements: number;
  /** The bytes its active data segments copy. */
  dataBytes: number;
  /** The entries its active element segments copy. */
  elementEntries: number;
  /**
   * The entries of its passive element segments after each one's first:
   * the engine evaluates a whole segment at once when a `table.init`,
   * `array.new_elem` or `array.init_elem` first reads it, however few
   * entries that operator takes (a segment's first entry is counted with
   * the segment itself).
   */
  passiveEntries: number;
  /**
   * Of `passiveEntries`, those given by an expression the engine evaluates
   * (anything but a function index or a lone `ref.func` or `ref.null`).
   */
  passiveEvaluatedEntries: number;
  /**
   * The operators of the passive segments' entries of more than one
   * operator, each evaluated at the first read.
   */
  passiveOperators: number;
  /**
   * The struct fields and array elements the passive segments' entries
   * allocate at the first read, their first entries' too.
   */
  passiveAllocatedElements: number;
  /**
   * Struct fields and array elements its constant expressions allocate
   * (global, table and element initializers).
   */
  allocatedElements: number;
  /**
   * Of `allocatedElements`, those the module does not spell out one by one:
   * the lengths of `array.new` and `array.new_default` and the fields of
   * `struct.new_default`, where a few bytes of the module can ask for
   * millions of elements.
   */
  sizedElements: number;
  /**
   * Set when a constant expression allocates an amount only known at
   * instantiation (a length read from an imported global), or uses an
   * operator whose effect is not modelled: its work is then unbounded.
   */
  unbounded: boolean;
  /**
   * Globals initialized by a lone `i32.const` or `ref.null`, which the
   * engine stores as it decodes them.
   */
  plainGlobals: number;
  /** Globals initialized by a lone `ref.func`: each makes a function reference. */
  funcRefGlobals: number;
  /**
   * Globals initialized by any other constant expression, which the engine
   * evaluates one by one as it instantiates.
   */
  evaluatedGlobals: number;
  /**
   * The initial elements of the tables the module defines with an
   * initializer other than a lone `ref.null`, each set to its value.
   */
  filledTableElements: number;
  /**
   * The operators of its constant expressions of more than one operator,
   * which the engine validates as it compiles and evaluates one by one as
   * it instantiates (an `array.new_fixed` of 10,000 elements is 10,001).
   */
  evaluatedOperators: number;
}

/**
 * An empty footprint.
 *
 * @returns A footprint with nothing in it.
 *
 * @example Usage
 * ```ts
 * import { newFootprint } from "./footprint.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(newFootprint().memoryPages, 0);
 * ```
 */
export function newFootprint(): Footprint {
  return {
    memoryPages: 0,
    tableElements: 0,
    dataBytes: 0,
    elementEntries: 0,
    passiveEntries: 0,
    passiveEvaluatedEntries: 0,
    passiveOperators: 0,
    passiveAllocatedElements: 0,
    allocatedElements: 0,
    sizedElements: 0,
    unbounded: false,
    plainGlobals: 0,
    funcRefGlobals: 0,
    evaluatedGlobals: 0,
    filledTableElements: 0,
    evaluatedOperators: 0,
  };
}

/**
 * The fuel instantiation costs: pages at `perPage`, bytes at `perByte`,
 * table elements, segment entries and allocated fields or elements at
 * `perElement` (the run-time prices of `memory.grow`, `memory.init`,
 * `table.grow`, `table.init` and `array.new`).
 *
 * @param footprint What instantiation does.
 * @param costs The cost model.
 * @returns Its cost, `Infinity` when unbounded.
 *
 * @example Usage
 * ```ts
 * import { footprintCost, newFootprint } from "./footprint.ts";
 * import { resolveCosts } from "./costs.ts";
 * import assert from "node:assert/strict";
 *
 * const footprint = { ...newFootprint(), memoryPages: 2, dataBytes: 10 };
 * assert.equal(footprintCost(footprint, resolveCosts()), 12);
 * ```
 */
export function footprintCost(footprint: Footprint, costs: CostModel): number {
  if (footprint.unbounded) return Infinity;
  return footprint.memoryPages * costs.perPage +
    footprint.dataBytes * costs.perByte +
    (footprint.tableElements + footprint.elementEntries +
        footprint.allocatedElements) * costs.perElement;
}
