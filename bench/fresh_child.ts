/**
 * One measurement in a fresh process, for bench/fresh.ts: the process has
 * compiled nothing and V8 has tiered nothing up, as for a one-shot program.
 * Prints `{ "wall": ms, "cpu": ms, "main": ms }` as its last line: `cpu`
 * is the whole process's CPU time (V8 compiles the rewriter on threads of
 * its own), `main` this thread's alone (NaN where the system does not say).
 *
 * Usage: fresh_child.ts quickjs-start|quickjs-fib plain|resumable|trapping
 *        fresh_child.ts quickjs-split plain|resumable|trapping
 *        fresh_child.ts quickjs-start cached|cached-trapping <cache directory>
 *        fresh_child.ts rewrite|rewrite-warm <path of a .wasm file>
 */
import { FuelMeter } from "../mod.ts";
import { instrument } from "../src/wasm/mod.ts";
import { startWatchdog } from "../src/watchdog/watchdog.ts";
import { threadCpuMs, type ThreadTimes, threadTimes } from "./fresh_cpu.ts";
import { cpuMs } from "./harness.ts";
import { evaluate, QUICKJS_WASM, quickjsContext } from "./libraries.ts";

const [what, mode, cacheDirectory] = Deno.args;

/** Times `fn`, wall, CPU and this thread's CPU, in ms. */
async function timed(
  fn: () => unknown,
): Promise<{ wall: number; cpu: number; main: number }> {
  const main = threadCpuMs();
  const cpu = cpuMs();
  const start = performance.now();
  await fn();
  return {
    wall: performance.now() - start,
    cpu: cpuMs() - cpu,
    main: threadCpuMs() - main,
  };
}

async function meterFor(bytes: Uint8Array): Promise<FuelMeter | undefined> {
  if (mode === "plain") return undefined;
  // Resumable, through the rewrite cache: a miss when the directory is
  // empty, a hit when an earlier process filled it.
  if (mode === "cached" || mode === "cached-trapping") {
    const resumable = mode === "cached";
    return await FuelMeter.create(bytes, { resumable, cache: cacheDirectory });
  }
  if (mode !== "resumable" && mode !== "trapping") {
    throw new Error(
      `expected plain, resumable, trapping, cached or cached-trapping, got ${mode}`,
    );
  }
  return new FuelMeter(bytes, { resumable: mode === "resumable" });
}

/** Evaluates `code`, through the meter when there is one. */
function run(
  vm: Awaited<ReturnType<typeof quickjsContext>>,
  meter: FuelMeter | undefined,
  code: string,
): string {
  if (meter === undefined) return evaluate(vm, code);
  const outcome = meter.run(() => evaluate(vm, code));
  if (outcome.outcome !== "returned") {
    throw new Error(`QuickJS stopped: ${outcome.outcome}`);
  }
  return outcome.value as string;
}

const FIB =
  "function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2) } fib(25)";

let result: { wall: number; cpu: number; main: number };
if (what === "quickjs-split") {
  // quickjs-start in parts, and the whole by thread: what a cold start-up
  // spends where. A resumable meter's watchdog thread is started on its own
  // first (the meter then finds it running), to tell its cost apart.
  const parts: Record<string, { cpu: number; main: number }> = {};
  const part = async <T>(name: string, fn: () => T | Promise<T>) => {
    let value: T;
    const { cpu, main } = await timed(async () => value = await fn());
    parts[name] = { cpu, main };
    return value!;
  };
  const before = threadTimes();
  result = await timed(async () => {
    const bytes = await part("read", () => Deno.readFile(QUICKJS_WASM));
    if (mode === "resumable") await part("watchdog", startWatchdog);
    const meter = await part("meter", () => meterFor(bytes));
    const vm = await part("load", () => quickjsContext(bytes, meter));
    const value = await part("run", () => run(vm, meter, "1 + 2"));
    if (value !== "3") throw new Error("1 + 2 is not 3");
  });
  const after = threadTimes();
  const threads = Object.fromEntries(
    Object.keys(after).map((key) => [
      key,
      after[key as keyof ThreadTimes] - before[key as keyof ThreadTimes],
    ]),
  );
  result = { ...result, parts, threads } as typeof result;
} else if (what === "quickjs-start") {
  // Reading, rewriting (when metered), compiling, instantiating, a first result.
  result = await timed(async () => {
    const bytes = await Deno.readFile(QUICKJS_WASM);
    const meter = await meterFor(bytes);
    const vm = await quickjsContext(bytes, meter);
    if (run(vm, meter, "1 + 2") !== "3") throw new Error("1 + 2 is not 3");
  });
} else if (what === "quickjs-fib") {
  const bytes = await Deno.readFile(QUICKJS_WASM);
  const meter = await meterFor(bytes);
  const vm = await quickjsContext(bytes, meter);
  result = await timed(() => {
    if (run(vm, meter, FIB) !== "75025") throw new Error("fib(25) is wrong");
  });
} else if (what === "rewrite") {
  const bytes = await Deno.readFile(mode);
  result = await timed(() => instrument(bytes));
} else if (what === "rewrite-warm") {
  // The fifth to ninth calls, once V8 has optimised the rewriter: medians.
  const bytes = await Deno.readFile(mode);
  for (let i = 0; i < 4; i++) instrument(bytes);
  const calls: { wall: number; cpu: number; main: number }[] = [];
  for (let i = 0; i < 5; i++) calls.push(await timed(() => instrument(bytes)));
  const middle = (key: "wall" | "cpu" | "main") =>
    calls.map((call) => call[key]).sort((a, b) => a - b)[2]!;
  result = { wall: middle("wall"), cpu: middle("cpu"), main: middle("main") };
} else {
  throw new Error(
    `expected quickjs-start, quickjs-split, quickjs-fib, rewrite or rewrite-warm, got ${what}`,
  );
}
console.log(JSON.stringify(result));
