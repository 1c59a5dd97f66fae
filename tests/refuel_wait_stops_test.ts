/**
 * An async call waiting on its `refuel` hook's promise, as it waits on an
 * async host import's: its deadline, `AbortSignal`, `StopSignal` and
 * `guest.meter.stop()` end it at once. They were not looked at while the
 * promise was pending, so a hook that never settled held the call for ever.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { type Guest, loadGuest, StopSignal } from "../mod.ts";
import { wat } from "./support/instrument.ts";
import { within } from "./support/within.ts";

/** How late a stop may land here: generous, for a loaded machine. */
const SLACK_MS = 5_000;
const STOP_AFTER_MS = 50;

const SPIN = await wat(`(module (func (export "spin") (loop $l (br $l))))`);

type Stop = "timeout" | "signal" | "stop" | "meter.stop()";

for (const by of ["timeout", "signal", "stop", "meter.stop()"] as Stop[]) {
  Deno.test(`an async call waiting on its refuel hook's promise ends at its ${by}`, async () => {
    const guest: Guest = await loadGuest(SPIN, { fuel: 1_000, async: true });
    let settle = (_fuel: number) => {};
    const refuel = () => new Promise<number>((resolve) => (settle = resolve));
    const controller = new AbortController();
    const stop = new StopSignal();
    const timer = setTimeout(() => {
      controller.abort("enough");
      stop.stop("enough");
      if (by === "meter.stop()") guest.meter!.stop();
    }, STOP_AFTER_MS);
    const options = by === "timeout"
      ? { timeout: STOP_AFTER_MS }
      : by === "signal"
      ? { signal: controller.signal }
      : by === "stop"
      ? { stop }
      : {};
    try {
      const started = performance.now();
      const result = await within(
        guest.invokeAsync("spin", [], { ...options, refuel }),
        SLACK_MS,
      );
      if (result === undefined) {
        settle(0); // let the lost call end
        assert.fail(`the call waited on its refuel hook past its ${by}`);
      }
      const expected = by === "timeout"
        ? "timeout"
        : by === "meter.stop()"
        ? "interrupted"
        : "aborted";
      assert.equal(result.outcome, expected);
      assert.ok(performance.now() - started < SLACK_MS);
      const { consumed, remaining } = guest.meter!.usage;
      assert.equal(consumed + remaining, 1_000);
      // The hook's late answer changes nothing, and the guest runs again.
      settle(1_000_000);
      const next = await within(
        guest.invokeAsync("spin", [], { timeout: STOP_AFTER_MS }),
        SLACK_MS,
      );
      assert.ok(
        next?.outcome === "fuel_exhausted" || next?.outcome === "timeout",
        next?.outcome,
      );
    } finally {
      clearTimeout(timer);
    }
  });
}
