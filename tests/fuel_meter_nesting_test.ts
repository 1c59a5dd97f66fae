/**
 * `FuelMeter#run` inside a run of the same meter, from its function or from
 * a host import the guest called: the inner run would take over the
 * meter's books and watch, and once it ended the outer run's deadline was
 * lost, so it is refused, and the outer run's stops hold.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { assembleWat } from "../guest/build.ts";
import { FuelMeter, isHostImportError, StopSignal } from "../mod.ts";
import { expectOutcome } from "./support/outcome.ts";

/** How late a stop may land here: only a lost stop gets near it. */
const SLACK_MS = 5_000;
const TIMEOUT_MS = 50;

/**
 * The meter's whole tank: it ends an outer run whose deadline was lost, so
 * that such a test fails instead of hanging.
 */
const GUARD_FUEL = 10_000_000_000;

/**
 * `nest` calls the host, then spins; `nest_catching` does the same but
 * catches what the host throws, and spins anyway.
 */
const NESTING = await assembleWat(`
(module
  (import "host" "nest" (func $nest))
  (tag $any)
  (func (export "spin") (loop $again (br $again)))
  (func (export "nest") (call $nest) (loop $again (br $again)))
  (func (export "nest_catching")
    (block $caught (try_table (catch_all $caught) (call $nest)))
    (loop $again (br $again))))
`);

type Exports = Record<"spin" | "nest" | "nest_catching", () => void>;

async function nestingMeter(
  nest: (meter: FuelMeter, exports: Exports) => void,
): Promise<{ meter: FuelMeter; exports: Exports }> {
  const meter = new FuelMeter(NESTING, { fuel: GUARD_FUEL });
  const { instance } = await WebAssembly.instantiate(meter.bytes, {
    ...meter.imports,
    // Called only once the instance is attached.
    host: { nest: () => nest(meter, exports) },
  });
  meter.attach(instance);
  const exports = instance.exports as unknown as Exports;
  return { meter, exports };
}

function lateBy(started: number, timeout: number): number {
  return performance.now() - started - timeout;
}

/**
 * The outer run's deadlines, one after the other: a thread kept off its
 * core for the first before the guest calls its import finds it passed at
 * the guest's entry, and the import never runs; the next gives it more
 * time to get there.
 */
const DEADLINES_MS = [TIMEOUT_MS, 8 * TIMEOUT_MS, 64 * TIMEOUT_MS];

for (const inner of [{}, { timeout: 600_000 }, { timeout: 1 }]) {
  Deno.test(
    `FuelMeter#run: a run inside a host import (${
      JSON.stringify(inner)
    }) is refused, and the outer deadline holds`,
    async () => {
      let refused: unknown;
      const { meter, exports } = await nestingMeter((meter, exports) => {
        try {
          meter.run(() => exports.spin(), inner);
        } catch (error) {
          refused = error;
          throw error;
        }
      });
      for (const timeout of DEADLINES_MS) {
        const started = performance.now();
        const result = meter.run(() => exports.nest_catching(), { timeout });
        expectOutcome(result, "timeout");
        const late = lateBy(started, timeout);
        assert.ok(late < SLACK_MS, `${late} ms late`);
        if (refused !== undefined) break;
      }
      assert.ok(refused instanceof TypeError);
      assert.match(refused.message, /runs do not nest/);
      // The meter works afterwards.
      expectOutcome(meter.run(() => exports.spin(), { timeout: 1 }), "timeout");
    },
  );
}

Deno.test("FuelMeter#run: a run inside the run's own function is refused", async () => {
  const { meter, exports } = await nestingMeter(() => {});
  const stop = new StopSignal();
  const result = meter.run(
    () => meter.run(() => exports.spin(), { timeout: 600_000 }),
    { stop },
  );
  const error = expectOutcome(result, "error").error;
  assert.ok(isHostImportError(error));
  assert.match(String(error.cause), /runs do not nest/);
  stop.stop();
  expectOutcome(meter.run(() => exports.spin(), { stop }), "aborted");
});
