/**
 * How many isolated calls' children a process runs at once. Each child is a
 * whole Deno process (about 65 MB of memory before its guest has done
 * anything), and nothing else bounds how many calls a host starts: a
 * hundred at once took 6.7 GB here, and a burst of requests that each make
 * an isolated call would take the machine's memory and the host with it.
 * So at most {@linkcode isolatedChildrenLimit} children are alive at a time,
 * a killed one counted until it has exited, and later calls wait their turn
 * in the order they came. A call's deadline and abort count while it waits:
 * a stop then ends it at once, and no child is started for it. The count,
 * the limit and the queue are the process's: every copy of early-exit in
 * it shares them.
 *
 * @module
 */

import { describeValue } from "../option_checks.ts";
import { processWide } from "../process_wide.ts";

/**
 * The default: twice the CPUs this process may use, and at least 4, so that
 * calls whose guests wait on their imports still overlap while guests that
 * compute do not crowd each other out.
 */
function defaultLimit(): number {
  const cpus = globalThis.navigator?.hardwareConcurrency ?? 1;
  return Math.max(4, 2 * cpus);
}

/**
 * The count, shared by every copy of early-exit in this process
 * (`process_wide.ts`): the limit, the children started and not yet
 * reaped, and the calls waiting for a child, first come first, whichever
 * copy made them.
 */
interface Children {
  limit: number;
  alive: number;
  readonly waiting: { start: () => void }[];
}

const children = processWide<Children>(
  "isolated-children@1",
  () => ({ limit: defaultLimit(), alive: 0, waiting: [] }),
  (value): value is Children => {
    const found = value as Partial<Children> | undefined;
    return typeof found?.limit === "number" &&
      typeof found.alive === "number" && Array.isArray(found.waiting);
  },
);
const waiting = children.waiting;

/**
 * Sets how many isolated calls' children this process runs at once, for
 * every {@linkcode invokeIsolated} call from now on, whichever copy of
 * early-exit in the process makes it (they share the limit and the count).
 * A call past the limit waits until a child has exited, in the order the
 * calls came; its `timeout` and `signal` count while it waits, and a stop
 * ends it then without starting a child. Children already running are left
 * to end; lowering the limit below their number only makes later calls wait
 * longer. The default is twice the CPUs the process may use, and at least
 * 4.
 *
 * @param max The most children alive at once: a whole number, 1 or more.
 * @returns The limit it replaces.
 * @throws {RangeError} When `max` is not a whole number of 1 or more.
 *
 * @example Usage
 * ```ts
 * import { invokeIsolated, setIsolatedChildrenLimit } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * // One child at a time: the second call waits for the first to end.
 * const before = setIsolatedChildrenLimit(1);
 * try {
 *   const compute = new URL("../../guest/compute.wasm", import.meta.url);
 *   const [a, b] = await Promise.all([
 *     invokeIsolated(compute, "fib", [10]),
 *     invokeIsolated(compute, "fib", [11]),
 *   ]);
 *   assert.deepEqual([a.outcome, b.outcome], ["returned", "returned"]);
 * } finally {
 *   setIsolatedChildrenLimit(before);
 * }
 * ```
 */
export function setIsolatedChildrenLimit(max: number): number {
  if (!Number.isSafeInteger(max) || max < 1) {
    throw new RangeError(
      `setIsolatedChildrenLimit takes a whole number of children, 1 or more; got ${
        describeValue(max)
      }: pass, for example, ${defaultLimit()} (this machine's default)`,
    );
  }
  const before = children.limit;
  children.limit = max;
  startWaiting();
  return before;
}

/**
 * How many isolated calls' children this process runs at once (see
 * {@linkcode setIsolatedChildrenLimit}).
 *
 * @returns The limit.
 *
 * @example Usage
 * ```ts
 * import { isolatedChildrenLimit } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * assert.ok(isolatedChildrenLimit() >= 4);
 * ```
 */
export function isolatedChildrenLimit(): number {
  return children.limit;
}

/**
 * How many isolated calls of this process wait for room for a child, made
 * by any copy of early-exit.
 *
 * @returns The count.
 *
 * @example Usage
 * ```ts
 * import { isolatedCallsWaiting } from "./isolate_children.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(isolatedCallsWaiting(), 0);
 * ```
 */
export function isolatedCallsWaiting(): number {
  return waiting.length;
}

/**
 * Waits for room for one more child: resolves with the function that gives
 * the room back once the child has exited (it does so once, however often
 * it is called), or with `undefined` when `stopped` settles first, and the
 * call then takes no room.
 */
export function roomForChild(
  stopped: Promise<void>,
): Promise<(() => void) | undefined> {
  if (waiting.length === 0 && children.alive < children.limit) {
    return Promise.resolve(takeRoom());
  }
  return new Promise((resolve) => {
    const entry = { start: () => resolve(takeRoom()) };
    waiting.push(entry);
    stopped.then(() => {
      const at = waiting.indexOf(entry);
      if (at === -1) return; // started already: the call gives it back
      waiting.splice(at, 1);
      resolve(undefined);
    });
  });
}

function takeRoom(): () => void {
  children.alive++;
  let given = false;
  return () => {
    if (given) return;
    given = true;
    children.alive--;
    startWaiting();
  };
}

function startWaiting(): void {
  while (children.alive < children.limit && waiting.length > 0) {
    waiting.shift()!.start();
  }
}
