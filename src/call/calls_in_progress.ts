/**
 * Which async calls the running code is inside of, so that a host import
 * that calls back into its own async guest can be told apart from any
 * other caller.
 *
 * Calls on one async guest queue, so an async import that awaited a nested
 * `invokeAsync` on its own guest would wait for the very call it is part
 * of, for ever. `AsyncLocalStorage` follows the call into its imports,
 * across the guest's suspensions and into whatever they await; a call's
 * entry says whether it is still in progress, so that work an import
 * started and left behind may call the guest again once it has returned.
 *
 * @module
 */

import { AsyncLocalStorage } from "node:async_hooks";
import type { CallWatch } from "./call_watch.ts";

/** One async call, in progress until `done`. */
interface CallInProgress {
  guest: object;
  done: boolean;
  /** The call's watch: its stops also stop plain calls made inside it. */
  watch: CallWatch | undefined;
  /** Its guest's stop flag, which calls made inside it arm too. */
  flag: Int32Array | undefined;
}

const calls = new AsyncLocalStorage<readonly CallInProgress[]>();

/**
 * How many async calls are in progress: while none are, nothing reads the
 * async context (about 0.1 µs a read), which every plain call would pay.
 */
let inProgress = 0;

/**
 * Whether the running code is inside an async call of `guest` still in
 * progress (a host import it called, or what that import awaits).
 */
export function insideCallOf(guest: object): boolean {
  if (inProgress === 0) return false;
  return calls.getStore()?.some((call) => call.guest === guest && !call.done) ??
    false;
}

/**
 * The watches of the async calls in progress that the running code is
 * inside of (a host import they called), outermost first.
 */
export function asyncWatches(): CallWatch[] {
  const watches: CallWatch[] = [];
  if (inProgress === 0) return watches;
  for (const call of calls.getStore() ?? []) {
    if (!call.done && call.watch !== undefined) watches.push(call.watch);
  }
  return watches;
}

/** No flags: what a call made inside no async call gets. */
const NO_FLAGS: readonly Int32Array[] = Object.freeze([]);

/**
 * The stop flags of the async calls in progress that the running code is
 * inside of (see `flags_in_calls.ts`).
 */
export function asyncFlags(): readonly Int32Array[] {
  if (inProgress === 0) return NO_FLAGS;
  const flags: Int32Array[] = [];
  for (const call of calls.getStore() ?? []) {
    if (!call.done && call.flag !== undefined) flags.push(call.flag);
  }
  return flags;
}

/**
 * Runs an async call of `guest`, marked as in progress until it settles.
 *
 * @param guest The guest called.
 * @param run Starts the call.
 * @param watch The call's watch, if it has one.
 * @param flag The guest's stop flag, if it has one.
 * @returns What `run` returns.
 */
export async function runCallOf<T>(
  guest: object,
  run: () => Promise<T>,
  watch?: CallWatch,
  flag?: Int32Array,
): Promise<T> {
  const call: CallInProgress = { guest, done: false, watch, flag };
  inProgress++;
  try {
    return await calls.run([...calls.getStore() ?? [], call], run);
  } finally {
    call.done = true;
    inProgress--;
  }
}

/**
 * Takes the items from `at` on off a list of calls in progress, if it
 * holds any: as a pop when there is one, the usual case, since shrinking
 * an array by its length costs V8 far more.
 *
 * @param items The list, innermost last.
 * @param at The first place to take off.
 */
export function cutFrom(items: unknown[], at: number): void {
  if (items.length === at + 1) items.pop();
  else if (items.length > at) items.length = at;
}

/**
 * What the plain calls in progress on this thread hold, innermost last:
 * plain calls nest on the thread's stack, so each call's {@linkcode
 * InnermostLast.enter} is matched by its {@linkcode InnermostLast.leave},
 * innermost first. A call leaves by the place it entered at, and takes
 * whatever is above it along: those calls have returned or thrown by the
 * time it leaves, and an item of theirs still there is one whose own leave
 * a stack overflow cut short (a call nested as deep as the guest's
 * recursion took it).
 */
export class InnermostLast<T> {
  readonly #items: T[] = [];

  /** The items, outermost first. */
  get items(): readonly T[] {
    return this.#items;
  }

  /**
   * Marks a call's item as in progress.
   *
   * @returns Where it entered, for {@linkcode InnermostLast.leave}.
   */
  enter(item: T): number {
    return this.#items.push(item) - 1;
  }

  /**
   * Ends what {@linkcode InnermostLast.enter} began at `at`, and what any
   * call nested in it left behind.
   */
  leave(at: number): void {
    cutFrom(this.#items, at);
  }
}
