/**
 * A WASI command with a start function: the start function runs as the
 * command loads, and the run's fuel, deadline, `AbortSignal` and
 * `StopSignal` stop it there too, with the stop's outcome for the export
 * `(start)`, in every way a command runs (async, a plain call, the
 * command line).
 *
 * @module
 */

import assert from "./support/assert.ts";
import { assembleWat } from "../guest/build.ts";
import { runWasi, StopSignal, type WasiOptions } from "../mod.ts";
import { runMain } from "./support/cli.ts";
import { stopFromAnotherThread } from "./support/stopper_thread.ts";

/** How late a stop may land in a test: only a lost stop gets near it. */
const SLACK_MS = 5_000;
const TIMEOUT_MS = 50;

/**
 * Fuel that ends a start function whose stop was lost, so that such a test
 * fails with `fuel_exhausted` instead of hanging.
 */
const GUARD_FUEL = 30_000_000_000;

/** A command whose start function never returns. */
const RUNAWAY_START = await assembleWat(`
(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func $start (loop $forever (br $forever)))
  (start $start)
  (func (export "_start")))
`);

async function runRunaway(options: WasiOptions) {
  const started = performance.now();
  const result = await runWasi(RUNAWAY_START, {
    fuel: GUARD_FUEL,
    stdout: "capture",
    ...options,
  });
  return { result, took: performance.now() - started };
}

async function stoppedAt(
  options: WasiOptions,
  outcome: string,
  after: number,
): Promise<void> {
  assertStoppedInStart(await runRunaway(options), outcome, after);
}

function assertStoppedInStart(
  { result, took }: Awaited<ReturnType<typeof runRunaway>>,
  outcome: string,
  after: number,
): void {
  const late = took - after;
  assert.equal(result.outcome, outcome, JSON.stringify(result));
  assert.equal(result.export, "(start)");
  assert.ok(late < SLACK_MS, `stopped ${late.toFixed(1)} ms late`);
  assert.deepEqual(result.stdout, new Uint8Array(0));
}

for (const async of [true, false]) {
  const mode = async ? "async" : "a plain call";
  Deno.test(`runWasi, ${mode}: a timeout stops a runaway start function`, async () => {
    await stoppedAt({ timeout: TIMEOUT_MS, async }, "timeout", TIMEOUT_MS);
  });

  Deno.test(`runWasi, ${mode}: a StopSignal stops a runaway start function`, async () => {
    // The other thread's clock starts before this one calls runWasi: on a
    // busy machine the stop may fall before the start function runs, which
    // stops the command itself (_start); then it is tried with a later stop.
    for (let after = TIMEOUT_MS;; after *= 2) {
      const stop = new StopSignal();
      const stopper = await stopFromAnotherThread(stop, { after });
      try {
        const run = await runRunaway({ stop, async });
        if (
          run.result.outcome === "aborted" && run.result.export === "_start" &&
          after < 3_200
        ) continue;
        assertStoppedInStart(run, "aborted", after);
        return;
      } finally {
        stopper.terminate();
      }
    }
  });
}

Deno.test("runWasi: an AbortSignal stops a runaway start function", async () => {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort("enough"), TIMEOUT_MS);
  try {
    await stoppedAt({ signal: controller.signal }, "aborted", TIMEOUT_MS);
  } finally {
    clearTimeout(timer);
  }
});

Deno.test("runWasi: a start function that runs out of fuel is an outcome", async () => {
  await stoppedAt({ fuel: 10_000 }, "fuel_exhausted", 0);
});

Deno.test("main.ts: --timeout stops a WASI command's runaway start function", async () => {
  const path = await Deno.makeTempFile({ suffix: ".wasm" });
  try {
    await Deno.writeFile(path, RUNAWAY_START);
    // --fuel is the guard: a lost stop ends in fuel_exhausted (125).
    const run = await runMain(["--allow-read"], [
      "--json",
      `--fuel=${GUARD_FUEL}`,
      "--timeout=100",
      path,
    ]);
    assert.equal(run.code, 124, run.stderr);
    const report = JSON.parse(run.stderr);
    assert.equal(report.outcome, "timeout");
    assert.ok(report.elapsed_ms - 100 < SLACK_MS);
  } finally {
    await Deno.remove(path);
  }
});

/** A command whose start function exits with 7. */
const EXITING_START = await assembleWat(`
(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func $start (call $exit (i32.const 7)))
  (start $start)
  (func (export "_start") (call $exit (i32.const 1))))
`);

/** A command whose start function writes to stdout. */
const WRITING_START = await assembleWat(`
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hi\\n")
  (func $start
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 3))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 32))))
  (start $start)
  (func (export "_start")))
`);

for (const async of [true, false]) {
  const mode = async ? "async" : "a plain call";
  Deno.test(`runWasi, ${mode}: proc_exit in the start function exits with its code`, async () => {
    const result = await runWasi(EXITING_START, { async, timeout: 10_000 });
    assert.equal(result.outcome, "exited", JSON.stringify(result));
    if (result.outcome === "exited") assert.equal(result.code, 7);
    assert.equal(result.export, "(start)");
  });

  Deno.test(`runWasi, ${mode}: a WASI call that needs memory in the start function says to move it to _start`, async () => {
    const result = await runWasi(WRITING_START, {
      async,
      timeout: 10_000,
      stdout: "capture",
    });
    assert.equal(result.outcome, "error", JSON.stringify(result));
    if (result.outcome === "error") {
      assert.match(
        String((result.error.cause as Error).message),
        /fd_write from its start function.*move the call there/,
      );
    }
    assert.deepEqual(result.stdout, new Uint8Array(0));
  });
}
