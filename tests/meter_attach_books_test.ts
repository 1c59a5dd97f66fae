/**
 * `FuelMeter#attach` again: the same instance (a loader's hook that
 * attaches on every call), or a fresh one after a stop. Attaching the same
 * instance twice put the fuel in its counter back in the tank twice: the
 * meter then had more than it was given, and `consumed` went negative.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { FuelMeter } from "../mod.ts";
import { wat } from "./support/instrument.ts";
import { expectOutcome } from "./support/outcome.ts";

const SPIN = await wat(`(module
  (func (export "spin") (loop $l (br $l)))
  (func (export "quick") (result i32) (i32.const 3)))`);

/** Counts its loop's passes, in a global any caller can read. */
const COUNTER = await wat(`(module
  (global $passes (export "passes") (mut i32) (i32.const 0))
  (func (export "count")
    (loop $l
      (global.set $passes (i32.add (global.get $passes) (i32.const 1)))
      (br $l))))`);

const BUDGET = 1_000_000;

for (const resumable of [true, false]) {
  Deno.test(`attaching the same instance again keeps the books (resumable: ${resumable})`, async () => {
    const meter = new FuelMeter(SPIN, { fuel: BUDGET, resumable });
    const { instance } = await WebAssembly.instantiate(
      meter.bytes,
      meter.imports,
    );
    for (let i = 0; i < 3; i++) {
      meter.attach(instance);
      assert.equal(meter.consumed, 0);
      assert.equal(meter.remaining, BUDGET);
    }
    const quick = expectOutcome(
      meter.run(instance.exports.quick as () => number),
      "returned",
    );
    assert.equal(quick.value, 3);
    meter.attach(instance);
    assert.equal(meter.consumed + meter.remaining, BUDGET);
    const spun = expectOutcome(
      meter.run(instance.exports.spin as () => void),
      "fuel_exhausted",
    );
    assert.equal(spun.fuel!.remaining, meter.remaining);
    assert.ok(meter.remaining < 10, `${meter.remaining} left`);
    assert.equal(meter.consumed + meter.remaining, BUDGET);
  });
}

Deno.test("a fresh instance attached after another keeps the books", async () => {
  const meter = new FuelMeter(SPIN, { fuel: BUDGET });
  const first = await WebAssembly.instantiate(meter.bytes, meter.imports);
  meter.attach(first.instance);
  const half = expectOutcome(
    meter.run(first.instance.exports.spin as () => void, { fuel: BUDGET / 2 }),
    "fuel_exhausted",
  );
  assert.ok(half.fuel!.consumed <= BUDGET / 2);
  const second = await WebAssembly.instantiate(meter.bytes, meter.imports);
  meter.attach(second.instance);
  assert.equal(meter.consumed + meter.remaining, BUDGET);
  expectOutcome(
    meter.run(second.instance.exports.spin as () => void),
    "fuel_exhausted",
  );
  assert.ok(meter.remaining < 10, `${meter.remaining} left`);
  assert.equal(meter.consumed + meter.remaining, BUDGET);
});

Deno.test("an instance replaced by attach spends no fuel: its slice went back to the tank, and it is refused until attached again", async () => {
  const meter = new FuelMeter(SPIN, { fuel: BUDGET });
  const first = await WebAssembly.instantiate(meter.bytes, meter.imports);
  meter.attach(first.instance); // its counter holds the whole budget
  const second = await WebAssembly.instantiate(meter.bytes, meter.imports);
  meter.attach(second.instance);
  const spinFirst = first.instance.exports.spin as () => void;
  // Called directly, the old instance spent the budget it had held, which
  // the books had put back in the tank: a million units nobody saw.
  assert.throws(
    spinFirst,
    (error: Error) =>
      error instanceof TypeError &&
      /no longer attached to this FuelMeter.*attach/.test(error.message),
  );
  assert.equal(meter.remaining, BUDGET);
  // Under a run, its cap held nothing back: the run ended at its deadline,
  // having booked none of the work.
  const capped = expectOutcome(
    meter.run(spinFirst, { fuel: 10_000, timeout: 60_000 }),
    "error",
  );
  assert.match(capped.error.message, /no longer attached/);
  assert.equal(meter.remaining, BUDGET);
  // Attached again, it runs on the books.
  meter.attach(first.instance);
  expectOutcome(meter.run(spinFirst, { fuel: 10_000 }), "fuel_exhausted");
  assert.equal(meter.consumed, 10_000);
  assert.equal(meter.consumed + meter.remaining, BUDGET);
});

Deno.test("a trapping meter's replaced instance traps at its first check, having done no work", async () => {
  const meter = new FuelMeter(COUNTER, { fuel: BUDGET, resumable: false });
  const first = await WebAssembly.instantiate(meter.bytes, meter.imports);
  meter.attach(first.instance);
  const second = await WebAssembly.instantiate(meter.bytes, meter.imports);
  meter.attach(second.instance);
  assert.throws(
    first.instance.exports.count as () => void,
    WebAssembly.RuntimeError,
  );
  // It had kept the budget its counter held: a third of a million passes.
  assert.equal((first.instance.exports.passes as WebAssembly.Global).value, 0);
  assert.equal(meter.remaining, BUDGET);
  expectOutcome(
    meter.run(second.instance.exports.count as () => void),
    "fuel_exhausted",
  );
  assert.equal(meter.consumed + meter.remaining, BUDGET);
});
