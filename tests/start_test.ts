import assert from "./support/assert.ts";
import { assembleWat } from "../guest/build.ts";
import { RUNAWAY_START_WAT } from "./support/guests.ts";
import {
  type GuestOptions,
  invokeIsolated,
  isAborted,
  isDeadlineExceeded,
  isFuelExhausted,
  loadGuest,
  StopSignal,
} from "../mod.ts";
import { expectOutcome } from "./support/outcome.ts";
import { stopFromAnotherThread } from "./support/stopper_thread.ts";

const RUNAWAY_START = await assembleWat(RUNAWAY_START_WAT);

const WORKING_START = await assembleWat(`
(module
  (global $sum (mut i32) (i32.const 0))
  (func $start
    (local $i i32)
    (loop $again
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (global.set $sum (i32.add (global.get $sum) (local.get $i)))
      (br_if $again (i32.lt_u (local.get $i) (i32.const 100000)))))
  (start $start)
  (func (export "sum") (result i32) (global.get $sum))
  (func (export "spin") (loop $forever (br $forever))))
`);

/** 1 + 2 + ... + 100000, wrapped to i32. */
const SUM = (100000 * 100001 / 2) | 0;

/**
 * Fuel that ends a start function whose stop was lost, so that such a test
 * fails with FuelExhausted instead of hanging.
 */
const GUARD_FUEL = 30_000_000_000;

const MODES: [string, GuestOptions][] = [["sync", {}], ["async", {
  async: true,
}]];

for (const [mode, base] of MODES) {
  Deno.test(`${mode}: a runaway start function stops at the timeout`, async () => {
    await assert.rejects(
      loadGuest(RUNAWAY_START, { ...base, fuel: GUARD_FUEL, timeout: 50 }),
      (e) => isDeadlineExceeded(e) && e.timeout === 50,
    );
  });

  Deno.test(`${mode}: a runaway start function runs out of fuel`, async () => {
    await assert.rejects(
      loadGuest(RUNAWAY_START, { ...base, fuel: 10_000 }),
      (e) => isFuelExhausted(e) && e.consumed <= 10_000,
    );
  });

  Deno.test(`${mode}: a StopSignal already set stops loading`, async () => {
    const stop = new StopSignal();
    stop.stop("not now");
    await assert.rejects(
      loadGuest(RUNAWAY_START, { ...base, fuel: GUARD_FUEL, stop }),
      (e) => isAborted(e) && /not now/.test(e.message),
    );
  });

  Deno.test(`${mode}: an aborted signal stops loading, its reason the cause`, async () => {
    const reason = new Error("cancelled");
    await assert.rejects(
      loadGuest(RUNAWAY_START, {
        ...base,
        fuel: GUARD_FUEL,
        signal: AbortSignal.abort(reason),
      }),
      (e) => isAborted(e) && e.cause === reason,
    );
  });

  Deno.test(`${mode}: a start function that does work loads, under a timeout too`, async () => {
    for (const extra of [{}, { timeout: 600_000 }]) {
      const guest = await loadGuest(WORKING_START, { ...base, ...extra });
      const result = base.async
        ? await guest.invokeAsync("sum")
        : guest.invoke("sum");
      assert.equal(expectOutcome(result, "returned").value, SUM);
    }
  });
}

Deno.test("sync: a StopSignal set by another Worker stops a runaway start function", async () => {
  const stop = new StopSignal();
  const stopper = await stopFromAnotherThread(stop, { after: 20 });
  try {
    await assert.rejects(
      loadGuest(RUNAWAY_START, { fuel: GUARD_FUEL, stop }),
      (e) => isAborted(e),
    );
  } finally {
    stopper.terminate();
  }
});

Deno.test("async: after a start function ran, calls still yield and can be aborted", async () => {
  const guest = await loadGuest(WORKING_START, { async: true });
  const controller = new AbortController();
  setTimeout(() => controller.abort("enough"), 20);
  const result = await guest.invokeAsync("spin", [], {
    signal: controller.signal,
    fuel: GUARD_FUEL,
  });
  assert.equal(expectOutcome(result, "aborted").error.cause, "enough");
  await guest.reinstantiate();
  assert.equal(
    expectOutcome(await guest.invokeAsync("sum"), "returned").value,
    SUM,
  );
});

Deno.test("async: the start function may wait in an async host import", async () => {
  const bytes = await assembleWat(`
    (module
      (import "host" "wait" (func $wait (result i32)))
      (global $got (mut i32) (i32.const 0))
      (func $start (global.set $got (call $wait)))
      (start $start)
      (func (export "got") (result i32) (global.get $got)))`);
  const guest = await loadGuest(bytes, {
    async: true,
    imports: {
      host: {
        wait: () => new Promise((resolve) => setTimeout(() => resolve(7), 5)),
      },
    },
  });
  assert.equal(
    expectOutcome(await guest.invokeAsync("got"), "returned").value,
    7,
  );
});

Deno.test("isolation: a runaway start function ends as a call does", async () => {
  const path = await Deno.makeTempFile({ suffix: ".wasm" });
  try {
    await Deno.writeFile(path, RUNAWAY_START);
    const timedOut = await invokeIsolated(path, "spin", [], { timeout: 100 });
    assert.equal(timedOut.outcome, "timeout");
    const spent = await invokeIsolated(path, "spin", [], { fuel: 1_000 });
    const exhausted = expectOutcome(spent, "fuel_exhausted");
    assert.equal(exhausted.export, "(start)");
    assert.ok(isFuelExhausted(exhausted.error));
  } finally {
    await Deno.remove(path);
  }
});
