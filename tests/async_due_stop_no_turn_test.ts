/**
 * An async call that finds its flag set for a stop already due (a deadline
 * passed, a signal aborted) ends there, without first yielding a turn of
 * the event loop, where other work and V8's pending tasks (a collection's
 * pause) would run ahead of the stop. A StopSignal or an abort a host
 * import makes is due at the guest's next check. Counted in turns of the event loop,
 * each marked by a `setImmediate` chain that runs once a turn.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { TurnCounter } from "./support/event_loop_turns.ts";
import { assembleWat } from "../guest/build.ts";
import { type CallOutcome, loadGuest, StopSignal } from "../mod.ts";
import { COUNTING_SPIN, CROWD, othersRanFirst } from "./support/async_crowd.ts";
import { expectOutcome } from "./support/outcome.ts";

/**
 * `run` calls `host.mark`, then spins: the turns are counted from the
 * mark, so that none the call takes before the guest runs counts. `spin`
 * only spins.
 */
const MARKED_SPIN = await assembleWat(`(module
  (import "host" "mark" (func $mark))
  (func (export "run") (call $mark) (loop $l (br $l)))
  (func (export "spin") (loop $l (br $l))))`);

const counter = new TurnCounter();

/** A guest whose mark starts a count of turns and runs `atMark`. */
async function countingGuest(atMark: () => void) {
  const guest = await loadGuest(MARKED_SPIN, {
    async: true,
    imports: {
      host: {
        mark: () => {
          counter.start();
          atMark();
        },
      },
    },
  });
  return {
    /** The call's outcome, and the turns from its mark to its end. */
    async turnsAfterMark(call: () => Promise<CallOutcome>) {
      counter.reset();
      try {
        return { outcome: await call(), turns: counter.turns };
      } finally {
        counter.stop();
      }
    },
    guest,
  };
}

Deno.test("an async call past its deadline stops at its first check, with no turn of the event loop", async () => {
  const { guest, turnsAfterMark } = await countingGuest(() => {});
  // Counted from the call's start: a call made before it, so that the
  // guest's first call's own waits (its flag's binding) are over.
  await guest.invokeAsync("run", [], { timeout: 0 });
  for (let i = 0; i < 3; i++) {
    const { outcome, turns } = await turnsAfterMark(() => {
      counter.start();
      return guest.invokeAsync("spin", [], { timeout: 0 });
    });
    expectOutcome(outcome, "timeout");
    assert.equal(turns, 0);
  }
});

Deno.test("an async call whose StopSignal a host import sets stops at its next check, with no turn of the event loop", async () => {
  let stop = new StopSignal();
  const { guest, turnsAfterMark } = await countingGuest(() => stop.stop());
  for (let i = 0; i < 3; i++) {
    stop = new StopSignal();
    const { outcome, turns } = await turnsAfterMark(() =>
      guest.invokeAsync("run", [], { stop })
    );
    expectOutcome(outcome, "aborted");
    assert.equal(turns, 0);
  }
});

Deno.test("an async call whose signal a host import aborts stops at its next check, with no turn of the event loop", async () => {
  let controller = new AbortController();
  const { guest, turnsAfterMark } = await countingGuest(() =>
    controller.abort("enough")
  );
  for (let i = 0; i < 3; i++) {
    controller = new AbortController();
    const { outcome, turns } = await turnsAfterMark(() =>
      guest.invokeAsync("run", [], { signal: controller.signal })
    );
    expectOutcome(outcome, "aborted");
    assert.equal(turns, 0);
  }
});

for (const stopBy of ["StopSignal", "abort"] as const) {
  const what = stopBy === "abort" ? "an abort" : "a StopSignal";
  Deno.test(`${what} of an async call waiting its turn behind ${CROWD} other spinning guests lands at the next guest's yield, not after each of theirs`, async () => {
    const stopped = await loadGuest(COUNTING_SPIN, { async: true });
    const ran = await othersRanFirst(
      (stop) => stopped.invokeAsync("spin", [], stop),
      stopBy,
    );
    // The first guest that yields wakes the stopped one; each of the 16
    // ran its slice first before (16 of 16, every time).
    assert.ok(ran <= 2, `${ran} of ${CROWD} other guests ran first`);
  });
}
