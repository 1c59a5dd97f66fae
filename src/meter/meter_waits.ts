/**
 * How long a meter's stop waits: for the guest to leave a no-stop zone (by
 * guest work, with the clock as a backstop), and for the glue's cleanup on
 * the grace fuel after a hard stop.
 *
 * @module
 */

/**
 * How long a stop waits at most for the guest to leave a no-stop zone, by
 * the clock and in the guest's thread's CPU time (see `run_time.ts`; by
 * the clock alone after ten times as long): a backstop behind the bound by
 * work, {@linkcode ZONE_WAIT_FUEL} of the grace. A real allocator's call takes
 * microseconds: the margin is for a busy machine that takes the thread
 * away meanwhile, where a stop cut short would land inside the allocator.
 */
export const ZONE_WAIT_MS = 100;
/**
 * The most guest work a stop waits for the guest to leave a no-stop zone,
 * in fuel units, however large the grace: the wait's bound that a loaded
 * machine does not stretch, {@linkcode ZONE_WAIT_MS} staying as a
 * backstop. A bulk operator's chunks cost no fuel of their own (the whole
 * operator was charged before its first), so each check between two of
 * them with no fuel spent since the last counts
 * {@linkcode ZONE_CHUNK_FUEL} after the first of a row: a 40 MB `memmove`
 * inside `realloc` is cut after about 16 chunks, where it ran its 610
 * chunks or the clock's 100 ms before.
 */
export const ZONE_WAIT_FUEL = 1_000_000;
/**
 * What a check inside a zone counts against {@linkcode ZONE_WAIT_FUEL}
 * while a stop waits, when the guest spent no fuel since the check before
 * it: a bulk operator's chunk of 64 KiB, worth about that many units of
 * work. Given back to the grace when the wait ends: it paid for no fuel.
 */
export const ZONE_CHUNK_FUEL = 65_536;
/**
 * How long the glue's cleanup may run on the grace fuel after a hard stop,
 * by the clock and in the guest's thread's CPU time as
 * {@linkcode ZONE_WAIT_MS} (the stack pointer's read as a run starts by
 * the clock alone; a deadline-only meter's restore of it, whose checks
 * trap without asking, is run again from its start when the clock ended
 * it first): a guest whose cleanup faulted in fresh pages spent the
 * default grace in 4.6 s. A soft stop gets as long to be heard (the
 * library reading {@linkcode FuelMeter.stopping}); its unwinding after
 * that is the host's choice, bounded by its grace. The margin is
 * {@linkcode ZONE_WAIT_MS}'s.
 */
export const GRACE_MS = 100;
