/**
 * The rewrite's scan and emission of the function bodies pause after a
 * body once a step has run half a millisecond (`STEP_MS`), whatever its
 * bytes and bodies: in a process's first loads the scan covered its 64 KiB
 * steps of esbuild.wasm in 5 to 18 ms, each a hold of the loading thread
 * where a stop waited. Counted here with a clock that moves a millisecond
 * each time it is read, so that no test waits on the machine's speed.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { assembleWat } from "../guest/build.ts";
import { instrumentSteps } from "../src/wasm/instrument.ts";
import { instrument } from "../src/wasm/mod.ts";

/** A module of `n` small functions, each calling the next. */
function smallFunctions(n: number): string {
  const funcs = Array.from(
    { length: n },
    (_, i) =>
      `(func $f${i} (param i32) (result i32) (i32.add (local.get 0) (i32.const ${i})))`,
  );
  return `(module ${funcs.join("\n")} (export "f0" (func $f0)))`;
}

/** How many times the rewrite of `bytes` pauses, and what it gives. */
function countSteps(bytes: Uint8Array): { steps: number; out: Uint8Array } {
  const steps = instrumentSteps(bytes, { stopFlag: true });
  let count = 0;
  for (;;) {
    const step = steps.next();
    if (step.done) return { steps: count, out: step.value.metered.bytes };
    count++;
  }
}

/** Runs `fn` with `performance.now` moving `stepMs` at each read (0: still). */
function withSlowClock<T>(stepMs: number, fn: () => T): T {
  const real = Object.getOwnPropertyDescriptor(performance, "now");
  let now = performance.now();
  Object.defineProperty(performance, "now", {
    value: () => now += stepMs,
    configurable: true,
    writable: true,
  });
  try {
    return fn();
  } finally {
    if (real) Object.defineProperty(performance, "now", real);
    else delete (performance as { now?: unknown }).now;
  }
}

Deno.test("a rewrite whose bodies take long pauses after every few bodies, and gives the same output", async () => {
  const bytes = await assembleWat(smallFunctions(200));
  // A clock that never moves: steps end by bytes and bodies alone (the
  // machine's own clock would end more of them on a busy machine).
  const quick = withSlowClock(0, () => countSteps(bytes));
  const slow = withSlowClock(1, () => countSteps(bytes));
  // 200 bodies scanned and 200 emitted, a look at the clock every eighth:
  // about 50 pauses more where every look finds the step's time up.
  assert.ok(
    slow.steps >= quick.steps + 40,
    `${slow.steps} steps with a slow clock, ${quick.steps} with a still one`,
  );
  assert.deepEqual(slow.out, quick.out);
  assert.deepEqual(instrument(bytes, { stopFlag: true }).bytes, quick.out);
});
