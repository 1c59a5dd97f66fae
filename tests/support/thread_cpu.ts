/**
 * The CPU time of the calling thread, for tests that compare two spans of
 * one thread's work: unlike wall time, it does not grow while the machine
 * runs other processes, so a busy machine does not stretch one span more
 * than the other.
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
