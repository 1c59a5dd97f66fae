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
 * @module
 */

import { setImmediate } from "node:timers";

/** Resolves after the event loop has had one turn: timers, I/O, other tasks. */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
