/**
 * The hostile guests of issue #10, loaded through a {@linkcode FuelMeter}
 * as a library's own loader would, and run through `FuelMeter#run`: its
 * deadline, StopSignal and `stop()` must end each of them. The bound on
 * lateness is far looser than what `deno task bench` measures, so that a
 * loaded machine cannot break it; a lost stop never returns at all.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { attachedMeter } from "./support/attached_meter.ts";
import { assembleWat } from "../guest/build.ts";
import {
  FuelMeter,
  type FuelMeterOptions,
  isAborted,
  isDeadlineExceeded,
} from "../mod.ts";
import type { InstrumentOptions } from "../src/wasm/mod.ts";
import { GRACE_MS } from "../src/meter/meter_waits.ts";
import { HELD_CAP } from "../src/meter/run_time.ts";
import { expectOutcome } from "./support/outcome.ts";
import { BULK, FREE_LOOP, PUMP } from "./support/hostile_guests.ts";
import { stopFromWorker } from "./support/worker_stop.ts";
import { busyThread } from "./support/busy_thread.ts";

/** How late a stop may land here: only a lost stop gets near it. */
const SLACK_MS = 5_000;
const TIMEOUT_MS = 50;

/** Calls the host, which stops the meter, then spins for free. */
const STOPPED_BY_HOST = await assembleWat(`
(module
  (import "host" "stop" (func $stop))
  (func (export "spin") (call $stop) (loop $again (br $again))))
`);

const FREE: InstrumentOptions = { costs: { default: 0 } };

function attached(
  bytes: Uint8Array,
  costs?: InstrumentOptions,
  options?: FuelMeterOptions,
  host?: WebAssembly.Imports,
) {
  return attachedMeter<() => void>(bytes, options, costs, host);
}

function assertTimedOut(meter: FuelMeter, fn: () => void, what: string): void {
  const started = performance.now();
  const result = expectOutcome(
    meter.run(fn, { timeout: TIMEOUT_MS, label: what }),
    "timeout",
  );
  const late = performance.now() - started - TIMEOUT_MS;
  assert.ok(isDeadlineExceeded(result.error), what);
  assert.equal(meter.stopReason, "deadline", what);
  assert.ok(late < SLACK_MS, `${what}: ${late.toFixed(1)} ms late`);
}

Deno.test("FuelMeter#run: the slice pump, a free loop and 1 GiB memory.fill all end at their deadline", async () => {
  const pump = await attached(PUMP);
  assertTimedOut(pump.meter, pump.exports.pump_forever, "slice pump");
  const free = await attached(FREE_LOOP, FREE);
  assertTimedOut(free.meter, free.exports.spin, "a loop made free");
  for (const name of ["fill", "fill_forever"]) {
    // A fresh instance each time, whose pages are not yet touched.
    const bulk = await attached(BULK);
    assertTimedOut(bulk.meter, bulk.exports[name], `memory.fill (${name})`);
  }
});

Deno.test("FuelMeter#run: the meter is ready after a flag stop, and the next call runs to its end", async () => {
  const { meter, exports } = await attached(BULK);
  assertTimedOut(meter, exports.fill_forever, "memory.fill for ever");
  const done = meter.run(exports.fill_part, { timeout: 60_000 });
  expectOutcome(done, "returned");
  assert.equal(meter.stopReason, undefined);
  assert.ok(done.fuel!.consumed > 0);
  assert.equal(meter.usage.consumed + meter.usage.remaining, Infinity);
});

Deno.test("FuelMeter#run: a StopSignal from another thread ends a free loop", async () => {
  const { meter, exports } = await attached(FREE_LOOP, FREE);
  const stopped = await stopFromWorker((stop, started) =>
    meter.run(() => {
      started();
      exports.spin();
    }, { stop })
  );
  assert.ok(isAborted(expectOutcome(stopped, "aborted").error));
  assert.equal(meter.stopReason, "stop");
});

Deno.test("FuelMeter#stop from a host import ends a free loop, in run and outside it", async () => {
  const held: { meter?: FuelMeter } = {};
  const host = { host: { stop: () => held.meter!.stop() } };
  const loaded = await attached(STOPPED_BY_HOST, FREE, {}, host);
  const meter = held.meter = loaded.meter;
  const inRun = expectOutcome(meter.run(loaded.exports.spin), "interrupted");
  assert.match(inRun.error.message, /host/);
  assert.equal(meter.stopReason, "host");
  // A plain call, as a library's glue makes: the guest traps.
  assert.throws(() => loaded.exports.spin(), WebAssembly.RuntimeError);
  meter.settle();
});

/**
 * `spin` never ends; `cleanup`, which a library's glue would call after a
 * stop, never ends either, and each of its passes calls the host's `slow`:
 * slow for the few units it costs, as a pass faulting in a fresh page is.
 */
const SLOW_CLEANUP = await assembleWat(`
(module
  (import "host" "slow" (func $slow))
  (func (export "spin") (loop $again (br $again)))
  (func (export "cleanup") (loop $again (call $slow) (br $again))))
`);

/** A wait of the thread that spends no CPU time, as a thread off its core. */
function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Runs `spin` under a 20 ms deadline with a grace of 20,000 (which pays for
 * thousands of passes: seconds of them), then `cleanup` as a library's glue
 * would; each pass holds the thread for a millisecond, after `firstPass`
 * for the first. Returns how many passes the cleanup got.
 */
async function cleanupPasses(firstPass?: () => void): Promise<number> {
  let passes = 0;
  const slow = () => {
    if (passes++ === 0 && firstPass) return firstPass();
    const until = performance.now() + 1;
    while (performance.now() < until) {
      // The host holds the thread, as a slow pass would.
    }
  };
  const { meter, exports } = await attached(SLOW_CLEANUP, undefined, {}, {
    host: { slow },
  });
  const glue = () => {
    try {
      exports.spin();
    } finally {
      exports.cleanup();
    }
  };
  expectOutcome(meter.run(glue, { timeout: 20, grace: 20_000 }), "timeout");
  return passes;
}

Deno.test("FuelMeter#run: a slow cleanup on the grace fuel after a deadline ends by the clock", async () => {
  const passes = await cleanupPasses();
  // GRACE_MS holds about 100 passes of a millisecond, and at most 1,000
  // however little CPU time a busy machine gives the thread (HELD_CAP
  // bounds it by the clock); the grace alone about 3,000.
  assert.ok(passes > 0 && passes < 2_000, `${passes} passes of the cleanup`);
});

/**
 * How many passes `run` gives a cleanup kept from its core past GRACE_MS,
 * run again (up to three times) while they were few and the run lasted
 * past HELD_CAP times GRACE_MS by the clock: a busy machine that keeps the
 * thread from a CPU that long ends the passes by the clock, as it should.
 * Ended by the clock alone, the passes are as few in a short run.
 */
async function passesKeptFromCore(run: () => Promise<number>) {
  for (let attempt = 1;; attempt++) {
    const started = performance.now();
    const passes = await run();
    const capped = performance.now() - started >= HELD_CAP * GRACE_MS;
    if (passes > 3 || !capped || attempt === 3) return passes;
  }
}

Deno.test("FuelMeter#run: the grace's time is not spent while the thread does not run: a cleanup kept from its core past it still gets its passes", async () => {
  // The first pass: the thread away for longer than GRACE_MS, by the clock,
  // with no CPU time spent (the machine ran other work).
  const passes = await passesKeptFromCore(() =>
    cleanupPasses(() => sleep(GRACE_MS * 1.5))
  );
  // By the clock alone the first pass was the last: the check after it
  // found the grace's time over. Counted in CPU time too, the passes after
  // it get about 100 ms of it (and HELD_CAP bounds it by the clock).
  assert.ok(passes > 3 && passes < 2_000, `${passes} passes of the cleanup`);
});

Deno.test("FuelMeter#run: the grace's time is the guest's thread's: other threads of the process that run while it waits do not spend it", async () => {
  const busy = await busyThread(GRACE_MS * 1.5);
  try {
    // The first pass: the thread away for longer than GRACE_MS while
    // another thread of the process spends as long on a core, as V8's
    // compilers and collector do while a busy machine keeps the guest's
    // thread waiting.
    const passes = await passesKeptFromCore(() =>
      cleanupPasses(() => busy.waitWhileItSpins())
    );
    // Counted in the process's CPU time, the first pass was the last.
    assert.ok(passes > 3 && passes < 2_000, `${passes} passes of the cleanup`);
  } finally {
    busy.close();
  }
});

/**
 * How long each pass of a restore holds the thread, in milliseconds: the
 * HELD_CAP times GRACE_MS a restore may last by the clock hold 2,500 of
 * them, half the 5,000 at which the test stops a restore that runs on.
 */
const RESTORE_PASS_MS = 0.4;

/**
 * Emscripten's stack accessors, written by a hostile guest: `stackRestore`,
 * which the meter calls itself after a stop to put the stack pointer back,
 * never returns, and each of its passes calls the host's `slow`.
 */
const HOSTILE_STACK = await assembleWat(`
(module
  (import "host" "slow" (func $slow))
  (global $sp (mut i32) (i32.const 1024))
  (func (export "stackSave") (result i32) (global.get $sp))
  (func (export "stackRestore") (param i32)
    (global.set $sp (local.get 0))
    (loop $again (call $slow) (br $again)))
  (func (export "spin")
    (global.set $sp (i32.const 512))
    (loop $again (br $again))))
`);

Deno.test("FuelMeter#run: a stack pointer's restore that never returns ends by the clock, metered or deadline-only", async () => {
  for (const fuel of [undefined, false] as const) {
    let passes = 0;
    const slow = () => {
      // A bound for a restore the clock does not end: the test fails
      // rather than hangs.
      if (++passes === 5_000) throw new Error("the restore ran on");
      const until = performance.now() + RESTORE_PASS_MS;
      while (performance.now() < until) {
        // The host holds the thread, as a slow pass would.
      }
    };
    const { meter, exports } = await attached(
      HOSTILE_STACK,
      { fuel },
      {},
      { host: { slow } },
    );
    expectOutcome(meter.run(exports.spin, { timeout: 20 }), "timeout");
    // GRACE_MS holds about 250 passes, and HELD_CAP at most 2,500 however
    // little CPU time a busy machine gives the thread; one the clock does
    // not end runs to the 5,000th.
    assert.ok(passes > 0 && passes < 4_000, `fuel ${fuel}: ${passes} passes`);
  }
});

Deno.test("FuelMeter#run: a stack pointer's restore kept from its core past GRACE_MS still gets its passes, metered or deadline-only", async () => {
  for (const fuel of [undefined, false] as const) {
    const passes = await passesKeptFromCore(() => restoreKeptFromCore(fuel));
    // By the clock alone the first pass was the last; counted in CPU time
    // too, the passes after it get about 100 ms of it (deadline-only: the
    // restore runs again, from its start).
    assert.ok(passes > 3 && passes < 4_000, `fuel ${fuel}: ${passes} passes`);
  }
});

/** How many passes a restore kept from its core past GRACE_MS got. */
async function restoreKeptFromCore(fuel: false | undefined): Promise<number> {
  let passes = 0;
  const slow = () => {
    if (passes++ === 5_000) throw new Error("the restore ran on");
    // The first pass: the thread away for longer than GRACE_MS, by the
    // clock, with no CPU time spent.
    if (passes === 1) return sleep(GRACE_MS * 1.5);
    const until = performance.now() + RESTORE_PASS_MS;
    while (performance.now() < until) {
      // The host holds the thread, as a slow pass would.
    }
  };
  const { meter, exports } = await attached(HOSTILE_STACK, undefined, {
    fuel,
  }, { host: { slow } });
  expectOutcome(meter.run(exports.spin, { timeout: 20 }), "timeout");
  return passes;
}

Deno.test("FuelMeter({ stopFlag: false }) adds no flag: the bytes import only out_of_fuel", () => {
  const meter = new FuelMeter(FREE_LOOP, { stopFlag: false });
  const imports = WebAssembly.Module.imports(
    new WebAssembly.Module(meter.bytes),
  );
  assert.deepEqual(imports.map(({ name }) => name), ["out_of_fuel"]);
  const flagged = new FuelMeter(BULK);
  const needed = WebAssembly.Module.imports(
    new WebAssembly.Module(flagged.bytes),
  ).map(({ name }) => name);
  assert.deepEqual(needed, [
    "out_of_fuel",
    "on_stop_flag",
    "memory0",
    "stop_flag",
  ]);
  assert.deepEqual(
    Object.keys(flagged.imports[Object.keys(flagged.imports)[0]!]!).sort(),
    [...needed].sort(),
  );
});

Deno.test("FuelMeter: each instance of a flagged guest gets memories of its own", async () => {
  const meter = new FuelMeter(
    await assembleWat(`(module (memory (export "m") 1)
      (func (export "poke") (param i32) (i32.store8 (i32.const 0) (local.get 0))))`),
  );
  const first = await WebAssembly.instantiate(meter.bytes, meter.imports);
  const second = await WebAssembly.instantiate(meter.bytes, meter.imports);
  const memory = (i: WebAssembly.Instance) =>
    new Uint8Array((i.exports.m as WebAssembly.Memory).buffer);
  meter.attach(first.instance);
  (first.instance.exports.poke as (v: number) => void)(9);
  assert.equal(memory(first.instance)[0], 9);
  assert.equal(memory(second.instance)[0], 0);
});

Deno.test("FuelMeter refuses a stop flag for a guest that cannot resume, and says why", () => {
  assert.throws(
    () => new FuelMeter(FREE_LOOP, { resumable: false, stopFlag: true }),
    (error: unknown) =>
      error instanceof TypeError && /resumable: true/.test(error.message),
  );
  const trapping = new FuelMeter(FREE_LOOP, { resumable: false });
  const imports = WebAssembly.Module.imports(
    new WebAssembly.Module(trapping.bytes),
  );
  assert.deepEqual(imports, []);
});
