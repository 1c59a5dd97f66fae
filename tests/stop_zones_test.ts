/**
 * Stops wait for the allocator: a stop that comes while the guest is inside
 * a no-stop zone (its exported `malloc`, `free`, ... or functions named in
 * `stopsWaitFor`) lands at the first check after the guest leaves it, and a
 * zone that never ends is still stopped.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { assembleWat } from "../guest/build.ts";
import { type CallOutcome, FuelMeter, type FuelMeterOptions } from "../mod.ts";
import { ZONE_WAIT_MS } from "../src/meter/meter_waits.ts";
import { instrument } from "../src/wasm/mod.ts";
import { expectOutcome } from "./support/outcome.ts";
import { stopFromWorker } from "./support/worker_stop.ts";
import { meteredBrotli } from "./support/brotli.ts";

/**
 * An allocator that keeps its own count of the calls in progress
 * (`inside`): a stop that lands inside one leaves it above 0. `malloc`
 * calls `free` (nested zones) and the host's `tick` between its two halves.
 */
const ALLOCATOR = await assembleWat(`(module
  (import "host" "tick" (func $tick))
  (global $inside (export "inside") (mut i32) (i32.const 0))
  (func $work (param $n i32)
    (loop $l
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $l (i32.gt_s (local.get $n) (i32.const 0)))))
  (func $free (export "free") (param $n i32)
    (global.set $inside (i32.add (global.get $inside) (i32.const 1)))
    (call $work (local.get $n))
    (global.set $inside (i32.sub (global.get $inside) (i32.const 1))))
  (func $malloc (export "malloc") (param $n i32) (result i32)
    (global.set $inside (i32.add (global.get $inside) (i32.const 1)))
    (if (i32.eqz (local.get $n)) (then unreachable))
    (call $work (local.get $n))
    (call $free (local.get $n))
    (call $tick)
    (call $work (local.get $n))
    (global.set $inside (i32.sub (global.get $inside) (i32.const 1)))
    (i32.const 8))
  (func (export "churn")
    (loop $l (drop (call $malloc (i32.const 50))) (br $l)))
  (func (export "crash") (drop (call $malloc (i32.const 0))))
  (func (export "reset") (global.set $inside (i32.const 0))))`);

/** A guest whose exported allocator never returns. */
const HOSTILE = await assembleWat(`(module
  (func $malloc (export "malloc") (param i32) (result i32)
    (loop $l (br $l))
    (i32.const 0))
  (func (export "run") (drop (call $malloc (i32.const 16)))))`);

interface Loaded {
  meter: FuelMeter;
  exports: Record<string, CallableFunction>;
  inside: () => number;
  /** The zone global the rewriter added, if any. */
  zone: WebAssembly.Global | undefined;
}

async function load(
  bytes: Uint8Array,
  options: FuelMeterOptions = {},
  tick: () => void = () => {},
  costs?: ConstructorParameters<typeof FuelMeter>[2],
): Promise<Loaded> {
  const meter = new FuelMeter(bytes, options, costs);
  const { instance } = await WebAssembly.instantiate(meter.bytes, {
    ...meter.imports,
    host: { tick },
  });
  meter.attach(instance);
  const exports = instance.exports as Record<string, CallableFunction>;
  const global = instance.exports.inside as WebAssembly.Global | undefined;
  const zone = Object.entries(instance.exports).find(([name]) =>
    name.endsWith(":zone")
  )?.[1] as WebAssembly.Global | undefined;
  return { meter, exports, inside: () => global?.value ?? 0, zone };
}

Deno.test("stops wait for the allocator: fuel caps at 300 places never land inside malloc or free, and the books stay exact", async () => {
  const { meter, exports, inside } = await load(ALLOCATOR);
  const tank = 1e12;
  meter.setFuel(tank);
  let spent = 0;
  for (let cap = 1_000; cap < 1_000 + 300 * 37; cap += 37) {
    const result = expectOutcome(
      meter.run(() => exports.churn(), { fuel: cap }),
      "fuel_exhausted",
    );
    assert.equal(inside(), 0, `cap ${cap} landed inside the allocator`);
    assert.equal(result.stoppedInZone, undefined, `cap ${cap}`);
    assert.ok(result.fuel!.consumed <= cap, "the wait is not booked");
    spent += result.fuel!.consumed;
    assert.equal(meter.remaining, tank - spent);
  }
  // An endless grace still stops, after the allocator.
  expectOutcome(
    meter.run(() => exports.churn(), { fuel: 5_000, grace: Infinity }),
    "fuel_exhausted",
  );
  assert.equal(inside(), 0);

  // The same stops without zones land inside: the guest spends most of its
  // time there.
  const bare = await load(ALLOCATOR, { stopsWaitFor: false });
  let landedInside = 0;
  for (let cap = 1_000; cap < 1_000 + 300 * 37; cap += 37) {
    bare.meter.run(() => bare.exports.churn(), { fuel: cap });
    if (bare.inside() > 0) landedInside++;
    bare.exports.reset();
  }
  assert.ok(landedInside > 200, `${landedInside} of 300 landed inside`);
});

Deno.test("stops wait for the allocator: a deadline, a StopSignal and FuelMeter.stop wait too", async () => {
  const { meter, exports, inside } = await load(ALLOCATOR);
  for (let i = 0; i < 10; i++) {
    expectOutcome(
      meter.run(() => exports.churn(), { timeout: 1 + i % 3 }),
      "timeout",
    );
    assert.equal(inside(), 0, `deadline ${i} landed inside the allocator`);
  }
  const stopped = await stopFromWorker((stop, started) =>
    meter.run(() => {
      started();
      return exports.churn();
    }, { stop })
  );
  expectOutcome(stopped, "aborted");
  assert.equal(inside(), 0);

  // A stop asked for from inside malloc (by its import) lands after it.
  let ticks = 0;
  let insideAtStop = 0;
  const host = await load(ALLOCATOR, {}, () => {
    if (++ticks === 3) {
      insideAtStop = host.inside();
      host.meter.stop();
    }
  });
  const result = expectOutcome(
    host.meter.run(() => host.exports.churn()),
    "interrupted",
  );
  assert.equal(insideAtStop, 1, "the stop came inside malloc");
  assert.equal(host.inside(), 0, "and landed after it");
  assert.equal(ticks, 3);
  assert.ok(result.fuel!.consumed > 0);
});

Deno.test("stops wait for the allocator, but not forever: an exported malloc that never returns is still stopped, and the outcome says it stopped inside", async () => {
  const { meter, exports } = await load(HOSTILE);
  const capped = expectOutcome(
    meter.run(() => exports.run(), { fuel: 100_000 }),
    "fuel_exhausted",
  );
  assert.ok(capped.fuel!.consumed <= 100_000);
  assert.equal(meter.remaining, Infinity);
  const outcomes: CallOutcome[] = [
    capped,
    expectOutcome(meter.run(() => exports.run(), { timeout: 20 }), "timeout"),
    expectOutcome(
      meter.run(() => exports.run(), { fuel: 100_000, grace: 0 }),
      "fuel_exhausted",
    ),
  ];
  const stopped = await stopFromWorker((stop, started) =>
    meter.run(() => {
      started();
      return exports.run();
    }, { stop })
  );
  outcomes.push(expectOutcome(stopped, "aborted"));
  for (const outcome of outcomes) {
    assert.equal(outcome.stoppedInZone, true, outcome.outcome);
  }
  // The next run of the same meter starts without it.
  const next = meter.run(() => 1);
  assert.equal(next.stoppedInZone, undefined);
  // An async run says so too.
  const suspending = await load(HOSTILE, { suspend: true });
  const { promising } = WebAssembly as unknown as {
    promising(fn: unknown): () => Promise<unknown>;
  };
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 20);
  const aborted = expectOutcome(
    await suspending.meter.runAsync(promising(suspending.exports.run), {
      signal: controller.signal,
    }),
    "aborted",
  );
  assert.equal(aborted.stoppedInZone, true);

  // A loop the cost table makes free: only the stop flag sees it, and each
  // pass it makes while the stop waits counts against the grace.
  const free = await load(HOSTILE, {}, undefined, { costs: { default: 0 } });
  expectOutcome(
    free.meter.run(() => free.exports.run(), { timeout: 20 }),
    "timeout",
  );
  expectOutcome(
    free.meter.run(() => free.exports.run(), { timeout: 20, grace: 10 }),
    "timeout",
  );
});

/**
 * A guest whose exported allocator never returns, and whose every pass is
 * slow for the fuel it costs: it calls the host's `slow`, which holds the
 * thread for a millisecond (a pass faulting in a fresh page, or calling a
 * function of 40,000 `v128` locals, is as slow for a few units).
 */
const SLOW_ZONE = await assembleWat(`(module
  (import "host" "tick" (func $slow))
  (func $malloc (export "malloc") (param i32) (result i32)
    (loop $l (call $slow) (br $l))
    (i32.const 0))
  (func (export "run") (drop (call $malloc (i32.const 16)))))`);

Deno.test("stops wait for a zone by the clock too: a slow pass for a few units of grace does not hold a deadline, a StopSignal or FuelMeter.stop off", async () => {
  let passes = 0;
  let passesAtStop = -1;
  const { meter, exports } = await load(SLOW_ZONE, {}, () => {
    passes++;
    const until = performance.now() + 1;
    while (performance.now() < until) {
      // The host's import holds the thread, as a slow pass would.
    }
  });
  const onStopping = () => passesAtStop = passes;
  // A grace of 20,000 pays for thousands of passes: seconds of them.
  const options = { grace: 20_000, onStopping };
  const after = (what: string) => {
    assert.ok(passesAtStop >= 0, `${what}: the stop came`);
    const more = passes - passesAtStop;
    // A wait of ZONE_WAIT_MS holds about 100 passes of a millisecond, and
    // at most 1,000 however little CPU time a busy machine gives the
    // thread (HELD_CAP bounds it by the clock); the grace alone held about
    // 3,000.
    assert.ok(more < 2_000, `${what}: ${more} passes after the stop`);
    passes = 0;
    passesAtStop = -1;
  };
  expectOutcome(
    meter.run(() => exports.run(), { ...options, timeout: 20 }),
    "timeout",
  );
  after("deadline");
  const stopped = await stopFromWorker((stop, started) =>
    meter.run(() => {
      started();
      return exports.run();
    }, { ...options, stop })
  );
  expectOutcome(stopped, "aborted");
  after("StopSignal");
  let host = 0;
  const byHost = await load(SLOW_ZONE, {}, () => {
    passes++;
    if (++host === 5) byHost.meter.stop();
    const until = performance.now() + 1;
    while (performance.now() < until) {
      // As above.
    }
  });
  expectOutcome(
    byHost.meter.run(() => byHost.exports.run(), options),
    "interrupted",
  );
  after("FuelMeter.stop");
});

/**
 * An allocator of 20 passes, each calling the host's `tick`, that keeps
 * its own count of the calls in progress (`inside`).
 */
const PASSES_ZONE = await assembleWat(`(module
  (import "host" "tick" (func $tick))
  (global $inside (export "inside") (mut i32) (i32.const 0))
  (func $malloc (export "malloc") (param $n i32) (result i32)
    (global.set $inside (i32.add (global.get $inside) (i32.const 1)))
    (loop $l
      (call $tick)
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $l (i32.gt_s (local.get $n) (i32.const 0))))
    (global.set $inside (i32.sub (global.get $inside) (i32.const 1)))
    (i32.const 8))
  (func (export "run") (loop $l (drop (call $malloc (i32.const 20))) (br $l))))`);

Deno.test("stops wait for a zone in CPU time too: an allocator whose thread is kept from its core past ZONE_WAIT_MS still leaves before the stop lands", async () => {
  let ticks = 0;
  const { meter, exports, inside } = await load(PASSES_ZONE, {}, () => {
    ticks++;
    // Inside the first allocation: a stop, and at the next pass, once the
    // stop waits, the thread away for longer than ZONE_WAIT_MS by the
    // clock, with no CPU time spent (the machine ran other work).
    if (ticks === 5) meter.stop();
    if (ticks === 6) {
      Atomics.wait(
        new Int32Array(new SharedArrayBuffer(4)),
        0,
        0,
        ZONE_WAIT_MS * 1.5,
      );
    }
  });
  expectOutcome(meter.run(() => exports.run()), "interrupted");
  // By the clock alone the wait was over at the pass after the sleep, and
  // the stop landed inside the allocator.
  assert.equal(inside(), 0, `the stop landed inside, after ${ticks} passes`);
  assert.equal(ticks, 20);
});

Deno.test("a cleanup after a stop whose grace runs out inside the allocator says so too; one that leaves it does not", async () => {
  const { meter, exports, inside } = await load(ALLOCATOR);
  // The stop lands outside the allocator; the glue's cleanup then calls it.
  const cleanup = (n: number) => () => {
    try {
      exports.churn();
    } catch {
      exports.malloc(n);
    }
  };
  const whole = expectOutcome(
    meter.run(cleanup(100), { fuel: 10_000, grace: 100_000 }),
    "fuel_exhausted",
  );
  assert.equal(whole.stoppedInZone, undefined);
  assert.equal(inside(), 0);
  const cut = expectOutcome(
    meter.run(cleanup(100_000_000), { fuel: 10_000, grace: 100_000 }),
    "fuel_exhausted",
  );
  assert.equal(cut.stoppedInZone, true);
  assert.ok(inside() > 0, "the cleanup's grace ran out inside malloc");
  exports.reset();
});

Deno.test("stops wait for the allocator: a trap that unwinds through a zone leaves the next call's stops on time", async () => {
  const { meter, exports, inside, zone } = await load(ALLOCATOR);
  expectOutcome(meter.run(() => exports.crash()), "trap");
  assert.equal(inside(), 1, "the trap skipped malloc's way out");
  assert.equal(zone!.value, 0, "run put the zone depth back");
  exports.reset();
  // Had the depth stayed raised, every stop would wait for a way out that
  // never comes, and land wherever the grace ran out.
  for (let cap = 5_000; cap < 8_000; cap += 100) {
    expectOutcome(
      meter.run(() => exports.churn(), { fuel: cap }),
      "fuel_exhausted",
    );
    assert.equal(inside(), 0);
  }
});

Deno.test("stopsWaitFor names zones by export name or function index, and says what is wrong", async () => {
  const bytes = await assembleWat(`(module
    (import "host" "f" (func))
    (func (export "grow") (param i32) (result i32) (local.get 0))
    (func (param i32) (result i32) (local.get 0))
    (global (export "g") i32 (i32.const 0)))`);
  const byName = instrument(bytes, { stopsWaitFor: ["grow", 2] });
  assert.equal(byName.zoneExport, "early-exit:zone");
  assert.ok(WebAssembly.validate(byName.bytes));
  const plain = instrument(bytes);
  assert.equal(plain.zoneExport, undefined);
  assert.deepEqual(instrument(bytes, { stopsWaitFor: [] }).bytes, plain.bytes);
  const wrong: [unknown, RegExp][] = [
    [["nope"], /exports no function "nope"/],
    [["g"], /exports no function "g"/],
    [[0], /imported function/],
    [[3], /function indices from 0 to 2, got 3/],
    [[1.5], /got 1\.5/],
    ["grow", /expected an array/],
  ];
  for (const [stopsWaitFor, message] of wrong) {
    assert.throws(
      () =>
        instrument(bytes, {
          stopsWaitFor: stopsWaitFor as (string | number)[],
        }),
      (error: unknown) =>
        error instanceof TypeError && message.test(error.message) &&
        !error.message.includes("\n"),
    );
  }
  assert.throws(
    () => instrument(bytes, { stopsWaitFor: ["grow"], resumable: false }),
    /a stop can only wait where a failed check asks the host/,
  );
  assert.throws(
    () =>
      new FuelMeter(ALLOCATOR, { resumable: false, stopsWaitFor: ["free"] }),
    (error: unknown) =>
      error instanceof TypeError && /resumable: true/.test(error.message),
  );
  // A meter that cannot resume makes no zones of its allocator.
  const trapping = new FuelMeter(ALLOCATOR, { resumable: false });
  assert.ok(
    !WebAssembly.Module.exports(new WebAssembly.Module(trapping.bytes)).some(
      (e) => e.name.endsWith(":zone"),
    ),
  );
});

Deno.test("stops wait for the allocator: wasm-bindgen's exported allocator (brotli-wasm) is a zone by default, and stops with it in place leave brotli working", async () => {
  const { brotli, meter, exports } = await meteredBrotli();
  const zone = exports["early-exit:zone"];
  assert.ok(zone instanceof WebAssembly.Global, "__wbindgen_malloc and co.");
  const text = new TextEncoder().encode("zones ".repeat(5_000));
  for (let fuel = 20_000; fuel < 400_000; fuel += 9_973) {
    expectOutcome(
      meter.run(() => brotli.compress(text, { quality: 11 }), { fuel }),
      "fuel_exhausted",
    );
    assert.equal(zone.value, 0, "run leaves the depth at 0");
  }
  const round = meter.run(() => brotli.decompress(brotli.compress(text)));
  assert.deepEqual(expectOutcome(round, "returned").value, text);
});

Deno.test("an async run stopped while its call waits inside the allocator on a promise not the meter's says it stopped inside", async () => {
  // The run ends without the call, which resumes later inside malloc: the
  // heap may be cut there, so the outcome must say so at once.
  const bytes = await assembleWat(`(module
    (import "host" "wait" (func $wait))
    (func $malloc (export "malloc") (param i32) (result i32)
      (call $wait)
      (i32.const 8))
    (func (export "run") (drop (call $malloc (i32.const 16)))))`);
  const meter = new FuelMeter(bytes, { suspend: true });
  let release = () => {};
  let waiting = () => {};
  const inWait = new Promise<void>((resolve) => (waiting = resolve));
  const { Suspending, promising } = WebAssembly as unknown as {
    Suspending: new (fn: () => Promise<void>) => unknown;
    promising(fn: unknown): () => Promise<unknown>;
  };
  const wait = new Suspending(() => {
    waiting();
    return new Promise<void>((resolve) => (release = resolve));
  });
  const { instance } = await WebAssembly.instantiate(meter.bytes, {
    ...meter.imports,
    host: { wait },
  } as WebAssembly.Imports);
  meter.attach(instance);
  const run = promising(instance.exports.run);
  const controller = new AbortController();
  inWait.then(() => controller.abort());
  const outcome = expectOutcome(
    await meter.runAsync(run, { signal: controller.signal }),
    "aborted",
  );
  assert.equal(outcome.stoppedInZone, true);
  // The call, resumed, traps at its first check; the meter then takes runs.
  release();
  await meter.idle();
  const next = await meter.runAsync(async () => await 7);
  assert.equal(expectOutcome(next, "returned").value, 7);
  assert.equal(next.stoppedInZone, undefined);
});
