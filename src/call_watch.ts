/**
 * Watches a call of a metered guest for its deadline, its `AbortSignal`
 * and its `StopSignal`, and makes the stop for each.
 *
 * ## Design
 *
 * A guest stuck in `loop br 0` never calls the host, and while it runs
 * synchronously nothing else on its thread can run either: no timer, no
 * `AbortSignal` event. So, as with Wasmtime's epochs, the guest is rewritten
 * to read a stop flag in shared memory at every function entry and loop
 * header (and between the chunks of a bulk operator), and another thread,
 * the watchdog, sets the flag at the deadline, or when the StopSignal is
 * set. In a plain call a set flag makes the guest trap at once (a trap it
 * cannot catch), and the host then asks the calls in progress which one
 * must stop (see `flagStop`); the flag is only ever set for a stop that is
 * due. In an async call the guest calls the host's `on_stop_flag`
 * instead, which asks the same question: if one must stop it records the
 * stop and the guest executes `unreachable`; if not it clears the flag and
 * the guest goes on. Time is never inferred from the guest's fuel, which a
 * guest can make cheap or dear at will.
 *
 * An async call (JSPI) also has the watchdog set its flag every
 * {@linkcode TICK_MS}; `on_stop_flag` then suspends the guest for one turn
 * of the event loop, so timers, I/O, other guests and the `AbortSignal`
 * get their turn. An abort sets the flag at once; an abort while the guest
 * waits inside an async host import rejects that import's promise, and the
 * guest, if it catches the rejection, traps at its next check.
 *
 * @module
 */

import { Aborted, DeadlineExceeded } from "./errors.ts";
import { type CallState, recordStop, type Stop } from "./call_state.ts";
import type { StopSignal } from "./stop_signal.ts";
import { arm, tick, watch, type WatchdogHandle } from "./watchdog.ts";

/** How often an async call yields to the event loop, in milliseconds. */
export const TICK_MS = 0.5;

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

/** The most this thread waits for its clock to reach a passed deadline. */
const MAX_CLOCK_SKEW_MS = 2;

/** What a watched call is watched for. */
export interface WatchOptions {
  /** Milliseconds from the start of the call. */
  timeout?: number;
  /** Aborts the call. */
  signal?: AbortSignal;
  /** Stops the call when another thread sets it. */
  stop?: StopSignal;
  /** For async calls: yield to the event loop every {@linkcode TICK_MS}. */
  yields?: boolean;
  /**
   * When the call was made, from `performance.now()`, which the deadline
   * counts from: earlier than now for an async call that waited for its
   * turn. Default: now.
   */
  started?: number;
}

/**
 * Watches one call of a metered guest: sets its stop flag when it must
 * look, and says whether it must stop. {@linkcode CallWatch.dispose} it
 * when the call ends.
 */
export class CallWatch {
  readonly #state: CallState;
  readonly #started: number;
  readonly #deadline: number;
  readonly #timeout: number | undefined;
  readonly #signal: AbortSignal | undefined;
  readonly #stop: StopSignal | undefined;
  readonly #flag: Int32Array | undefined;
  readonly #handles: WatchdogHandle[] = [];
  /** The watchdog's handle on the deadline, while armed. */
  #deadlineHandle: WatchdogHandle | undefined;

  /**
   * Starts watching.
   *
   * @param state The call's state, where stops are recorded.
   * @param flag The guest's stop flag, if it has one.
   * @param options The deadline, signals, and whether the call yields.
   */
  constructor(
    state: CallState,
    flag: Int32Array | undefined,
    options: WatchOptions,
  ) {
    this.#state = state;
    this.#flag = flag;
    this.#started = options.started ?? performance.now();
    this.#timeout = options.timeout;
    this.#deadline = options.timeout === undefined
      ? Infinity
      : this.#started + options.timeout;
    this.#signal = options.signal;
    this.#stop = options.stop;
    if (flag !== undefined) this.#arm(flag, options.yields ?? false);
  }

  /** When the call started, from `performance.now()`. */
  get started(): number {
    return this.#started;
  }

  /** Records the stop if the deadline passed or the signal aborted. */
  check(now: number): boolean {
    if (this.#state.stop !== undefined) return true;
    if (now >= this.#deadline || this.#deadlineHandle?.fired() === true) {
      // The watchdog's clock may run a fraction of a millisecond ahead of
      // this thread's: a deadline it found passed is passed, once this
      // thread's clock agrees (a guest whose flag checks trap cannot be
      // asked again later), so that a stop never reports less than its
      // timeout.
      const agreed = Math.min(this.#deadline, now + MAX_CLOCK_SKEW_MS);
      while (performance.now() < agreed);
      this.#state.meter?.stop("deadline");
      recordStop(this.#state, deadlineStop(this.#timeout!, this.#started));
      return true;
    }
    if (this.#signal?.aborted) {
      const timedOut = this.#signal.reason instanceof DOMException &&
        this.#signal.reason.name === "TimeoutError";
      this.#state.meter?.stop(timedOut ? "deadline" : "abort");
      recordStop(this.#state, abortStop(this.#signal, this.#started));
      return true;
    }
    if (this.#stop?.stopped) {
      const reason = this.#stop.reason;
      this.#state.meter?.stop("stop");
      recordStop(this.#state, () => new Aborted(reason));
      return true;
    }
    return false;
  }

  /** Runs when the guest asks for fuel: checks. */
  readonly poll = (): boolean => this.check(performance.now());

  /** Stops setting the flag. Calling it twice does nothing. */
  dispose(): void {
    this.#signal?.removeEventListener("abort", this.#raise);
    const handles = this.#handles;
    if (handles.length === 0) return;
    for (const handle of handles) handle.disarm();
    handles.length = 0;
  }

  readonly #raise = (): void => {
    if (this.#flag !== undefined) Atomics.store(this.#flag, 0, 1);
  };

  /** Has the watchdog (or an abort) set the flag when the call must look. */
  #arm(flag: Int32Array, yields: boolean): void {
    if (this.#deadline <= this.#started) this.#raise();
    else if (this.#deadline !== Infinity) {
      this.#deadlineHandle = arm(flag, this.#deadline);
      this.#handles.push(this.#deadlineHandle);
    }
    if (this.#stop !== undefined) {
      if (this.#stop.stopped) this.#raise();
      this.#handles.push(watch(this.#stop, flag));
    }
    if (this.#signal !== undefined) {
      if (this.#signal.aborted) this.#raise();
      else this.#signal.addEventListener("abort", this.#raise);
    }
    if (yields) this.#handles.push(tick(flag, TICK_MS));
  }
}
