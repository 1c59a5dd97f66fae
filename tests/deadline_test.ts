import assert from "./support/assert.ts";
import { assembleWat } from "../guest/build.ts";
import {
  invokeIsolated,
  isAborted,
  isDeadlineExceeded,
  loadGuest,
  type StopSignal,
} from "../mod.ts";
import { expectOutcome } from "./support/outcome.ts";
import { runDeno } from "./support/cli.ts";
import { stopFromWorker } from "./support/worker_stop.ts";
import { COMPUTE, RUNAWAY, SEED } from "./support/guests.ts";

/** How long a child may take before it counts as hung: far beyond any load. */
const HANG_MS = 120_000;

Deno.test("sync: a timeout stops runaway guests that never call the host", async () => {
  const guest = await loadGuest(RUNAWAY, { timeout: 50 });
  for (
    const [name, args] of [["spin", []], ["count_forever", []], ["ping", [
      0n,
    ]]] as const
  ) {
    // A thread kept off its core for the deadline before the guest's first
    // operator finds it passed at the call's entry, having done nothing:
    // such a call is tried again with a longer deadline of its own.
    for (const timeout of [50, 400, 3_200]) {
      // That the call returned at all is the stop: each of these loops
      // forever.
      const result = expectOutcome(
        timeout === 50
          ? guest.invoke(name, [...args])
          : guest.invoke(name, [...args], { timeout }),
        "timeout",
      );
      assert.ok(isDeadlineExceeded(result.error));
      assert.equal(result.error.timeout, timeout);
      assert.ok(
        result.error.elapsed >= timeout,
        `${name} was stopped before its deadline, after ${result.error.elapsed} ms`,
      );
      if (result.fuel!.consumed === 0 && timeout < 3_200) continue;
      assert.ok(result.fuel!.consumed > 0);
      break;
    }
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
  // A timer samples both guests while they run, and ends both calls once it
  // has seen each of them advance between two of its samples. If the event
  // loop stalled, or one guest starved the other, the timer would never see
  // that, and the calls would end by their (far) deadline instead.
  const samples: [number, number][] = [];
  const seenEnough = new AbortController();
  const sampler = setInterval(() => {
    samples.push([progress(first), progress(second)]);
    const [a, b] = samples[samples.length - 1];
    if (samples.some(([x, y]) => x > 0 && y > 0 && a > x && b > y)) {
      seenEnough.abort("both guests advanced");
    }
  }, 10);
  try {
    const options = { signal: seenEnough.signal, timeout: 120_000 };
    const [a, b] = await Promise.all([
      first.invokeAsync("count_forever", [], options),
      second.invokeAsync("count_forever", [], options),
    ]);
    expectOutcome(a, "aborted");
    expectOutcome(b, "aborted");
  } finally {
    clearInterval(sampler);
  }
  assert.ok(samples.length >= 2, `${samples.length} samples`);
  const [firstMid, secondMid] = samples.find(([x, y]) => x > 0 && y > 0)!;
  assert.ok(
    progress(first) > firstMid && progress(second) > secondMid,
    "both guests kept going after both had started",
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
  let finished = false;
  const controller = new AbortController();
  const guest = await loadGuest(bytes, {
    async: true,
    imports: {
      env: {
        wait: async () => {
          started = true;
          // Cancel once the guest is waiting in here.
          setTimeout(() => controller.abort("cancel the wait"), 30);
          await new Promise((resolve) => setTimeout(resolve, 10_000));
          finished = true;
          return 1;
        },
      },
    },
  });
  const result = await guest.invokeAsync("run", [], {
    signal: controller.signal,
  });
  assert.ok(started);
  expectOutcome(result, "aborted");
  assert.equal(finished, false, "the call waited for the import to finish");
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
  // A name the guest does not export is said first: switching to the other
  // call would only meet that next.
  const missing = /has no export named "fbi"; its function exports are: /;
  assert.throws(() => asyncGuest.invoke("fbi", [1]), missing);
  await assert.rejects(guest.invokeAsync("fbi", [1]), missing);
  // Behind a call in progress too, where the checks run before the turn.
  const first = asyncGuest.invokeAsync("fib", [5]);
  await assert.rejects(asyncGuest.invokeAsync("fbi", [1]), missing);
  expectOutcome(await first, "returned");
  // The name given is shown on one line.
  assert.throws(
    () => asyncGuest.invoke("fib\nx", [1]),
    (error: Error) => !error.message.includes("\n"),
  );
});

Deno.test("isolation: a guest that is not instrumented is killed in its child process", async () => {
  // `spin` never ends by itself: that the call returned is the kill.
  const result = expectOutcome(
    await invokeIsolated(RUNAWAY, "spin", [], { timeout: 300 }),
    "timeout",
  );
  assert.ok(isDeadlineExceeded(result.error));
  assert.ok(result.error.elapsed >= 300, `${result.error.elapsed} ms`);
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
  assert.equal(returned.fuel?.consumed, 14 * 100 + 15);
  expectOutcome(
    await invokeIsolated(COMPUTE, "fib", [30], { fuel: 1_000 }),
    "fuel_exhausted",
  );
  expectOutcome(
    await invokeIsolated(
      SEED,
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
    // A child that has not exited long after its last call is killed, so
    // that a hang fails here instead of stalling the suite.
    const run = await runDeno(
      ["run", "--allow-read", "--allow-run", path],
      { signal: AbortSignal.timeout(HANG_MS) },
    );
    assert.equal(run.stdout, "timeout\ntimeout\ntimeout\n", run.stderr);
    assert.equal(run.signal, null, `killed after ${HANG_MS} ms: it hung`);
    assert.equal(run.code, 0);
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
  // The guest tells the worker it has started counting, through a shared
  // flag, and counts on forever: only the worker's stop can end the call.
  let started = () => {};
  let ran = false;
  const guest = await loadGuest(
    await assembleWat(`(module
      (import "env" "started" (func $started))
      (memory (export "memory") 1)
      (func (export "count_forever")
        (loop $again
          (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (i32.const 1)))
          ;; Told after its first count: a stop that comes at once still
          ;; finds the guest counting.
          (if (i32.eq (i32.load (i32.const 0)) (i32.const 1))
            (then (call $started)))
          (br $again))))`),
    {
      interruptible: true,
      imports: {
        env: {
          started: () => {
            ran = true;
            started();
          },
        },
      },
    },
  );
  let signal: StopSignal | undefined;
  // The main thread is blocked in the guest until the worker's stop lands.
  const result = await stopFromWorker((stop, running) => {
    signal = stop;
    started = running;
    return guest.invoke("count_forever", [], { stop });
  });
  const aborted = expectOutcome(result, "aborted");
  assert.ok(isAborted(aborted.error));
  assert.match(aborted.error.message, /StopSignal/);
  assert.ok(ran, "the guest had started");
  assert.equal(signal!.stopped, true, "the worker set the signal");
  const memory = guest.instance.exports.memory as WebAssembly.Memory;
  assert.ok(new Int32Array(memory.buffer)[0] > 0, "the guest was counting");
  signal!.reset();
  assert.equal(signal!.stopped, false);
  const again = await loadGuest(COMPUTE, { interruptible: true });
  assert.equal(
    expectOutcome(again.invoke("fib", [10], { stop: signal }), "returned")
      .value,
    55,
  );
});
