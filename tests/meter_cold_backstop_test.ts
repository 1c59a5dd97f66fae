/**
 * A fresh instance's first watched runs get a backstop slice: at each
 * slice's end the host reads the run's deadline and StopSignal by this
 * thread's clock, so a stop lands within a slice of work even when the
 * watchdog's flag reaches the guest late. Here it never reaches it: the
 * guest is given a flag memory of its own, which no thread sets, as if the
 * watchdog's thread never woke. Everything is counted in fuel.
 */

import assert from "./support/assert.ts";
import { FuelMeter, StopSignal } from "../mod.ts";
import { COLD_CALLS, COLD_SLICE } from "../src/meter/meter_tank.ts";
import { watchdogCaughtUp, watchdogReady } from "../src/watchdog/watchdog.ts";
import { allowForeignFlags } from "../src/meter/meter_stop_flag.ts";
import { expectOutcome } from "./support/outcome.ts";
import { COMPUTE } from "./support/guests.ts";

/** About 14 million units of fuel: many slices. */
const N = 1_000_000;

/**
 * The meter's imports with the stop flag's memory swapped for one of the
 * guest's own: the meter's flag, which the watchdog sets, is never read.
 */
function withUnseenFlag(imports: WebAssembly.Imports): WebAssembly.Imports {
  const swapped: WebAssembly.Imports = {};
  let found = 0;
  for (const [module, fields] of Object.entries(imports)) {
    const copy = Object.create(null);
    for (const [name, field] of Object.entries(fields)) {
      if (
        field instanceof WebAssembly.Memory &&
        field.buffer instanceof SharedArrayBuffer
      ) {
        copy[name] = new WebAssembly.Memory({
          initial: 1,
          maximum: 1,
          shared: true,
        });
        found++;
      } else copy[name] = field;
    }
    swapped[module] = copy;
  }
  assert.equal(found, 1, "the meter supplies one shared flag memory");
  return swapped;
}

async function freshInstance(meter: FuelMeter) {
  const { instance } = await WebAssembly.instantiate(
    meter.bytes,
    withUnseenFlag(meter.imports),
  );
  // `attach` refuses a flag that is not the meter's, as this one is meant
  // not to be.
  allowForeignFlags(true);
  try {
    meter.attach(instance);
  } finally {
    allowForeignFlags(false);
  }
  return instance.exports.sum_to as (n: number) => bigint;
}

Deno.test("run: a fresh instance's first calls find a passed deadline or a set StopSignal at a slice's end, when the watchdog's flag never reaches the guest; later calls do not, and the fuel a call consumes stays the same", async () => {
  await watchdogReady(10_000);
  const meter = new FuelMeter(await Deno.readFile(COMPUTE));
  let sumTo = await freshInstance(meter);
  // The deadline has passed as the run starts, so the flag is set at once;
  // the guest never sees it.
  for (let call = 0; call < COLD_CALLS; call++) {
    const stop = new StopSignal();
    if (call % 2 === 1) stop.stop("now");
    const options = call % 2 === 0 ? { timeout: 0 } : { stop };
    const outcome = meter.run(() => sumTo(N), options);
    const stopped = expectOutcome(
      outcome,
      call % 2 === 0 ? "timeout" : "aborted",
    );
    assert.ok(
      stopped.fuel!.consumed <= COLD_SLICE,
      `call ${call}: ${stopped.fuel!.consumed} units before the stop`,
    );
  }
  // Past the fresh instance's first calls, the flag alone keeps the
  // deadline (once the watchdog's thread has taken in the StopSignals'
  // messages): unseen here, so the call runs to its end.
  await watchdogReady(10_000);
  assert.ok(watchdogCaughtUp());
  const warm = expectOutcome(
    meter.run(() => sumTo(N), { timeout: 0 }),
    "returned",
  );
  const unwatched = expectOutcome(meter.run(() => sumTo(N)), "returned");
  assert.equal(warm.value, unwatched.value);
  assert.equal(warm.fuel!.consumed, unwatched.fuel!.consumed);

  // A fresh instance on the same meter starts its count again, and its
  // sliced calls consume exactly what an unsliced one does.
  sumTo = await freshInstance(meter);
  const sliced = expectOutcome(
    meter.run(() => sumTo(N), { timeout: 600_000 }),
    "returned",
  );
  assert.ok(sliced.fuel!.consumed > 10 * COLD_SLICE);
  assert.equal(sliced.fuel!.consumed, unwatched.fuel!.consumed);
  expectOutcome(meter.run(() => sumTo(N), { timeout: 0 }), "timeout");
});
