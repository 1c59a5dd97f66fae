import assert from "./support/assert.ts";
import { assembleWat } from "../guest/build.ts";
import {
  invokeIsolated,
  isAborted,
  isDeadlineExceeded,
  loadGuest,
  StopSignal,
} from "../mod.ts";
import { expectOutcome } from "./support/outcome.ts";
import { runDeno } from "./support/cli.ts";

const RUNAWAY = new URL("../guest/runaway.wasm", import.meta.url);
const COMPUTE = new URL("../guest/compute.wasm", import.meta.url);

Deno.test("sync: a timeout stops runaway guests that never call the host", async () => {
  const guest = await loadGuest(RUNAWAY, { timeout: 50 });
  for (
    const [name, args] of [["spin", []], ["count_forever", []], ["ping", [
      0n,
    ]]] as const
  ) {
    const started = performance.now();
    const result = expectOutcome(guest.invoke(name, [...args]), "timeout");
    const took = performance.now() - started;
    assert.ok(isDeadlineExceeded(result.error));
    assert.equal(result.error.timeout, 50);
    assert.ok(
      result.error.elapsed >= 50 && took < 50 + 200,
      `${name} stopped after ${took} ms`,
    );
    assert.ok(result.fuel!.consumed > 0);
  }
  // The instance is still usable, and a per-call timeout overrides the default.
  const memory = guest.instance.exports.memory as WebAssembly.Memory;
  const progress = new Int32Array(memory.buffer)[0];
  assert.ok(progress > 0, "count_forever ran until it was stopped");
  expectOutcome(guest.invoke("count_forever", [], { timeout: 5 }), "timeout");
});

Deno.test("sync: a deadline that does not pass leaves the result alone", async () => {
  const guest = await loadGuest(COMPUTE, { timeout: 10_000 });
  assert.equal(
    expectOutcome(guest.invoke("fib", [20]), "returned").value,
    6765,
  );
});

Deno.test("async: an AbortSignal stops a runaway guest; its reason is the cause", async () => {
  const guest = await loadGuest(RUNAWAY, { async: true });
  const controller = new AbortController();
  const reason = new Error("user pressed stop");
  setTimeout(() => controller.abort(reason), 50);
  const result = expectOutcome(
    await guest.invokeAsync("count_forever", [], { signal: controller.signal }),
    "aborted",
  );
  assert.ok(isAborted(result.error));
  assert.equal(result.error.cause, reason);
  const timedOut = await guest.invokeAsync("spin", [], {
    signal: AbortSignal.timeout(30),
  });
  const deadline = expectOutcome(timedOut, "timeout").error;
  assert.equal((deadline.cause as DOMException).name, "TimeoutError");
  expectOutcome(
    await guest.invokeAsync("spin", [], { timeout: 30 }),
    "timeout",
  );
  const already = new AbortController();
  already.abort("before the call");
  expectOutcome(
    await guest.invokeAsync("spin", [], { signal: already.signal }),
    "aborted",
  );
});

Deno.test("async: the event loop keeps running and two guests make progress together", async () => {
  const first = await loadGuest(RUNAWAY, { async: true });
  const second = await loadGuest(RUNAWAY, { async: true });
  const progress = (guest: typeof first) =>
    new Int32Array(
      (guest.instance.exports.memory as WebAssembly.Memory).buffer,
    )[0];
  let ticks = 0;
  const interval = setInterval(() => ticks++, 10);
  const samples: [number, number][] = [];
  const sampler = setInterval(
    () => samples.push([progress(first), progress(second)]),
    100,
  );
  try {
    const [a, b] = await Promise.all([
      first.invokeAsync("count_forever", [], { timeout: 1000 }),
      second.invokeAsync("count_forever", [], { timeout: 1000 }),
    ]);
    expectOutcome(a, "timeout");
    expectOutcome(b, "timeout");
  } finally {
    clearInterval(interval);
    clearInterval(sampler);
  }
  assert.ok(
    ticks >= 50,
    `setInterval(…, 10) ticked ${ticks} times in about a second`,
  );
  assert.ok(samples.length >= 5);
  const [firstMid, secondMid] = samples[Math.floor(samples.length / 2)];
  assert.ok(firstMid > 0 && secondMid > 0, "both guests had run by mid-way");
  assert.ok(
    progress(first) > firstMid && progress(second) > secondMid,
    "and both kept going",
  );
});

Deno.test("async: an abort lands while the guest waits inside an async host import", async () => {
  const bytes = await assembleWat(`(module
    (import "env" "wait" (func $wait (result i32)))
    (global $after (export "after") (mut i32) (i32.const 0))
    (func (export "run") (result i32)
      (drop (call $wait))
      (global.set $after (i32.const 1))
      (i32.const 5)))`);
  let started = false;
  const guest = await loadGuest(bytes, {
    async: true,
    imports: {
      env: {
        wait: async () => {
          started = true;
          await new Promise((resolve) => setTimeout(resolve, 10_000));
          return 1;
        },
      },
    },
  });
  const controller = new AbortController();
  setTimeout(() => controller.abort("cancel the wait"), 30);
  const t0 = performance.now();
  const result = await guest.invokeAsync("run", [], {
    signal: controller.signal,
  });
  assert.ok(started);
  expectOutcome(result, "aborted");
  assert.ok(
    performance.now() - t0 < 1000,
    "did not wait for the import to finish",
  );
  assert.equal((guest.instance.exports.after as WebAssembly.Global).value, 0);
  // The same guest still serves an async import that completes.
  const quick = await loadGuest(bytes, {
    async: true,
    imports: { env: { wait: () => Promise.resolve(3) } },
    asyncImports: ["env.wait"],
  });
  assert.equal(
    expectOutcome(await quick.invokeAsync("run"), "returned").value,
    5,
  );
});

Deno.test("async: a refuel hook resumes the same call; the result and fuel match an unlimited call", async () => {
  const unlimited = await loadGuest(COMPUTE, { async: true, fuel: Infinity });
  const reference = expectOutcome(
    await unlimited.invokeAsync("mix_loop", [50_000]),
    "returned",
  );
  const limited = await loadGuest(COMPUTE, { async: true, fuel: 10_000 });
  const slices: number[] = [10_000];
  const resumed = await limited.invokeAsync("mix_loop", [50_000], {
    refuel: () => {
      slices.push(10_000);
      return 10_000;
    },
  });
  assert.equal(expectOutcome(resumed, "returned").value, reference.value);
  assert.equal(resumed.fuel!.consumed, reference.fuel!.consumed);
  assert.equal(
    resumed.fuel!.consumed + resumed.fuel!.remaining,
    slices.reduce((a, b) => a + b),
  );
  assert.ok(slices.length > 10, "it really ran out and was topped up");
  const refused = await limited.invokeAsync("mix_loop", [50_000], {
    fuel: 100,
    refuel: () => 0,
  });
  expectOutcome(refused, "fuel_exhausted");
});

Deno.test("sync calls still throw on exhaustion, and async/sync are not mixed", async () => {
  const guest = await loadGuest(COMPUTE, { fuel: 10 });
  expectOutcome(guest.invoke("fib", [20]), "fuel_exhausted");
  await assert.rejects(guest.invokeAsync("fib", [1]), /loaded for plain calls/);
  const asyncGuest = await loadGuest(COMPUTE, { async: true });
  assert.throws(() => asyncGuest.invoke("fib", [1]), /loaded for async calls/);
});

Deno.test("isolation: a guest that is not instrumented is killed in its child process", async () => {
  const started = performance.now();
  const result = expectOutcome(
    await invokeIsolated(RUNAWAY, "spin", [], { timeout: 300 }),
    "timeout",
  );
  assert.ok(isDeadlineExceeded(result.error));
  assert.ok(performance.now() - started < 3000);
  const controller = new AbortController();
  setTimeout(() => controller.abort("stop it"), 300);
  const aborted = expectOutcome(
    await invokeIsolated(RUNAWAY, "count_forever", [], {
      signal: controller.signal,
    }),
    "aborted",
  );
  assert.equal(aborted.error.cause, "stop it");
});

Deno.test("isolation: the same outcomes and errors as in-process calls", async () => {
  const returned = await invokeIsolated(COMPUTE, "sum_to", [100], {
    fuel: 10_000,
  });
  assert.equal(expectOutcome(returned, "returned").value, 4950n);
  assert.equal(returned.fuel?.consumed, 14 * 100 + 5);
  expectOutcome(
    await invokeIsolated(COMPUTE, "fib", [30], { fuel: 1_000 }),
    "fuel_exhausted",
  );
  expectOutcome(
    await invokeIsolated(
      new URL("../guest/early_exit_guest.wasm", import.meta.url),
      "exit_early",
    ),
    "interrupted",
  );
  await assert.rejects(
    invokeIsolated(COMPUTE, "nope"),
    (e) => (e as Error).name === "ExportError",
  );
});

Deno.test("10,000 timed-out calls keep memory flat", async () => {
  const guest = await loadGuest(RUNAWAY, { timeout: 0 });
  const heap = () => Deno.memoryUsage().heapUsed;
  for (let i = 0; i < 500; i++) guest.invoke("spin");
  const before = heap();
  for (let i = 0; i < 10_000; i++) {
    expectOutcome(guest.invoke("spin"), "timeout");
  }
  const growth = heap() - before;
  assert.ok(
    growth < 8 * 1024 * 1024,
    `heap grew by ${(growth / 1024 / 1024).toFixed(1)} MiB`,
  );
});

Deno.test("no mode leaves the process unable to exit", async () => {
  const script = `
    import { invokeIsolated, loadGuest } from ${
    JSON.stringify(new URL("../mod.ts", import.meta.url).href)
  };
    const wasm = ${JSON.stringify(RUNAWAY.href)};
    const sync = await loadGuest(wasm, { timeout: 20 });
    console.log(sync.invoke("spin").outcome);
    const asyncGuest = await loadGuest(wasm, { async: true });
    console.log((await asyncGuest.invokeAsync("spin", [], { signal: AbortSignal.timeout(20) })).outcome);
    console.log((await invokeIsolated(wasm, "spin", [], { timeout: 100 })).outcome);
  `;
  const path = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await Deno.writeTextFile(path, script);
    const started = performance.now();
    const run = await runDeno(["run", "--allow-read", "--allow-run", path]);
    assert.equal(run.stdout, "timeout\ntimeout\ntimeout\n", run.stderr);
    assert.equal(run.code, 0);
    assert.ok(performance.now() - started < 10_000, "exited on its own");
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("isolation: host imports come from a module the child loads itself", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const guest = `${dir}/adds.wasm`;
    await Deno.writeFile(
      guest,
      await assembleWat(`(module
        (import "env" "offset" (func $offset (result i32)))
        (func (export "add") (param i32) (result i32) (i32.add (local.get 0) (call $offset))))`),
    );
    const imports = `${dir}/imports.ts`;
    await Deno.writeTextFile(
      imports,
      `export default { env: { offset: () => 100 } };\n`,
    );
    const result = await invokeIsolated(guest, "add", [5], { imports });
    assert.equal(expectOutcome(result, "returned").value, 105);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a Worker stops a plain call on the main thread through a StopSignal", async () => {
  const guest = await loadGuest(RUNAWAY, { interruptible: true });
  const stop = new StopSignal();
  const worker = new Worker(new URL("./support/stopper.ts", import.meta.url), {
    type: "module",
  });
  try {
    let replied = () => {};
    worker.onmessage = () => replied();
    const reply = () => new Promise<void>((resolve) => replied = resolve);
    await reply(); // loaded and listening
    const confirmed = reply();
    worker.postMessage({ buffer: stop.buffer, after: 100 });
    const started = performance.now();
    // The main thread is blocked in the guest until the worker's stop lands.
    const result = guest.invoke("count_forever", [], { stop });
    const took = performance.now() - started;
    const aborted = expectOutcome(result, "aborted");
    assert.ok(isAborted(aborted.error));
    assert.match(aborted.error.message, /StopSignal/);
    assert.ok(took >= 90 && took < 2000, `stopped after ${took} ms`);
    await confirmed;
    stop.reset();
    assert.equal(stop.stopped, false);
    const again = await loadGuest(COMPUTE, { interruptible: true });
    assert.equal(
      expectOutcome(again.invoke("fib", [10], { stop }), "returned").value,
      55,
    );
  } finally {
    worker.terminate();
  }
});
