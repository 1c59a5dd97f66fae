/**
 * The deadline of an isolated call, kept to a fraction of a millisecond. A
 * timer fires up to a millisecond or more after its delay (timers keep
 * millisecond steps), so it is set {@linkcode DEADLINE_MARGIN_MS} early, and
 * the rest is waited for in `Atomics.wait`, which wakes on time. This thread
 * is blocked for that short wait, at most the margin.
 *
 * A Worker that sleeps to the deadline would not block this thread, but
 * starting one blocks it for several milliseconds (tens on a busy machine),
 * which a short deadline would be late by.
 *
 * @module
 */

import { startTimer } from "./long_timer.ts";

/** How long before the deadline the timer is set to fire, in milliseconds. */
export const DEADLINE_MARGIN_MS = 2;

/**
 * Calls `fire` once, at `atMs` (a `performance.now()` time), or as soon
 * after it as the timer fires when it fires late.
 *
 * @returns A function that disarms it.
 */
export function startDeadline(atMs: number, fire: () => void): () => void {
  let cancel: () => void;
  const due = () => {
    const left = atMs - performance.now();
    if (left > DEADLINE_MARGIN_MS) {
      // Fired early: a long deadline is waited for in steps.
      cancel = startTimer(left - DEADLINE_MARGIN_MS, due);
      return;
    }
    const sleeper = new Int32Array(new SharedArrayBuffer(4));
    // Nothing wakes it: it returns when its time is up (checked again, in
    // case it rounds the wait down).
    for (let rest = left; rest > 0; rest = atMs - performance.now()) {
      Atomics.wait(sleeper, 0, 0, rest);
    }
    fire();
  };
  cancel = startTimer(
    Math.max(0, atMs - DEADLINE_MARGIN_MS - performance.now()),
    due,
  );
  return () => cancel();
}
