/**
 * A deadline-only guest (`fuel: false`) has no fuel checks: only its reads
 * of the stop flag at loop headers and function entries bound it. These
 * tests try every way back into a function (direct and mutual recursion,
 * tail calls, a table, a function reference, the host) and a loop in a
 * function that calls nothing: each must still be stopped, by a deadline or
 * at once by a stop set before it starts. (Leaving the entry check out of a
 * function that neither calls nor loops was tried, and measured no faster;
 * these tests are what such an exemption must pass.)
 *
 * @module
 */

import assert from "./support/assert.ts";
import { assembleWat } from "../guest/build.ts";
import { FuelMeter, loadGuest, StopSignal } from "../mod.ts";
import { expectOutcome } from "./support/outcome.ts";
import { watBinaryen } from "./support/instrument.ts";

/** A hang guard: far beyond what any stop here takes. */
const GUARD = 120_000;

const GUEST = await assembleWat(
  `
(module
  (import "host" "reenter" (func $reenter))
  (type $v (func))
  (table 3 funcref)
  (elem (i32.const 0) $by_table $tail_by_table $leaf_v)
  (func $leaf (export "leaf") (result i32) (i32.const 7))
  (func $leaf_v)
  (func (export "leaf_loop") (loop $again (br $again)))
  (func $self (export "self") (call $self))
  (func $ping (export "ping") (call $pong))
  (func $pong (call $ping))
  (func $tail (export "tail") (return_call $tail))
  (func $tail_a (export "tail_mutual") (return_call $tail_b))
  (func $tail_b (return_call $tail_a))
  (func $by_table (export "by_table") (call_indirect (type $v) (i32.const 0)))
  (func $tail_by_table (export "tail_by_table")
    (return_call_indirect (type $v) (i32.const 1)))
  (func (export "through_host") (call $reenter))
  (func (export "calls_leaves") (result i32)
    (call $leaf_v) (call $leaf_v) (call $leaf)))
`,
  "deadline_only_exemptions.wat",
);

/** Through function references (which wabt cannot assemble). */
const BY_REF = await watBinaryen(`
(module
  (type $v (func))
  (elem declare func $by_ref $tail_by_ref)
  (func $by_ref (export "by_ref") (call_ref $v (ref.func $by_ref)))
  (func $tail_by_ref (export "tail_by_ref")
    (return_call_ref $v (ref.func $tail_by_ref))))
`);

/** Runs for ever unless a check stops them. */
const ENDLESS = ["leaf_loop", "tail", "tail_mutual", "tail_by_table"];
/** Recurse until the stack overflows unless a check stops them first. */
const RECURSING = ["self", "ping", "by_table", "through_host"];

async function meterGuest() {
  const held: { reenter?: () => void } = {};
  const meter = new FuelMeter(GUEST, { fuel: false });
  const { instance } = await WebAssembly.instantiate(meter.bytes, {
    host: { reenter: () => held.reenter?.() },
    ...meter.imports,
  });
  meter.attach(instance);
  const exports = instance.exports as Record<string, () => unknown>;
  held.reenter = () => exports.through_host();
  return { meter, exports };
}

Deno.test("deadline-only: every loop and every way back into a function is checked (FuelMeter)", async () => {
  const { meter, exports } = await meterGuest();
  for (const name of ENDLESS) {
    expectOutcome(
      meter.run(() => exports[name](), { timeout: 20, label: name }),
      "timeout",
    );
  }
  // A stop set before the call lands at the first check: a recursion
  // without one would overflow the stack instead.
  for (const name of RECURSING) {
    const stop = new StopSignal();
    stop.stop(name);
    expectOutcome(
      meter.run(() => exports[name](), { stop, timeout: GUARD, label: name }),
      "aborted",
    );
  }
  const done = expectOutcome(
    meter.run(() => exports.calls_leaves()),
    "returned",
  );
  assert.equal(done.value, 7);
});

Deno.test("deadline-only: a pending stop traps every function at its entry, a leaf too, until the meter is settled", async () => {
  const { meter, exports } = await meterGuest();
  meter.stop();
  for (const name of ["leaf", ...ENDLESS, ...RECURSING, "calls_leaves"]) {
    assert.throws(() => exports[name](), WebAssembly.RuntimeError, name);
  }
  meter.settle();
  assert.equal(exports.calls_leaves(), 7);
});

Deno.test("deadline-only: every loop and every way back into a function is checked (loadGuest)", async () => {
  const held: { reenter?: () => void } = {};
  const guest = await loadGuest(GUEST, {
    fuel: false,
    imports: { host: { reenter: () => held.reenter?.() } },
  });
  held.reenter = () => (guest.instance.exports.through_host as () => void)();
  for (const name of ENDLESS) {
    expectOutcome(guest.invoke(name, [], { timeout: 20 }), "timeout");
  }
  for (const name of RECURSING) {
    const stop = new StopSignal();
    stop.stop(name);
    expectOutcome(guest.invoke(name, [], { stop, timeout: GUARD }), "aborted");
  }
  assert.equal(
    expectOutcome(guest.invoke("calls_leaves", []), "returned").value,
    7,
  );
});

Deno.test("deadline-only: a call_ref and a return_call_ref back into the function are checked", async () => {
  const meter = new FuelMeter(BY_REF, { fuel: false });
  const { instance } = await WebAssembly.instantiate(
    meter.bytes,
    meter.imports,
  );
  meter.attach(instance);
  const exports = instance.exports as Record<string, () => unknown>;
  expectOutcome(
    meter.run(() => exports.tail_by_ref(), { timeout: 20 }),
    "timeout",
  );
  const stop = new StopSignal();
  stop.stop("by_ref");
  expectOutcome(
    meter.run(() => exports.by_ref(), { stop, timeout: GUARD }),
    "aborted",
  );
});
