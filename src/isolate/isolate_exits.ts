/**
 * Children still exiting: a stopped isolated call returns as soon as its
 * child is killed, and the child's exit (which takes tens of milliseconds
 * for one holding a GiB of memory) is waited for, its output read to the
 * end and its streams closed after the call has returned. This module keeps
 * that work, so that a test or a host about to quit can wait for it.
 *
 * @module
 */

const exiting = new Set<Promise<void>>();

/** Keeps `work` (which may reject: that is ignored) until it has settled. */
export function trackExit(work: Promise<unknown>): void {
  const settled: Promise<void> = work.then(
    () => exiting.delete(settled),
    () => exiting.delete(settled),
  ).then(() => {});
  exiting.add(settled);
}

/**
 * Resolves once every child process that {@linkcode invokeIsolated} has
 * started so far has exited and been reaped, and its output has been read
 * to the end and its streams closed. A stopped isolated call returns as
 * soon as its child is killed, without waiting for the child to go: a child
 * holding a GiB of memory takes some tens of milliseconds to exit. Await
 * this where nothing may be left running, for example at the end of a test
 * run with Deno's op and resource sanitizers. Calls still waiting for room
 * for their child (see `setIsolatedChildrenLimit`) are waited for too, to
 * their end.
 *
 * @returns A promise that resolves when no child is left.
 *
 * @example Usage
 * ```ts
 * import { invokeIsolated, isolatedChildrenExited } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * const result = await invokeIsolated("guest/runaway.wasm", "spin", [], {
 *   timeout: 100,
 * });
 * assert.equal(result.outcome, "timeout");
 * await isolatedChildrenExited(); // the killed child is gone
 * ```
 */
export async function isolatedChildrenExited(): Promise<void> {
  while (exiting.size > 0) await Promise.all(exiting);
}

/** How many isolated calls' children have not yet been reaped (for tests). */
export function childrenExiting(): number {
  return exiting.size;
}
