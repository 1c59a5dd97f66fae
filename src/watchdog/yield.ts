/**
 * Yields to the event loop with a macrotask.
 *
 * A guest suspended through JSPI and resumed from a microtask never lets
 * timers, I/O or `AbortSignal` events run. `setTimeout(0)` does, but costs
 * about 2 ms in Deno. A `MessageChannel` message costs a few microseconds,
 * but measured here, two guests yielding through one starved a
 * `setInterval(…, 10)` down to about 15 ticks a second: the port's messages
 * are drained in one go while each resumed guest posts the next. Node's
 * `setImmediate` runs once per turn of the loop, after timers and I/O: 1.2 to
 * 9 µs a yield, with timers on time, and nothing left to keep the process
 * alive once the call is over.
 *
 * Guests that yield at their flag's tick take turns: each runs its slice
 * (0.5 ms) before the next is resumed, so a guest whose stop came while it
 * waited for its turn would wait for every other's slice first (behind 40
 * spinning async guests, a 20 ms deadline landed 20 to 66 ms late; behind
 * 100, 34 to 165 ms). {@linkcode turnUnlessDue} wakes such a guest at the
 * next yield of any of them.
 *
 * @module
 */

import { setImmediate } from "node:timers";

/** Resolves after the event loop has had one turn: timers, I/O, other tasks. */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A guest waiting for its turn, which a stop found due wakes at once. */
interface Waiting {
  /** Whether the guest's stop is due (and, if so, recorded). */
  readonly due: () => boolean;
  /** Ends the wait. */
  readonly wake: () => void;
}

/** The guests waiting for their turn through {@linkcode turnUnlessDue}. */
const waiting = new Set<Waiting>();

/**
 * Resolves after the event loop has had one turn, as {@linkcode nextTurn}
 * does, or sooner: as soon as another guest yielding through this finds
 * `due()` true. First it wakes every guest waiting here whose stop is due,
 * so that the wakened guest runs on (to the trap of its stop) before the
 * next guest's turn, not after all of them.
 *
 * @param due Whether the caller's stop is due; may record it.
 * @returns Resolves when the caller's turn comes or its stop is due.
 *
 * @example Usage
 * ```ts
 * import { turnUnlessDue } from "./yield.ts";
 * import assert from "node:assert/strict";
 *
 * let stopped = false;
 * const order: string[] = [];
 * const parked = turnUnlessDue(() => stopped).then(() => order.push("due"));
 * stopped = true;
 * // Another guest's yield wakes the first, whose stop is due, at once.
 * await turnUnlessDue(() => false).then(() => order.push("turn"));
 * await parked;
 * assert.deepEqual(order, ["due", "turn"]);
 * ```
 */
export function turnUnlessDue(due: () => boolean): Promise<void> {
  wakeDue();
  return new Promise((resolve) => {
    const entry: Waiting = {
      due,
      wake: () => {
        waiting.delete(entry);
        resolve();
      },
    };
    waiting.add(entry);
    setImmediate(entry.wake);
  });
}

/** Wakes the waiting guests whose stop is due. */
function wakeDue(): void {
  if (waiting.size === 0) return;
  for (const entry of waiting) {
    let due = true;
    try {
      due = entry.due();
    } catch {
      // Its own check throws again in its own call, once woken.
    }
    if (due) entry.wake();
  }
}
