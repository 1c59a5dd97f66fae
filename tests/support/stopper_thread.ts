/**
 * The host's side of `stopper.ts`: a Worker that sets a StopSignal from its
 * own thread, as a real host's other thread would, while this thread is
 * held by a plain call.
 */
import {
  runWasi,
  StopSignal,
  type WasiOptions,
  type WasiResult,
} from "../../mod.ts";
import { schedstatOfThisThread, waitedForCpuMs } from "./thread_cpu.ts";

/** A running stopper Worker. */
export interface Stopper {
  /** Resolves once the worker has set the signal. */
  stopped: Promise<unknown>;
  /** Ends the worker. */
  terminate(): void;
}

/**
 * Starts a Worker that sets `stop` once `after` milliseconds have passed
 * (or once element 0 of `running` is 1, or once the path `appears` is
 * there, writing the time into `stoppedAt`, and how long the thread whose
 * schedule statistics are at `waiting` had waited for a CPU by then), and
 * resolves when it is ready and has been told.
 */
export async function stopFromAnotherThread(
  stop: StopSignal,
  when: {
    after?: number;
    running?: SharedArrayBuffer;
    appears?: string;
    stoppedAt?: SharedArrayBuffer;
    waiting?: string;
  },
): Promise<Stopper> {
  const worker = new Worker(new URL("./stopper.ts", import.meta.url), {
    type: "module",
  });
  await new Promise((resolve) => (worker.onmessage = resolve));
  const stopped = new Promise((resolve) => (worker.onmessage = resolve));
  worker.postMessage({ buffer: stop.buffer, ...when });
  return { stopped, terminate: () => worker.terminate() };
}

/** What {@link runWasiStoppedOnCue} gives back. */
export interface StoppedOnCue {
  /** The run's result. */
  result: WasiResult;
  /**
   * Milliseconds from the signal being set to the run's end, less the time
   * this thread spent meanwhile ready to run but waiting for a CPU (where
   * Linux reports it): what a busy machine adds is not counted, what the
   * run waited for is.
   */
  late: number;
}

/**
 * Runs `guest` under `runWasi` with `directory` preopened as "/d" and a
 * StopSignal that another thread sets once the guest makes "go" in that
 * directory, and says how long after the signal the run ended (less the
 * time this thread waited for a CPU meanwhile).
 */
export async function runWasiStoppedOnCue(
  guest: Uint8Array,
  directory: string,
  options: WasiOptions = {},
): Promise<StoppedOnCue> {
  const stop = new StopSignal();
  const stoppedAt = new SharedArrayBuffer(16);
  const waiting = schedstatOfThisThread();
  const stopper = await stopFromAnotherThread(stop, {
    appears: `${directory}/go`,
    stoppedAt,
    waiting,
  });
  try {
    const result = await runWasi(guest, {
      preopens: [{ host: directory, guest: "/d" }],
      ...options,
      stop,
    });
    // Read before the clock: what the thread waits from here is in the span.
    const waited = waitedForCpuMs(waiting) - new Float64Array(stoppedAt)[1];
    const late = performance.timeOrigin + performance.now() -
      new Float64Array(stoppedAt)[0] - waited;
    return { result, late };
  } finally {
    stopper.terminate();
  }
}
