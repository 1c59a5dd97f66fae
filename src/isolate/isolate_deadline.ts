/**
 * The deadline of an isolated call, kept to a fraction of a millisecond. A
 * timer fires late (timers keep millisecond steps: 1.5 to 1.8 ms late in
 * the median on 2 cores, 3.5 to 4.4 ms at the p99), so it is set
 * {@linkcode DEADLINE_MARGIN_MS} early, and the rest is waited for in
 * `Atomics.wait`, which wakes on time. This thread is blocked for that
 * short wait, at most the margin (about 2 ms in the median). With a 2 ms
 * margin the isolated 1 GiB fill's p99 late was 1.9 to 4.1 ms, with 4 ms
 * 1.2; spinning through turns of the event loop instead of blocking, which
 * would keep reading the child's output, measured worse (p99 4.2 to 4.9).
 *
 * A Worker that sleeps to the deadline would not block this thread, but
 * starting one blocks it for several milliseconds (tens on a busy machine),
 * which a short deadline would be late by.
 *
 * @module
 */

import { startTimer } from "../watchdog/long_timer.ts";

/** How long before the deadline the timer is set to fire, in milliseconds. */
export const DEADLINE_MARGIN_MS = 4;

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
