/**
 * A `FuelMeter` run's deadline counts from the call of `run` (or
 * `runAsync`), as a `Guest` call's counts from its own start: the run's
 * own work before the guest is entered (its options read and checked) is
 * part of the call. Shown by options whose `timeout` getter holds the
 * thread for longer than the timeout: the stop's `elapsed` then counts
 * that hold, which a deadline counted from after it would not.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { assembleWat } from "../guest/build.ts";
import { isDeadlineExceeded, type MeterRunOptions } from "../mod.ts";
import { attachedMeter } from "./support/attached_meter.ts";
import { expectOutcome } from "./support/outcome.ts";

/** `spin` never ends. */
const SPIN = await assembleWat(`(module
  (func (export "spin") (loop $l (br $l))))`);

const { promising } = WebAssembly as unknown as {
  promising(fn: unknown): () => Promise<unknown>;
};

/** How long reading the options holds the thread, in milliseconds. */
const HELD_MS = 30;
const TIMEOUT_MS = 5;

/** Options whose timeout is read only after `HELD_MS` of the clock. */
function slowOptions(): MeterRunOptions {
  return {
    get timeout() {
      const until = performance.now() + HELD_MS;
      while (performance.now() < until);
      return TIMEOUT_MS;
    },
  };
}

/** The stop's elapsed time, which its error reports. */
function elapsedOf(outcome: unknown): number {
  const error = (outcome as { error?: unknown }).error;
  assert.ok(isDeadlineExceeded(error), `not a deadline: ${error}`);
  return error.elapsed;
}

Deno.test("meter.run and runAsync count the deadline from their call, reading the options included", async () => {
  const { meter, exports } = await attachedMeter<() => void>(SPIN);
  const sync = meter.run(exports.spin, slowOptions());
  expectOutcome(sync, "timeout");
  assert.ok(elapsedOf(sync) >= HELD_MS, `elapsed ${elapsedOf(sync)} ms`);

  const suspending = await attachedMeter(SPIN, { suspend: true });
  const spin = promising(suspending.exports.spin);
  const async = await suspending.meter.runAsync(spin, slowOptions());
  expectOutcome(async, "timeout");
  assert.ok(elapsedOf(async) >= HELD_MS, `elapsed ${elapsedOf(async)} ms`);
});
