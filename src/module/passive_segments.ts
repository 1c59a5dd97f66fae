/**
 * What the first read of a guest's passive element segments costs, and the
 * refusal of a guest whose segments cost more than a stop may wait for.
 *
 * The engine evaluates a passive segment whole when a `table.init`,
 * `array.new_elem` or `array.init_elem` first reads it, one entry or all,
 * in one step inside a call that no check interrupts, and a function can
 * read every segment one after the other without a loop between them. So
 * the segments' entries together get a budget of their own, far below the
 * instantiation work's (which bounds a load's holds, not a call's):
 * 33,000 entries of `global.get`, which that budget allowed, held a first
 * call 2.6 to 2.9 ms on a quiet 2-core machine, and of `struct.new_default`
 * 4.1 to 4.9.
 *
 * @module
 */

import { GuestLoadError } from "../errors.ts";
import type { Footprint } from "../wasm/footprint.ts";

/**
 * What each part of a passive segment weighs in
 * {@linkcode passiveFirstReadWork}: about the nanoseconds a first read took
 * for each on a quiet 2-core machine (2,500 to 33,000 entries, the fastest
 * of 9 fresh instances), rounded up.
 */
export const PASSIVE_WEIGHTS = {
  /**
   * An entry after its segment's first: a function index 29 ns, a lone
   * `ref.func` 4.
   */
  entry: 30,
  /**
   * More for an entry the engine evaluates (after its segment's first):
   * `global.get` 53 to 80 ns, `ref.i31` 54 to 82, `struct.new_default` 119
   * to 142.
   */
  evaluatedEntry: 170,
  /**
   * An operator of an entry of more than one (`array.new_default` of an
   * `i32.const` length: 171 to 182 ns for the two).
   */
  operator: 100,
  /**
   * A struct field or array element an entry allocates, the first entry's
   * too: one of a million `v128` elements took 16 to 24 ns to allocate.
   */
  allocatedElement: 20,
} as const;

/**
 * The most {@linkcode passiveFirstReadWork} a guest loaded in this process
 * may have: about a millisecond of a quiet machine's thread for the first
 * reads of all its passive segments together (33,333 function indices,
 * 5,000 `global.get` or `struct.new_default` entries, or 50,000 allocated
 * elements), so that a stop that comes meanwhile lands within the stop
 * bound.
 */
export const MAX_PASSIVE_FIRST_READ_WORK = 1_000_000;

/**
 * The work of first reading every passive element segment of a guest,
 * weighed by {@linkcode PASSIVE_WEIGHTS}.
 *
 * @param footprint The guest's footprint, as its element section's reader
 *   counted it.
 * @returns The weighted sum.
 *
 * @example Usage
 * ```ts
 * import { passiveFirstReadWork } from "./passive_segments.ts";
 * import { newFootprint } from "../wasm/footprint.ts";
 * import assert from "node:assert/strict";
 *
 * const footprint = { ...newFootprint(), passiveEntries: 10 };
 * assert.equal(passiveFirstReadWork(footprint), 300);
 * ```
 */
export function passiveFirstReadWork(footprint: Footprint): number {
  return footprint.passiveEntries * PASSIVE_WEIGHTS.entry +
    footprint.passiveEvaluatedEntries * PASSIVE_WEIGHTS.evaluatedEntry +
    footprint.passiveOperators * PASSIVE_WEIGHTS.operator +
    footprint.passiveAllocatedElements * PASSIVE_WEIGHTS.allocatedElement;
}

/**
 * Refuses a guest whose passive segments' first reads weigh more than
 * {@linkcode MAX_PASSIVE_FIRST_READ_WORK}.
 *
 * @param footprint The guest's footprint.
 * @param label The guest's name in messages.
 * @param hint How else to run it, for the message's fix.
 * @throws {GuestLoadError} With reason `limits`, when they weigh more.
 */
export function checkPassiveFirstReads(
  footprint: Footprint,
  label: string,
  hint: string,
): void {
  const work = passiveFirstReadWork(footprint);
  if (!(work > MAX_PASSIVE_FIRST_READ_WORK)) return;
  throw new GuestLoadError(
    "limits",
    `${label} has passive element segments of ${footprint.passiveEntries} entries after their first (${footprint.passiveEvaluatedEntries} of them evaluated, ${footprint.passiveOperators} operators, ${footprint.passiveAllocatedElements} elements allocated), which weigh ${work} for their first reads, more than the ${MAX_PASSIVE_FIRST_READ_WORK} a guest instantiated in this process may (the engine evaluates a segment whole when a call first reads it, which cannot be stopped)`,
    `give the guest smaller passive segments (function indices are the cheapest entries), or ${hint}`,
  );
}
