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
/** The counter while a stop is pending: any charge traps. */
export const STOPPED = -(1n << 62n);
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
