/**
 * The command line gives the event loop a turn between the read of the
 * guest and its load (`RunDeadline.turn`), so that a deadline that passed
 * while the thread was held ends the run there, as a `timeout` that says
 * where, rather than at the load's first turn, a piece of work later.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { RunDeadline, RunTimedOut } from "../src/cli/cli_deadline.ts";

/** Holds the thread for at least `ms` milliseconds. */
function hold(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) { /* the run's own work */ }
}

Deno.test("a deadline that passed while the run held the thread ends the run at its next turn, saying where", async () => {
  const deadline = new RunDeadline(1);
  try {
    hold(3);
    await assert.rejects(
      deadline.turn("reading the guest"),
      (error) =>
        error instanceof RunTimedOut && error.phase === "reading the guest" &&
        error.stop.elapsed >= 1 && /, while reading the guest$/.test(
          error.message,
        ),
    );
  } finally {
    deadline.dispose();
  }
});

Deno.test("a turn before the deadline lets the run go on", async () => {
  const deadline = new RunDeadline(60_000);
  try {
    await deadline.turn("loading the guest");
    assert.ok(!deadline.signal.aborted);
  } finally {
    deadline.dispose();
  }
});
