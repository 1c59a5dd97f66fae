/**
 * Another thread of this process that spends CPU time on cue: the work V8
 * does on threads of its own (compiling, collecting) while the thread that
 * runs a guest waits for a core.
 *
 * @module
 */

/** A Worker that, once cued, spins until the process has spent `ms` more. */
const SPINNER = `
import process from "node:process";
const cpu = () => { const { user, system } = process.cpuUsage(); return (user + system) / 1000; };
onmessage = ({ data: { cues, ms } }) => {
  // Element 0 counts the cues given, element 1 the spins done.
  const cells = new Int32Array(cues);
  postMessage("ready");
  for (let done = 0;; ) {
    Atomics.wait(cells, 0, done);
    const from = cpu();
    while (cpu() - from < ms) {
      // The process's CPU time grows; the cued thread's does not.
    }
    Atomics.store(cells, 1, ++done);
    Atomics.notify(cells, 1);
  }
};
`;

/** A spinning thread, started and waiting for its cue. */
export interface BusyThread {
  /**
   * Cues the thread, then waits without spending CPU time until it has
   * spent `ms` of the process's CPU time and `ms` have passed by the
   * clock: as a thread kept off its core while the process's other
   * threads run.
   */
  waitWhileItSpins(): void;
  /** Ends the thread. */
  close(): void;
}

/**
 * Starts a thread that will spend `ms` of CPU time when cued.
 *
 * @param ms How much CPU time it spends, and how long the cued thread waits
 *   by the clock at least.
 */
export async function busyThread(ms: number): Promise<BusyThread> {
  const cells = new Int32Array(new SharedArrayBuffer(8));
  const worker = new Worker(
    `data:text/javascript,${encodeURIComponent(SPINNER)}`,
    { type: "module" },
  );
  await new Promise<void>((resolve) => {
    worker.onmessage = () => resolve();
    worker.postMessage({ cues: cells.buffer, ms });
  });
  return {
    waitWhileItSpins() {
      const until = performance.now() + ms;
      const cue = Atomics.add(cells, 0, 1) + 1;
      Atomics.notify(cells, 0);
      for (let done; (done = Atomics.load(cells, 1)) !== cue;) {
        Atomics.wait(cells, 1, done);
      }
      const left = until - performance.now();
      if (left > 0) Atomics.wait(cells, 1, cue, left);
    },
    close: () => worker.terminate(),
  };
}
