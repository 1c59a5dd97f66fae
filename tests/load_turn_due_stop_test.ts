/**
 * A watched load's turn of the event loop (before instantiation, around
 * its copy of the caller's bytes) ends the load at once when a StopSignal
 * was set while the load held the thread: the turn would run other work
 * first, for nothing. Counted in turns of the event loop, each marked by a
 * `setImmediate` chain that runs once a turn.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { TurnCounter } from "./support/event_loop_turns.ts";
import { isAborted, StopSignal } from "../mod.ts";
import { LoadStops } from "../src/load/load_stops.ts";

Deno.test("a load's turn answers a StopSignal set while the thread was held, with no turn of the event loop", async () => {
  for (let i = 0; i < 3; i++) {
    const stop = new StopSignal();
    const stops = new LoadStops(undefined, stop);
    const counter = new TurnCounter();
    try {
      // As another thread would, while the load's work holds this one.
      stop.stop("while held");
      counter.start();
      await assert.rejects(stops.turn(), (error) => isAborted(error));
      assert.equal(counter.turns, 0);
    } finally {
      counter.stop();
      stops.dispose();
    }
  }
});
