/**
 * The deadline of an isolated call, kept on time. A timer fires a
 * millisecond or more after its delay (timers have millisecond steps), so
 * the watchdog's thread, which sleeps to the deadline in `Atomics.wait`, is
 * asked as well: it sets a flag in shared memory and wakes this thread's
 * `Atomics.waitAsync` on it. The timer stays as the fallback, for a deadline
 * that comes before the watchdog's thread has started, and because a
 * `waitAsync` keeps no process alive.
 *
 * @module
 */

import { startTimer } from "./long_timer.ts";
import { arm } from "./watchdog.ts";

/** The flag's value once the deadline is disarmed: no longer acted on. */
const DISARMED = 2;

/**
 * Calls `fire` at `atMs` (a `performance.now()` time), from whichever of the
 * watchdog and a timer wakes first; once at most.
 *
 * @returns A function that disarms it.
 */
export function startDeadline(atMs: number, fire: () => void): () => void {
  let live = true;
  const once = () => {
    if (!live) return;
    live = false;
    fire();
  };
  let cancelTimer: () => void;
  const onTimer = () => {
    // A timer may also fire a fraction of a millisecond early.
    const left = atMs - performance.now();
    if (left > 0) cancelTimer = startTimer(left, onTimer);
    else once();
  };
  cancelTimer = startTimer(Math.max(0, atMs - performance.now()), onTimer);
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const watchdog = arm(flag, atMs);
  const wait = () => {
    // Not async when the flag was set already.
    Promise.resolve(Atomics.waitAsync(flag, 0, 0).value).then(() => {
      if (Atomics.load(flag, 0) !== 1) return;
      if (performance.now() >= atMs) return once();
      // The watchdog's clock ran a little ahead of this thread's: it sets
      // the flag again until disarmed.
      Atomics.store(flag, 0, 0);
      wait();
    });
  };
  wait();
  return () => {
    live = false;
    cancelTimer();
    watchdog.disarm();
    // Wakes the waiter, which would otherwise wait for good.
    Atomics.store(flag, 0, DISARMED);
    Atomics.notify(flag, 0);
  };
}
