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

/** Spins, counting its turns of the loop in `turns`. */
const COUNTING_SPIN = await assembleWat(`(module
  (global $turns (export "turns") (mut i32) (i32.const 0))
  (func (export "spin") (loop $again
    (global.set $turns (i32.add (global.get $turns) (i32.const 1)))
    (br $again))))`);

/** How many other guests spin beside the stopped one. */
const OTHERS = 16;

for (const stopBy of ["StopSignal", "abort"] as const) {
  const what = stopBy === "abort" ? "an abort" : "a StopSignal";
  Deno.test(`${what} of an async call waiting its turn behind ${OTHERS} other spinning guests lands at the next guest's yield, not after each of theirs`, async () => {
    const others = await Promise.all(
      Array.from(
        { length: OTHERS },
        () => loadGuest(COUNTING_SPIN, { async: true }),
      ),
    );
    const stopped = await loadGuest(COUNTING_SPIN, { async: true });
    const end = new AbortController();
    const running = others.map((guest) =>
      guest.invokeAsync("spin", [], { signal: end.signal })
    );
    const turns = () =>
      others.map((guest) =>
        (guest.instance.exports.turns as WebAssembly.Global).value as number
      );
    try {
      const stop = new StopSignal();
      const abort = new AbortController();
      // Started from a timer, after the others have yielded: its turn comes
      // last in each round of theirs.
      await new Promise((resolve) => setTimeout(resolve, 10));
      const call = stopped.invokeAsync(
        "spin",
        [],
        stopBy === "StopSignal" ? { stop } : { signal: abort.signal },
      );
      await new Promise((resolve) => setTimeout(resolve, 10));
      // Every guest waits for its turn while a timer runs.
      const before = turns();
      if (stopBy === "StopSignal") stop.stop("enough");
      else abort.abort("enough");
      expectOutcome(await call, "aborted");
      const ran = turns().filter((count, i) => count !== before[i]).length;
      // The first guest that yields wakes the stopped one; each of the 16
      // ran its slice first before (16 of 16, every time).
      assert.ok(ran <= 2, `${ran} of ${OTHERS} other guests ran first`);
    } finally {
      end.abort();
      for (const result of await Promise.all(running)) {
        expectOutcome(result, "aborted");
      }
    }
  });
}
