/**
 * The stops of an async call that waits for its turn: calls on one async
 * guest run one at a time, in order, and a call queued behind another is
 * still stopped at its own deadline, abort or StopSignal, counted from when
 * it was made, without waiting for the calls before it to end.
 *
 * @module
 */

import { Aborted } from "../errors.ts";
import type { Stop } from "./call_state.ts";
import { abortStop, deadlineStop } from "./call_watch.ts";
import { type EventLoopStops, watchOnEventLoop } from "./event_loop_stops.ts";

/** What stops a queued call. */
export type QueuedStops = EventLoopStops;

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
  return new Promise((resolve) => {
    const dispose = watchOnEventLoop(stops, invoked, (kind) => {
      resolve(
        kind === "deadline"
          ? deadlineStop(stops.timeout!, invoked)
          : kind === "abort"
          ? abortStop(stops.signal!, invoked)
          : () => new Aborted(stops.stop!.reason),
      );
      return true;
    });
    const ended = () => {
      dispose();
      resolve(undefined);
    };
    turn.then(ended, ended);
  });
}
