/**
 * A caller's `AbortSignal`, read through `AbortSignal.prototype` and
 * `EventTarget.prototype` rather than through the object. A signal can carry
 * properties of its own over the real ones (an `aborted` or `reason` getter
 * that throws, an `addEventListener` that does nothing): read through the
 * object, those made a call, load or WASI run reject with the getter's own
 * unbranded error, or miss the abort. The prototypes' accessors read the
 * signal's real state, and run none of the caller's code. Option checks
 * already turn away anything but a real signal (a proxy of one included).
 *
 * @module
 */

const ABORTED = Object.getOwnPropertyDescriptor(
  AbortSignal.prototype,
  "aborted",
)!.get!;
const REASON = Object.getOwnPropertyDescriptor(
  AbortSignal.prototype,
  "reason",
)!.get!;
const ADD_LISTENER = EventTarget.prototype.addEventListener;
const REMOVE_LISTENER = EventTarget.prototype.removeEventListener;

/** Whether `signal` has aborted. */
export function signalAborted(signal: AbortSignal): boolean {
  return ABORTED.call(signal);
}

/** What `signal` aborted with (`undefined` before it aborts). */
export function signalReason(signal: AbortSignal): unknown {
  return REASON.call(signal);
}

/** Calls `listener` when `signal` aborts. */
export function listenForAbort(
  signal: AbortSignal,
  listener: () => void,
  options?: AddEventListenerOptions,
): void {
  ADD_LISTENER.call(signal, "abort", listener, options);
}

/** Undoes {@linkcode listenForAbort}. */
export function stopListeningForAbort(
  signal: AbortSignal,
  listener: () => void,
): void {
  REMOVE_LISTENER.call(signal, "abort", listener);
}
