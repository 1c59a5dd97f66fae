/**
 * `FuelMeter#run` and `#runAsync` throw only for a misuse, and a `fn` that
 * is not a function is one: it was the `error` outcome, as if the library
 * had thrown, and the meter's books were touched for a run that never was.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { FuelMeter } from "../mod.ts";
import { wat } from "./support/instrument.ts";
import { attachedMeter } from "./support/attached_meter.ts";

const QUICK = await wat(`(module
  (func (export "quick") (result i32) (i32.const 3)))`);

Deno.test("FuelMeter#run and #runAsync refuse a fn that is not a function", async () => {
  const meter = new FuelMeter(QUICK, { fuel: 100, suspend: true });
  const { instance } = await WebAssembly.instantiate(
    meter.bytes,
    meter.imports,
  );
  meter.attach(instance);
  for (const fn of [5, undefined, "quick", {}]) {
    assert.throws(
      () => meter.run(fn as never, { fuel: 10 }),
      (error: Error) =>
        error instanceof TypeError &&
        /FuelMeter\.run: fn must be a function/.test(error.message),
    );
    assert.throws(
      () => meter.runAsync(fn as never, { fuel: 10 }),
      (error: Error) =>
        error instanceof TypeError &&
        /FuelMeter\.runAsync: fn must be a function/.test(error.message),
    );
    assert.equal(meter.remaining, 100);
  }
});

Deno.test("a slice set during a run outlasts it", async () => {
  const meter = new FuelMeter(QUICK, { fuel: 1_000_000 });
  const { instance } = await WebAssembly.instantiate(
    meter.bytes,
    meter.imports,
  );
  meter.attach(instance);
  const quick = instance.exports.quick as () => number;
  for (const options of [{}, { timeout: 60_000 }]) {
    meter.slice = 0;
    meter.run(() => {
      meter.slice = 1_000;
      return quick();
    }, options);
    assert.equal(meter.slice, 1_000, JSON.stringify(options));
    // And one set before the run is the one after it.
    meter.slice = 2_000;
    meter.run(quick, options);
    assert.equal(meter.slice, 2_000, JSON.stringify(options));
  }
});

Deno.test("FuelMeter#run refuses a fn that returns a promise, whose work after its first await no stop would reach, and runs on after it", async () => {
  const { meter, exports } = await attachedMeter<() => number>(QUICK, {
    fuel: 1_000,
  });
  const quick = exports.quick;
  let later = 0;
  const returningPromises: [string, () => unknown][] = [
    ["an async function", async () => {
      quick();
      await Promise.resolve();
      later = quick(); // outside the run: the reason for the refusal
    }],
    ["a rejected promise", () => Promise.reject(new Error("dropped"))],
    ["a thenable", () => ({ then: () => quick() })],
  ];
  for (const [what, fn] of returningPromises) {
    assert.throws(
      () => meter.run(fn, { timeout: 60_000 }),
      (error: Error) =>
        error instanceof TypeError &&
        /^FuelMeter\.run's function returned a promise: what it does after its first await runs outside the run, where no fuel cap, deadline or stop reaches it; .* meter\.runAsync/
          .test(error.message),
      what,
    );
    // The run is over: the next one runs, on the same books.
    const next = meter.run(() => quick(), { fuel: 100 });
    assert.equal(next.outcome, "returned", what);
  }
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(later, 3);
});
