/**
 * A load's deadline, kept by a punctual timer that aborts its signal (as
 * the command line's `--timeout` does), lands at the first pause of the
 * load's work after it is due, not at the turn of the event loop after
 * that; and a stop that comes while a wait of the load waits for its turn
 * rejects the wait at once. Counted in steps and in turns, not in time, so
 * that a loaded machine cannot fail them.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { TurnCounter } from "./support/event_loop_turns.ts";
import { isAborted, isDeadlineExceeded } from "../mod.ts";
import { LoadStops } from "../src/load/load_stops.ts";
import { startPunctualTimer } from "../src/watchdog/punctual_timer.ts";
import type { Steps } from "../src/wasm/steps.ts";

/**
 * Work in steps of a tenth of a millisecond each, for at most `ms`; for
 * each step after the first, when the step before it paused.
 */
function* heldSteps(ms: number, pausedBefore: number[]): Steps<void> {
  const end = performance.now() + ms;
  for (;;) {
    const start = performance.now();
    if (start > end) return;
    while (performance.now() - start < 0.1) { /* holds the thread */ }
    const paused = performance.now();
    yield;
    pausedBefore.push(paused);
  }
}

Deno.test("a load's steps end at the first pause after a punctual timer's deadline is due", async () => {
  for (let round = 0; round < 5; round++) {
    const controller = new AbortController();
    const stops = new LoadStops(controller.signal);
    const reason = new DOMException("deadline", "TimeoutError");
    const cancel = startPunctualTimer(4, () => controller.abort(reason));
    // At or after the timer's own time, read after it was set.
    const due = performance.now() + 4;
    const pausedBefore: number[] = [];
    try {
      // Into the timer's last stretch, where a look waits in a queue.
      await new Promise((resolve) => setTimeout(resolve, 3));
      await assert.rejects(
        stops.runSteps(heldSteps(2_000, pausedBefore)),
        (error) => isDeadlineExceeded(error),
      );
    } finally {
      cancel();
      stops.dispose();
    }
    // A pause at or after the deadline is the last: the step after it
    // never begins, however long any step took.
    const late = pausedBefore.filter((paused) => paused >= due);
    assert.equal(
      late.length,
      0,
      `${late.length} steps began after a pause past the deadline`,
    );
  }
});

Deno.test("a stop rejects a load's wait at once, not after the turn the wait gives first", async () => {
  for (let round = 0; round < 3; round++) {
    const controller = new AbortController();
    const stops = new LoadStops(controller.signal);
    const counter = new TurnCounter();
    try {
      counter.start();
      // A new load's first wait gives the event loop a turn first.
      const waited = stops.race(new Promise<never>(() => {}));
      controller.abort("enough");
      await assert.rejects(waited, (error) => isAborted(error));
      assert.equal(counter.turns, 0);
    } finally {
      counter.stop();
      stops.dispose();
    }
  }
});
