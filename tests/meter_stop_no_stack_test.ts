/**
 * A stopped `FuelMeter` run leaves the trap's stack unformatted: its
 * outcome is its stop's, and telling a trap of another guest's code apart
 * (which reads the error's stack, so that V8 formats every frame) is only
 * for a run that nothing stopped. Counted through
 * `Error.prepareStackTrace`, which V8 calls once per stack it formats.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { assembleWat } from "../guest/build.ts";
import { StopSignal } from "../mod.ts";
import { attachedMeter } from "./support/attached_meter.ts";
import { expectOutcome } from "./support/outcome.ts";

/** `spin` never ends; `boom` traps at once. */
const GUEST = await assembleWat(`(module
  (func (export "spin") (loop $l (br $l)))
  (func (export "boom") unreachable))`);

const { promising } = WebAssembly as unknown as {
  promising(fn: unknown): () => Promise<unknown>;
};

type Prepare = (error: Error, sites: unknown[]) => unknown;

/**
 * Runs `fn` and counts the traps' stacks V8 formats meanwhile (only the
 * engine's errors: what other code formats is not counted).
 */
async function stacksFormatted(fn: () => unknown): Promise<number> {
  const errorClass = Error as unknown as { prepareStackTrace?: Prepare };
  const previous = errorClass.prepareStackTrace;
  let formatted = 0;
  errorClass.prepareStackTrace = (error, sites) => {
    if (error instanceof WebAssembly.RuntimeError) formatted++;
    if (previous !== undefined) return previous(error, sites);
    return `${error}${sites.map((site) => `\n    at ${site}`).join("")}`;
  };
  try {
    await fn();
  } finally {
    errorClass.prepareStackTrace = previous;
  }
  return formatted;
}

Deno.test("a stopped meter.run and runAsync format no stack; a trap's run does", async () => {
  const { meter, exports } = await attachedMeter<() => void>(GUEST);
  const { spin, boom } = exports;
  const suspending = await attachedMeter(GUEST, { suspend: true });
  const spinAsync = promising(suspending.exports.spin);
  const stop = new StopSignal();
  stop.stop();
  // A stop set before the run, a deadline, and the same through runAsync.
  const stopped = await stacksFormatted(async () => {
    expectOutcome(meter.run(spin, { stop }), "aborted");
    expectOutcome(meter.run(spin, { timeout: 1 }), "timeout");
    const { meter: asyncMeter } = suspending;
    expectOutcome(await asyncMeter.runAsync(spinAsync, { stop }), "aborted");
    expectOutcome(
      await asyncMeter.runAsync(spinAsync, { timeout: 1 }),
      "timeout",
    );
  });
  assert.equal(stopped, 0);
  // The count works: a trap nothing stopped is looked at.
  const trapped = await stacksFormatted(() => {
    expectOutcome(meter.run(boom, { timeout: 10_000 }), "trap");
  });
  assert.ok(trapped >= 1, `${trapped} stacks formatted for a trap`);
});
