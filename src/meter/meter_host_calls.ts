/**
 * The watchdog's guards on what runs in a metered guest outside the
 * guest's own work: the host's calls into it (its stack pointer's
 * accessors, which the guest wrote), and the glue's cleanup on the grace
 * after a stop. Each guard sets the stop flag once its time is up, so that
 * the next check ends what runs; a deadline-only guest, whose checks trap
 * without asking, has the host's calls run with its flag cleared.
 *
 * @module
 */

import {
  arm,
  type WatchdogHandle,
  watchdogStarted,
} from "../watchdog/watchdog.ts";
import { boundOver, runTimeNow } from "./run_time.ts";
import { GRACE_MS } from "./meter_waits.ts";

/**
 * Has the watchdog set the flag {@linkcode GRACE_MS} from now, while the
 * host's own call into the guest runs (its stack pointer's accessors,
 * which the guest wrote: one that never returned held `run` for ever),
 * if the watchdog runs (a run with a deadline or a StopSignal started it).
 *
 * @param flag The guest's stop flag, when it has one.
 * @param afterMs How long from now.
 * @returns The guard, or `undefined` when none was set.
 */
export function guardHostCall(
  flag: Int32Array | undefined,
  afterMs = GRACE_MS,
): WatchdogHandle | undefined {
  if (flag === undefined || !watchdogStarted()) return undefined;
  return arm(flag, performance.now() + afterMs);
}

/**
 * Ends a guard: its setting of the flag is no stop.
 *
 * @param flag The flag the guard was set on.
 * @param guard What {@linkcode guardHostCall} returned.
 * @param flagWas What to put back in the flag when the guard set it.
 */
export function endGuard(
  flag: Int32Array | undefined,
  guard: WatchdogHandle | undefined,
  flagWas: number,
): void {
  if (guard === undefined) return;
  guard.disarm();
  if (guard.fired()) Atomics.store(flag!, 0, flagWas);
}

/**
 * Runs the host's own call into a deadline-only guest (`fuel: false`).
 *
 * @param flag The guest's stop flag.
 * @param fn The call.
 * @param afterStop Whether a stop came before (see `MeterCalls.offBooks`).
 * @returns What `fn` returned.
 */
export function offBooksWithoutFuel<T>(
  flag: Int32Array,
  fn: () => T,
  afterStop: boolean,
): T {
  // The flag's checks trap: clear it for the host's own call, and put
  // back a stop that was pending.
  const pending = Atomics.exchange(flag, 0, 0);
  // The flag's checks trap without asking, so the guard, which the
  // watchdog sets by the clock, cannot wait for the CPU time itself.
  // After a stop the call runs again, from its start, when the flag
  // ended it before GRACE_MS of CPU time had passed too (the thread kept
  // off its core), until the bound is over as the grace's is: at
  // GRACE_MS of CPU time, or HELD_CAP times GRACE_MS by the clock. (A
  // guard's setting may land again just after it is disarmed: the flag
  // found set counts as the guard's.)
  const since = afterStop ? runTimeNow() : undefined;
  try {
    for (;;) {
      const guard = guardHostCall(flag);
      try {
        return fn();
      } catch (error) {
        const flagged = guard?.fired() === true ||
          Atomics.load(flag, 0) !== 0;
        if (
          since === undefined || !flagged || boundOver(since, GRACE_MS)
        ) {
          throw error;
        }
      } finally {
        endGuard(flag, guard, 0);
      }
      Atomics.store(flag, 0, 0);
    }
  } finally {
    if (pending !== 0) Atomics.store(flag, 0, 1);
  }
}
