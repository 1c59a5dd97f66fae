/**
 * A stop request that another thread can make.
 *
 * While a plain (synchronous) call runs, the thread that made it runs
 * nothing else, so an `AbortSignal` on that thread cannot fire. A
 * `StopSignal` lives in a `SharedArrayBuffer`: a Worker (or any thread the
 * buffer is posted to) sets it with `Atomics`; the watchdog thread copies it
 * into the guest's stop flag within half a millisecond, and the guest's
 * next check stops the call.
 *
 * @module
 */

/**
 * A flag in shared memory that stops a call from any thread.
 *
 * @example Usage
 * ```ts
 * import { loadGuest, StopSignal } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * const guest = await loadGuest(new URL("../../guest/runaway.wasm", import.meta.url), { interruptible: true });
 * const stop = new StopSignal();
 * stop.stop("already stopped"); // a Worker would do this, given stop.buffer
 * const result = guest.invoke("spin", [], { stop });
 * assert.equal(result.outcome, "aborted");
 * ```
 */
export class StopSignal {
  /** The shared memory behind the flag: post it to the thread that stops. */
  readonly buffer: SharedArrayBuffer;
  readonly #flag: Int32Array;
  #reason: string | undefined;

  /**
   * Makes a flag, or wraps one made on another thread. Never wrap a buffer
   * a guest can write, such as a shared memory's: a guest storing 0 in its
   * first word clears every stop before the watchdog sees it (a call given
   * such a signal ran on to its 2 s deadline), and one storing 1 stops the
   * other calls that share it. A call, load or meter run given a signal
   * over the current buffer of a shared memory its guest imports or
   * exports refuses it with a `TypeError`; a buffer taken before the memory
   * grew is not recognised.
   *
   * @param buffer The `buffer` of another `StopSignal`; default, a new one.
   * @throws {TypeError} When `buffer` is not a `SharedArrayBuffer` of at least 4 bytes.
   */
  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer(4)) {
    if (
      typeof SharedArrayBuffer !== "function" ||
      !(buffer instanceof SharedArrayBuffer) || buffer.byteLength < 4
    ) {
      const given = buffer instanceof ArrayBuffer
        ? `an ArrayBuffer, which no other thread can see`
        : buffer instanceof SharedArrayBuffer
        ? `a SharedArrayBuffer of ${buffer.byteLength} bytes`
        : typeof buffer;
      throw new TypeError(
        `a StopSignal needs the SharedArrayBuffer of another StopSignal (its buffer, at least 4 bytes); got ${given}: pass stop.buffer, or nothing for a new signal`,
      );
    }
    this.buffer = buffer;
    this.#flag = new Int32Array(buffer, 0, 1);
  }

  /**
   * Asks every call watching this flag to stop.
   *
   * @param reason Why, for the error's message on this thread.
   */
  stop(reason?: string): void {
    this.#reason = reason;
    Atomics.store(this.#flag, 0, 1);
    // Wakes a host waiting for it on its event loop (see
    // `event_loop_stops.ts`) at once, rather than at its next poll.
    Atomics.notify(this.#flag, 0);
  }

  /** Whether the flag is set. */
  get stopped(): boolean {
    return Atomics.load(this.#flag, 0) !== 0;
  }

  /** The reason given to `stop` on this thread, if any. */
  get reason(): string {
    return this.#reason ?? "stopped through a StopSignal";
  }

  /** Clears the flag, for the next call. */
  reset(): void {
    this.#reason = undefined;
    Atomics.store(this.#flag, 0, 0);
  }
}
