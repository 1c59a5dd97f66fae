/**
 * `FuelMeter#runAsync`: a guest that finds its flag set, or runs out of
 * its slice, while a stop is already due (a deadline passed, a StopSignal
 * set, a signal aborted) stops there, without first yielding a turn of the
 * event loop, where other work and V8's pending tasks would run ahead of
 * the stop. Counted in turns of the event loop, each marked by a
 * `setImmediate` chain that runs once a turn, from the guest's call of
 * `host.mark`.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { TurnCounter } from "./support/event_loop_turns.ts";
import { assembleWat } from "../guest/build.ts";
import { type CallOutcome, FuelMeter, StopSignal } from "../mod.ts";
import type { InstrumentOptions } from "../src/wasm/mod.ts";
import { expectOutcome } from "./support/outcome.ts";
import { COUNTING_SPIN, CROWD, othersRanFirst } from "./support/async_crowd.ts";

/** `run` calls `host.mark`, then spins. */
const MARKED_SPIN = await assembleWat(`(module
  (import "host" "mark" (func $mark))
  (func (export "run") (call $mark) (loop $l (br $l))))`);

const { promising } = WebAssembly as unknown as {
  promising(fn: unknown): () => Promise<unknown>;
};

const counter = new TurnCounter();
let marks = 0;
let polls = 0;

/**
 * A suspendable meter over the marked spin, whose mark starts the count
 * and runs `atMark`. A free loop (`costs.default: 0`) is stopped through
 * its flag alone; a costed one also asks for fuel at each slice.
 */
async function markedMeter(costs: InstrumentOptions, atMark: () => void) {
  // The user's hook is asked at slices of fuel only, never at the flag.
  const poll = () => {
    polls++;
    return false;
  };
  const meter = new FuelMeter(MARKED_SPIN, { suspend: true, poll }, costs);
  const mark = () => {
    marks++;
    counter.start();
    atMark();
  };
  const { instance } = await WebAssembly.instantiate(meter.bytes, {
    ...meter.imports,
    host: { mark },
  });
  meter.attach(instance);
  const run = promising(instance.exports.run);
  return {
    meter,
    /**
     * The run's outcome, the turns from the guest's mark to its end, and
     * whether the guest got to its mark at all.
     */
    async turnsAfterMark(
      call: (run: () => Promise<unknown>) => Promise<CallOutcome>,
    ) {
      counter.reset();
      marks = 0;
      polls = 0;
      try {
        const outcome = await call(run);
        assert.ok(marks <= 1, `the guest ran to its mark ${marks} times`);
        // A free loop asks for no fuel, so no slice asks the hook.
        if (costs === FREE) assert.equal(polls, 0, "poll was not asked");
        return { outcome, turns: counter.turns, marked: marks === 1 };
      } finally {
        counter.stop();
      }
    },
  };
}

const FREE: InstrumentOptions = { costs: { default: 0 } };
const COSTED: InstrumentOptions = {};
const TIMEOUT_MS = 30;
/** Runs of a deadline test, of which three must get to the guest's mark. */
const MAX_RUNS = 30;

for (const [name, costs] of [["free", FREE], ["costed", COSTED]] as const) {
  Deno.test(`runAsync: a ${name} loop past its deadline stops with no turn of the event loop`, async () => {
    // The mark outlasts the deadline, timed from the mark itself: the run
    // started its clock before the guest got there, however long a loaded
    // machine took in between. Timed from before `runAsync`, the run's own
    // deadline could still be ahead, and the watchdog's tick set the flag
    // first, which yields a turn as it should.
    const { meter, turnsAfterMark } = await markedMeter(costs, () => {
      const passed = performance.now() + TIMEOUT_MS + 1;
      while (performance.now() <= passed);
    });
    // A machine busy enough can hold the thread past the deadline before
    // the guest gets to its mark: that run stops at the guest's entry and
    // counts no turns for nothing, so another is made in its place.
    let counted = 0;
    for (let attempt = 0; counted < 3; attempt++) {
      assert.ok(
        attempt < MAX_RUNS,
        `${counted} of ${attempt} runs got to the mark`,
      );
      const { outcome, turns, marked } = await turnsAfterMark((run) =>
        meter.runAsync(run, { timeout: TIMEOUT_MS })
      );
      expectOutcome(outcome, "timeout");
      if (!marked) continue;
      assert.equal(turns, 0);
      counted++;
    }
  });

  Deno.test(`runAsync: a ${name} loop whose StopSignal a host import sets stops with no turn of the event loop`, async () => {
    let stop = new StopSignal();
    const { meter, turnsAfterMark } = await markedMeter(
      costs,
      () => stop.stop(),
    );
    for (let i = 0; i < 3; i++) {
      stop = new StopSignal();
      const { outcome, turns, marked } = await turnsAfterMark((run) =>
        meter.runAsync(run, { stop })
      );
      assert.ok(marked, "the guest ran to its mark");
      expectOutcome(outcome, "aborted");
      assert.equal(meter.stopReason, "stop");
      assert.equal(turns, 0);
    }
  });
}

Deno.test("runAsync: a free loop whose signal a host import aborts stops with no turn of the event loop", async () => {
  let controller = new AbortController();
  const { meter, turnsAfterMark } = await markedMeter(
    FREE,
    () => controller.abort("enough"),
  );
  for (let i = 0; i < 3; i++) {
    controller = new AbortController();
    const { outcome, turns, marked } = await turnsAfterMark((run) =>
      meter.runAsync(run, { signal: controller.signal })
    );
    assert.ok(marked, "the guest ran to its mark");
    expectOutcome(outcome, "aborted");
    assert.equal(meter.stopReason, "abort");
    assert.equal(turns, 0);
  }
});

Deno.test("runAsync: a StopSignal the meter's poll sets at a slice stops with no turn of the event loop", async () => {
  let stop = new StopSignal();
  let asked = 0;
  // Counted from the hook, which a slice's end asks: the flag's ticks
  // before it yield turns of their own.
  const poll = () => {
    asked++;
    counter.start();
    stop.stop();
    return false;
  };
  const meter = new FuelMeter(MARKED_SPIN, { suspend: true, poll });
  const { instance } = await WebAssembly.instantiate(meter.bytes, {
    ...meter.imports,
    host: { mark: () => {} },
  });
  meter.attach(instance);
  const run = promising(instance.exports.run);
  for (let i = 0; i < 3; i++) {
    stop = new StopSignal();
    counter.reset();
    asked = 0;
    try {
      const outcome = await meter.runAsync(run, { stop });
      expectOutcome(outcome, "aborted");
      assert.equal(meter.stopReason, "stop");
      assert.equal(asked, 1, "poll was asked once");
      assert.equal(counter.turns, 0);
    } finally {
      counter.stop();
    }
  }
});

for (const [name, costs] of [["free", FREE], ["costed", COSTED]] as const) {
  for (const stopBy of ["StopSignal", "abort"] as const) {
    const what = stopBy === "abort" ? "an abort" : "a StopSignal";
    Deno.test(`runAsync: ${what} of a ${name} loop waiting its turn behind ${CROWD} spinning guests lands at the next guest's yield, not after each of theirs`, async () => {
      // A free loop yields at its flag's ticks only; a costed one at its
      // slices of fuel too.
      const meter = new FuelMeter(COUNTING_SPIN, { suspend: true }, costs);
      const { instance } = await WebAssembly.instantiate(
        meter.bytes,
        meter.imports,
      );
      meter.attach(instance);
      const spin = promising(instance.exports.spin);
      const ran = await othersRanFirst(
        (stop) => meter.runAsync(spin, stop),
        stopBy,
      );
      // The first guest that yields wakes the stopped run; each of the 16
      // ran its slice first before.
      assert.ok(ran <= 2, `${ran} of ${CROWD} other guests ran first`);
    });
  }
}
