/**
 * The time a meter's bounds after a stop count: the wait for a guest to
 * leave a no-stop zone, and the grace's time after a hard stop (or before a
 * soft one is heard). A bound by the clock alone was spent while the
 * guest's thread sat off its core: on a loaded 2-core machine a thread
 * waited 100 ms for one, and the guest then had its stop land inside its
 * allocator, or its cleanup stopped before its first pass. So a bound is
 * over once as much time has passed by the clock *and* the guest's thread
 * has spent as much CPU time since it began, or at the latest
 * {@linkcode HELD_CAP} times as much by the clock. A guest cannot stretch
 * it: its work is its thread's CPU time (page faults included), and only
 * the host's own imports can make the thread wait without it. The
 * process's CPU time would not do: V8's compilers and collector spend it
 * on threads of their own while the guest's waits, and a cleanup under
 * load found its grace over before its first pass.
 *
 * @module
 */

import process from "node:process";

/**
 * How many times its length by the clock a bound lasts at most, when the
 * guest's thread has not had its length of CPU time meanwhile (kept off its
 * core, or in a host import that sleeps).
 */
export const HELD_CAP = 10;

/** When a bound began: by the clock and by the thread's CPU time, in ms. */
export interface RunTime {
  /** `performance.now()`. */
  wall: number;
  /** The calling thread's CPU time (user and system), in milliseconds. */
  cpu: number;
}

/** CPU time so far as `process.cpuUsage()` gives it, in microseconds. */
type CpuUsage = () => { user: number; system: number };

/**
 * The calling thread's CPU time, where the runtime gives it (Deno 2.9 on
 * Linux reads the thread's statistics from a file: in steps of 10 ms, 0.02
 * ms a read in a loop, where the process's takes 0.003; a `FuelMeter#run`
 * stopped at its deadline reads it once as the stop lands, and returns
 * 0.03 to 0.1 ms later than it did); the process's elsewhere, which counts
 * the other threads' too.
 */
const usage: CpuUsage = (() => {
  const thread = (process as { threadCpuUsage?: CpuUsage }).threadCpuUsage;
  try {
    // A thread that has loaded this module has run: a reading of none is
    // a runtime that does not keep count.
    if (typeof thread === "function") {
      const { user, system } = thread.call(process);
      if (user + system > 0) return () => thread.call(process);
    }
  } catch {
    // Not given here: the process's.
  }
  return () => process.cpuUsage();
})();

/** The last reading, reused for a millisecond: bounds ask at every pass. */
let last = { wall: -Infinity, cpu: 0 };

/** The calling thread's CPU time, user and system, in milliseconds. */
function cpuMs(now: number = performance.now()): number {
  if (now - last.wall < 1 && now >= last.wall) return last.cpu;
  const { user, system } = usage();
  last = { wall: now, cpu: (user + system) / 1_000 };
  return last.cpu;
}

/**
 * Now, as a bound's start.
 *
 * @returns The clock's and the CPU time's readings.
 *
 * @example A bound that has just begun is not over
 * ```ts
 * import { boundOver, runTimeNow } from "./run_time.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(boundOver(runTimeNow(), 100), false);
 * ```
 */
export function runTimeNow(): RunTime {
  const wall = performance.now();
  return { wall, cpu: cpuMs(wall) };
}

/**
 * Now, as the start of a bound counted by the clock alone: for a bound
 * started so often that reading the CPU time each time would cost too much.
 *
 * @returns The clock's reading, with a CPU time that every later reading
 *   is past.
 *
 * @example A bound by the clock alone is over once its time has passed
 * ```ts
 * import { boundOver, clockOnlyNow } from "./run_time.ts";
 * import assert from "node:assert/strict";
 *
 * const since = clockOnlyNow();
 * // (`since.wall + 100 - since.wall` may round to just under 100.)
 * assert.equal(boundOver(since, 100, since.wall + 101), true);
 * assert.equal(boundOver(since, 100, since.wall + 99), false);
 * ```
 */
export function clockOnlyNow(): RunTime {
  return { wall: performance.now(), cpu: -Infinity };
}

/**
 * Whether a bound of `ms` that began at `since` is over: `ms` by the clock
 * and `ms` of the calling thread's CPU time have passed, or
 * {@linkcode HELD_CAP} times `ms` by the clock.
 *
 * @param since When the bound began.
 * @param ms Its length, in milliseconds.
 * @param now `performance.now()`.
 * @returns Whether it is over.
 *
 * @example A bound of no time is over at once
 * ```ts
 * import { boundOver, runTimeNow } from "./run_time.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(boundOver(runTimeNow(), 0), true);
 * ```
 */
export function boundOver(
  since: RunTime,
  ms: number,
  now: number = performance.now(),
): boolean {
  const wall = now - since.wall;
  if (wall < ms) return false;
  return wall >= ms * HELD_CAP || cpuMs(now) - since.cpu >= ms;
}
