/**
 * The plain calls in progress on this thread, innermost last, and how to
 * end each of them should its own end be cut short.
 *
 * A host import may call a guest back (its own guest or another) at any
 * depth of the thread's stack, and a guest's recursion chooses that depth.
 * When the stack runs out there, V8 throws a `RangeError` from whatever
 * function is being entered: in the guest, in the import, or in a nested
 * call's own bookkeeping as it begins or ends (a cold function is compiled
 * on first use, on that same stack). A call whose end was cut short so
 * would leave its frame on its guest's call stack, its deadline armed and
 * its fuel's books open, and every later call of the guest would be taken
 * for one nested in it, and stopped by its deadline (it was: a guest that
 * recursed through an import until the stack overflowed, in a fresh
 * process, made every later call of its guest end `timeout` or `aborted`
 * at once).
 *
 * So each plain call is listed here as it begins, and when it comes back
 * from the guest (returning or throwing) it first ends every call listed
 * above it, innermost first: those have returned or thrown by then, and
 * any still listed is one whose end was cut short. That runs at the
 * depth of the enclosing call, where the stack has room again; when it
 * has not, the enclosing call's own end is cut short too, and the call
 * below it ends both. The ends are written to be run again: each part of
 * a call's end either finds its work done or does it whole.
 *
 * @module
 */

import { cutFrom } from "./calls_in_progress.ts";

/** A call as listed: it carries the end it is given when cut short. */
export interface ListedCall {
  /**
   * Ends the call (`self`) as far as its own end had not, and does nothing
   * when it had; safe to run again.
   */
  endCutShort(self: ListedCall): void;
}

/** The calls in progress, outermost first. */
const calls: ListedCall[] = [];

/**
 * Lists a plain call as in progress.
 *
 * @param call The call's bookkeeping, with its end.
 * @returns Where it is listed, for {@linkcode endCallsAbove} and
 *   {@linkcode leaveCall}.
 */
export function enterCall(call: ListedCall): number {
  entered++;
  return calls.push(call) - 1;
}

/** How many calls {@linkcode enterCall} has listed on this thread so far. */
let entered = 0;

/**
 * How many calls have been listed on this thread so far: a host import
 * that reads it before and after tells whether it called a guest.
 *
 * @returns The count.
 */
export function callsEntered(): number {
  return entered;
}

/**
 * Ends every call listed above `at`, innermost first: calls nested in the
 * call at `at` whose own end was cut short. Each stays listed until its end
 * has run, so that a call below ends it when this one's end is cut short
 * in turn.
 *
 * @param at What {@linkcode enterCall} returned for the call coming back
 *   from its guest.
 */
export function endCallsAbove(at: number): void {
  while (calls.length > at + 1) {
    const last = calls[calls.length - 1];
    last.endCutShort(last);
    // Its end may have taken it off already (see leaveCall).
    if (calls[calls.length - 1] === last) calls.pop();
  }
}

/**
 * How many calls are listed: what a host import notes as it is called, so
 * that the calls it makes are ended by {@linkcode endCallsAbove} (given
 * this less one) when it returns or throws, also in an async call, which
 * is not listed.
 */
export function listedCalls(): number {
  return calls.length;
}

/**
 * Takes a call off the list once it has ended, after ending any call above
 * it still listed; does nothing when it is no longer listed.
 *
 * @param call The call.
 * @param at What {@linkcode enterCall} returned for it.
 */
export function leaveCall(call: ListedCall, at: number): void {
  if (calls[at] !== call) return;
  endCallsAbove(at);
  cutFrom(calls, at);
}
