/**
 * The CPU time of the calling thread alone, for the fresh-process rows:
 * the whole process's CPU time also holds what V8 does on threads of its
 * own (compiling the rewriter's JavaScript, validating wasm in parallel),
 * which a first call pays and a warm one does not.
 */

/**
 * This thread's CPU time so far, in ms, from Linux's scheduler statistics
 * (a synchronous file read runs on the thread that asks); NaN where the
 * system does not say.
 *
 * @returns Milliseconds, or NaN.
 */
export function threadCpuMs(): number {
  try {
    const stat = Deno.readTextFileSync("/proc/thread-self/schedstat");
    return Number(stat.split(" ")[0]) / 1e6;
  } catch {
    return NaN;
  }
}
