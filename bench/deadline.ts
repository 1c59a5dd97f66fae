/**
 * What deadlines cost: how late a stopped call returns, what watching the
 * clock adds to fuel metering, and what async calls (JSPI, yielding to the
 * event loop about every 0.5 ms) add on top.
 */
import {
  type CallOutcome,
  type Guest,
  invokeIsolated,
  loadGuest,
} from "../mod.ts";
import process from "node:process";
import { setImmediate } from "node:timers";
import { fuelWorkloads } from "./fuel.ts";
import {
  formatNs,
  geomean,
  INSTANCES,
  median,
  overInstances,
  printTable,
} from "./harness.ts";
import {
  type AsyncCall,
  type Call,
  checked,
  type Workload,
} from "./modules.ts";

const RUNAWAY = new URL("../guest/runaway.wasm", import.meta.url);
const COMPUTE = new URL("../guest/compute.wasm", import.meta.url);

/** The value below which `fraction` of the samples lie (nearest rank). */
function percentile(values: number[], fraction: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil(fraction * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))];
}

function ms(value: number): string {
  return `${value.toFixed(3)} ms`;
}

function expectOutcome(outcome: CallOutcome, expected: string): void {
  if (outcome.outcome !== expected) {
    const error = "error" in outcome ? `: ${outcome.error.message}` : "";
    throw new Error(
      `expected the call of ${outcome.export} to end with "${expected}", got "${outcome.outcome}"${error}`,
    );
  }
}

/** Stop latencies: (time the call returned) - (call start + timeout). */
async function stopLatencies(): Promise<void> {
  const runaway = await Deno.readFile(RUNAWAY);
  const timeout = 5;
  const runs = 200;
  const sync = await loadGuest(runaway, { timeout });
  const syncLate: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    const outcome = sync.invoke("spin", [], { timeout });
    syncLate.push(performance.now() - (start + timeout));
    expectOutcome(outcome, "timeout");
  }
  const async = await loadGuest(runaway, { async: true });
  const asyncLate: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    const outcome = await async.invokeAsync("spin", [], { timeout });
    asyncLate.push(performance.now() - (start + timeout));
    expectOutcome(outcome, "timeout");
  }
  // A child process needs a few tens of milliseconds to start; the timeout
  // leaves it time to be spinning in the guest when it is killed.
  const isolatedTimeout = 250;
  const isolatedRuns = 12;
  const isolatedLate: number[] = [];
  for (let i = 0; i < isolatedRuns; i++) {
    const start = performance.now();
    const outcome = await invokeIsolated(runaway, "spin", [], {
      timeout: isolatedTimeout,
    });
    isolatedLate.push(performance.now() - (start + isolatedTimeout));
    expectOutcome(outcome, "timeout");
  }
  const compute = await Deno.readFile(COMPUTE);
  const roundTrips: number[] = [];
  for (let i = 0; i < 5; i++) {
    const start = performance.now();
    expectOutcome(await invokeIsolated(compute, "fib", [10]), "returned");
    roundTrips.push(performance.now() - start);
  }
  const row = (
    mode: string,
    late: number[],
    limit: number,
    target: string,
  ): string[] => [
    mode,
    String(late.length),
    `${limit} ms`,
    ms(percentile(late, 0.5)),
    ms(percentile(late, 0.99)),
    ms(Math.max(...late)),
    target,
  ];
  console.log(
    "\n## Deadline stop latency (targets: p99 <= 1 ms sync, <= 2 ms async)\n",
  );
  console.log(
    'late = (time the call returned) - (call start + timeout); guest/runaway.wasm "spin" (loop br 0).\n',
  );
  printTable(
    ["mode", "runs", "timeout", "p50 late", "p99 late", "max late", "target"],
    [
      row("sync invoke", syncLate, timeout, "p99 <= 1 ms"),
      row("async invokeAsync", asyncLate, timeout, "p99 <= 2 ms"),
      row("invokeIsolated (SIGKILL)", isolatedLate, isolatedTimeout, "-"),
    ],
  );
  console.log(
    `\ninvokeIsolated round trip of a call that returns at once (fib(10)): median ${
      ms(median(roundTrips))
    } over ${roundTrips.length} runs`,
  );
}

/** This process's CPU time (all threads, the watchdog's included), in ms. */
function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/** Wall and CPU time per run, in nanoseconds. */
interface Timing {
  wall: number;
  cpu: number;
}

/**
 * Times async-capable cases in interleaved rounds, as harness.ts's
 * `compare` does for plain ones; the median wall and CPU time per run, in
 * nanoseconds.
 */
async function compareAsync(
  cases: Record<string, () => unknown | Promise<unknown>>,
  options: { rounds?: number; roundMs?: number } = {},
): Promise<Record<string, Timing>> {
  const rounds = options.rounds ?? 9;
  const roundMs = options.roundMs ?? 100;
  const names = Object.keys(cases);
  const time = async (
    fn: () => unknown,
    iterations: number,
  ): Promise<Timing> => {
    const cpu = cpuMs();
    const start = performance.now();
    for (let i = 0; i < iterations; i++) {
      const result = fn();
      if (result instanceof Promise) await result;
    }
    return {
      wall: ((performance.now() - start) * 1e6) / iterations,
      cpu: ((cpuMs() - cpu) * 1e6) / iterations,
    };
  };
  const counts: Record<string, number> = {};
  for (const name of names) {
    await time(cases[name], 1); // warm up
    const once = (await time(cases[name], 1)).wall / 1e6;
    counts[name] = Math.max(1, Math.round(roundMs / Math.max(once, 0.001)));
    await time(cases[name], counts[name]);
  }
  const samples: Record<string, Timing[]> = Object.fromEntries(
    names.map((n) => [n, []]),
  );
  for (let round = 0; round < rounds; round++) {
    for (const name of names) {
      samples[name].push(await time(cases[name], counts[name]));
    }
  }
  return Object.fromEntries(names.map((n) => [n, {
    wall: median(samples[n].map((t) => t.wall)),
    cpu: median(samples[n].map((t) => t.cpu)),
  }]));
}

function invoking(guest: Guest, timeout?: number): Call {
  const options = timeout === undefined ? undefined : { timeout };
  return (name, args) => {
    const outcome = guest.invoke(name, args, options);
    expectOutcome(outcome, "returned");
    return (outcome as { value: unknown }).value;
  };
}

function invokingAsync(guest: Guest): AsyncCall {
  return async (name, args) => {
    const outcome = await guest.invokeAsync(name, args);
    expectOutcome(outcome, "returned");
    return (outcome as { value: unknown }).value;
  };
}

/** One call that does almost nothing: what each kind of call costs in itself. */
/** `workload` run on `guest` through `guest.invoke`, with `timeout` if given. */
function syncRun(workload: Workload, guest: Guest, timeout?: number) {
  const call = invoking(guest, timeout);
  return () => workload.run(call, guest.instance.exports);
}

/**
 * Measures `cases` (named `side i` for instance `i`) side by side,
 * interleaved, and returns one side's median over its instances, per clock.
 */
async function measureSides(
  cases: Record<string, () => unknown>,
): Promise<(side: string, clock: keyof Timing) => number> {
  const measured = await compareAsync(cases, { rounds: 7, roundMs: 40 });
  return (side, clock) =>
    overInstances(
      Object.fromEntries(
        Object.entries(measured).map(([key, t]) => [key, t[clock]]),
      ),
      side,
    );
}

function tinyCall(bytes: Uint8Array<ArrayBuffer>): Workload {
  return {
    label: "per call: fib(1) (compute.wasm)",
    bytes,
    expected: "1",
    run: (call) => String(call("fib", [1])),
    runAsync: async (call) => String(await call("fib", [1])),
  };
}

/**
 * Deadline (sync) and async calls against fuel-only calls, all through
 * `invoke`. A fuel-only guest traps when its fuel is spent; a guest that
 * takes deadlines must be able to ask for more fuel and resume, which is
 * different code, so the table shows that cost and the clock checks apart.
 */
async function benchDeadlineOverhead(): Promise<void> {
  const workloads = await fuelWorkloads();
  const tiny = tinyCall(await Deno.readFile(COMPUTE));
  const rows: string[][] = [];
  const ratios: Record<string, number[]> = {
    code: [],
    deadline: [],
    deadlineCpu: [],
    async: [],
  };
  for (const workload of [...workloads, tiny]) {
    const cases: Record<string, () => unknown> = {};
    for (let i = 0; i < INSTANCES; i++) {
      const fueled = await loadGuest(workload.bytes, { fuel: Infinity });
      const interruptible = await loadGuest(workload.bytes, {
        fuel: Infinity,
        interruptible: true,
      });
      const async = await loadGuest(workload.bytes, { async: true });
      cases[`fuel ${i}`] = await checked(
        workload,
        "fuel only",
        syncRun(workload, fueled),
      );
      cases[`interruptible ${i}`] = await checked(
        workload,
        "interruptible",
        syncRun(workload, interruptible),
      );
      cases[`timeout ${i}`] = await checked(
        workload,
        "with a timeout",
        syncRun(workload, interruptible, 1e9),
      );
      const yielding = invokingAsync(async);
      cases[`async ${i}`] = await checked(
        workload,
        "async",
        () => workload.runAsync(yielding, async.instance.exports),
      );
    }
    const side = await measureSides(cases);
    const times = {
      fuel: side("fuel", "wall"),
      interruptible: side("interruptible", "wall"),
      timeout: side("timeout", "wall"),
      async: side("async", "wall"),
    };
    const code = times.interruptible / times.fuel;
    const deadline = times.timeout / times.fuel;
    const deadlineCpu = side("timeout", "cpu") / side("fuel", "cpu");
    const asyncRatio = times.async / times.timeout;
    if (workload !== tiny) {
      ratios.code.push(code);
      ratios.deadline.push(deadline);
      ratios.deadlineCpu.push(deadlineCpu);
      ratios.async.push(asyncRatio);
    }
    rows.push([
      workload.label,
      formatNs(times.fuel),
      formatNs(times.interruptible),
      formatNs(times.timeout),
      formatNs(times.async),
      code.toFixed(3),
      deadline.toFixed(3),
      deadlineCpu.toFixed(3),
      asyncRatio.toFixed(3),
    ]);
  }
  rows.splice(rows.length - 1, 0, [
    "geomean (without the per-call row)",
    "",
    "",
    "",
    "",
    geomean(ratios.code).toFixed(3),
    geomean(ratios.deadline).toFixed(3),
    geomean(ratios.deadlineCpu).toFixed(3),
    geomean(ratios.async).toFixed(3),
  ]);
  console.log(
    "\n## Deadline overhead over fuel-only metering (target: timeout/fuel geomean <= 1.03)\n",
  );
  console.log(
    `Every side calls through guest.invoke / invokeAsync (hash cases: one call per 16 KiB chunk), each the median over ${INSTANCES} instances;`,
  );
  console.log(
    "times are wall times; (CPU) is timeout/fuel in this process's CPU time, the watchdog's thread included.",
  );
  console.log(
    "fuel = loadGuest(bytes, { fuel: Infinity }) (traps when spent); interruptible = loadGuest(bytes, { fuel: Infinity, interruptible: true }),",
  );
  console.log(
    "called without a timeout; timeout = that guest, invoke(..., { timeout: 1e9 }) (checks a stop flag the watchdog sets);",
  );
  console.log(
    "async = loadGuest(bytes, { async: true }).invokeAsync(...) (also yields to the event loop about every 0.5 ms).\n",
  );
  printTable(
    [
      "case",
      "fuel",
      "interruptible",
      "timeout",
      "async",
      "interruptible/fuel",
      "timeout/fuel",
      "(CPU)",
      "async/timeout",
    ],
    rows,
  );
}

/** `sum_to(n)` of guest/compute.wasm: a loop as tight as they come. */
function sumTo(bytes: Uint8Array<ArrayBuffer>, n: number): Workload {
  const expected = String(BigInt(n) * BigInt(n - 1) / 2n);
  return {
    label: `sum_to(${
      n.toExponential(0).replace("+", "")
    }) (compute.wasm, tight loop)`,
    bytes,
    expected,
    run: (call) => String(call("sum_to", [n])),
    runAsync: async (call) => String(await call("sum_to", [n])),
  };
}

/**
 * The deadline-only mode, `loadGuest(bytes, { fuel: false })`, over the
 * plain guest, both called through `invoke`: its calls without a deadline
 * (what the flag checks cost) and with one (plus arming the watchdog).
 */
async function benchStopOnly(): Promise<void> {
  const compute = await Deno.readFile(COMPUTE);
  const workloads = [
    ...await fuelWorkloads(),
    sumTo(compute, 30_000_000),
  ];
  const tiny = tinyCall(compute);
  const rows: string[][] = [];
  const ratios: Record<string, number[]> = {
    checks: [],
    checksCpu: [],
    timeout: [],
    timeoutCpu: [],
  };
  for (const workload of [...workloads, tiny]) {
    const cases: Record<string, () => unknown> = {};
    for (let i = 0; i < INSTANCES; i++) {
      const plain = await loadGuest(workload.bytes);
      const stopOnly = await loadGuest(workload.bytes, { fuel: false });
      cases[`plain ${i}`] = await checked(
        workload,
        "plain",
        syncRun(workload, plain),
      );
      cases[`checks ${i}`] = await checked(
        workload,
        "fuel: false",
        syncRun(workload, stopOnly),
      );
      cases[`timeout ${i}`] = await checked(
        workload,
        "fuel: false, with a timeout",
        syncRun(workload, stopOnly, 1e9),
      );
    }
    const side = await measureSides(cases);
    const plain = side("plain", "wall");
    const row = {
      checks: side("checks", "wall") / plain,
      checksCpu: side("checks", "cpu") / side("plain", "cpu"),
      timeout: side("timeout", "wall") / plain,
      timeoutCpu: side("timeout", "cpu") / side("plain", "cpu"),
    };
    if (workload !== tiny) {
      for (const key of Object.keys(ratios)) {
        ratios[key].push(row[key as keyof typeof row]);
      }
    }
    rows.push([
      workload.label,
      formatNs(plain),
      formatNs(side("checks", "wall")),
      formatNs(side("timeout", "wall")),
      row.checks.toFixed(3),
      row.checksCpu.toFixed(3),
      row.timeout.toFixed(3),
      row.timeoutCpu.toFixed(3),
    ]);
  }
  rows.splice(rows.length - 1, 0, [
    "geomean (without the per-call row)",
    "",
    "",
    "",
    ...Object.values(ratios).map((r) => geomean(r).toFixed(3)),
  ]);
  console.log(
    "\n## Deadline-only mode (fuel: false) over plain (targets: <= 1.05 each, sum_to <= 1.3)\n",
  );
  console.log(
    `plain = loadGuest(bytes); checks = loadGuest(bytes, { fuel: false }), calls without a deadline; timeout = the same, invoke(..., { timeout: 1e9 }).`,
  );
  console.log(
    `Every side calls through guest.invoke (hash cases: one call per 16 KiB chunk), interleaved, each the median over ${INSTANCES} instances; times are wall times, (CPU) ratios are in this process's CPU time.\n`,
  );
  printTable(
    [
      "case",
      "plain",
      "checks",
      "timeout",
      "checks/plain",
      "(CPU)",
      "timeout/plain",
      "(CPU)",
    ],
    rows,
  );
}

/**
 * A module whose `run(n)` calls the import `env.y` n times. With `y` a
 * suspending import that waits for `setImmediate`, it measures the bare
 * JSPI-plus-macrotask yield that an async call makes at every tick.
 */
const YIELD_LOOP = Uint8Array.from(
  [
    "0061736d01000000", // preamble
    "010802600000" + "60017f00", // types: () -> (), (i32) -> ()
    "020901" + "03656e76" + "0179" + "0000", // import env.y: type 0
    "03020101", // function 1: type 1
    "0707010372756e0001", // export "run": function 1
    "0a1a0118" + "00" + "02400340" + // code: block loop
    "200045" + "0d01" + // br_if 1 (n == 0)
    "1000" + // call y
    "2000" + "4101" + "6b" + "2100" + // n -= 1
    "0c00" + "0b0b0b", // br 0, end end end
  ].join("").match(/../g)!,
  (hex) => parseInt(hex, 16),
);

/** The time of one bare JSPI suspend + `setImmediate` + resume, in ms. */
async function bareYieldMs(count: number): Promise<number> {
  const jspi = WebAssembly as unknown as {
    Suspending: new (fn: () => Promise<void>) => WebAssembly.ImportValue;
    promising: (fn: unknown) => (n: number) => Promise<void>;
  };
  const instance = new WebAssembly.Instance(
    new WebAssembly.Module(YIELD_LOOP),
    {
      env: {
        y: new jspi.Suspending(() =>
          new Promise<void>((resolve) => setImmediate(resolve))
        ),
      },
    },
  );
  const run = jspi.promising(instance.exports.run);
  await run(count); // warm up
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const start = performance.now();
    await run(count);
    times.push((performance.now() - start) / count);
  }
  return median(times);
}

/** Times one call, in ms, and insists on how it ended. */
async function timed(
  call: () => CallOutcome | Promise<CallOutcome>,
  expected: string,
): Promise<{ ms: number; outcome: CallOutcome }> {
  const start = performance.now();
  const outcome = await call();
  const elapsed = performance.now() - start;
  expectOutcome(outcome, expected);
  return { ms: elapsed, outcome };
}

/** How often an async call yields: the watchdog's tick, in ms. */
const TICK_MS = 0.5;

/**
 * Yields of async calls: the bare yield, and the cost of one yield inside a
 * real call: the extra time of an async call over a sync one doing the same
 * work, divided by the number of ticks it yielded at (its time / the tick).
 */
async function benchAsyncMode(): Promise<void> {
  const compute = await Deno.readFile(COMPUTE);
  // The same resumable code on both sides; the sync calls get no deadline.
  const sync = await loadGuest(compute, {
    fuel: Infinity,
    interruptible: true,
  });
  const async = await loadGuest(compute, { async: true });
  const n = 30_000_000;
  const perYield: number[] = [];
  const yieldCounts: number[] = [];
  for (let i = 0; i < 23; i++) {
    const s = await timed(() => sync.invoke("mix_loop", [n]), "returned");
    const a = await timed(
      () => async.invokeAsync("mix_loop", [n]),
      "returned",
    );
    if (i < 2) continue; // tier-up
    const yields = a.ms / TICK_MS;
    yieldCounts.push(yields);
    perYield.push((a.ms - s.ms) / yields);
  }
  // One pair's difference is about 1% of its time, as large as the
  // run-to-run noise, so only the median over many pairs means anything.
  const yields = median(yieldCounts);
  const bare = await bareYieldMs(2000);
  console.log("\n## Async mode: yields\n");
  printTable(["what", "value"], [
    [
      "bare yield: JSPI suspend + setImmediate + resume",
      formatNs(bare * 1e6),
    ],
    [
      `one yield in invokeAsync: mix_loop(${
        n.toExponential(0).replace("+", "")
      }) async - sync`,
      `${formatNs(median(perYield) * 1e6)} per yield (~${
        yields.toFixed(0)
      } ticks of ${TICK_MS} ms a call; median of ${perYield.length} pairs)`,
    ],
  ]);
}

/** Runs the deadline benchmarks and prints their tables. */
export async function benchDeadline(): Promise<void> {
  await stopLatencies();
  await benchDeadlineOverhead();
  await benchStopOnly();
  await benchAsyncMode();
}

if (import.meta.main) {
  // `deno run -A bench/deadline.ts overhead` runs one part alone.
  const part = Deno.args[0];
  if (part === undefined || part === "latency") await stopLatencies();
  if (part === undefined || part === "overhead") await benchDeadlineOverhead();
  if (part === undefined || part === "stop-only") await benchStopOnly();
  if (part === undefined || part === "async") await benchAsyncMode();
}
