/**
 * A watched load counts the thread's hold from its last turn of the event
 * loop, not from where each piece of its work begins: work before the
 * load (the command line's read of the guest and its listeners), and the
 * load's own work between its waits, add up. A load that had held the
 * thread for half a millisecond by its next wait or its next steps gives
 * the event loop a turn there first, where an abort queued meanwhile
 * lands. Before, each run of steps timed its first turn from its own
 * start, and a wait for work already done gave none: the command line's
 * run of a small guest held the thread 2.4 to 4 ms at once from the end of
 * its read to the end of the rewrite's second step, and its 5 ms deadline
 * landed up to 3.7 ms late.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { setImmediate } from "node:timers";
import { isAborted } from "../mod.ts";
import { LoadStops } from "../src/load/load_stops.ts";
import type { Steps } from "../src/wasm/steps.ts";

/** Holds the thread for at least `ms` milliseconds. */
function hold(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) { /* the caller's own work */ }
}

/** Steps that note each one run. */
function* counted(ran: number[]): Steps<string> {
  for (let i = 0; i < 3; i++) {
    ran.push(i);
    yield;
  }
  return "done";
}

Deno.test("an abort queued while the caller held the thread ends the load before its first step", async () => {
  const controller = new AbortController();
  const stops = new LoadStops(controller.signal);
  try {
    setImmediate(() => controller.abort());
    hold(1);
    const ran: number[] = [];
    await assert.rejects(stops.runSteps(counted(ran)), isAborted);
    assert.deepEqual(ran, []);
  } finally {
    stops.dispose();
  }
});

Deno.test("a wait for work already done gives the event loop a turn once the load has held the thread", async () => {
  const controller = new AbortController();
  const stops = new LoadStops(controller.signal);
  try {
    // The first steps turn (nothing had turned before them); what follows
    // holds the thread again, and an abort is queued meanwhile.
    assert.equal(await stops.runSteps(counted([])), "done");
    setImmediate(() => controller.abort());
    hold(1);
    await assert.rejects(stops.race(Promise.resolve("ready")), isAborted);
  } finally {
    stops.dispose();
  }
});

Deno.test("an unwatched load never turns the event loop for its waits or steps", async () => {
  const stops = new LoadStops();
  try {
    hold(1);
    let turned = false;
    setImmediate(() => turned = true);
    assert.equal(await stops.race(Promise.resolve("ready")), "ready");
    const ran: number[] = [];
    assert.equal(await stops.runSteps(counted(ran)), "done");
    assert.deepEqual(ran, [0, 1, 2]);
    assert.equal(turned, false);
  } finally {
    stops.dispose();
  }
});
