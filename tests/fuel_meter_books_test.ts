import assert from "./support/assert.ts";
import { FuelMeter, loadGuest } from "../mod.ts";
import { COMPUTE, RUNAWAY } from "./support/guests.ts";

/** fib(1)'s cost: the entry segment (4) and the then-arm (1). */
const FIB_1 = 5;

async function meteredFib(fuel: number, resumable = true) {
  const meter = new FuelMeter(await Deno.readFile(COMPUTE), {
    fuel,
    resumable,
  });
  const { instance } = await WebAssembly.instantiate(meter.bytes, {
    ...meter.imports,
  });
  meter.attach(instance);
  return { meter, fib: instance.exports.fib as (n: number) => number };
}

const refused = (e: unknown) =>
  e instanceof WebAssembly.RuntimeError && /unreachable/.test(e.message);

for (const resumable of [true, false]) {
  Deno.test(`calls after running out move nothing (${resumable ? "resumable" : "trapping"} checks): the books stay exact and never negative`, async () => {
    const { meter, fib } = await meteredFib(100, resumable);
    assert.throws(() => fib(20), refused);
    const spent = meter.usage;
    assert.ok(meter.exhausted);
    assert.equal(meter.stopReason, "fuel");
    // What a library's glue does while it unwinds: call back in, again and again.
    for (let i = 0; i < 5; i++) assert.throws(() => fib(1), refused);
    assert.deepEqual(meter.usage, spent);
    assert.ok(spent.remaining >= 0 && spent.consumed <= 100);
    assert.equal(spent.consumed + spent.remaining, 100);
    assert.ok(meter.exhausted);
  });
}

Deno.test("a stop after a trapping guest ran out keeps what it had left", async () => {
  const { meter, fib } = await meteredFib(100, false);
  assert.throws(() => fib(20), refused);
  const spent = meter.usage;
  assert.ok(spent.remaining > 0, "the segment it could not pay for is left");
  // The host stops it too, say at a deadline found as it unwinds.
  meter.stop("deadline");
  assert.deepEqual(meter.usage, spent);
  meter.settle();
  assert.deepEqual(meter.usage, spent);
});

Deno.test("addFuel after running out works without settle(), and charges exactly", async () => {
  const { meter, fib } = await meteredFib(100);
  assert.throws(() => fib(20), refused);
  assert.throws(() => fib(1), refused);
  const { consumed } = meter.usage;
  meter.addFuel(1_000);
  assert.equal(meter.exhausted, false);
  assert.equal(fib(1), 1);
  assert.equal(meter.consumed, consumed + FIB_1);
  assert.equal(meter.consumed + meter.remaining, 1_100);
});

Deno.test("a stop made by the host is recorded with its reason and refuses fuel until settled", async () => {
  const { meter, fib } = await meteredFib(1_000);
  assert.equal(fib(1), 1);
  meter.stop();
  assert.equal(meter.stopReason, "host");
  const before = meter.usage;
  for (let i = 0; i < 3; i++) assert.throws(() => fib(1), refused);
  assert.deepEqual(meter.usage, before);
  assert.equal(meter.exhausted, false);
  meter.settle();
  assert.equal(fib(1), 1);
  assert.equal(meter.consumed, before.consumed + FIB_1);
});

Deno.test("a guest's meter says why its last call stopped", async () => {
  const guest = await loadGuest(RUNAWAY, {
    fuel: Infinity,
    interruptible: true,
  });
  guest.invoke("spin", [], { fuel: 10_000 });
  assert.equal(guest.meter!.stopReason, "fuel");
  guest.invoke("spin", [], { timeout: 5 });
  assert.equal(guest.meter!.stopReason, "deadline");
  const aborted = new AbortController();
  aborted.abort();
  const asyncGuest = await loadGuest(RUNAWAY, { async: true });
  await asyncGuest.invokeAsync("spin", [], { signal: aborted.signal });
  assert.equal(asyncGuest.meter!.stopReason, "abort");
  const { meter, fib } = await meteredFib(Infinity);
  meter.run(() => fib(5));
  assert.equal(meter.stopReason, undefined, "a call that returned clears it");
});

// A run's begin leaves the counter as it is when it holds the slice already;
// the glue's own calls between runs spend from it meanwhile.
for (const resumable of [true, false]) {
  for (
    const [fuel, slice] of [[1e6, 0], [1e6, 100], [Infinity, 0], [
      Infinity,
      1_000,
    ], [2 ** 45, 0]]
  ) {
    Deno.test(`runs and the glue's calls between them are counted exactly (${resumable ? "resumable" : "trapping"}, fuel ${fuel}, slice ${slice || "whole"})`, async () => {
      const { meter, fib } = await meteredFib(fuel, resumable);
      if (slice > 0) meter.slice = slice;
      const each = meter.run(() => fib(10)).fuel!.consumed;
      let counted = each;
      for (let i = 0; i < 6; i++) {
        const run = meter.run(() => fib(10));
        assert.equal(run.outcome, "returned");
        assert.equal(run.fuel!.consumed, each);
        counted += each;
        // A cap below what the counter holds: the counter is loaded anew.
        const short = meter.run(() => fib(10), { fuel: each - 1 });
        assert.equal(short.outcome, "fuel_exhausted");
        counted += short.fuel!.consumed;
        if (i % 2 === 0) {
          // As a library's glue does: call the instance outside every run.
          const before = meter.consumed;
          assert.equal(fib(10), 55);
          assert.equal(meter.consumed - before, each);
          counted += each;
        }
      }
      assert.equal(meter.consumed, counted);
      if (fuel !== Infinity) {
        assert.equal(meter.consumed + meter.remaining, fuel);
      }
    });
  }
}
