/**
 * Fuel caps on calls inside calls: a call capped with `fuel` sets the rest
 * of the tank aside until it ends. A capped call made inside another capped
 * call (a host import calling the guest back, or `guest.meter.run` from an
 * import) put its own set-aside in place of the outer one, which was lost:
 * a guest given 1,000,000 had 100,000 once both calls ended. The books must
 * add up to the fuel given after every call, however they nest, and a run
 * refused for its options must leave them as they were.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { type Guest, loadGuest } from "../mod.ts";
import { wat } from "./support/instrument.ts";
import { expectOutcome } from "./support/outcome.ts";

/** `outer` calls the host; `inner` loops a hundred times. */
const CALLS_BACK = await wat(`(module
  (import "host" "f" (func $f))
  (func (export "outer") (call $f))
  (func (export "inner") (local i32)
    (loop $l
      (local.set 0 (i32.add (local.get 0) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get 0) (i32.const 100))))))`);

const BUDGET = 1_000_000;

for (const inner of ["invoke", "meter.run"] as const) {
  for (const outerCap of [100_000, undefined]) {
    for (const innerCap of [10_000, undefined]) {
      Deno.test(
        `books add up after ${
          innerCap ? "a capped" : "an uncapped"
        } ${inner} inside ${outerCap ? "a capped" : "an uncapped"} call`,
        async () => {
          const held: { guest?: Guest } = {};
          const guest = await loadGuest(CALLS_BACK, {
            fuel: BUDGET,
            imports: {
              host: {
                f: () => {
                  const g = held.guest!;
                  const result = inner === "invoke"
                    ? g.invoke("inner", [], { fuel: innerCap })
                    : g.meter!.run(
                      () => (g.instance.exports.inner as () => void)(),
                      { fuel: innerCap },
                    );
                  expectOutcome(result, "returned");
                },
              },
            },
          });
          held.guest = guest;
          const result = expectOutcome(
            guest.invoke("outer", [], { fuel: outerCap }),
            "returned",
          );
          const { consumed, remaining } = guest.meter!.usage;
          assert.equal(consumed + remaining, BUDGET);
          assert.equal(result.fuel!.consumed, consumed);
          assert.equal(result.fuel!.remaining, remaining);
          // The next call may spend the rest of the budget.
          const next = expectOutcome(
            guest.invoke("inner", [], { fuel: BUDGET - consumed }),
            "returned",
          );
          assert.ok(next.fuel!.consumed > 0);
        },
      );
    }
  }
}

Deno.test("a FuelMeter#run refused for its grace leaves the tank as it was", async () => {
  const guest = await loadGuest(CALLS_BACK, {
    fuel: BUDGET,
    imports: { host: { f: () => {} } },
  });
  const meter = guest.meter!;
  const inner = guest.instance.exports.inner as () => void;
  for (const grace of [-1, 0.5, Number.NaN, "1000"]) {
    assert.throws(
      () => meter.run(inner, { fuel: 10, grace: grace as number }),
      /grace must be/,
    );
    assert.equal(meter.remaining, BUDGET);
  }
  // Not capped at 10 by the refused run.
  expectOutcome(meter.run(inner), "returned");
  assert.equal(meter.consumed + meter.remaining, BUDGET);
});
