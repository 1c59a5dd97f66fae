/**
 * A 64-bit operand's run-time charge is capped at 2^48 units: an operand no
 * operator could act on (`memory.grow` by -1, a fill of 2^64 - 1 bytes) is
 * the operator's failure or trap, not a budget spent. Capped at 2^62, it
 * was more than the tank of a guest without a budget holds, and such a
 * guest (a deadline alone, or `interruptible`) ended `fuel_exhausted`.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { assembleWat } from "../guest/build.ts";
import { type CallOutcome, type GuestOptions, loadGuest } from "../mod.ts";
import { cost, type Fn, meter, wat } from "./support/instrument.ts";
import { expectOutcome } from "./support/outcome.ts";

const CAP = 1n << 48n;

const WIDE = `(module
  (memory i64 1)
  (table $t i64 1 funcref)
  (func (export "grow") (param i64) (result i64) (memory.grow (local.get 0)))
  (func (export "table_grow") (param i64) (result i64)
    (table.grow $t (ref.null func) (local.get 0)))
  (func (export "fill") (param i64)
    (memory.fill (i64.const 0) (i32.const 0) (local.get 0)))
  (func (export "copy") (param i64)
    (memory.copy (i64.const 0) (i64.const 0) (local.get 0)))
  (func (export "table_fill") (param i64)
    (table.fill $t (i64.const 0) (ref.null func) (local.get 0))))`;

/** The calls with an operand of -1 (2^64 - 1), and how each must end. */
const HUGE: [string, "returned" | "trap"][] = [
  ["grow", "returned"],
  ["table_grow", "returned"],
  ["fill", "trap"],
  ["copy", "trap"],
  ["table_fill", "trap"],
];

Deno.test("the rewriter caps a 64-bit operand's charge at 2^48 units, times the unit below it", async () => {
  const m = await meter(await wat(WIDE), { costs: { perByte: 3, perPage: 5 } });
  // Below the cap: exact.
  assert.equal(cost(m, "fill", 1000n), 4n + 3000n);
  // A product past the cap, and an operand past it, both cost the cap.
  for (const n of [CAP / 3n + 1n, CAP, -1n]) {
    const before = m.used();
    assert.throws(() => (m.exports.fill as Fn)(n), WebAssembly.RuntimeError);
    assert.equal(m.used() - before, 4n + CAP, `fill of ${n}`);
  }
  // A failed grow gives its capped charge back.
  assert.equal((m.exports.grow as Fn)(-1n), -1n);
  assert.equal(cost(m, "grow", -1n), 2n);
});

/** Calls each of {@linkcode HUGE} with -1, in one guest loaded so. */
async function callHuge(options: GuestOptions): Promise<CallOutcome[]> {
  const guest = await loadGuest(await assembleWat(WIDE), options);
  const results = [];
  for (const [name] of HUGE) {
    results.push(
      options.async
        ? await guest.invokeAsync(name, [-1n])
        : guest.invoke(name, [-1n]),
    );
  }
  return results;
}

Deno.test("a guest without a budget fails or traps on a huge 64-bit operand as the operator does, never out of fuel", async () => {
  const modes: [string, GuestOptions][] = [
    ["deadline", { timeout: 60_000 }],
    ["interruptible", { interruptible: true }],
    ["async with a deadline", { async: true, timeout: 60_000 }],
    ["a budget above three caps", { fuel: 2 ** 51 }],
  ];
  for (const [what, options] of modes) {
    const results = await callHuge(options);
    for (const [i, [name, ending]] of HUGE.entries()) {
      const result = results[i]!;
      if (ending === "returned") {
        assert.equal(expectOutcome(result, "returned").value, -1n, what);
      } else {
        const { error } = expectOutcome(result, "trap");
        assert.match(error.trap, /out_of_bounds/, `${what}: ${name}`);
      }
    }
  }
});

Deno.test("a budget below the cap still stops a huge 64-bit operand before the operator runs", async () => {
  const results = await callHuge({ fuel: 1_000_000 });
  for (const [i, [name]] of HUGE.entries()) {
    const { fuel } = expectOutcome(results[i]!, "fuel_exhausted");
    // Each call is refused at its charge, having spent a few units.
    assert.ok(fuel !== undefined && fuel.consumed < 100, name);
  }
});
