/**
 * `FuelMeter#runAsync`: calls that suspend through JSPI, so that timers and
 * an `AbortSignal` run while the guest does.
 *
 * @module
 */

import assert from "./support/assert.ts";
import {
  FuelMeter,
  isAborted,
  isDeadlineExceeded,
  isFuelExhausted,
  isHostImportError,
} from "../mod.ts";
import type { InstrumentOptions } from "../src/wasm/mod.ts";
import { expectOutcome } from "./support/outcome.ts";
import { COMPUTE, RUNAWAY } from "./support/guests.ts";
import { FREE_LOOP } from "./support/hostile_guests.ts";

const { promising } = WebAssembly as unknown as {
  promising(fn: unknown): (...args: unknown[]) => Promise<unknown>;
};

async function suspendable(
  source: URL | Uint8Array,
  costs?: InstrumentOptions,
): Promise<{
  meter: FuelMeter;
  exports: Record<string, (...args: unknown[]) => Promise<unknown>>;
}> {
  const bytes = source instanceof URL ? await Deno.readFile(source) : source;
  const meter = new FuelMeter(bytes, { suspend: true }, costs);
  const { instance } = await WebAssembly.instantiate(
    meter.bytes,
    meter.imports,
  );
  meter.attach(instance);
  const exports: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
  for (const [name, value] of Object.entries(instance.exports)) {
    if (typeof value === "function") exports[name] = promising(value);
  }
  return { meter, exports };
}

/** Counts timer ticks while `call` runs. */
async function ticksDuring<T>(call: () => Promise<T>): Promise<[T, number]> {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 2);
  try {
    return [await call(), ticks];
  } finally {
    clearInterval(timer);
  }
}

Deno.test("runAsync: returned with the value, and the books as run's", async () => {
  const { meter, exports } = await suspendable(COMPUTE);
  const result = expectOutcome(
    await meter.runAsync(() => exports.fib(20)),
    "returned",
  );
  assert.equal(result.value, 6765);
  assert.ok(result.fuel!.consumed > 0);
  assert.equal(meter.consumed, result.fuel!.consumed);
  assert.equal(meter.remaining, Infinity);
});

Deno.test("runAsync: an AbortSignal aborted by a timer stops a spinning guest, and timers ran meanwhile", async () => {
  const { meter, exports } = await suspendable(RUNAWAY);
  const controller = new AbortController();
  setTimeout(() => controller.abort("enough"), 30);
  const [result, ticks] = await ticksDuring(() =>
    meter.runAsync(exports.spin, { signal: controller.signal })
  );
  const aborted = expectOutcome(result, "aborted");
  assert.ok(isAborted(aborted.error));
  assert.equal(meter.stopReason, "abort");
  assert.ok(ticks > 0, "the event loop ran during the call");
  // Ready for the next call, which ends for its own reason.
  const next = await meter.runAsync(exports.spin, { fuel: 100_000 });
  expectOutcome(next, "fuel_exhausted");
  assert.equal(meter.stopReason, "fuel");
});

Deno.test("runAsync: a loop the cost table makes free still yields and is stopped by an AbortSignal and a deadline", async () => {
  const { meter, exports } = await suspendable(FREE_LOOP, {
    costs: { default: 0 },
  });
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 30);
  const [aborted, ticks] = await ticksDuring(() =>
    meter.runAsync(exports.spin, { signal: controller.signal })
  );
  expectOutcome(aborted, "aborted");
  assert.ok(ticks > 0, "the event loop ran during the call");
  const late = expectOutcome(
    await meter.runAsync(exports.spin, { timeout: 30 }),
    "timeout",
  );
  assert.ok(isDeadlineExceeded(late.error));
  assert.equal(meter.stopReason, "deadline");
});

Deno.test("runAsync: a fuel cap, and one call at a time", async () => {
  const { meter, exports } = await suspendable(RUNAWAY);
  const first = meter.runAsync(exports.spin, { fuel: 5_000_000 });
  assert.throws(
    () => meter.run(() => 0),
    (error: unknown) =>
      error instanceof TypeError && /has not ended yet/.test(error.message),
  );
  const result = expectOutcome(await first, "fuel_exhausted");
  assert.ok(isFuelExhausted(result.error));
  assert.equal(meter.remaining, Infinity, "the cap never replaced the tank");
});

Deno.test("runAsync needs a meter made with suspend: true, and says so", async () => {
  const meter = new FuelMeter(await Deno.readFile(COMPUTE));
  const { instance } = await WebAssembly.instantiate(
    meter.bytes,
    meter.imports,
  );
  meter.attach(instance);
  assert.throws(
    () => meter.runAsync(() => 0),
    (error: unknown) =>
      error instanceof TypeError && /suspend: true/.test(error.message),
  );
});

Deno.test("a meter made with suspend: true refuses run and wrapExports, whose plain calls its checks could not serve, and says so", async () => {
  const bytes = await Deno.readFile(RUNAWAY);
  const meter = new FuelMeter(bytes, { suspend: true });
  const { instance } = await WebAssembly.instantiate(
    meter.bytes,
    meter.imports,
  );
  meter.attach(instance);
  const spin = instance.exports.spin as () => void;
  // A deadline or a fuel cap through run ended as an error outcome, a
  // SuspendError from the first check that called the meter, never the stop.
  for (const options of [{ timeout: 50 }, { fuel: 1_000 }, undefined]) {
    assert.throws(
      () => meter.run(spin, options),
      (error: unknown) =>
        error instanceof TypeError &&
        /FuelMeter\.run calls the guest plainly.*suspend: true.*meter\.runAsync/
          .test(error.message),
      JSON.stringify(options),
    );
  }
  assert.throws(
    () => meter.wrapExports(instance.exports, { timeout: 50 }),
    (error: unknown) =>
      error instanceof TypeError &&
      /FuelMeter\.wrapExports calls the guest plainly/.test(error.message),
  );
  // The meter is as it was: its runs go through runAsync.
  assert.equal(meter.remaining, Infinity);
  const stopped = await meter.runAsync(promising(spin), { timeout: 20 });
  assert.equal(stopped.outcome, "timeout");
});

Deno.test("runAsync: a rejection of its own is the error outcome, and the meter carries on", async () => {
  const { meter, exports } = await suspendable(COMPUTE);
  const reason = new RangeError("the library gave up");
  const failed = expectOutcome(
    await meter.runAsync(async () => {
      await exports.fib(5);
      throw reason;
    }),
    "error",
  );
  assert.ok(isHostImportError(failed.error));
  assert.equal(failed.error.cause, reason);
  assert.equal(
    failed.error.message,
    "FuelMeter.runAsync: the function threw: RangeError: the library gave up",
  );
  const again = expectOutcome(
    await meter.runAsync(() => exports.fib(10)),
    "returned",
  );
  assert.equal(again.value, 55);
});
