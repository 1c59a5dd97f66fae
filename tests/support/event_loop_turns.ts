/**
 * Counts turns of the event loop, for tests that promise a stop lands
 * without one: each turn runs one `setImmediate` callback, which schedules
 * the next.
 *
 * @module
 */

import { setImmediate } from "node:timers";

/** A count of the event loop's turns from `start()` to `stop()`. */
export class TurnCounter {
  #turns = 0;
  // A stop then a start before the old chain's next callback ran would
  // leave two chains counting; each chain counts only in its own start.
  #chain = 0;
  #counting = false;

  /** Turns counted since the counter was made or last reset. */
  get turns(): number {
    return this.#turns;
  }

  /** Whether a count is running. */
  get counting(): boolean {
    return this.#counting;
  }

  /** Starts counting (nothing if already counting). */
  start(): void {
    if (this.#counting) return;
    this.#counting = true;
    const chain = ++this.#chain;
    const count = () => {
      if (!this.#counting || chain !== this.#chain) return;
      this.#turns++;
      setImmediate(count);
    };
    setImmediate(count);
  }

  /** Stops counting; the count so far stays. */
  stop(): void {
    this.#counting = false;
  }

  /** Sets the count back to zero. */
  reset(): void {
    this.#turns = 0;
  }
}
