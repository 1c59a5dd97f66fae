/**
 * The stop flags of the guests whose calls are in progress, for the calls
 * of other guests made inside them.
 *
 * A host import of guest A may call guest B, and B's call may reach A's
 * code (through a table the host made, or a reference A handed out). That
 * code is A's: its checks read A's flag, which only A's calls' stops set,
 * so B's deadline, StopSignal or AbortSignal would land only once A's code
 * returned to B's (a 30 ms deadline had landed a second late). So a
 * watched call arms its own stops on the flags of the calls it is made
 * inside of as well as on its own ({@linkcode enclosingFlags}), and a
 * guest that finds its flag set asks those calls too
 * ({@linkcode innerStopDue}), those the running code is inside of (two
 * async calls made in one import may both run the guest's code, and one's
 * stop is not the other's): their stop is recorded in their own state,
 * and the guest's code traps, unwinding to their call. When such a call
 * ends, a flag it set for itself alone is cleared, unless a stop of the
 * flag's own calls is due.
 *
 * @module
 */

import { type CallWatch, watchesInside } from "./call_watch.ts";
import { InnermostLast } from "./calls_in_progress.ts";

/**
 * A guest's flag, and the calls in progress that read it: each
 * {@linkcode FlagUse.enter} as a call of the guest starts ends with a
 * {@linkcode FlagUse.leave}.
 */
export class FlagUse {
  /** The guest's stop flag. */
  readonly flag: Int32Array;
  /** How many of the guest's calls are in progress (its calls nest). */
  depth = 0;
  /** Whether a stop of the guest's calls is due (recording it). */
  due: () => boolean = () => false;
  /** The watches of calls made inside them that armed their stops on it. */
  readonly inner = new Set<CallWatch>();

  /** @param flag The guest's stop flag. */
  constructor(flag: Int32Array) {
    this.flag = flag;
  }

  /**
   * Notes that a call of the guest has started.
   *
   * @param due Whether a stop of the guest's calls is due, recording it:
   *   asked before a flag that an inner call set is cleared.
   */
  enter(due: () => boolean): void {
    if (this.depth++ === 0) this.due = due;
  }

  /**
   * Notes that a call of the guest has ended. Once the last one has,
   * calls made inside them that outlive them (an async call whose host
   * import stopped waiting for it) set the flag no more.
   */
  leave(): void {
    if (--this.depth > 0) return;
    this.depth = 0;
    if (this.inner.size === 0) return;
    for (const watch of this.inner) watch.disarmOn(this.flag);
    this.inner.clear();
  }
}

/** Each flag's use, made once (a call adds nothing to the heap). */
const uses = new WeakMap<Int32Array, FlagUse>();

/**
 * The use of a guest's flag, made on the first call: keep it, and
 * {@linkcode FlagUse.enter} and {@linkcode FlagUse.leave} it around each
 * call.
 *
 * @param flag The guest's stop flag.
 * @returns Its use.
 */
export function flagUse(flag: Int32Array): FlagUse {
  let use = uses.get(flag);
  if (use === undefined) uses.set(flag, use = new FlagUse(flag));
  return use;
}

/** The use of a flag whose guest has a call in progress. */
function inUse(flag: Int32Array): FlagUse | undefined {
  const use = uses.get(flag);
  return use !== undefined && use.depth > 0 ? use : undefined;
}

/** The flags of the plain calls in progress on this thread, innermost last. */
const plainFlags = new InnermostLast<Int32Array>();

/**
 * Marks a plain call of a guest with a flag as in progress, until
 * {@linkcode leavePlainFlag}.
 *
 * @param flag The guest's stop flag.
 * @returns Where it entered, for {@linkcode leavePlainFlag}.
 */
export function enterPlainFlag(flag: Int32Array): number {
  return plainFlags.enter(flag);
}

/**
 * Ends what {@linkcode enterPlainFlag} began (and what calls nested in it
 * left behind: see `InnermostLast`).
 *
 * @param at What {@linkcode enterPlainFlag} returned.
 */
export function leavePlainFlag(at: number): void {
  plainFlags.leave(at);
}

/** No flags: what nearly every call gets. */
const NO_FLAGS: readonly Int32Array[] = Object.freeze([]);

/**
 * The flags of the calls a call is made inside of, whose guests' code it
 * may reach: the plain calls in progress on this thread (for a plain
 * call) and the async calls it is made inside of, less its own guest's.
 *
 * @param own The calling guest's flag, if it has one.
 * @param plain Whether the call is plain: an async call is made inside
 *   only the async calls whose imports await it.
 * @param asyncFlags The flags of the async calls it is made inside of.
 * @returns The flags, each once.
 */
export function enclosingFlags(
  own: Int32Array | undefined,
  plain: boolean,
  asyncFlags: readonly Int32Array[],
): readonly Int32Array[] {
  if (asyncFlags.length === 0 && (!plain || plainFlags.items.length === 0)) {
    return NO_FLAGS;
  }
  const flags = new Set<Int32Array>(asyncFlags);
  if (plain) { for (const flag of plainFlags.items) flags.add(flag); }
  if (own !== undefined) flags.delete(own);
  for (const flag of flags) if (inUse(flag) === undefined) flags.delete(flag);
  return flags.size === 0 ? NO_FLAGS : [...flags];
}

/**
 * Registers a watch as armed on a flag of an enclosing call's guest.
 *
 * @param flag The flag.
 * @param watch The inner call's watch.
 * @returns Whether that guest still has a call in progress (if not, the
 *   watch must not arm on its flag).
 */
export function addInner(flag: Int32Array, watch: CallWatch): boolean {
  const use = inUse(flag);
  if (use === undefined) return false;
  use.inner.add(watch);
  return true;
}

/**
 * After an inner call's watch has disarmed its stops on `flag`: the flag,
 * if the inner call's stop may have set it, is cleared unless a stop of
 * its guest's calls (or of another inner call armed on it) is due, so that
 * the guest does not stop (or trap, where its checks trap) on a stop that
 * was not its own.
 *
 * @param flag The flag.
 * @param watch The inner call's watch, disarmed.
 * @param raised Whether a stop of the inner call's may have set the flag.
 *   If not, a set flag was set by another's stop or a tick, and stays set:
 *   asking every call that may be due, at the end of each of a chain of
 *   async calls of many guests, on every enclosing guest's flag that a
 *   tick had set, made the chain's ends cubic in its depth.
 */
export function innerEnded(
  flag: Int32Array,
  watch: CallWatch,
  raised: boolean,
): void {
  const use = inUse(flag);
  if (use === undefined || !use.inner.delete(watch)) return;
  if (!raised || Atomics.load(flag, 0) === 0) return;
  // Cleared first, so that a set that races with the check is not lost.
  Atomics.store(flag, 0, 0);
  if (use.due() || innerStopDue(flag)) Atomics.store(flag, 0, 1);
}

/**
 * Whether a call made inside a call of the flag's guest, armed on the
 * flag, that the running code is inside of must stop: its stop is recorded
 * in its own state. Asked when the guest finds its flag set and no stop of
 * its own calls is due.
 *
 * @param flag The guest's stop flag.
 * @param now `performance.now()`.
 * @param trapped Whether the guest trapped at the flag (see
 *   `CallWatch.check`).
 * @returns Whether the guest's code must stop (trap) to unwind to it.
 */
export function innerStopDue(
  flag: Int32Array | undefined,
  now: number = performance.now(),
  trapped = false,
): boolean {
  if (flag === undefined) return false;
  const inner = uses.get(flag)?.inner;
  if (inner === undefined || inner.size === 0) return false;
  // Read once, not once an inner call: a chain of async calls of a hundred
  // guests has as many armed on the outermost one's flag.
  const inside = watchesInside();
  for (const watch of inner) {
    if (watch.checkIfInside(now, trapped, inside)) return true;
  }
  return false;
}
