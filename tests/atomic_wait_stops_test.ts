/**
 * `memory.atomic.wait32` and `wait64` block the thread for as long as the
 * guest asks, forever with a negative timeout, and no check runs while
 * they do: one operator would outlast any deadline. With a stop flag the
 * rewriter has them wait in slices, checking the flag between; these tests
 * hold a guest that waits to its deadline, and the waits to what the
 * operators return.
 */

import assert from "./support/assert.ts";
import { assembleWat } from "../guest/build.ts";
import { type CallOutcome, loadGuest, StopSignal } from "../mod.ts";
import { runDeno } from "./support/cli.ts";
import { stopFromAnotherThread } from "./support/stopper_thread.ts";
import { within } from "./support/within.ts";

const WAITS_WAT = `
(module
  (memory (export "memory") 1 1 shared)
  (func (export "wait32") (param $timeout i64) (result i32)
    (memory.atomic.wait32 (i32.const 0) (i32.const 0) (local.get $timeout)))
  (func (export "wait64") (param $timeout i64) (result i32)
    (memory.atomic.wait64 offset=8 (i32.const 0) (i64.const 0)
      (local.get $timeout)))
  (func (export "differs") (result i32)
    (memory.atomic.wait32 (i32.const 0) (i32.const 5) (i64.const -1)))
  (func (export "unaligned") (result i32)
    (memory.atomic.wait32 (i32.const 2) (i32.const 0) (i64.const -1))))
`;

type Options = { fuel?: number; async?: boolean; interruptible?: boolean };

/** Every way a loaded guest's calls are stopped by a deadline. */
const MODES: [string, Options][] = [
  ["a plain call", { interruptible: true }],
  ["a metered call", { fuel: 1_000_000, interruptible: true }],
  ["an async call", { async: true }],
];

async function call(
  options: Options,
  name: string,
  args: unknown[],
  timeout: number,
): Promise<CallOutcome> {
  const bytes = await assembleWat(WAITS_WAT, "waits.wat");
  const guest = await loadGuest(bytes, options);
  const outcome = options.async
    ? guest.invokeAsync(name, args, { timeout })
    : Promise.resolve(guest.invoke(name, args, { timeout }));
  // A wait that is not stopped ends by itself after 20 s: a failure, not a
  // hang.
  const settled = await within(outcome, 60_000);
  assert.ok(settled, `${name} did not end`);
  return settled;
}

for (const [mode, options] of MODES) {
  Deno.test(`a deadline stops ${mode} waiting in memory.atomic.wait32 and wait64`, async () => {
    for (const name of ["wait32", "wait64"]) {
      const outcome = await call(options, name, [20_000_000_000n], 200);
      assert.equal(outcome.outcome, "timeout", name);
    }
  });
}

Deno.test("a StopSignal from another thread and an AbortSignal stop a wait", async () => {
  const bytes = await assembleWat(WAITS_WAT, "waits.wat");
  const guest = await loadGuest(bytes, { interruptible: true });
  const stop = new StopSignal();
  const stopper = await stopFromAnotherThread(stop, { after: 100 });
  try {
    const stopped = guest.invoke("wait32", [20_000_000_000n], { stop });
    assert.equal(stopped.outcome, "aborted");
  } finally {
    stopper.terminate();
  }
  const async = await loadGuest(bytes, { async: true });
  const aborted = await within(
    async.invokeAsync("wait64", [20_000_000_000n], {
      signal: AbortSignal.timeout(100),
    }),
    60_000,
  );
  assert.equal(aborted?.outcome, "timeout");
});

Deno.test("a deadline stops a wait that would never time out", async () => {
  // In a child: before the fix, this wait blocked its thread for good.
  const script = `
    import { assembleWat } from "./guest/build.ts";
    import { loadGuest } from "./mod.ts";
    const bytes = await assembleWat(${JSON.stringify(WAITS_WAT)});
    const guest = await loadGuest(bytes, { interruptible: true });
    const outcome = guest.invoke("wait32", [-1n], { timeout: 200 });
    console.log(outcome.outcome);
    Deno.exit(0);
  `;
  const run = await runDeno(["eval", script], {
    signal: AbortSignal.timeout(60_000),
  });
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout.trim(), "timeout");
});

Deno.test("a guest's waits return what the operators do", async () => {
  for (const [mode, options] of MODES) {
    for (const name of ["wait32", "wait64"]) {
      // Timed out, at once and after more than one slice.
      for (const timeout of [0n, 25_000_000n]) {
        const outcome = await call(options, name, [timeout], 60_000);
        assert.equal(outcome.outcome, "returned", `${mode}: ${name}`);
        if (outcome.outcome === "returned") assert.equal(outcome.value, 2);
      }
    }
    const differs = await call(options, "differs", [], 60_000);
    assert.equal(differs.outcome, "returned", mode);
    if (differs.outcome === "returned") assert.equal(differs.value, 1);
    const unaligned = await call(options, "unaligned", [], 60_000);
    assert.equal(unaligned.outcome, "trap", mode);
  }
});

Deno.test("a wait in slices is still woken by another thread", async () => {
  const bytes = await assembleWat(
    `(module
      (import "env" "memory" (memory 1 1 shared))
      (func (export "wait") (result i32)
        (memory.atomic.wait32 (i32.const 0) (i32.const 0) (i64.const -1))))`,
    "woken.wat",
  );
  const memory = new WebAssembly.Memory({
    initial: 1,
    maximum: 1,
    shared: true,
  });
  const guest = await loadGuest(bytes, {
    async: true,
    imports: { env: { memory } },
  });
  const source = `self.onmessage = ({ data }) => {
    const cells = new Int32Array(data);
    setTimeout(() => { Atomics.store(cells, 0, 1); Atomics.notify(cells, 0); }, 100);
  };`;
  const worker = new Worker(
    `data:application/javascript,${encodeURIComponent(source)}`,
    { type: "module" },
  );
  try {
    worker.postMessage(memory.buffer);
    const outcome = await within(
      guest.invokeAsync("wait", [], { timeout: 60_000 }),
      60_000,
    );
    assert.ok(outcome, "the wait did not end");
    assert.equal(outcome.outcome, "returned");
    // Woken (0), or the value had changed when a slice began (1).
    if (outcome.outcome === "returned") {
      assert.ok(outcome.value === 0 || outcome.value === 1, `${outcome.value}`);
    }
  } finally {
    worker.terminate();
  }
});
