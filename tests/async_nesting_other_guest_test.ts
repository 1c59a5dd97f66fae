/**
 * An async host import of one guest that awaits another async guest's
 * call: the inner call is part of the outer one, as a plain inner call is
 * (see nesting_other_guest_test.ts). The outer call's deadline, StopSignal
 * and AbortSignal ended the outer call, but the inner one ran on for ever,
 * and every later call of the inner guest queued behind it. They must stop
 * the inner call too, whatever deadline (or none) it was given.
 *
 * @module
 */

import assert from "./support/assert.ts";
import {
  type CallOutcome,
  FuelMeter,
  type Guest,
  type GuestOptions,
  loadGuest,
  StopSignal,
} from "../mod.ts";
import { wat } from "./support/instrument.ts";
import { expectOutcome } from "./support/outcome.ts";
import { within } from "./support/within.ts";

/** How late a stop may land in a test: only a lost stop gets near it. */
const SLACK_MS = 5_000;
const TIMEOUT_MS = 50;

const OUTER = await wat(`(module
  (import "host" "nest" (func $nest))
  (func (export "outer") (call $nest) (loop $again (br $again))))`);

const INNER = await wat(`(module
  (func (export "spin") (loop $again (br $again)))
  (func (export "quick") (result i32) (i32.const 2)))`);

const MODES: [string, GuestOptions][] = [
  ["counting", { fuel: Infinity }],
  ["fuel: false", { fuel: false }],
];

type Stops = "timeout" | "stop" | "signal";

async function nested(mode: GuestOptions) {
  const innerGuest = await loadGuest(INNER, { ...mode, async: true });
  let innerOutcome: Promise<CallOutcome> | undefined;
  const outerGuest = await loadGuest(OUTER, {
    ...mode,
    async: true,
    imports: {
      host: {
        nest: async () => {
          innerOutcome = innerGuest.invokeAsync("spin");
          await innerOutcome;
        },
      },
    },
  });
  return { outerGuest, innerGuest, inner: () => innerOutcome! };
}

/** Ends a call the test lost, so that no guest runs on after it. */
async function endLost(guest: Guest, call: Promise<CallOutcome>) {
  guest.meter!.stop();
  await call;
}

for (const [mode, options] of MODES) {
  for (const by of ["timeout", "stop", "signal"] as Stops[]) {
    Deno.test(`${mode}: an outer async call's ${by} stops another async guest's call awaited in its import`, async () => {
      // A thread kept off its core for the outer deadline before the guest
      // calls its import finds it passed at the guest's entry, and the
      // inner call is never made: it is tried again with a later stop.
      for (const ms of [TIMEOUT_MS, 8 * TIMEOUT_MS, 64 * TIMEOUT_MS]) {
        if (await stopsInner(by, options, ms)) return;
      }
      assert.fail("the guest never called its import before the outer stop");
    });
  }
}

/**
 * Stops an outer async call by `by` after `ms` while its import awaits the
 * inner guest's call, and checks that the inner call stopped too; false
 * when the guest never got to its import.
 */
async function stopsInner(
  by: Stops,
  options: GuestOptions,
  ms: number,
): Promise<boolean> {
  const guests = await nested(options);
  const stop = new StopSignal();
  const controller = new AbortController();
  const timer = setTimeout(() => {
    stop.stop("outer stopped");
    controller.abort("outer aborted");
  }, ms);
  const callOptions = by === "timeout"
    ? { timeout: ms }
    : by === "stop"
    ? { stop }
    : { signal: controller.signal };
  try {
    const result = await guests.outerGuest.invokeAsync(
      "outer",
      [],
      callOptions,
    );
    expectOutcome(result, by === "timeout" ? "timeout" : "aborted");
    if (guests.inner() === undefined) return false;
    const inner = await within(guests.inner(), SLACK_MS);
    if (inner === undefined) {
      await endLost(guests.innerGuest, guests.inner());
      assert.fail("the inner call ran on after the outer call's stop");
    }
    assert.ok(
      inner.outcome === "timeout" || inner.outcome === "aborted",
      inner.outcome,
    );
    // The inner guest takes calls again.
    const next = await within(
      guests.innerGuest.invokeAsync("quick"),
      SLACK_MS,
    );
    assert.equal(next?.outcome, "returned");
    return true;
  } finally {
    clearTimeout(timer);
  }
}

const { promising } = WebAssembly as unknown as {
  promising(fn: unknown): () => Promise<unknown>;
};

for (const [mode, options] of MODES) {
  Deno.test(`${mode}: an outer async call's deadline stops a FuelMeter#runAsync awaited in its import`, async () => {
    const meter = new FuelMeter(INNER, { suspend: true });
    const { instance } = await WebAssembly.instantiate(
      meter.bytes,
      meter.imports,
    );
    meter.attach(instance);
    const spin = promising(instance.exports.spin);
    let inner: Promise<CallOutcome> | undefined;
    const outerGuest = await loadGuest(OUTER, {
      ...options,
      async: true,
      imports: {
        host: {
          nest: async () => {
            inner = meter.runAsync(spin);
            await inner;
          },
        },
      },
    });
    // As above, tried again while the guest never got to its import.
    for (const timeout of [TIMEOUT_MS, 8 * TIMEOUT_MS, 64 * TIMEOUT_MS]) {
      const result = await outerGuest.invokeAsync("outer", [], { timeout });
      expectOutcome(result, "timeout");
      if (inner !== undefined) break;
    }
    const stopped = await within(inner!, SLACK_MS);
    if (stopped === undefined) {
      meter.stop();
      await inner;
      assert.fail("the run went on after the outer call's deadline");
    }
    expectOutcome(stopped, "timeout");
  });
}
