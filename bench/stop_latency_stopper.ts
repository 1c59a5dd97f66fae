/**
 * A Worker that stops a synchronous call from another thread, for the
 * stop-latency bench: it gets a StopSignal's buffer and a time (on the
 * clock every thread shares, `performance.timeOrigin + performance.now()`),
 * sleeps until then, stops the signal and writes down when it did.
 *
 * @module
 */

import { StopSignal } from "../mod.ts";

/** What the worker is sent. */
export interface StopRequest {
  /** The StopSignal's buffer. */
  buffer: SharedArrayBuffer;
  /** When to stop it, as `performance.timeOrigin + performance.now()`. */
  at: number;
  /** Where to write (as a `Float64Array`) when it was stopped. */
  stoppedAt: SharedArrayBuffer;
}

const scope = self as unknown as {
  postMessage(message: unknown): void;
  onmessage: ((event: MessageEvent<StopRequest>) => void) | null;
};

const sleeper = new Int32Array(new SharedArrayBuffer(4));
const now = () => performance.timeOrigin + performance.now();

scope.onmessage = (event) => {
  const { buffer, at, stoppedAt } = event.data;
  for (let rest = at - now(); rest > 0; rest = at - now()) {
    Atomics.wait(sleeper, 0, 0, rest);
  }
  // This thread's own wake-up may be late: the stop counts from here. (Set
  // before the stop: the call may return before this thread runs again.)
  new Float64Array(stoppedAt)[0] = now();
  new StopSignal(buffer).stop();
};
scope.postMessage("ready");
