/**
 * `Guest#reinstantiate()` beside calls in progress. A call runs to its end
 * on the instance it started on. On an async guest the fresh instance (and
 * its start function, a call of its own) came in the middle of a call
 * waiting in a host import: the start function's call took the running
 * call's fuel cap away, and that call's books showed the whole budget
 * spent. From outside, reinstantiate() now waits for the calls queued
 * before it, and calls made after it run on the fresh instance; from inside
 * the guest's own async call (a host import) it is refused.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { type Guest, isExportError, loadGuest } from "../mod.ts";
import { wat } from "./support/instrument.ts";
import { expectOutcome } from "./support/outcome.ts";

/**
 * `run` calls the host, then counts in the global `count` until its fuel
 * runs out; `n` returns the count, which a fresh instance starts at 0.
 */
const COUNTS_AFTER_HOST = await wat(`(module
  (import "host" "f" (func $f))
  (global $n (export "count") (mut i32) (i32.const 0))
  (func (export "n") (result i32) (global.get $n))
  (func (export "run")
    (call $f)
    (loop $l
      (global.set $n (i32.add (global.get $n) (i32.const 1)))
      (br $l))))`);

/** The same, with a start function. */
const WITH_START = await wat(`(module
  (import "host" "f" (func $f))
  (global $n (export "count") (mut i32) (i32.const 0))
  (func $init)
  (start $init)
  (func (export "n") (result i32) (global.get $n))
  (func (export "run")
    (call $f)
    (loop $l
      (global.set $n (i32.add (global.get $n) (i32.const 1)))
      (br $l))))`);

const BUDGET = 200_000;
const CAP = 10_000;

/** What one pass of `run`'s loop costs at least: its five operators. */
const PASS_COST = 5;

Deno.test("reinstantiate() from inside the guest's own async call is refused, and the call keeps to its budget", async () => {
  const held: { guest?: Guest; refused?: unknown } = {};
  const guest = await loadGuest(COUNTS_AFTER_HOST, {
    fuel: BUDGET,
    async: true,
    imports: {
      host: {
        f: async () => {
          try {
            await held.guest!.reinstantiate();
          } catch (error) {
            held.refused = error;
          }
        },
      },
    },
  });
  held.guest = guest;
  const before = guest.instance;
  expectOutcome(await guest.invokeAsync("run"), "fuel_exhausted");
  assert.ok(isExportError(held.refused), String(held.refused));
  assert.match(String((held.refused as Error).message), /reinstantiate/);
  assert.equal(guest.instance, before);
  const passes = (before.exports.count as WebAssembly.Global).value;
  assert.ok(
    passes * PASS_COST <= BUDGET,
    `${passes} passes of at least ${PASS_COST} fuel on a budget of ${BUDGET}`,
  );
  const { consumed, remaining } = guest.meter!.usage;
  assert.equal(consumed + remaining, BUDGET);
});

Deno.test("reinstantiate() from inside a plain call gives the fresh instance once the call has ended", async () => {
  const held: { guest?: Guest; fresh?: Promise<void> } = {};
  const guest = await loadGuest(COUNTS_AFTER_HOST, {
    fuel: BUDGET,
    imports: {
      host: { f: () => void (held.fresh = held.guest!.reinstantiate()) },
    },
  });
  held.guest = guest;
  const before = guest.instance;
  expectOutcome(guest.invoke("run"), "fuel_exhausted");
  await held.fresh;
  assert.notEqual(guest.instance, before);
  const passes = (before.exports.count as WebAssembly.Global).value;
  assert.ok(passes * PASS_COST <= BUDGET, `${passes} passes`);
  const { consumed, remaining } = guest.meter!.usage;
  assert.equal(consumed + remaining, BUDGET);
  assert.equal(guest.call("n"), 0);
});

Deno.test("reinstantiate() of an async guest waits for the calls queued before it; later calls run on the fresh instance", async () => {
  let release = () => {};
  const waiting = new Promise<void>((resolve) => (release = resolve));
  let entered = () => {};
  const inImport = new Promise<void>((resolve) => (entered = resolve));
  const guest = await loadGuest(WITH_START, {
    fuel: BUDGET,
    async: true,
    imports: {
      host: {
        f: () => {
          entered();
          return waiting;
        },
      },
    },
  });
  const first = guest.instance;
  const running = guest.invokeAsync("run", [], { fuel: CAP });
  await inImport;
  const fresh = guest.reinstantiate();
  const after = guest.invokeAsync("n");
  // The running call still waits in its import: the instance is the same.
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(guest.instance, first);
  release();
  // The fresh instance's start function ran after the call, not inside
  // it, where it took the call's cap away and the books with it.
  const stopped = expectOutcome(await running, "fuel_exhausted");
  assert.ok(stopped.fuel!.consumed <= CAP, `${stopped.fuel!.consumed}`);
  await fresh;
  assert.notEqual(guest.instance, first);
  const count = expectOutcome(await after, "returned");
  assert.equal(count.value, 0);
  const passes = (first.exports.count as WebAssembly.Global).value;
  assert.ok(passes * PASS_COST <= CAP, `${passes} passes`);
  const { consumed, remaining } = guest.meter!.usage;
  assert.equal(consumed + remaining, BUDGET);
  assert.ok(remaining >= BUDGET - CAP - 1_000, `${remaining} left`);
});

Deno.test("reinstantiate() from inside the guest's own async call, not awaited, is refused through the call", async () => {
  const held: { guest?: Guest } = {};
  const guest = await loadGuest(COUNTS_AFTER_HOST, {
    fuel: BUDGET,
    async: true,
    imports: { host: { f: () => void held.guest!.reinstantiate() } },
  });
  held.guest = guest;
  // Thrown in the import, as invokeAsync from inside the call is: no
  // rejection is left unhandled to end the process, and the call ends with
  // the import's error.
  const outcome = await guest.invokeAsync("run");
  const { error } = expectOutcome(outcome, "error");
  assert.equal(error.importName, "host.f");
  assert.ok(isExportError(error.cause), String(error.cause));
  assert.match((error.cause as Error).message, /reinstantiate/);
});
