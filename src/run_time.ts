/**
 * The time a meter's bounds after a stop count: the wait for a guest to
 * leave a no-stop zone, and the grace's time after a hard stop (or before a
 * soft one is heard). A bound by the clock alone was spent while the
 * guest's thread sat off its core: on a loaded 2-core machine a thread
 * waited 100 ms for one, and the guest then had its stop land inside its
 * allocator, or its cleanup stopped before its first pass. So a bound is
 * over once as much time has passed by the clock *and* the process has
 * spent as much CPU time since it began, or at the latest
 * {@linkcode HELD_CAP} times as much by the clock. A guest cannot stretch
 * it: its work is CPU time (page faults included), and only the host's own
 * imports can make the thread wait without it.
 *
 * @module
 */

import process from "node:process";

/**
 * How many times its length by the clock a bound lasts at most, when the
 * process has not had its length of CPU time meanwhile (a thread kept off
 * its core, or a host import that sleeps).
 */
export const HELD_CAP = 10;

/** When a bound began: by the clock and by the process's CPU time, in ms. */
export interface RunTime {
  /** `performance.now()`. */
  wall: number;
  /** The process's CPU time (user and system), in milliseconds. */
  cpu: number;
}

/** The process's CPU time, user and system, in milliseconds. */
function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1_000;
}

// The first reading in a process took 0.3 to 5 ms, later ones about 2
// microseconds: the first is taken now, not in a process's first stop.
cpuMs();

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
  return { wall: performance.now(), cpu: cpuMs() };
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
 * assert.equal(boundOver(since, 100, since.wall + 100), true);
 * ```
 */
export function clockOnlyNow(): RunTime {
  return { wall: performance.now(), cpu: -Infinity };
}

/**
 * Whether a bound of `ms` that began at `since` is over: `ms` by the clock
 * and `ms` of the process's CPU time have passed, or {@linkcode HELD_CAP}
 * times `ms` by the clock.
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
  return wall >= ms * HELD_CAP || cpuMs() - since.cpu >= ms;
}
