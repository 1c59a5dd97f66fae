/**
 * A hook that throws inside the guest's fuel check (`onStopping`, the
 * meter's `poll`) ends that run, and must leave nothing behind: the check's
 * note of the slice it was paying for stayed, and the next stop made outside
 * a fuel check (`meter.stop()`, or a deadline found by the stop flag) was
 * booked as if the guest had spent the whole slice in its counter (2^40
 * fuel, or the whole budget).
 *
 * @module
 */

import assert from "./support/assert.ts";
import type { CallOutcome, FuelMeter, FuelMeterOptions } from "../mod.ts";
import { attachedMeter } from "./support/attached_meter.ts";
import { wat } from "./support/instrument.ts";

/** `spin` counts its passes in the global `count`. */
const COUNTS = await wat(`(module
  (global $n (export "count") (mut i32) (i32.const 0))
  (func (export "spin")
    (loop $l
      (global.set $n (i32.add (global.get $n) (i32.const 1)))
      (br $l))))`);

const BUDGET = 1_000_000_000_000;

async function attached(options: FuelMeterOptions) {
  const { meter, exports } = await attachedMeter<unknown>(COUNTS, {
    fuel: BUDGET,
    ...options,
  });
  const count = exports.count as WebAssembly.Global;
  return { meter, spin: exports.spin as () => void, count };
}

/** One run of `spin` under a meter made with `options`, its hooks asked every 1,000 fuel. */
async function spinOnce(options: FuelMeterOptions): Promise<CallOutcome> {
  const { meter, exports } = await attachedMeter<() => void>(COUNTS, options);
  meter.slice = 1_000;
  return meter.run(exports.spin, { timeout: 60_000 });
}

/**
 * A run whose `fn` stops the meter before it calls the guest: the guest
 * runs no pass, and the run spends nothing.
 */
function assertStopBooked(
  meter: FuelMeter,
  spin: () => void,
  count: WebAssembly.Global,
): void {
  count.value = 0;
  const result = meter.run(() => {
    meter.stop();
    spin();
  });
  assert.equal(result.outcome, "interrupted");
  assert.equal(count.value, 0);
  assert.equal(result.fuel!.consumed, 0);
  assert.equal(meter.consumed + meter.remaining, BUDGET);
}

for (const soft of [false, true]) {
  Deno.test(
    `onStopping that throws in the fuel check leaves the next run's books right (${
      soft ? "soft" : "hard"
    } stop)`,
    async () => {
      // Without a stop flag, the stop is found where the guest asks for fuel.
      const { meter, spin, count } = await attached({ stopFlag: false });
      const result = meter.run(spin, {
        timeout: 20,
        soft,
        onStopping: () => {
          throw new Error("hook failed");
        },
      });
      assert.equal(result.outcome, "timeout");
      assert.equal(meter.consumed + meter.remaining, BUDGET);
      assertStopBooked(meter, spin, count);
    },
  );
}

Deno.test("a meter's poll that throws leaves the next run's books right", async () => {
  let fail = true;
  const { meter, spin, count } = await attached({
    poll: () => {
      if (fail) throw new Error("poll failed");
      return false;
    },
  });
  meter.slice = 10_000;
  const result = meter.run(spin);
  assert.equal(result.outcome, "error");
  fail = false;
  meter.slice = 0;
  assertStopBooked(meter, spin, count);
});

Deno.test("a poll or refuel that returns a promise to a meter that cannot wait says so", async () => {
  const hooks: [string, FuelMeterOptions][] = [
    ["poll", { poll: () => Promise.resolve(false) }],
    ["refuel", { fuel: 1_000, refuel: () => Promise.resolve(1_000) }],
  ];
  for (const [hook, options] of hooks) {
    const result = await spinOnce(options);
    assert.equal(result.outcome, "error", hook);
    assert.ok(result.outcome === "error");
    assert.match(
      result.error.message,
      new RegExp(`${hook} returned a promise.*suspend: true`),
    );
  }
});

Deno.test("a poll or refuel that returns neither its type nor a promise says what it must return", async () => {
  const wrong: unknown[] = [1, "yes", NaN, 5n, {}, {
    then: (resolve: (value: unknown) => void) => resolve(true),
  }];
  for (const value of wrong) {
    const hooks: [string, FuelMeterOptions, RegExp][] = [
      ["poll", { poll: () => value as boolean }, /poll must return a boolean/],
      [
        "refuel",
        { fuel: 1_000, refuel: () => value as number },
        /refuel must return a number/,
      ],
    ];
    for (const [hook, options, says] of hooks) {
      if (hook === "refuel" && typeof value === "number") continue;
      const result = await spinOnce(options);
      const what = `${hook} returning ${String(value)}`;
      assert.equal(result.outcome, "error", what);
      assert.ok(result.outcome === "error");
      assert.match(result.error.message, says, what);
      assert.match(result.error.message, /; got /, what);
    }
  }
});

Deno.test("an async onStopping that rejects does not end the process, and the run ends in its stop", async () => {
  const { meter, spin } = await attached({ stopFlag: false });
  let called = 0;
  const result = meter.run(spin, {
    timeout: 20,
    onStopping: (async () => {
      called++;
      await null;
      throw new Error("async hook failed");
    }) as () => void,
  });
  assert.equal(result.outcome, "timeout");
  assert.equal(called, 1);
  // An unhandled rejection would fail this test once the event loop turns.
  await new Promise((resolve) => setTimeout(resolve, 20));
});
