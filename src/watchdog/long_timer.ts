/**
 * A timer for deadlines of any length. `setTimeout` holds at most
 * 2^31 - 1 ms (about 24.8 days): a longer delay fires at once, with a
 * runtime warning. A long deadline is waited for in steps instead.
 *
 * @module
 */

/** The longest delay one `setTimeout` can wait, in milliseconds. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Calls `fire` once, after `delay` milliseconds.
 *
 * @param delay The delay, finite and not negative.
 * @param fire What to call.
 * @returns A function that cancels the timer.
 */
export function startTimer(delay: number, fire: () => void): () => void {
  const end = performance.now() + delay;
  let handle: ReturnType<typeof setTimeout>;
  const arm = (left: number) => {
    handle = setTimeout(() => {
      // A timer may also fire a fraction of a millisecond early, by this
      // clock: wait out the rest.
      const rest = end - performance.now();
      if (rest > 0) arm(rest);
      else fire();
    }, Math.min(left, MAX_TIMER_MS));
  };
  arm(delay);
  return () => clearTimeout(handle);
}
