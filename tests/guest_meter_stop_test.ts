/**
 * `guest.meter.stop()` on a guest from `loadGuest`: the host's own stop of
 * the call in progress. It ends the call as `interrupted` (it was reported
 * as a `trap` at `unreachable`), in plain and async calls and on a
 * deadline-only guest, and an async call waiting in a host import's promise
 * ends at once rather than when the promise settles.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { type Guest, isInterrupted, loadGuest } from "../mod.ts";
import { expectOutcome } from "./support/outcome.ts";
import { wat } from "./support/instrument.ts";

/**
 * The calls' deadline. A stop that was lost runs a call on to it, never
 * sooner; one that lands ends the call long before, however busy the
 * machine: the calls check that they ended before it.
 */
const DEADLINE_MS = 10_000;

/** Calls the host, then spins. */
const CALLS_THEN_SPINS = await wat(`(module
  (import "host" "f" (func $f))
  (func (export "run") (call $f) (loop $l (br $l))))`);

for (const fuel of [Infinity, false] as const) {
  const kind = fuel === false ? "deadline-only" : "counting";
  Deno.test(`guest.meter.stop() from a host import interrupts the call (${kind}, plain and async)`, async () => {
    for (const async of [false, true]) {
      const held: { guest?: Guest } = {};
      const guest = await loadGuest(CALLS_THEN_SPINS, {
        fuel,
        async,
        interruptible: true,
        imports: { host: { f: () => held.guest!.meter!.stop() } },
      });
      held.guest = guest;
      // Every call, not only the first: a deadline-only guest's second
      // call ran on to its deadline.
      for (let call = 0; call < 3; call++) {
        const started = performance.now();
        const result = async
          ? await guest.invokeAsync("run", [], { timeout: DEADLINE_MS })
          : guest.invoke("run", [], { timeout: DEADLINE_MS });
        const outcome = expectOutcome(result, "interrupted");
        assert.ok(performance.now() - started < DEADLINE_MS);
        assert.ok(isInterrupted(outcome.error));
        assert.match(outcome.error.message, /stopped \(host\)/);
        if (fuel !== false) {
          const { consumed, remaining } = outcome.fuel!;
          assert.equal(remaining, Infinity);
          assert.ok(consumed > 0);
        }
      }
    }
  });
}

Deno.test("guest.meter.stop() from a timer ends an async call waiting in a host import's promise, at once", async () => {
  let release = () => {};
  let released = false;
  const guest = await loadGuest(CALLS_THEN_SPINS, {
    fuel: Infinity,
    async: true,
    imports: {
      host: {
        f: () =>
          new Promise<void>((resolve) =>
            release = () => {
              released = true;
              resolve();
            }
          ),
      },
    },
  });
  const started = performance.now();
  setTimeout(() => guest.meter!.stop(), 30);
  const outcome = expectOutcome(await guest.invokeAsync("run"), "interrupted");
  assert.ok(performance.now() - started < DEADLINE_MS);
  assert.equal(released, false, "the import's promise never settled");
  assert.match(outcome.error.message, /stopped \(host\)/);
  release();
  // The guest is whole: the next call runs, and a deadline stops it.
  expectOutcome(
    await guest.invokeAsync("run", [], { timeout: 30 }),
    "timeout",
  );
});

Deno.test("guest.meter.stop() between calls is forgotten by the next call", async () => {
  const guest = await loadGuest(CALLS_THEN_SPINS, {
    fuel: Infinity,
    interruptible: true,
    imports: { host: { f: () => {} } },
  });
  guest.meter!.stop();
  expectOutcome(guest.invoke("run", [], { timeout: 30 }), "timeout");
});

Deno.test("guest.meter.stop() from a host import ends a loop the cost table makes free", async () => {
  const held: { guest?: Guest } = {};
  const guest = await loadGuest(CALLS_THEN_SPINS, {
    fuel: Infinity,
    interruptible: true,
    costs: { default: 0 },
    imports: { host: { f: () => held.guest!.meter!.stop() } },
  });
  held.guest = guest;
  const outcome = expectOutcome(
    guest.invoke("run", [], { timeout: 60_000 }),
    "interrupted",
  );
  assert.deepEqual(outcome.fuel, { consumed: 0, remaining: Infinity });
});

/** Calls the interrupt import, swallows its unwind, then spins. */
const SWALLOWS_INTERRUPT = await wat(`(module
  (import "env" "interrupt_execution" (func $i))
  (func (export "run")
    (try (do (call $i)) (catch_all))
    (loop $l (br $l))))`);

for (const fuel of [Infinity, false] as const) {
  const kind = fuel === false ? "deadline-only" : "counting";
  Deno.test(`the interrupt import stops a guest that swallows its unwind, call after call (${kind})`, async () => {
    for (const async of [false, true]) {
      const guest = await loadGuest(SWALLOWS_INTERRUPT, {
        fuel,
        async,
        interruptible: true,
      });
      for (let call = 0; call < 3; call++) {
        const started = performance.now();
        const result = async
          ? await guest.invokeAsync("run", [], { timeout: DEADLINE_MS })
          : guest.invoke("run", [], { timeout: DEADLINE_MS });
        expectOutcome(result, "interrupted");
        assert.ok(performance.now() - started < DEADLINE_MS);
      }
    }
  });
}
