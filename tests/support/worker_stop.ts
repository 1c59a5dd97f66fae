/** Stops a blocking call from another thread, through the stopper Worker. */

import { StopSignal } from "../../mod.ts";
import type { StopperRequest } from "./stopper.ts";

/**
 * Starts the stopper Worker, then runs `call` with a StopSignal the Worker
 * sets once `call` says it has started (by calling `started`).
 *
 * @returns What `call` returned, once the Worker confirmed the stop.
 */
export async function stopFromWorker<T>(
  call: (stop: StopSignal, started: () => void) => T,
): Promise<T> {
  const stop = new StopSignal();
  const running = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(new URL("./stopper.ts", import.meta.url), {
    type: "module",
  });
  try {
    let replied = () => {};
    worker.onmessage = () => replied();
    const reply = () => new Promise<void>((resolve) => replied = resolve);
    await reply(); // loaded and listening
    const confirmed = reply();
    const request: StopperRequest = {
      buffer: stop.buffer,
      running: running.buffer as SharedArrayBuffer,
    };
    worker.postMessage(request);
    const result = call(stop, () => {
      Atomics.store(running, 0, 1);
      Atomics.notify(running, 0);
    });
    await confirmed;
    return result;
  } finally {
    worker.terminate();
  }
}
