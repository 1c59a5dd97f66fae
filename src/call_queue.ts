/**
 * The stops of an async call that waits for its turn: calls on one async
 * guest run one at a time, in order, and a call queued behind another is
 * still stopped at its own deadline, abort or StopSignal, counted from when
 * it was made, without waiting for the calls before it to end.
 *
 * @module
 */

import { Aborted } from "./errors.ts";
import type { Stop } from "./call_state.ts";
import { abortStop, deadlineStop } from "./call_watch.ts";
import { startTimer } from "./long_timer.ts";
import type { StopSignal } from "./stop_signal.ts";

/**
 * How often a queued call looks at its `StopSignal`, which has no event,
 * in milliseconds.
 */
const STOP_POLL_MS = 1;

/** What stops a queued call. */
export interface QueuedStops {
  /** Milliseconds from when the call was made. */
  timeout?: number;
  /** Aborts the call. */
  signal?: AbortSignal;
  /** Stops the call when another thread sets it. */
  stop?: StopSignal;
}

/**
 * Waits for a queued call's turn, or for one of its stops.
 *
 * @param turn Settles when the calls before it have ended.
 * @param stops The call's deadline and signals.
 * @param invoked When the call was made, from `performance.now()`.
 * @returns `undefined` when its turn came first, else the stop that came.
 */
export function waitForTurn(
  turn: Promise<unknown>,
  stops: QueuedStops,
  invoked: number,
): Promise<Stop | undefined> {
  const { timeout, signal, stop } = stops;
  return new Promise((resolve) => {
    let done = false;
    let cancelTimer: (() => void) | undefined;
    let poll: ReturnType<typeof setInterval> | undefined;
    const finish = (result: Stop | undefined) => {
      if (done) return;
      done = true;
      cancelTimer?.();
      if (poll !== undefined) clearInterval(poll);
      signal?.removeEventListener("abort", onAbort);
      resolve(result);
    };
    const onAbort = () => finish(abortStop(signal!, invoked));
    const onStop = () => {
      if (stop!.stopped) {
        const reason = stop!.reason;
        finish(() => new Aborted(reason));
      }
    };
    if (signal?.aborted) return onAbort();
    if (stop?.stopped) return onStop();
    signal?.addEventListener("abort", onAbort);
    if (stop !== undefined) poll = setInterval(onStop, STOP_POLL_MS);
    if (timeout !== undefined) {
      const left = Math.max(0, invoked + timeout - performance.now());
      cancelTimer = startTimer(
        left,
        () => finish(deadlineStop(timeout, invoked)),
      );
    }
    turn.then(() => finish(undefined), () => finish(undefined));
  });
}
