/**
 * How much fuel a metered guest holds at once, and the counter's values
 * that are not fuel: the sizes of the slices a meter hands out, a pending
 * stop's counter, and the fuel the host's own calls into the guest run on.
 *
 * @module
 */

/**
 * The largest slice, about twenty minutes of work. Far below 2^53, so that
 * the sums in the books stay exact as JavaScript numbers; a guest that
 * spends it all just asks for the next one.
 */
export const WHOLE_TANK = 2 ** 40;
/**
 * The most fuel a guest that cannot resume holds at once: everything it will
 * get (about fifty days of work), still exact in the books.
 */
export const TRAPPING_TANK = 2 ** 52;
/**
 * The slice a watched `FuelMeter.run` of a fresh instance gets in its
 * first {@linkcode COLD_CALLS} calls, although its stop flag keeps the
 * deadline: right after a load, the guest's thread and the engine's
 * background compile threads hold the cores, and the watchdog's thread,
 * woken at the deadline, can wait milliseconds for one. At each slice's
 * end the host reads the run's deadline and StopSignal by this thread's
 * clock, so such a stop lands within a slice of work however late the
 * watchdog wakes. Fixed, never tuned from how fast the guest spends it: in
 * a fresh instance's first calls, a slice of QuickJS or SQLite took 0.05
 * ms at the median and 0.1 to 0.2 at the p99 (the first slice of a call
 * 0.3 to 2 ms, with the glue's own start); 250,000 units cost SQLite 2
 * to 5 % of its time there, this size nothing measurable. A guest that
 * games the cost table only makes its slices end sooner; a loop the costs
 * make free is still bounded by the flag alone. Slices leave the fuel a
 * call consumes as it was. A plain `Guest` call gets the same backstop
 * when its guest asks for fuel (one with a start function, which the
 * start function's own call gets too); one whose fuel checks trap when
 * its budget is spent asks for no slices, and the flag alone keeps its
 * deadlines.
 */
export const COLD_SLICE = 1_000_000;
/**
 * How many calls of a freshly attached instance get {@linkcode COLD_SLICE}:
 * the engine's late compiles of a fresh instance's code come in its first
 * calls. Later calls get no slice, as before, and the flag alone keeps
 * their deadlines.
 */
export const COLD_CALLS = 8;
/**
 * The slice a watched plain call of a resumable instance runs on: at most
 * {@linkcode COLD_SLICE} in the instance's first {@linkcode COLD_CALLS}
 * calls, as a backstop for a watchdog that wakes late; later, the meter's
 * own. Shared by `FuelMeter#run` and a `Guest`'s plain calls (its start
 * function among them).
 *
 * @param slice The meter's slice.
 * @param callsSinceAttach The calls the instance has begun before this one.
 * @returns The slice for this call.
 */
export function backstopSlice(slice: number, callsSinceAttach: number): number {
  return callsSinceAttach < COLD_CALLS ? Math.min(slice, COLD_SLICE) : slice;
}
/** The counter while a stop is pending: any charge traps. */
export const STOPPED = -(1n << 62n);
/**
 * The counter of an instance the meter no longer keeps (`attach` took
 * another): its slice went back to the tank, so its next charge must not
 * spend it. Below {@linkcode STOPPED} and whatever charges it takes, so
 * that `out_of_fuel` tells it apart ({@linkcode isDetachedCounter}).
 */
export const DETACHED = -(3n << 61n);

/**
 * Whether `out_of_fuel` was called with a counter that
 * {@linkcode DETACHED} set: below {@linkcode STOPPED} less any charge.
 *
 * @param counter The counter the guest passed, after the charge.
 * @returns True for an instance detached from its meter.
 */
export function isDetachedCounter(counter: bigint): boolean {
  return counter < -(5n << 60n);
}
/**
 * Fuel for the host's own calls into the guest (reading or restoring its
 * stack pointer), given outside the books: plenty for a few instructions.
 */
export const OFF_BOOKS_FUEL = 1_000_000;

/**
 * The rewriter's options for a meter with this budget: a guest that cannot
 * resume must start with its fuel in hand.
 */
export function meteringFor(
  fuel: number,
  resumable: boolean,
): { resumable: boolean; initialFuel: bigint } {
  const initialFuel = resumable ? 0 : Math.min(fuel, TRAPPING_TANK);
  return { resumable, initialFuel: BigInt(initialFuel) };
}
