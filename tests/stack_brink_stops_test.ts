/**
 * A guest that sits at the brink of the thread's stack, where a host
 * function has no room to run, and catches whatever its checks' calls to
 * the host throw: were such a call's `RangeError` catchable there, the
 * guest would swallow its fuel running out, its deadline and its stops, one
 * check after another. The stop must land at every depth. The guest goes
 * down `k` tiny frames and loops there, each turn inside `try … catch_all`,
 * for a count that takes seconds: a lost stop shows as `returned` (or as a
 * count of catches), not as a hang. Every depth near the deepest the
 * stack allows is tried, each on a fresh instance.
 *
 * @module
 */

import assert from "./support/assert.ts";
import {
  type CallOutcome,
  FuelMeter,
  type GuestOptions,
  loadGuest,
} from "../mod.ts";
import { assembleWat } from "../guest/build.ts";

/** Turns of the loop that take seconds of CPU. */
const TURNS = 400_000_000;

/** How many depths below the deepest are tried. */
const DEPTHS = 24;

/** `run(k)` goes down `k` frames and loops there, catching everything. */
const BRINK = await assembleWat(`(module
  (global $caught (export "caught") (mut i32) (i32.const 0))
  (global $turns (mut i32) (i32.const 0))
  (func $down (param $n i32)
    (if (local.get $n)
      (then (call $down (i32.sub (local.get $n) (i32.const 1))))
      (else (call $work))))
  (func $work
    (loop $l
      (try
        (do (loop $inner
          (global.set $turns (i32.add (global.get $turns) (i32.const 1)))
          (br_if $inner (i32.lt_u (global.get $turns) (i32.const ${TURNS})))))
        (catch_all
          (global.set $caught (i32.add (global.get $caught) (i32.const 1)))))
      (br_if $l (i32.lt_u (global.get $turns) (i32.const ${TURNS})))))
  (func (export "run") (param $k i32) (call $down (local.get $k))))`);

/** `run(k)` on a fresh instance, with the stop under test. */
type Attempt = (k: number) => Promise<{ outcome: CallOutcome; caught: number }>;

/** Whether the call overflowed the stack on its way down. */
function overflowed(outcome: CallOutcome): boolean {
  return outcome.outcome === "trap" && outcome.error.trap === "stack_overflow";
}

/** The deepest `k` at which `run(k)` reaches its loop. */
async function deepest(attempt: Attempt): Promise<number> {
  let low = 1_000;
  let high = 400_000;
  while (high - low > 1) {
    const middle = (low + high) >> 1;
    if (overflowed((await attempt(middle)).outcome)) high = middle;
    else low = middle;
  }
  return low;
}

/**
 * Tries every depth near the deepest: each call is stopped (or overflows
 * on its way down, past the deepest), and the guest catches nothing.
 */
async function atTheBrink(
  attempt: Attempt,
  stopped: CallOutcome["outcome"],
): Promise<void> {
  // The brink moves as V8 compiles the host's own frames anew (beside other
  // tests, one search found it 18 frames deeper than the tries after it
  // could go): when too few depths reach the loop, it is found again.
  const tried: string[] = [];
  for (let round = 0; round < 3; round++) {
    const bottom = await deepest(attempt);
    let stops = 0;
    for (let k = bottom - DEPTHS; k <= bottom + 2; k++) {
      const { outcome, caught } = await attempt(k);
      assert.equal(caught, 0, `depth ${k}: the guest caught ${caught} throws`);
      if (overflowed(outcome)) continue;
      assert.equal(outcome.outcome, stopped, `depth ${k}`);
      stops++;
    }
    // Most depths reach the loop: the test is not passed by overflows alone.
    if (stops >= DEPTHS / 2) return;
    tried.push(`${stops} below ${bottom}`);
  }
  assert.fail(`too few depths reached the loop: ${tried.join(", ")}`);
}

function guestAttempt(options: GuestOptions, async: boolean): Attempt {
  return async (k) => {
    const guest = await loadGuest(BRINK, { ...options, async });
    const outcome = async
      ? await guest.invokeAsync("run", [k], { timeout: 20 })
      : guest.invoke("run", [k], { timeout: 20 });
    return { outcome, caught: 0 };
  };
}

function meterAttempt(byFuel: boolean): Attempt {
  return async (k) => {
    const meter = new FuelMeter(BRINK);
    const { instance } = await WebAssembly.instantiate(
      meter.bytes,
      meter.imports,
    );
    meter.attach(instance);
    const exports = instance.exports as Record<string, unknown>;
    const run = exports.run as (k: number) => void;
    const outcome = meter.run(
      () => run(k),
      byFuel ? { fuel: 20_000_000 } : { timeout: 20 },
    );
    return {
      outcome,
      caught: (exports.caught as WebAssembly.Global).value as number,
    };
  };
}

Deno.test("a FuelMeter's guest at the brink of the stack runs out of fuel", async () => {
  await atTheBrink(meterAttempt(true), "fuel_exhausted");
});

Deno.test("a FuelMeter's guest at the brink of the stack is stopped by its deadline", async () => {
  await atTheBrink(meterAttempt(false), "timeout");
});

for (
  const [mode, options, async] of [
    ["an async call", { fuel: 1e15 }, true],
    ["an async deadline-only call", { fuel: false }, true],
    ["an interruptible call", { fuel: 1e15, interruptible: true }, false],
    ["a deadline-only call", { fuel: false }, false],
  ] as const
) {
  Deno.test(`${mode} at the brink of the stack is stopped by its deadline`, async () => {
    await atTheBrink(guestAttempt(options, async), "timeout");
  });
}
