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

/** How a call is ended when its own end was cut short. */
export type EndCutShort<C> = (call: C) => void;

/** The calls in progress, outermost first, and their ends. */
const calls: unknown[] = [];
const ends: EndCutShort<never>[] = [];

/**
 * Lists a plain call as in progress.
 *
 * @param call The call's bookkeeping, which `end` takes.
 * @param end Ends the call as far as its own end had not, and does nothing
 *   when it had; safe to run again.
 * @returns Where it is listed, for {@linkcode endCallsAbove} and
 *   {@linkcode leaveCall}.
 */
export function enterCall<C>(call: C, end: EndCutShort<C>): number {
  const at = calls.length;
  calls[at] = call;
  ends[at] = end as EndCutShort<never>;
  return at;
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
    const last = calls.length - 1;
    (ends[last] as EndCutShort<unknown>)(calls[last]);
    calls.length = last;
    ends.length = last;
  }
}

/**
 * Takes a call off the list once it has ended, after ending any call above
 * it still listed.
 *
 * @param at What {@linkcode enterCall} returned.
 */
export function leaveCall(at: number): void {
  endCallsAbove(at);
  if (calls.length > at) {
    calls.length = at;
    ends.length = at;
  }
}
