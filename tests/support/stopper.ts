/**
 * A Worker that stops a call on another thread: it says it is ready, gets a
 * StopSignal's buffer and a shared flag, waits until the flag says the call
 * is running, then sets the signal.
 */
import { StopSignal } from "../../mod.ts";

/** What the worker is sent. */
export interface StopperRequest {
  /** The StopSignal's buffer. */
  buffer: SharedArrayBuffer;
  /** An Int32Array's buffer whose element 0 becomes 1 once the call runs. */
  running: SharedArrayBuffer;
}

/** The parts of the worker's global scope used here. */
const scope = self as unknown as {
  postMessage(message: unknown): void;
  onmessage: ((event: MessageEvent<StopperRequest>) => void) | null;
};

scope.postMessage("ready");
scope.onmessage = (event) => {
  const { buffer, running } = event.data;
  // A worker may block: it sleeps until the guest says it has started.
  Atomics.wait(new Int32Array(running), 0, 0);
  new StopSignal(buffer).stop();
  scope.postMessage("stopped");
};
