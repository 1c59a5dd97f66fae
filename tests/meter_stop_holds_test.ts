/**
 * A stop holds until its call ends. `meter.stop()` from a host import,
 * followed in the same import by `setFuel` or `settle()`, was undone by
 * them: the guest ran its whole loop, and the call still ended as
 * `interrupted`. Whatever the host then does to the fuel, the guest must
 * not run another pass, and the books must add up.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { FuelMeter, type Guest, loadGuest } from "../mod.ts";
import { wat } from "./support/instrument.ts";
import { expectOutcome } from "./support/outcome.ts";

/** `run` calls the host, then counts to 100,000 in the global `count`. */
const STOP_THEN_LOOP = await wat(`(module
  (import "host" "f" (func $f))
  (global $n (export "count") (mut i32) (i32.const 0))
  (func (export "run")
    (call $f)
    (loop $l
      (global.set $n (i32.add (global.get $n) (i32.const 1)))
      (br_if $l (i32.lt_u (global.get $n) (i32.const 100000))))))`);

const BUDGET = 10_000_000;

/** After `stop()`, in the same import: what it does, and the fuel it gives. */
const AFTER_STOP: [
  string,
  (meter: FuelMeter, instance: WebAssembly.Instance) => number | undefined,
  boolean,
][] = [
  ["settle()", (meter) => void meter.settle(), true],
  ["setFuel", (meter) => {
    meter.setFuel(BUDGET);
    return BUDGET;
  }, false],
  ["addFuel", (meter) => {
    meter.addFuel(5);
    return 5;
  }, false],
  ["slice", (meter) => void (meter.slice = 10), true],
  ["attach of the same instance", (meter, instance) => {
    meter.attach(instance);
    return undefined;
  }, true],
];

for (const [what, after, deadlineOnlyToo] of AFTER_STOP) {
  const kinds = deadlineOnlyToo ? [BUDGET, false] as const : [BUDGET] as const;
  for (const fuel of kinds) {
    const kind = fuel === false ? "deadline-only" : "counting";
    Deno.test(`FuelMeter#run: stop() then ${what} in a host import still stops the call (${kind})`, async () => {
      let given = fuel === false ? 0 : fuel;
      let consumedAtSet = 0;
      const held: {
        meter?: FuelMeter;
        instance?: WebAssembly.Instance;
      } = {};
      const meter = new FuelMeter(STOP_THEN_LOOP, { fuel });
      const { instance } = await WebAssembly.instantiate(meter.bytes, {
        ...meter.imports,
        host: {
          f: () => {
            held.meter!.stop();
            consumedAtSet = held.meter!.consumed;
            const more = after(held.meter!, held.instance!);
            if (what === "setFuel") given = consumedAtSet + more!;
            else if (more !== undefined) given += more;
          },
        },
      });
      held.meter = meter;
      held.instance = instance;
      meter.attach(instance);
      const result = meter.run(instance.exports.run as () => void, {
        timeout: 60_000,
      });
      expectOutcome(result, "interrupted");
      assert.equal((instance.exports.count as WebAssembly.Global).value, 0);
      if (fuel !== false) {
        assert.equal(meter.consumed + meter.remaining, given);
      }
    });

    Deno.test(`guest.meter: stop() then ${what} in a host import still stops the call (${kind})`, async () => {
      const held: { guest?: Guest } = {};
      const guest = await loadGuest(STOP_THEN_LOOP, {
        fuel,
        interruptible: true,
        imports: {
          host: {
            f: () => {
              held.guest!.meter!.stop();
              after(held.guest!.meter!, held.guest!.instance);
            },
          },
        },
      });
      held.guest = guest;
      expectOutcome(
        guest.invoke("run", [], { timeout: 60_000 }),
        "interrupted",
      );
      const count = guest.instance.exports.count as WebAssembly.Global;
      assert.equal(count.value, 0);
    });
  }
}
