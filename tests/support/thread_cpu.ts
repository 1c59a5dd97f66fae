/**
 * The CPU time of the calling thread, for tests that compare two spans of
 * one thread's work: unlike wall time, it does not grow while the machine
 * runs other processes, so a busy machine does not stretch one span more
 * than the other. And the time a thread has waited for a CPU, to take out
 * of a span by the clock what a busy machine added to it.
 *
 * @module
 */

const SCHEDSTAT = "/proc/thread-self/schedstat";

/** Whether this system reports a thread's CPU time in nanoseconds. */
const hasSchedstat = (() => {
  try {
    Deno.readTextFileSync(SCHEDSTAT);
    return true;
  } catch {
    return false;
  }
})();

/** The calling thread's statistics, where Linux reports them. */
const SELF = hasSchedstat ? SCHEDSTAT : undefined;

/**
 * Milliseconds of CPU time the calling thread has run, where Linux reports
 * it; elsewhere, wall time (a busy machine then stretches it).
 */
export function threadCpuMs(): number {
  if (!hasSchedstat) return performance.now();
  // The first field is the time spent on a CPU, in nanoseconds.
  const text = Deno.readTextFileSync(SCHEDSTAT);
  return Number(text.slice(0, text.indexOf(" "))) / 1e6;
}

/** A cell no one notifies, for a wait that only ends by its timeout. */
const NEVER_NOTIFIED = new Int32Array(new SharedArrayBuffer(4));

/**
 * {@linkcode threadCpuMs}, read just after the thread has slept for a
 * hundredth of a millisecond: Linux brings a running thread's count up to
 * date only at its clock's ticks (every 4 ms here) and when the thread
 * leaves its CPU, so a plain reading can lag by a tick, as much as a short
 * span takes. For spans of a millisecond or so.
 */
export function settledThreadCpuMs(): number {
  Atomics.wait(NEVER_NOTIFIED, 0, 0, 0.01);
  return threadCpuMs();
}

/**
 * Where the calling thread's schedule statistics are, for this thread or
 * another of the process to read with {@linkcode waitedForCpuMs};
 * `undefined` where Linux does not report them.
 */
export function schedstatOfThisThread(): string | undefined {
  if (!hasSchedstat) return undefined;
  // "/proc/thread-self" links to "<pid>/task/<tid>".
  return `/proc/${Deno.readLinkSync("/proc/thread-self")}/schedstat`;
}

/**
 * Milliseconds the thread whose statistics are at `schedstat` (from
 * {@linkcode schedstatOfThisThread}) has spent ready to run but waiting
 * for a CPU: the time a busy machine takes from it. 0 where not reported,
 * so that a span less this time is the span itself there.
 */
export function waitedForCpuMs(schedstat: string | undefined): number {
  if (schedstat === undefined) return 0;
  // The second field is the time spent waiting on a run queue, in
  // nanoseconds.
  const waited = Deno.readTextFileSync(schedstat).split(" ")[1];
  return Number(waited) / 1e6;
}

/**
 * Milliseconds by the clock less the time the calling thread has waited
 * for a CPU (where Linux reports it): the clock of a machine with nothing
 * else to run. A span of it is the time the thread ran or waited for
 * something else (a timer, the disk, another thread), however busy the
 * machine was.
 */
export function idleClockMs(): number {
  return performance.now() - waitedForCpuMs(SELF);
}
