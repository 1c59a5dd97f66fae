/**
 * Watches a call of a metered guest for its deadline, its `AbortSignal`
 * and its `StopSignal`, and makes the stop for each.
 *
 * ## Design
 *
 * A guest stuck in `loop br 0` never calls the host, and while it runs
 * synchronously nothing else on its thread can run either: no timer, no
 * `AbortSignal` event. Wasmtime solves this with a ticker thread that bumps
 * an epoch the guest checks at loop headers. Here the check points already
 * exist: fuel metering charges at every function entry and loop header, and
 * calls the host's `out_of_fuel` when the counter runs dry. So a deadline
 * needs no second instrumentation and no second thread: the meter hands the
 * guest its fuel in *slices* sized to last about {@linkcode SYNC_SLICE_MS},
 * and each time a slice runs out the host reads the clock. Past the deadline
 * it records the stop and refuses fuel, and the guest executes
 * `unreachable`, a trap it cannot catch. Between slices the guest pays
 * nothing extra, so a deadline costs one host call per slice; the stop lands
 * within about one slice of the deadline. Slice sizes adapt to the measured
 * speed of the guest, call by call.
 *
 * An async call (JSPI) does the same, and at every slice also suspends the
 * guest for one turn of the event loop, so timers, I/O, other guests and the `AbortSignal`
 * get their turn. An abort while the guest waits inside an async host
 * import rejects that import's promise at once, and the guest, if it catches
 * the rejection, traps at its next check.
 *
 * @module
 */

import { Aborted, DeadlineExceeded } from "./errors.ts";
import { type CallState, recordStop, type Stop } from "./call_state.ts";
import type { FuelMeter } from "./fuel.ts";
import type { StopSignal } from "./stop_signal.ts";
import { nextTurn } from "./yield.ts";

/** How long a slice should last in a synchronous call, in milliseconds. */
export const SYNC_SLICE_MS = 0.2;
/** How long a slice should last between yields in an async call. */
export const ASYNC_SLICE_MS = 0.5;
/** The first slice, before the guest's speed is known. */
export const FIRST_SLICE = 50_000;
const MIN_SLICE = 1_000;
const MAX_SLICE = 1e12;

/**
 * The stop for a deadline that passed.
 *
 * @param timeout The time the call was allowed, in milliseconds.
 * @param started When the call started, from `performance.now()`.
 * @param cause The abort reason, when an `AbortSignal` timed out.
 * @returns The stop, timed now.
 */
export function deadlineStop(
  timeout: number,
  started: number,
  cause?: unknown,
): Stop {
  const elapsed = performance.now() - started;
  const options = cause === undefined ? undefined : { cause };
  return () => new DeadlineExceeded(timeout, elapsed, options);
}

/**
 * The stop for an aborted signal. A timed-out signal is a deadline.
 *
 * @param signal The signal, already aborted.
 * @param started When the call started, from `performance.now()`.
 * @returns The stop.
 */
export function abortStop(signal: AbortSignal, started: number): Stop {
  const reason = signal.reason;
  if (reason instanceof DOMException && reason.name === "TimeoutError") {
    return deadlineStop(performance.now() - started, started, reason);
  }
  return () => new Aborted(reason);
}

/** What a watched call is watched for. */
export interface WatchOptions {
  /** Milliseconds from the start of the call. */
  timeout?: number;
  /** Aborts the call. */
  signal?: AbortSignal;
  /** Stops the call when another thread sets it. */
  stop?: StopSignal;
  /** For async calls: yield to the event loop at every slice. */
  yields?: boolean;
}

/**
 * Watches one call of a metered guest: its `poll` runs at every slice.
 */
export class CallWatch {
  readonly #state: CallState;
  readonly #meter: FuelMeter;
  readonly #started = performance.now();
  readonly #deadline: number;
  readonly #timeout: number | undefined;
  readonly #signal: AbortSignal | undefined;
  readonly #stop: StopSignal | undefined;
  readonly #yields: boolean;
  readonly #target: number;
  #lastPoll = this.#started;

  /**
   * Starts watching.
   *
   * @param state The call's state, where stops are recorded.
   * @param meter The guest's meter; its slice is tuned here.
   * @param options The deadline, signal, and for async calls the yield channel.
   */
  constructor(state: CallState, meter: FuelMeter, options: WatchOptions) {
    this.#state = state;
    this.#meter = meter;
    this.#timeout = options.timeout;
    this.#deadline = options.timeout === undefined
      ? Infinity
      : this.#started + options.timeout;
    this.#signal = options.signal;
    this.#stop = options.stop;
    this.#yields = options.yields ?? false;
    this.#target = this.#yields ? ASYNC_SLICE_MS : SYNC_SLICE_MS;
  }

  /** When the call started, from `performance.now()`. */
  get started(): number {
    return this.#started;
  }

  /** Records the stop if the deadline passed or the signal aborted. */
  check(now: number): boolean {
    if (this.#state.stop !== undefined) return true;
    if (now >= this.#deadline) {
      this.#meter.stop("deadline");
      recordStop(this.#state, deadlineStop(this.#timeout!, this.#started));
      return true;
    }
    if (this.#signal?.aborted) {
      const timedOut = this.#signal.reason instanceof DOMException &&
        this.#signal.reason.name === "TimeoutError";
      this.#meter.stop(timedOut ? "deadline" : "abort");
      recordStop(this.#state, abortStop(this.#signal, this.#started));
      return true;
    }
    if (this.#stop?.stopped) {
      const reason = this.#stop.reason;
      this.#meter.stop("stop");
      recordStop(this.#state, () => new Aborted(reason));
      return true;
    }
    return false;
  }

  /** Runs at every slice: tunes the slice, checks, and in async calls yields. */
  readonly poll = (): boolean | Promise<boolean> => {
    const now = performance.now();
    this.#tune(now);
    if (this.check(now)) return true;
    if (!this.#yields) return false;
    return nextTurn().then(() => {
      const resumed = performance.now();
      this.#lastPoll = resumed;
      return this.check(resumed);
    });
  };

  /** Sizes the next slice to last about the target time. */
  #tune(now: number): void {
    const elapsed = now - this.#lastPoll;
    this.#lastPoll = now;
    if (elapsed <= 0) return;
    const factor = Math.min(2, Math.max(0.5, this.#target / elapsed));
    this.#meter.slice = Math.round(
      Math.min(MAX_SLICE, Math.max(MIN_SLICE, this.#meter.slice * factor)),
    );
  }
}
