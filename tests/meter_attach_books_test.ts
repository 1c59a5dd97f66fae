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

Deno.test("an instance replaced by attach spends no fuel the books do not see", async () => {
  const meter = new FuelMeter(SPIN, { fuel: BUDGET });
  const first = await WebAssembly.instantiate(meter.bytes, meter.imports);
  meter.attach(first.instance); // its counter holds the whole budget
  const second = await WebAssembly.instantiate(meter.bytes, meter.imports);
  meter.attach(second.instance);
  // The old instance, called directly, draws on the meter's tank.
  assert.throws(() => (first.instance.exports.spin as () => void)());
  assert.ok(meter.remaining < 10, `${meter.remaining} left`);
  meter.settle();
  assert.equal(meter.consumed + meter.remaining, BUDGET);
});
