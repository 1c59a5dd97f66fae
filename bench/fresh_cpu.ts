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

/** CPU time so far of each of the process's threads, in ms, by thread id. */
export interface ThreadTimes {
  /** This (the JavaScript) thread's. */
  main: number;
  /** V8's worker threads' (compiles, collections), together. */
  v8: number;
  /** Worker threads' (`worker-N`: the watchdog's, here), together. */
  workers: number;
  /** The rest (the runtime's I/O threads). */
  other: number;
}

/**
 * The CPU time so far of the process's threads, grouped as
 * {@linkcode ThreadTimes} says; NaN where the system does not say.
 *
 * @returns Milliseconds by group.
 */
export function threadTimes(): ThreadTimes {
  const times: ThreadTimes = { main: 0, v8: 0, workers: 0, other: 0 };
  try {
    for (const { name: tid } of Deno.readDirSync("/proc/self/task")) {
      const dir = `/proc/self/task/${tid}`;
      const comm = Deno.readTextFileSync(`${dir}/comm`).trim();
      const ms =
        Number(Deno.readTextFileSync(`${dir}/schedstat`).split(" ")[0]) / 1e6;
      if (Number(tid) === Deno.pid) times.main += ms;
      else if (comm.startsWith("V8 ")) times.v8 += ms;
      else if (comm.startsWith("worker-")) times.workers += ms;
      else times.other += ms;
    }
  } catch {
    return { main: NaN, v8: NaN, workers: NaN, other: NaN };
  }
  return times;
}
