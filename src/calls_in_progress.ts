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

/** One async call, in progress until `done`. */
interface CallInProgress {
  guest: object;
  done: boolean;
}

const calls = new AsyncLocalStorage<readonly CallInProgress[]>();

/**
 * Whether the running code is inside an async call of `guest` still in
 * progress (a host import it called, or what that import awaits).
 */
export function insideCallOf(guest: object): boolean {
  return calls.getStore()?.some((call) => call.guest === guest && !call.done) ??
    false;
}

/**
 * Runs an async call of `guest`, marked as in progress until it settles.
 *
 * @param guest The guest called.
 * @param run Starts the call.
 * @returns What `run` returns.
 */
export async function runCallOf<T>(
  guest: object,
  run: () => Promise<T>,
): Promise<T> {
  const call: CallInProgress = { guest, done: false };
  try {
    return await calls.run([...calls.getStore() ?? [], call], run);
  } finally {
    call.done = true;
  }
}
