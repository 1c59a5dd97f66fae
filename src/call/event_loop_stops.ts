/**
 * An async call's stops as the event loop sees them. While the guest runs,
 * its checks read the stop flag; while it waits (in a host import's
 * promise, in a library's own, or for its turn in a queue), nothing reads
 * the flag, so the host itself must notice the deadline, the abort and the
 * StopSignal, and end the wait.
 *
 * @module
 */

import { startPunctualTimer } from "../watchdog/punctual_timer.ts";
import type { StopSignal } from "../watchdog/stop_signal.ts";
import {
  listenForAbort,
  signalAborted,
  stopListeningForAbort,
} from "./abort_signal_reads.ts";

/**
 * How often a waiting call looks at its `StopSignal`, which has no event,
 * in milliseconds.
 */
export const STOP_POLL_MS = 1;

/**
 * How soon a deadline is looked at again when the call's own clock did not
 * yet count it as passed, in milliseconds.
 */
const DEADLINE_RETRY_MS = 0.5;

/** What can stop an async call. */
export interface EventLoopStops {
  /** Milliseconds from `invoked`. */
  timeout?: number;
  /** Aborts the call. */
  signal?: AbortSignal;
  /** Stops the call when another thread sets it. */
  stop?: StopSignal;
}

/** Which of a call's stops came. */
export type StopKind = "deadline" | "abort" | "stop";

/**
 * Calls `onStop` on this thread's event loop when one of the call's stops
 * comes: at once if the signal is aborted or the StopSignal set already,
 * then on the signal's `abort` event, as `StopSignal.stop()` notifies (or
 * at the next poll, for a flag another thread set with a plain store),
 * and when the deadline passes. `onStop` says whether it took the stop; a
 * deadline it did not take (its own clock, a fraction of a millisecond
 * behind the timer's, says not yet) is offered again shortly, so that a
 * wait never outlasts its deadline.
 *
 * @param stops The call's deadline and signals.
 * @param invoked When the call was made, from `performance.now()`.
 * @param onStop Told of each stop that comes until it takes one.
 * @returns Disposes the watch: `onStop` is not called again.
 *
 * @example Usage
 * ```ts
 * import { watchOnEventLoop } from "./event_loop_stops.ts";
 * import assert from "node:assert/strict";
 *
 * const kind = await new Promise((resolve) => {
 *   watchOnEventLoop({ timeout: 5 }, performance.now(), (kind) => {
 *     resolve(kind);
 *     return true;
 *   });
 * });
 * assert.equal(kind, "deadline");
 * ```
 */
export function watchOnEventLoop(
  stops: EventLoopStops,
  invoked: number,
  onStop: (kind: StopKind) => boolean,
): () => void {
  const { timeout, signal, stop } = stops;
  let disposed = false;
  let cancelTimer: (() => void) | undefined;
  let poll: ReturnType<typeof setInterval> | undefined;
  const word = stop === undefined
    ? undefined
    : new Int32Array(stop.buffer, 0, 1);
  const dispose = () => {
    if (disposed) return;
    disposed = true;
    cancelTimer?.();
    if (poll !== undefined) clearInterval(poll);
    if (signal !== undefined) stopListeningForAbort(signal, onAbort);
    // Lets go of this watch's wait; any other waiter finds the word as it
    // was and waits again.
    if (word !== undefined) Atomics.notify(word, 0);
  };
  const tell = (kind: StopKind) => {
    if (disposed) return true;
    const taken = onStop(kind);
    if (taken) dispose();
    return taken;
  };
  const onAbort = () => void tell("abort");
  const onDeadline = () => {
    if (!tell("deadline")) {
      cancelTimer = startPunctualTimer(DEADLINE_RETRY_MS, onDeadline);
    }
  };
  // `StopSignal.stop()` wakes this wait at once; a flag set by a plain
  // store from another thread is seen at the next poll.
  const waitForStop = () => {
    const waited = Atomics.waitAsync(word!, 0, 0);
    if (!waited.async) return void tell("stop");
    waited.value.then(() => {
      if (disposed) return;
      if (stop!.stopped) tell("stop");
      else waitForStop();
    });
  };
  if (signal !== undefined) listenForAbort(signal, onAbort);
  if (stop !== undefined) {
    poll = setInterval(() => stop.stopped && tell("stop"), STOP_POLL_MS);
  }
  if (timeout !== undefined) {
    const left = Math.max(0, invoked + timeout - performance.now());
    cancelTimer = startPunctualTimer(left, onDeadline);
  }
  if (signal !== undefined && signalAborted(signal)) tell("abort");
  else if (stop?.stopped) tell("stop");
  else if (stop !== undefined) waitForStop();
  return dispose;
}
