/**
 * Ends a wait inside a WASI call (a sleep in `poll_oneoff`, a read from a
 * stream) when the run's deadline passes, its `AbortSignal` aborts or its
 * `StopSignal` is set. The guest is suspended (JSPI) while it waits, so the
 * event loop runs and the wait is a promise: it rejects with the stop
 * error, which ends the run with that stop's outcome.
 *
 * @module
 */

import { Aborted, DeadlineExceeded } from "../errors.ts";
import { watchOnEventLoop } from "../call/event_loop_stops.ts";
import { startTimer } from "../watchdog/long_timer.ts";
import type { StopSignal } from "../watchdog/stop_signal.ts";
import { isInstance, readSafely } from "../thrown_values.ts";
import { signalAborted, signalReason } from "../call/abort_signal_reads.ts";

/**
 * How often a blocking sleep looks at a `StopSignal` set by a plain store
 * from another thread (`stop()` wakes it at once), in milliseconds.
 */
const STOP_POLL_MS = 1;

type Timer = ReturnType<typeof setTimeout>;

/** What a blocking sleep waits on: nothing ever wakes it. */
const SLEEPER = new Int32Array(new SharedArrayBuffer(4));

/** What ends a run. */
export interface RunStops {
  /** Milliseconds from the start of the run. */
  timeout?: number;
  /** Aborts the run. */
  signal?: AbortSignal;
  /** Stops the run when another thread sets it. */
  stop?: StopSignal;
}

/** The stops of one run, from its start. */
export class StopWatch {
  readonly #stops: RunStops;
  #started = performance.now();

  /**
   * Starts the clock.
   *
   * @param stops The deadline and signals of the run.
   */
  constructor(stops: RunStops) {
    this.#stops = stops;
  }

  /** Starts the clock again: when the guest's `_start` is called. */
  restart(): void {
    this.#started = performance.now();
  }

  /** The stop error if the run should stop now, else `undefined`. */
  stopped(): Error | undefined {
    const { timeout, signal, stop } = this.#stops;
    const elapsed = performance.now() - this.#started;
    if (timeout !== undefined && elapsed >= timeout) {
      return new DeadlineExceeded(timeout, elapsed);
    }
    if (signal !== undefined && signalAborted(signal)) {
      const reason = signalReason(signal);
      // The reason is any value the host aborted with: a revoked proxy
      // throws on `instanceof`, and this runs in the signal's abort
      // listener, where a throw would end the process.
      if (
        isInstance(reason, DOMException) &&
        readSafely(reason, "name") === "TimeoutError"
      ) {
        return new DeadlineExceeded(elapsed, elapsed, { cause: reason });
      }
      return new Aborted(reason);
    }
    if (stop?.stopped) return new Aborted(stop.reason);
    return undefined;
  }

  /**
   * Waits for `work`, or rejects with the stop error when the run stops
   * first.
   *
   * @param work What the guest waits for.
   * @param onStop Runs when the run stops first, to cancel the work.
   * @returns What `work` resolves to.
   */
  race<T>(work: Promise<T>, onStop?: () => void): Promise<T> {
    const early = this.stopped();
    if (early !== undefined) {
      onStop?.();
      return Promise.reject(early);
    }
    return new Promise<T>((resolve, reject) => {
      const dispose = watchOnEventLoop(this.#stops, this.#started, () => {
        // A timer may fire a fraction of a millisecond before this clock
        // counts the deadline as passed: the watch then looks again.
        const error = this.stopped();
        if (error === undefined) return false;
        onStop?.();
        reject(error);
        return true;
      });
      work.then(
        (value) => {
          dispose();
          resolve(value);
        },
        (error) => {
          dispose();
          reject(error);
        },
      );
    });
  }

  /**
   * Sleeps on this thread, for a guest that runs as a plain call: until
   * the run's deadline when it comes first, or its `StopSignal`'s
   * `stop()`, which wakes the sleep (a flag set by a plain store is seen
   * within a millisecond). An `AbortSignal` could
   * not fire meanwhile; such a run is never a plain call.
   *
   * @param ms How long, in milliseconds.
   * @throws {DeadlineExceeded} When the deadline passes first.
   * @throws {Aborted} When the `StopSignal` is set first.
   */
  sleepBlocking(ms: number): void {
    const { timeout, stop } = this.#stops;
    const wake = performance.now() + ms;
    // `StopSignal.stop()` wakes a wait on its word at once.
    const word = stop === undefined
      ? SLEEPER
      : new Int32Array(stop.buffer, 0, 1);
    for (;;) {
      const stopped = this.stopped();
      if (stopped !== undefined) throw stopped;
      const now = performance.now();
      if (now >= wake) return;
      let slice = wake - now;
      if (timeout !== undefined) {
        slice = Math.min(slice, this.#started + timeout - now);
      }
      if (stop !== undefined) slice = Math.min(slice, STOP_POLL_MS);
      Atomics.wait(word, 0, 0, Math.max(0, slice));
    }
  }

  /**
   * Waits on this thread, for a guest that runs as a plain call, until
   * `word[index]` is no longer `value` (another thread changed it, and
   * notified), or the run stops: its deadline passes, or its `StopSignal`
   * is set (seen within a millisecond).
   *
   * @param word Shared memory another thread changes.
   * @param index The element waited on.
   * @param value What it holds while the wait lasts.
   * @param ms At most how long, in milliseconds: the wait then ends
   *   without a change.
   * @throws {DeadlineExceeded} When the deadline passes first.
   * @throws {Aborted} When the `StopSignal` is set first.
   */
  waitBlocking(
    word: Int32Array,
    index: number,
    value: number,
    ms = Infinity,
  ): void {
    const { timeout, stop } = this.#stops;
    const until = performance.now() + ms;
    for (;;) {
      const stopped = this.stopped();
      if (stopped !== undefined) throw stopped;
      if (Atomics.load(word, index) !== value) return;
      const left = until - performance.now();
      if (left <= 0) return;
      let slice = Math.min(left, stop === undefined ? Infinity : STOP_POLL_MS);
      if (timeout !== undefined) {
        slice = Math.min(
          slice,
          Math.max(0, this.#started + timeout - performance.now()),
        );
      }
      Atomics.wait(word, index, value, slice);
    }
  }

  /**
   * Sleeps, unless the run stops first.
   *
   * @param ms How long, in milliseconds.
   */
  sleep(ms: number): Promise<void> {
    let cancel: (() => void) | undefined;
    // Not setTimeout: a sleep longer than it can hold (about 24.8 days,
    // and a guest may sleep for 2^64 ns) would end at once.
    const done = new Promise<void>((resolve) => {
      cancel = startTimer(ms, resolve);
    });
    return this.race(done, () => cancel?.());
  }
}
