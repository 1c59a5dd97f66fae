/**
 * A `FuelMeter#runAsync` stopped while its call waits on the library's own
 * promise ends at once, and the meter stays stopped so that the call traps
 * as soon as it resumes. `settle()`, `setFuel` or `addFuel` called
 * meanwhile undid that stop: the call resumed unwatched and ran on its
 * whole budget. The stop must hold until the call has trapped.
 *
 * @module
 */

import assert from "./support/assert.ts";
import type { FuelMeter } from "../mod.ts";
import { expectOutcome } from "./support/outcome.ts";
import { wat } from "./support/instrument.ts";
import { waitingLibrary } from "./support/waiting_library.ts";

/** Waits in its library's import, then counts in `count` for ever. */
const WAITS_THEN_COUNTS = await wat(`(module
  (import "lib" "wait" (func $wait))
  (global $n (export "count") (mut i32) (i32.const 0))
  (func (export "run")
    (call $wait)
    (loop $l
      (global.set $n (i32.add (global.get $n) (i32.const 1)))
      (br $l))))`);

const BUDGET = 100_000_000;

const MEANWHILE: [string, (meter: FuelMeter) => number][] = [
  ["settle()", (meter) => (meter.settle(), 0)],
  ["setFuel", (meter) => {
    const consumed = meter.consumed;
    meter.setFuel(BUDGET);
    return consumed;
  }],
  ["addFuel", (meter) => (meter.addFuel(5), 5)],
];

for (const [what, meanwhile] of MEANWHILE) {
  Deno.test(`a stranded runAsync call still traps at once after ${what}`, async () => {
    const { meter, instance, run, release } = await waitingLibrary(
      WAITS_THEN_COUNTS,
      BUDGET,
    );
    const result = await meter.runAsync(run, {
      timeout: 20,
    });
    expectOutcome(result, "timeout");
    const added = meanwhile(meter);
    release();
    await meter.idle();
    assert.equal((instance.exports.count as WebAssembly.Global).value, 0);
    assert.equal(meter.consumed + meter.remaining, BUDGET + added);
    assert.ok(meter.consumed < 1_000, `${meter.consumed} consumed`);
  });
}

Deno.test("idle() during a runAsync settles once the meter takes a new run", async () => {
  const { meter, run, release } = await waitingLibrary(
    WAITS_THEN_COUNTS,
    BUDGET,
  );
  const first = meter.runAsync(run, { fuel: 1_000 });
  const idle = meter.idle();
  let idled = false;
  idle.then(() => (idled = true));
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(idled, false, "idle while the run is in flight");
  release();
  expectOutcome(await first, "fuel_exhausted");
  await idle;
  // The meter takes the next run now.
  const next = meter.runAsync(run, { timeout: 20 });
  release();
  expectOutcome(await next, "timeout");
});
