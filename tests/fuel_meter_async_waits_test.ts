/**
 * `FuelMeter#runAsync` while the call waits on a promise that is not the
 * meter's: a library's own async import (its glue wrapped it in
 * `WebAssembly.Suspending`), or the caller's JavaScript between two calls
 * into the guest. No check runs there, so the run's deadline, AbortSignal
 * and StopSignal are noticed on the event loop, and the run ends at once;
 * the call left waiting traps as soon as it resumes, and the meter takes
 * the next run once it has.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { type FuelMeter, StopSignal } from "../mod.ts";
import { expectOutcome } from "./support/outcome.ts";
import { wat } from "./support/instrument.ts";
import { waitingLibrary } from "./support/waiting_library.ts";

/** How late a stop may land here: generous, for a loaded machine. */
const SLACK_MS = 5_000;

/** A guest that waits in its library's import, then works, then returns 7. */
const WAITS = await wat(`(module
  (import "lib" "wait" (func $wait))
  (global $done (export "done") (mut i32) (i32.const 0))
  (func (export "run") (result i32)
    (local $i i32)
    (call $wait)
    (global.set $done (i32.const 1))
    (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 1000))))
    (i32.const 7)))`);

/** The guest, metered, with a library whose wait settles when told. */
async function library(fuel?: number) {
  const waiting = await waitingLibrary(WAITS, fuel);
  const done = waiting.instance.exports.done as WebAssembly.Global;
  return { ...waiting, done };
}

/**
 * The deadlines a run that should stop while its guest waits is given, one
 * after the other: a thread kept off its core for the first before the
 * guest reaches its import finds it passed at the guest's entry, and the
 * guest never waits; the next gives it more time to get there.
 */
const DEADLINES_MS = [50, 400, 3_200];

/**
 * A run of the guest with the stops of `stopOf` (which may use the
 * deadline it is given), which `kick` sets off, stopped while the guest
 * waits in its library's import: tried again with the next of
 * {@linkcode DEADLINES_MS} while the guest never got to its wait.
 */
async function stoppedWhileWaiting(
  stopOf: (
    stop: StopSignal,
    ms: number,
  ) => { timeout?: number; signal?: AbortSignal; stop?: StopSignal },
  kick: (stop: StopSignal, meter: FuelMeter) => void,
  expected: "timeout" | "aborted" | "interrupted",
) {
  for (const ms of DEADLINES_MS) {
    const { meter, run, done, release, waits } = await library();
    const stop = new StopSignal();
    const started = performance.now();
    const ended = meter.runAsync(run, stopOf(stop, ms));
    kick(stop, meter);
    const outcome = expectOutcome(await ended, expected);
    if (waits() === 0 && ms !== DEADLINES_MS.at(-1)) continue;
    await assertStoppedInWait(meter, run, done, release, started);
    return outcome;
  }
  throw new Error("unreachable");
}

/**
 * That the run started at `started` ended soon, with the guest still in
 * its wait and the meter held, and that once released the guest trapped
 * at its first check, and then runs again.
 */
async function assertStoppedInWait(
  meter: FuelMeter,
  run: () => Promise<unknown>,
  done: WebAssembly.Global,
  release: () => void,
  started: number,
) {
  const took = performance.now() - started;
  assert.ok(took < SLACK_MS, `the run ended ${took.toFixed(0)} ms in`);
  assert.equal(done.value, 0, "the guest is still waiting");
  // The waiting call holds the meter: a new run is refused, in one line.
  assert.throws(
    () => meter.run(() => 0),
    (error: Error) =>
      error instanceof TypeError && !error.message.includes("\n") &&
      /still waiting/.test(error.message),
  );
  // Once it resumes it traps at its first check: it never gets to work.
  release();
  await meter.idle();
  assert.equal(done.value, 0, "the resumed call trapped before its work");
  const running = meter.runAsync(run);
  setTimeout(release, 10);
  const again = expectOutcome(await running, "returned");
  assert.equal(again.value, 7);
  assert.equal(done.value, 1);
}

Deno.test(`runAsync: a deadline lands while the guest waits in its library's own import`, async () => {
  await stoppedWhileWaiting(
    (_, ms) => ({ timeout: ms }),
    () => {},
    "timeout",
  );
});

Deno.test(`runAsync: an abort lands while the guest waits in its library's own import`, async () => {
  const controller = new AbortController();
  await stoppedWhileWaiting(
    () => ({ signal: controller.signal }),
    () => setTimeout(() => controller.abort("enough"), 30),
    "aborted",
  );
});

Deno.test(`runAsync: a StopSignal lands while the guest waits in its library's own import`, async () => {
  await stoppedWhileWaiting(
    (stop) => ({ stop }),
    (stop) => setTimeout(() => stop.stop("enough"), 30),
    "aborted",
  );
});

Deno.test(`runAsync: the host's meter.stop() lands while the guest waits in its library's own import`, async () => {
  const outcome = await stoppedWhileWaiting(
    () => ({}),
    (_, meter) => setTimeout(() => meter.stop(), 30),
    "interrupted",
  );
  assert.match(outcome.error.message, /stopped \(host\)/);
});

Deno.test("runAsync: a deadline lands while the caller's own JavaScript waits between calls", async () => {
  const { meter, run, done, release } = await library();
  let go = () => {};
  const between = new Promise<void>((resolve) => (go = resolve));
  const started = performance.now();
  const outcome = expectOutcome(
    await meter.runAsync(async () => {
      await between;
      return await run();
    }, { timeout: 50 }),
    "timeout",
  );
  assert.ok(performance.now() - started < SLACK_MS);
  assert.deepEqual(outcome.fuel, { consumed: 0, remaining: Infinity });
  // The call it then makes into the guest traps at the entry's check.
  go();
  await meter.idle();
  assert.equal(done.value, 0);
  const running = meter.runAsync(run, { timeout: 60_000 });
  setTimeout(release, 10);
  assert.equal(expectOutcome(await running, "returned").value, 7);
});

Deno.test("runAsync: a run that ends on its own leaves the meter idle at once", async () => {
  const { meter, run, release } = await library();
  const running = meter.runAsync(run, { timeout: 60_000 });
  setTimeout(release, 10);
  assert.equal(expectOutcome(await running, "returned").value, 7);
  let idle = false;
  const waited = meter.idle().then(() => (idle = true));
  await Promise.resolve();
  await waited;
  assert.ok(idle);
});

Deno.test("runAsync: a run stopped while waiting keeps the books whole, under a cap too", async () => {
  // As in stoppedWhileWaiting, tried again while the guest never waited.
  const stoppedRun = async (ms: number) => {
    const capped = await library(100_000);
    const outcome = expectOutcome(
      await capped.meter.runAsync(capped.run, { timeout: ms, fuel: 50_000 }),
      "timeout",
    );
    return { ...capped, outcome };
  };
  let stopped = await stoppedRun(DEADLINES_MS[0]);
  for (const ms of DEADLINES_MS.slice(1)) {
    if (stopped.waits() > 0) break;
    stopped = await stoppedRun(ms);
  }
  const { meter, release, outcome } = stopped;
  const { consumed, remaining } = outcome.fuel!;
  assert.ok(consumed > 0, "the call was charged up to its wait");
  assert.equal(consumed + remaining, 100_000);
  release();
  await meter.idle();
  // The resumed call trapped at its check: it was charged nothing more.
  assert.equal(meter.consumed, consumed);
  assert.equal(meter.remaining, remaining);
});
