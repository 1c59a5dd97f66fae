/**
 * A host import of one guest that calls another guest: the inner call is
 * part of the outer one, so the outer call's deadline and StopSignal stop
 * it too, whatever deadline (or none) the inner call was given, and then
 * the outer call. A stricter deadline of the inner call's own still stops
 * it alone.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { assembleWat } from "../guest/build.ts";
import {
  type CallOptions,
  type CallOutcome,
  FuelMeter,
  type GuestOptions,
  loadGuest,
  StopSignal,
} from "../mod.ts";
import { expectOutcome } from "./support/outcome.ts";
import { stopFromAnotherThread } from "./support/stopper_thread.ts";

/** How late a stop may land in a test: only a lost stop gets near it. */
const SLACK_MS = 5_000;
const TIMEOUT_MS = 50;

/**
 * The inner guest's budget: it ends an inner call whose outer stop was
 * lost, so that such a test fails instead of hanging.
 */
const GUARD_FUEL = 10_000_000_000;

const OUTER = await assembleWat(`
(module
  (import "host" "nest" (func $nest))
  (func (export "outer") (call $nest) (loop $again (br $again)))
  (func (export "quick") (result i32) (i32.const 1)))
`);

const INNER = await assembleWat(`
(module
  (func (export "spin") (loop $again (br $again)))
  (func (export "quick") (result i32) (i32.const 2)))
`);

const MODES: [string, GuestOptions, GuestOptions][] = [
  ["counting", { interruptible: true }, { fuel: GUARD_FUEL }],
  ["fuel: false", { fuel: false }, { fuel: GUARD_FUEL, interruptible: true }],
];

/**
 * Runs `attempt` with an outer stop TIMEOUT_MS away, then 8 and 64 times
 * as far while it says the guest never reached its import: a thread kept
 * off its core may find the outer stop come before that, an ending that is
 * right as well, and the next try gives it more time to get there.
 */
async function untilNested(
  attempt: (ms: number) => boolean | Promise<boolean>,
): Promise<void> {
  for (const ms of [TIMEOUT_MS, 8 * TIMEOUT_MS, 64 * TIMEOUT_MS]) {
    if (await attempt(ms)) return;
  }
  assert.fail("the guest never reached its import before the outer stop");
}

async function nested(
  outer: GuestOptions,
  inner: GuestOptions,
  innerCall: CallOptions,
) {
  const innerGuest = await loadGuest(INNER, { ...inner, interruptible: true });
  let innerOutcome: CallOutcome | undefined;
  const outerGuest = await loadGuest(OUTER, {
    ...outer,
    imports: {
      host: {
        nest: () =>
          void (innerOutcome = innerGuest.invoke("spin", [], innerCall)),
      },
    },
  });
  return { outerGuest, innerGuest, inner: () => innerOutcome! };
}

for (const [mode, outer, inner] of MODES) {
  for (const innerCall of [{}, { timeout: 600_000 }]) {
    const given = JSON.stringify(innerCall);
    Deno.test(`${mode}: an outer deadline stops another guest's call made from an import (${given})`, async () => {
      await untilNested(async (timeout) => {
        const guests = await nested(outer, inner, innerCall);
        const started = performance.now();
        const result = guests.outerGuest.invoke("outer", [], { timeout });
        const late = performance.now() - started - timeout;
        expectOutcome(result, "timeout");
        if (guests.inner() === undefined) return false;
        const stopped = expectOutcome(guests.inner(), "timeout");
        assert.equal(stopped.error.timeout, timeout, "the outer deadline");
        assert.ok(late < SLACK_MS, `${late.toFixed(1)} ms late`);
        // Both guests work afterwards.
        assert.equal(
          expectOutcome(guests.innerGuest.invoke("quick"), "returned").value,
          2,
        );
        assert.equal(
          expectOutcome(guests.outerGuest.invoke("quick"), "returned").value,
          1,
        );
        return true;
      });
    });

    Deno.test(`${mode}: an outer StopSignal stops another guest's call made from an import (${given})`, async () => {
      await untilNested(async (after) => {
        const guests = await nested(outer, inner, innerCall);
        const stop = new StopSignal();
        const stopper = await stopFromAnotherThread(stop, { after });
        try {
          const started = performance.now();
          const result = guests.outerGuest.invoke("outer", [], { stop });
          const late = performance.now() - started - after;
          expectOutcome(result, "aborted");
          if (guests.inner() === undefined) return false;
          expectOutcome(guests.inner(), "aborted");
          assert.ok(late < SLACK_MS, `${late.toFixed(1)} ms late`);
          return true;
        } finally {
          stopper.terminate();
        }
      });
    });
  }

  Deno.test(`${mode}: the inner call's own stricter deadline stops it alone`, async () => {
    // The outer deadline, 6 times TIMEOUT_MS (then 48 and 384 times), is
    // the later one: a thread kept off its core that long, before the
    // import or in the inner call's 10 ms, may find it passed too, and the
    // pair is tried again.
    await untilNested(async (ms) => {
      const guests = await nested(outer, inner, { timeout: 10 });
      const outerMs = 6 * ms;
      const result = guests.outerGuest.invoke("outer", [], {
        timeout: outerMs,
      });
      assert.equal(expectOutcome(result, "timeout").error.timeout, outerMs);
      const stopped = guests.inner();
      if (stopped === undefined) return false;
      const by = expectOutcome(stopped, "timeout").error.timeout;
      if (by === outerMs && ms < 64 * TIMEOUT_MS) return false;
      assert.equal(by, 10);
      return true;
    });
  });
}

/** A meter of `bytes` whose `host.nest` import runs `nest`, attached. */
async function attached(bytes: Uint8Array, nest: () => void) {
  const meter = new FuelMeter(bytes, { fuel: GUARD_FUEL });
  const { instance } = await WebAssembly.instantiate(meter.bytes, {
    ...meter.imports,
    host: { nest },
  });
  meter.attach(instance);
  return { meter, exports: instance.exports as Record<string, () => void> };
}

Deno.test("FuelMeter#run inside another meter's run, or a guest's call, keeps the outer deadline", async () => {
  const innerMeter = await attached(INNER, () => {});
  let inner: CallOutcome | undefined;
  const runInner = () =>
    void (inner = innerMeter.meter.run(() => innerMeter.exports.spin()));
  const cases: [string, (timeout: number) => CallOutcome][] = [];
  const outerMeter = await attached(OUTER, runInner);
  cases.push([
    "a run inside a run",
    (timeout) =>
      outerMeter.meter.run(() => outerMeter.exports.outer(), { timeout }),
  ]);
  const outerGuest = await loadGuest(OUTER, {
    interruptible: true,
    imports: { host: { nest: runInner } },
  });
  cases.push([
    "a run inside a guest's call",
    (timeout) => outerGuest.invoke("outer", [], { timeout }),
  ]);
  const innerGuest = await loadGuest(INNER, {
    fuel: GUARD_FUEL,
    interruptible: true,
  });
  const meterOverGuest = await attached(
    OUTER,
    () => void (inner = innerGuest.invoke("spin")),
  );
  cases.push([
    "a guest's call inside a run",
    (timeout) =>
      meterOverGuest.meter.run(() => meterOverGuest.exports.outer(), {
        timeout,
      }),
  ]);
  for (const [what, call] of cases) {
    // A thread kept off its core may find the outer deadline passed before
    // the guest reaches its import: that ending is right as well, and the
    // next try gives it more time to get there.
    let nested = false;
    for (const timeout of [TIMEOUT_MS, 8 * TIMEOUT_MS, 64 * TIMEOUT_MS]) {
      inner = undefined;
      const started = performance.now();
      const result = call(timeout);
      const late = performance.now() - started - timeout;
      expectOutcome(result, "timeout");
      // Set by the import, which the compiler cannot see.
      const nestedOutcome = inner as CallOutcome | undefined;
      if (nestedOutcome === undefined) continue;
      assert.equal(
        expectOutcome(nestedOutcome, "timeout").error.timeout,
        timeout,
        what,
      );
      assert.ok(late < SLACK_MS, `${what}: ${late.toFixed(1)} ms late`);
      nested = true;
      break;
    }
    assert.ok(nested, `${what}: the guest never reached its import in time`);
  }
  // The inner meter works afterwards.
  expectOutcome(
    innerMeter.meter.run(() => innerMeter.exports.spin(), { timeout: 1 }),
    "timeout",
  );
});

Deno.test("an async call's deadline and StopSignal stop another guest's plain call made from its import", async () => {
  for (const stopWith of ["timeout", "stop"]) {
    await untilNested(async (ms) => {
      const innerGuest = await loadGuest(INNER, {
        fuel: GUARD_FUEL,
        interruptible: true,
      });
      let inner: CallOutcome | undefined;
      const outerGuest = await loadGuest(OUTER, {
        async: true,
        imports: {
          host: { nest: () => void (inner = innerGuest.invoke("spin")) },
        },
      });
      const stop = new StopSignal();
      const stopper = stopWith === "stop"
        ? await stopFromAnotherThread(stop, { after: ms })
        : undefined;
      try {
        const started = performance.now();
        const result = await outerGuest.invokeAsync(
          "outer",
          [],
          stopWith === "timeout" ? { timeout: ms } : { stop },
        );
        const late = performance.now() - started - ms;
        const ending = stopWith === "timeout" ? "timeout" : "aborted";
        expectOutcome(result, ending);
        // Set by the import, which the compiler cannot see.
        const nestedOutcome = inner as CallOutcome | undefined;
        if (nestedOutcome === undefined) return false;
        expectOutcome(nestedOutcome, ending);
        assert.ok(late < SLACK_MS, `${stopWith}: ${late.toFixed(1)} ms late`);
        return true;
      } finally {
        stopper?.terminate();
      }
    });
  }
});

/**
 * How many abort listeners `signal` holds, read from the runtime's own
 * record of them (the engine offers no public count), which it makes at
 * the first listener.
 */
function abortListeners(signal: AbortSignal): number {
  for (const key of Object.getOwnPropertySymbols(signal)) {
    const record = (signal as unknown as Record<symbol, unknown>)[key];
    if (
      typeof record === "object" && record !== null && "listeners" in record
    ) {
      const listeners = record.listeners as Record<string, unknown[]>;
      return listeners.abort?.length ?? 0;
    }
  }
  return 0;
}

Deno.test("plain calls made in an async call's import, each listening to its AbortSignal, stop listening as each ends", async () => {
  // Each inner call listens to the outer call's signal, to set its own
  // guest's flag; its end must stop listening, or a long-lived signal
  // keeps one listener, and the ended call's watch, per call ever made.
  const innerGuest = await loadGuest(INNER, {
    fuel: GUARD_FUEL,
    interruptible: true,
  });
  const controller = new AbortController();
  // A listener of the test's own, so that the runtime's record exists.
  controller.signal.addEventListener("abort", () => {});
  const before = abortListeners(controller.signal);
  assert.equal(before, 1, "the runtime's record of listeners was not found");
  let during = -1;
  const outerGuest = await loadGuest(
    await assembleWat(`(module (import "host" "nest" (func $nest))
      (func (export "outer") (call $nest)))`),
    {
      async: true,
      imports: {
        host: {
          nest: () => {
            for (let i = 0; i < 1_000; i++) {
              expectOutcome(
                innerGuest.invoke("quick", [], { timeout: 60_000 }),
                "returned",
              );
            }
            during = abortListeners(controller.signal);
          },
        },
      },
    },
  );
  expectOutcome(
    await outerGuest.invokeAsync("outer", [], { signal: controller.signal }),
    "returned",
  );
  // The outer call's own listeners, while it runs (a few); none of the
  // inner calls', which ended.
  assert.ok(
    during <= before + 4,
    `${during} listeners in the import after 1,000 calls, ${before} before`,
  );
  assert.equal(
    abortListeners(controller.signal),
    before,
    "listeners after the call",
  );
});

Deno.test("a StopSignal of an inner call, set and reset during it, leaves the outer guest's flag clear: the outer call goes on", async () => {
  // The inner call's StopSignal is watched on the outer guest's flag too
  // (that guest's code, reached from the inner call, reads only its own
  // flag). Set, it sets that flag; reset before the inner call ends, it
  // no longer says so, and the end must still clear the flag, or the
  // outer guest, whose flag checks trap, traps at its next check.
  const stop = new StopSignal();
  const inner = await loadGuest(
    await assembleWat(`(module (import "host" "poke" (func $poke))
      (func (export "go") (call $poke)))`),
    {
      interruptible: true,
      imports: {
        host: {
          poke: () => {
            stop.stop();
            // Time for the watchdog's thread to set the flags it watches.
            const until = performance.now() + 50;
            while (performance.now() < until) { /* wait */ }
            stop.reset();
          },
        },
      },
    },
  );
  const modes: GuestOptions[] = [{ interruptible: true }, { fuel: false }];
  for (const options of modes) {
    const outer = await loadGuest(
      await assembleWat(`(module (import "host" "nest" (func $nest))
        (func (export "run") (result i32) (local $i i32)
          (call $nest)
          (loop $more
            (br_if $more (i32.lt_u
              (local.tee $i (i32.add (local.get $i) (i32.const 1)))
              (i32.const 1000))))
          (i32.const 7)))`),
      {
        ...options,
        imports: {
          host: { nest: () => void inner.invoke("go", [], { stop }) },
        },
      },
    );
    const result = outer.invoke("run", [], { timeout: 60_000 });
    expectOutcome(result, "returned");
    assert.equal(result.outcome === "returned" && result.value, 7);
  }
});
