/**
 * A plain call made from a host import of a `FuelMeter#runAsync` (another
 * guest's `invoke`, or another meter's `run`) is part of that run, as it is
 * of an async guest call's: the run's deadline stops it. It ran on to its
 * own limits (seconds later) while the run had ended at its deadline.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { type CallOutcome, FuelMeter, loadGuest } from "../mod.ts";
import { wat } from "./support/instrument.ts";
import { expectOutcome } from "./support/outcome.ts";

/** How late a stop may land here: only a lost stop gets near it. */
const SLACK_MS = 5_000;
const TIMEOUT_MS = 50;

const { promising } = WebAssembly as unknown as {
  promising(fn: unknown): () => Promise<unknown>;
};

const OUTER = await wat(`(module
  (import "host" "nest" (func $nest))
  (func (export "outer") (call $nest) (loop $l (br $l))))`);
const INNER = await wat(`(module (func (export "spin") (loop $l (br $l))))`);

for (const inner of ["guest.invoke", "meter.run"] as const) {
  Deno.test(`a ${inner} made from a runAsync's import stops at the run's deadline`, async () => {
    const guest = await loadGuest(INNER, { interruptible: true });
    const other = new FuelMeter(INNER);
    const { instance: otherInstance } = await WebAssembly.instantiate(
      other.bytes,
      other.imports,
    );
    other.attach(otherInstance);
    let innerOutcome: CallOutcome | undefined;
    let innerMs = 0;
    const meter = new FuelMeter(OUTER, { suspend: true });
    const { instance } = await WebAssembly.instantiate(meter.bytes, {
      ...meter.imports,
      host: {
        nest: () => {
          const started = performance.now();
          // Their own limits end them at last if the run's deadline is lost.
          innerOutcome = inner === "guest.invoke"
            ? guest.invoke("spin", [], { timeout: 2 * SLACK_MS })
            : other.run(otherInstance.exports.spin as () => void, {
              timeout: 2 * SLACK_MS,
            });
          innerMs = performance.now() - started;
        },
      },
    });
    meter.attach(instance);
    // A thread kept off its core for the run's deadline before the guest
    // calls its import finds it passed at the guest's entry, and the inner
    // call is never made: the run is tried again with a later deadline.
    for (const timeout of [TIMEOUT_MS, 8 * TIMEOUT_MS, 64 * TIMEOUT_MS]) {
      const result = await meter.runAsync(promising(instance.exports.outer), {
        timeout,
      });
      expectOutcome(result, "timeout");
      const made = innerOutcome as CallOutcome | undefined;
      if (made === undefined && timeout < 64 * TIMEOUT_MS) continue;
      const stopped = expectOutcome(made!, "timeout");
      assert.equal(stopped.error.timeout, timeout, "the run's deadline");
      assert.ok(innerMs < SLACK_MS, `${innerMs.toFixed(0)} ms`);
      break;
    }
  });
}
