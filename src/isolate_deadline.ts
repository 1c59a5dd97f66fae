/**
 * The deadline of an isolated call, kept to a fraction of a millisecond. A
 * timer fires late (timers keep millisecond steps: 1.5 to 1.8 ms late in
 * the median on 2 cores, 3.5 to 4.4 at the p99), so it is set
 * {@linkcode DEADLINE_MARGIN_MS} early, and the rest is waited for in turns
 * of the event loop (`setImmediate`), each of which reads the clock. The
 * turns keep reading the child's output, so an answer that comes in the
 * margin is taken, not mistaken for a stop.
 *
 * This thread spins through those turns for the margin, less the timer's
 * lateness (about 2 ms of CPU per deadline that is reached). `Atomics.wait`
 * would not burn the time, but it holds the thread: nothing is read while
 * it waits. A Worker that sleeps to the deadline would do neither, but
 * starting one blocks this thread for several milliseconds (tens on a busy
 * machine), which a short deadline would be late by.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import { startTimer } from "./long_timer.ts";

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
  let live = true;
  const turn = () => {
    if (!live) return;
    if (performance.now() < atMs) {
      setImmediate(turn);
      return;
    }
    live = false;
    fire();
  };
  const due = () => {
    const left = atMs - performance.now();
    if (left > DEADLINE_MARGIN_MS) {
      // Fired early: a long deadline is waited for in steps.
      cancel = startTimer(left - DEADLINE_MARGIN_MS, due);
      return;
    }
    cancel = () => live = false;
    turn();
  };
  cancel = startTimer(
    Math.max(0, atMs - DEADLINE_MARGIN_MS - performance.now()),
    due,
  );
  return () => cancel();
}
