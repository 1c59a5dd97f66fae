/**
 * A Worker that stops a call on another thread: it says it is ready, gets a
 * StopSignal's buffer, waits until the call runs (a shared flag the guest
 * sets) or for a delay, then sets the signal.
 */
import { StopSignal } from "../../mod.ts";

/** What the worker is sent. */
export interface StopperRequest {
  /** The StopSignal's buffer. */
  buffer: SharedArrayBuffer;
  /** An Int32Array's buffer whose element 0 becomes 1 once the call runs. */
  running?: SharedArrayBuffer;
  /** Otherwise, a path whose appearance (the guest makes it) is the cue. */
  appears?: string;
  /** A Float64Array's buffer whose element 0 gets when it stopped (epoch ms). */
  stoppedAt?: SharedArrayBuffer;
  /**
   * How many milliseconds to wait before stopping: after the call says it
   * runs, given `running`; else from now.
   */
  after?: number;
}

/** The parts of the worker's global scope used here. */
const scope = self as unknown as {
  postMessage(message: unknown): void;
  onmessage: ((event: MessageEvent<StopperRequest>) => void) | null;
};

function stop(buffer: SharedArrayBuffer, stoppedAt?: SharedArrayBuffer): void {
  if (stoppedAt !== undefined) {
    new Float64Array(stoppedAt)[0] = performance.timeOrigin + performance.now();
  }
  new StopSignal(buffer).stop();
  scope.postMessage("stopped");
}

scope.postMessage("ready");
scope.onmessage = (event) => {
  const { buffer, running, appears, stoppedAt, after = 0 } = event.data;
  if (appears !== undefined) {
    // A worker may block: it looks for the path until it is there.
    for (;;) {
      try {
        Deno.statSync(appears);
        break;
      } catch {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 0.2);
      }
    }
    stop(buffer, stoppedAt);
    return;
  }
  if (running === undefined) {
    setTimeout(() => stop(buffer), after);
    return;
  }
  // A worker may block: it sleeps until the guest says it has started,
  // then for the delay asked for.
  Atomics.wait(new Int32Array(running), 0, 0);
  if (after > 0) {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, after);
  }
  stop(buffer);
};
