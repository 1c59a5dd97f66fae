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
 * there, writing the time into `stoppedAt`), and resolves when it is ready
 * and has been told.
 */
export async function stopFromAnotherThread(
  stop: StopSignal,
  when: {
    after?: number;
    running?: SharedArrayBuffer;
    appears?: string;
    stoppedAt?: SharedArrayBuffer;
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
  /** Milliseconds from the signal being set to the run's end. */
  late: number;
}

/**
 * Runs `guest` under `runWasi` with `directory` preopened as "/d" and a
 * StopSignal that another thread sets once the guest makes "go" in that
 * directory, and says how long after the signal the run ended.
 */
export async function runWasiStoppedOnCue(
  guest: BufferSource,
  directory: string,
  options: WasiOptions = {},
): Promise<StoppedOnCue> {
  const stop = new StopSignal();
  const stoppedAt = new SharedArrayBuffer(8);
  const stopper = await stopFromAnotherThread(stop, {
    appears: `${directory}/go`,
    stoppedAt,
  });
  try {
    const result = await runWasi(guest, {
      preopens: [{ host: directory, guest: "/d" }],
      ...options,
      stop,
    });
    const late = performance.timeOrigin + performance.now() -
      new Float64Array(stoppedAt)[0];
    return { result, late };
  } finally {
    stopper.terminate();
  }
}
