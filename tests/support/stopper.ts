/**
 * A Worker that stops a call on another thread: it says it is ready, gets a
 * StopSignal's buffer, waits until the call runs (a shared flag the guest
 * sets) or for a delay, then sets the signal.
 */
import { StopSignal } from "../../mod.ts";
import { waitedForCpuMs } from "./thread_cpu.ts";

/** What the worker is sent. */
export interface StopperRequest {
  /** The StopSignal's buffer. */
  buffer: SharedArrayBuffer;
  /** An Int32Array's buffer whose element 0 becomes 1 once the call runs. */
  running?: SharedArrayBuffer;
  /** Otherwise, a path whose appearance (the guest makes it) is the cue. */
  appears?: string;
  /**
   * A Float64Array's buffer whose element 0 gets when it stopped (epoch
   * ms), and element 1, given `waiting`, how long the thread it names had
   * waited for a CPU by then (ms).
   */
  stoppedAt?: SharedArrayBuffer;
  /** The schedule statistics of the thread that runs the call. */
  waiting?: string;
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

function stop(
  buffer: SharedArrayBuffer,
  stoppedAt?: SharedArrayBuffer,
  waiting?: string,
): void {
  if (stoppedAt !== undefined) {
    const at = new Float64Array(stoppedAt);
    at[0] = performance.timeOrigin + performance.now();
    // Read after the clock: what the thread waits from here is in the span.
    if (waiting !== undefined) at[1] = waitedForCpuMs(waiting);
  }
  new StopSignal(buffer).stop();
  scope.postMessage("stopped");
}

scope.postMessage("ready");
scope.onmessage = (event) => {
  const { buffer, running, appears, stoppedAt, waiting, after = 0 } =
    event.data;
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
    stop(buffer, stoppedAt, waiting);
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
