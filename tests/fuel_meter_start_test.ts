/**
 * A module metered by a `FuelMeter` and instantiated by someone else's
 * loader may have a start function, which the engine runs inside the
 * instantiation, where no run's deadline, StopSignal or fuel cap reached
 * it: one that looped held the loader's `WebAssembly.instantiate` for ever,
 * and one that ran out of the meter's fuel failed it with a bare
 * `RuntimeError: unreachable`. The meter now takes the start function out
 * of the module, and `attach` runs it under the stops it is given.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { assembleWat } from "../guest/build.ts";
import {
  Aborted,
  DeadlineExceeded,
  FuelExhausted,
  FuelMeter,
  GuestTrap,
  StopSignal,
} from "../mod.ts";
import { readSections } from "../src/wasm/sections.ts";
import { stopFromWorker } from "./support/worker_stop.ts";

/** How late a stop may land here: only a lost stop gets near it. */
const SLACK_MS = 5_000;

/** A start function that marks its entry, sets `$g` and then loops for `spins` rounds (0: for ever). */
function startingGuest(spins: number): Promise<Uint8Array> {
  return assembleWat(`(module
    (import "host" "mark" (func $mark))
    (global $g (mut i32) (i32.const 0))
    (global $left (mut i32) (i32.const ${spins}))
    (func $start
      (call $mark)
      (global.set $g (i32.const 7))
      (loop $again
        (global.set $left (i32.sub (global.get $left) (i32.const 1)))
        (br_if $again (global.get $left))))
    (start $start)
    (func (export "g") (result i32) (global.get $g)))`);
}

const FOREVER = await startingGuest(0);
const BRIEF = await startingGuest(1_000);

/** Instantiates the meter's module as a library's loader would; counts the start function's entries. */
async function instantiated(meter: FuelMeter) {
  const entries = { count: 0 };
  const { instance } = await WebAssembly.instantiate(meter.bytes, {
    ...meter.imports,
    host: { mark: () => entries.count++ },
  });
  return { instance, entries };
}

Deno.test("FuelMeter: the metered module has no start section, so instantiation runs nothing", async () => {
  const meter = new FuelMeter(FOREVER);
  const sections = [...readSections(meter.bytes)].map(({ id }) => id);
  assert.ok(!sections.includes(8), `sections ${sections.join()}`);
  const { entries } = await instantiated(meter);
  assert.equal(entries.count, 0);
});

Deno.test("FuelMeter#attach runs the start function once, before the glue's first call", async () => {
  const meter = new FuelMeter(BRIEF);
  const { instance, entries } = await instantiated(meter);
  meter.attach(instance);
  assert.equal(entries.count, 1);
  const g = instance.exports.g as () => number;
  assert.equal(g(), 7);
  // Its work is the meter's, as a run's.
  assert.ok(meter.consumed > 1_000, `consumed ${meter.consumed}`);
  meter.attach(instance);
  assert.equal(entries.count, 1);
  // A second instance runs its own.
  const second = await instantiated(meter);
  meter.attach(second.instance);
  assert.equal(second.entries.count, 1);
});

Deno.test("FuelMeter#attach: a start function that never returns ends at the deadline it is given", async () => {
  const meter = new FuelMeter(FOREVER);
  const { instance, entries } = await instantiated(meter);
  const started = performance.now();
  assert.throws(
    () => meter.attach(instance, { timeout: 50 }),
    (error: Error) =>
      error instanceof DeadlineExceeded &&
      /deadline: 50 ms allowed/.test(error.message),
  );
  const late = performance.now() - started - 50;
  assert.ok(late < SLACK_MS, `${late.toFixed(1)} ms late`);
  assert.equal(entries.count, 1);
  assert.equal(meter.stopReason, "deadline");
  // The meter goes on: a fresh instance of a start that returns.
  const brief = new FuelMeter(BRIEF);
  brief.attach((await instantiated(brief)).instance, { timeout: 10_000 });
});

Deno.test("FuelMeter#attach: a StopSignal from another thread ends a start function that never returns", async () => {
  const meter = new FuelMeter(FOREVER);
  const { instance } = await instantiated(meter);
  const thrown = await stopFromWorker((stop, started) => {
    try {
      started();
      meter.attach(instance, { stop });
    } catch (error) {
      return error;
    }
  });
  assert.ok(thrown instanceof Aborted, String(thrown));
  assert.equal(meter.stopReason, "stop");
});

Deno.test("FuelMeter#attach: a StopSignal already set stops the start function at its first check", async () => {
  const meter = new FuelMeter(FOREVER);
  const { instance } = await instantiated(meter);
  const stop = new StopSignal();
  stop.stop("not now");
  assert.throws(() => meter.attach(instance, { stop }), Aborted);
});

Deno.test("FuelMeter#attach: a start function that spends the meter's fuel throws FuelExhausted, not a bare trap", async () => {
  const meter = new FuelMeter(FOREVER, { fuel: 100_000 });
  const { instance } = await instantiated(meter);
  assert.throws(() => meter.attach(instance), FuelExhausted);
  // What is left is less than the loop's next round costs.
  assert.ok(meter.remaining < 100, `${meter.remaining} left`);
  // A run's cap, with an unlimited meter.
  const capped = new FuelMeter(FOREVER);
  const loaded = await instantiated(capped);
  assert.throws(
    () => capped.attach(loaded.instance, { fuel: 10_000 }),
    FuelExhausted,
  );
  assert.equal(capped.remaining, Infinity);
});

Deno.test("FuelMeter#attach: a start function that traps throws the branded trap", async () => {
  const bytes = await assembleWat(`(module
    (func $start unreachable)
    (start $start))`);
  const meter = new FuelMeter(bytes);
  const { instance } = await WebAssembly.instantiate(
    meter.bytes,
    meter.imports,
  );
  assert.throws(
    () => meter.attach(instance),
    (error: Error) =>
      error instanceof GuestTrap && /unreachable/.test(error.message),
  );
});

Deno.test("FuelMeter#attach: a start function's options are checked as a run's", async () => {
  const meter = new FuelMeter(BRIEF);
  const { instance, entries } = await instantiated(meter);
  assert.throws(
    () => meter.attach(instance, { timeout: -1 }),
    (error: Error) =>
      error instanceof RangeError && /FuelMeter\.attach/.test(error.message),
  );
  assert.equal(entries.count, 0);
  // A module without a start function has its options checked all the same.
  const plain = new FuelMeter(await assembleWat("(module)"));
  const { instance: bare } = await WebAssembly.instantiate(
    plain.bytes,
    plain.imports,
  );
  assert.throws(() => plain.attach(bare, { fuel: -1 }), RangeError);
  plain.attach(bare, { fuel: 10 });
  // Attached again with options it can take, it runs the start function.
  meter.attach(instance, { timeout: 10_000 });
  assert.equal(entries.count, 1);
  assert.equal((instance.exports.g as () => number)(), 7);
});

Deno.test("FuelMeter#attach refuses an instance whose glue called it before attaching it, before its start function", async () => {
  for (const resumable of [true, false]) {
    const meter = new FuelMeter(BRIEF, { resumable, fuel: 1e9 });
    const { instance, entries } = await instantiated(meter);
    // On state the start function had yet to make.
    assert.equal((instance.exports.g as () => number)(), 0);
    assert.throws(
      () => meter.attach(instance),
      (error: Error) =>
        error instanceof TypeError &&
        /ran code before it was attached/.test(error.message),
    );
    assert.equal(entries.count, 0);
  }
});

Deno.test("FuelMeter#attach inside a run: the start function is part of the run, and stops of its own are refused as a nested run's", async () => {
  const meter = new FuelMeter(BRIEF);
  const first = await instantiated(meter);
  meter.attach(first.instance);
  const second = await instantiated(meter);
  const refused = meter.run(() => meter.attach(second.instance, { fuel: 10 }));
  assert.equal(refused.outcome, "error");
  assert.match(
    String((refused as { error: Error }).error.cause),
    /FuelMeter\.attach was called inside a FuelMeter\.run/,
  );
  assert.equal(second.entries.count, 0);
  const part = meter.run(() => meter.attach(second.instance), { fuel: 100 });
  assert.equal(part.outcome, "fuel_exhausted");
  assert.equal(second.entries.count, 1);
});
