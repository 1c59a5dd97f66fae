/**
 * A timer for a stop's deadline on the event loop. Deno's timers fire late
 * by a millisecond step: `setTimeout(5)` on an idle thread fired 1.1 to
 * 1.5 ms late (the first of a process 16 ms), and so did a timed-out
 * `Atomics.waitAsync`. Set that much early, the timer then looks at the
 * clock at every turn of the event loop (`setImmediate`) until the time is
 * up, so that the deadline is kept to the length of the turns, not the
 * timer's step: the thread's own work goes on meanwhile, turn by turn, and
 * only an idle thread spins, for at most {@linkcode PUNCTUAL_LEAD_MS}.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import { startTimer } from "./long_timer.ts";

/**
 * How long before its time the timer starts to look at the clock at every
 * turn, in milliseconds: more than a quiet machine's timer step.
 */
export const PUNCTUAL_LEAD_MS = 2;

/**
 * Calls `fire` once, on the first turn of the event loop at or after
 * `delay` milliseconds from now: never before.
 *
 * @param delay The delay, finite and not negative.
 * @param fire What to call.
 * @param lead How long before its time it starts to look at the clock, in
 *   milliseconds.
 * @returns A function that cancels the timer, in either phase.
 *
 * @example Usage
 * ```ts
 * import { startPunctualTimer } from "./punctual_timer.ts";
 * import assert from "node:assert/strict";
 *
 * const start = performance.now();
 * const firedAt = await new Promise<number>((resolve) => {
 *   startPunctualTimer(5, () => resolve(performance.now()));
 * });
 * assert.ok(firedAt - start >= 5);
 * ```
 */
export function startPunctualTimer(
  delay: number,
  fire: () => void,
  lead: number = PUNCTUAL_LEAD_MS,
): () => void {
  const end = performance.now() + delay;
  let cancelled = false;
  const look = () => {
    if (cancelled) return;
    if (performance.now() >= end) fire();
    else setImmediate(look);
  };
  const cancelTimer = startTimer(Math.max(0, delay - lead), look);
  return () => {
    cancelled = true;
    cancelTimer();
  };
}
