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
 * Every timer in that last stretch shares one look per turn, and a look
 * watches the clock for up to {@linkcode LOOK_SLICE_MS} before it lets the
 * turn end: a turn of `setImmediate` allocates, and an idle thread turning
 * as fast as it can made about 130 kB of garbage per deadline, whose
 * collection (1 to 3 ms on a slow machine) then fell in the very moment
 * the deadline was due.
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
 * How long one look at the clock may hold the thread, in milliseconds:
 * what another callback waiting for the turn may wait more.
 */
export const LOOK_SLICE_MS = 0.1;

/** A timer in its last stretch: due at `end`, from `performance.now()`. */
interface Due {
  end: number;
  fire: () => void;
}

/** The timers in their last stretch, looked at on every turn. */
const dueSoon = new Set<Due>();
let looking = false;

/**
 * Fires every timer whose time is up, each once, earliest first (a look
 * that came late finds several due, kept in the order they entered their
 * last stretch, which need not be their times'); the earliest end left.
 */
function fireDue(now: number): number {
  let next = Infinity;
  let due: Due[] | undefined;
  for (const timer of dueSoon) {
    if (timer.end <= now) (due ??= []).push(timer);
    else if (timer.end < next) next = timer.end;
  }
  if (due !== undefined) {
    // Stable: timers due at one time keep the order of their last stretch.
    if (due.length > 1) due.sort((a, b) => a.end - b.end);
    for (const timer of due) {
      // A cancel or a `fire` before it may have taken it away already.
      if (!dueSoon.delete(timer)) continue;
      timer.fire();
    }
  }
  return next;
}

/** One look per turn while any timer is in its last stretch. */
function look(): void {
  try {
    let now = performance.now();
    const next = fireDue(now);
    if (next !== Infinity) {
      // Watching the clock here costs no garbage; a turn does.
      const until = Math.min(next, now + LOOK_SLICE_MS);
      while (now < until) now = performance.now();
      if (now >= next) fireDue(now);
    }
  } finally {
    // A `fire` that throws leaves the other timers looked at.
    looking = dueSoon.size > 0;
    if (looking) setImmediate(look);
  }
}

/**
 * Fires, now, every timer in its last stretch whose time is up, as the
 * next look would. Work that holds the thread in steps calls it between
 * them: a turn it gives the event loop runs its own continuation first,
 * and the look queued behind it waited for the next step too (traced on
 * the command line's loads under `--timeout 5`: each stop over 1 ms late
 * had had a turn after its deadline, the look not yet run). Only a timer
 * that is due fires, so nothing fires sooner than it would have.
 *
 * @example Usage
 * ```ts
 * import {
 *   firePunctualTimersDue,
 *   startPunctualTimer,
 * } from "./punctual_timer.ts";
 * import assert from "node:assert/strict";
 *
 * let fired = false;
 * startPunctualTimer(3, () => fired = true);
 * // The timer's last stretch begins at a turn, 2 ms before its time.
 * await new Promise((resolve) => setTimeout(resolve, 2));
 * // Then the thread is held in steps, with no turn between them.
 * const start = performance.now();
 * while (!fired && performance.now() - start < 1000) {
 *   firePunctualTimersDue();
 * }
 * assert.ok(fired);
 * ```
 */
export function firePunctualTimersDue(): void {
  if (dueSoon.size > 0) fireDue(performance.now());
}

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
  const due: Due = { end: performance.now() + delay, fire };
  const cancelTimer = startTimer(Math.max(0, delay - lead), () => {
    dueSoon.add(due);
    if (!looking) look();
  });
  return () => {
    dueSoon.delete(due);
    cancelTimer();
  };
}
