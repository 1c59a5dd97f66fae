/**
 * How late a stop lands on real libraries, loaded as docs/other-loaders.md
 * shows (a `FuelMeter` handed to the library's own loader, `meter.run`
 * around the library's call): QuickJS, Lua, sql.js and hash-wasm, each running
 * work that would not end soon. The same definitions as the hostile
 * guests' rows (`stop_latency.ts`): late from the deadline, or from the
 * moment another thread set the StopSignal; cold = the first call of a
 * freshly instantiated library (the meter's rewrite made once), warm =
 * later calls of one instance. Each series runs in a fresh process.
 *
 * Only hard stops (the default) and only the synchronous modes: these
 * libraries' glue calls the guest directly, so `runAsync` and an
 * AbortSignal cannot stop them (docs/other-loaders.md).
 */
import type { CallOutcome, FuelMeter } from "../mod.ts";
import { evaluate, meteredQuickJS } from "../tests/support/quickjs.ts";
import {
  meteredSqlJs,
  RUNAWAY_CTE,
  SQLJS_ZONES,
} from "../tests/support/sqljs.ts";
import {
  freshHashWasm,
  type HashWasm,
  meteredHasher,
  patterned,
} from "../tests/support/hash_wasm.ts";
import { meteredLua } from "../tests/support/lua.ts";
import { jsonFromFreshProcess, printTable } from "./harness.ts";
import { threadCpuMs } from "../tests/support/thread_cpu.ts";
import { lastDeadlineFired } from "../src/watchdog/watchdog.ts";
import {
  cells,
  now,
  printSplitTable,
  settle,
  splitCells,
  startStopper,
  stopAt,
  TIMEOUT_MS,
} from "./stop_latency_support.ts";

/** Fresh instances per cold series: each compiles the library anew. */
const COLD_RUNS = 20;
/** Enough calls that the p99 is not the maximum. */
const WARM_RUNS = 100;

type Mode = "sync" | "stop";

/** One library instance, ready for stopped calls. */
interface Instance {
  meter: FuelMeter;
  /** Readies one call (untimed) and returns the work to stop. */
  prepare(): () => unknown;
}

interface RealGuest {
  label: string;
  /** A fresh instance; the meter of the first one is handed to the rest. */
  load(meter?: FuelMeter): Promise<Instance>;
}

/**
 * QuickJS running `script` in a fresh context per call (a hard stop leaves
 * its runtime undisposable, its context usable but leaking what the script
 * held), after `setup` in that context.
 */
function quickjs(label: string, script: string, setup = ""): RealGuest {
  return {
    label,
    async load(given) {
      const { QuickJS, meter } = await meteredQuickJS(undefined, given);
      return {
        meter,
        prepare() {
          const vm = QuickJS.newContext();
          if (setup !== "") evaluate(vm, setup);
          return () => vm.evalCode(script);
        },
      };
    },
  };
}

/**
 * Lua running `script` on one state per instance. A hard stop leaks one of
 * the state's count of C calls (about 190 make every call fail) and what
 * the call held: a warm series stays below both.
 */
function lua(label: string, script: string): RealGuest {
  return {
    label,
    async load(given) {
      const { lua, meter } = await meteredLua({ meter: given });
      return { meter, prepare: () => () => lua.doStringSync(script) };
    },
  };
}

/** One bundle of hash-wasm per process: it compiles each algorithm once. */
let hashWasm: Promise<HashWasm> | undefined;
/** 64 MiB: about half a second of SHA-256, metered; made once, when first hashed. */
let hashed: Uint8Array | undefined;

const GUESTS: RealGuest[] = [
  quickjs("QuickJS, for (;;) {}", "for (;;) {}"),
  quickjs(
    "QuickJS, catastrophic regex",
    "for (;;) /^(a+)+$/.test('a'.repeat(28) + 'b')",
  ),
  quickjs(
    "QuickJS, string doubled to 2 MiB",
    "for (;;) { let s = 'x'; while (s.length < 1 << 21) s = s.repeat(2) }",
  ),
  quickjs(
    "QuickJS, Array.sort of 100k",
    "for (;;) a.slice().sort()",
    "var a = []; for (let i = 0; i < 100000; i++) a.push((i * 7919) % 100003)",
  ),
  lua("Lua, while true do end", "while true do end"),
  lua(
    "Lua, a pattern that backtracks",
    "return string.find(string.rep('a', 30000), '.-.-.-.-.-.-b')",
  ),
  // A hard stop inside string.rep leaks its buffer: 2 MiB keeps a warm
  // series' leaks far below Lua's 2 GiB (32 MiB ran out within 60 stops).
  lua(
    "Lua, string.rep of 2 MiB in a loop",
    "while true do local s = string.rep('ab', 2 ^ 20) end",
  ),
  {
    label: "sql.js, endless recursive CTE",
    async load(given) {
      const { SQL, meter } = await meteredSqlJs(
        { stopsWaitFor: SQLJS_ZONES },
        given,
      );
      const db = new SQL.Database();
      return { meter, prepare: () => () => db.exec(RUNAWAY_CTE) };
    },
  },
  {
    label: "hash-wasm, SHA-256 of 64 MiB",
    async load(given) {
      const glue = await (hashWasm ??= freshHashWasm());
      const { hasher, meter } = await meteredHasher(
        glue,
        (h) => h.createSHA256(),
        given,
      );
      return {
        meter,
        prepare() {
          hasher.init();
          hashed ??= patterned(64 << 20);
          const data = hashed;
          return () => hasher.update(data);
        },
      };
    },
  },
];

/**
 * The CPU time this thread spent in each stopped call of a series, less
 * the time from the call's start to its stop: at most that much ran
 * before the stop was due, so this is the least work the thread did after
 * it. Where it stays small while late is large, the lateness was the
 * machine's other work keeping a thread (this one or the watchdog's) off
 * its core.
 */
let overs: number[] = [];

/**
 * The minor page faults this thread took in each stopped call of a series:
 * a count a busy machine does not change, which a compile in the call
 * (V8's compiler faults in its memory) or the guest's fresh memory drive
 * up. `NaN` where Linux does not say.
 */
let faults: number[] = [];

/** The page faults this thread has taken that needed no disk. */
function minorFaults(): number {
  try {
    const stat = Deno.readTextFileSync("/proc/thread-self/stat");
    // The fields after the command's name in parentheses: minflt is the 8th.
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[7]);
  } catch {
    return NaN;
  }
}

/** One stopped call's lateness, in milliseconds. */
async function stopOnce(instance: Instance, mode: Mode): Promise<number> {
  const work = instance.prepare();
  if (mode === "stop") {
    const { stop, stoppedAt } = await stopAt(now() + TIMEOUT_MS);
    const cpu = threadCpuMs();
    const faulted = minorFaults();
    const start = now();
    const outcome = instance.meter.run(work, { stop });
    const end = now();
    faults.push(minorFaults() - faulted);
    overs.push(threadCpuMs() - cpu - (stoppedAt() - start));
    expect(outcome, "aborted");
    return end - stoppedAt();
  }
  const before = lastDeadlineFired()?.at;
  const cpu = threadCpuMs();
  const faulted = minorFaults();
  const start = performance.now();
  const outcome = instance.meter.run(work, { timeout: TIMEOUT_MS });
  const end = performance.now();
  faults.push(minorFaults() - faulted);
  overs.push(threadCpuMs() - cpu - TIMEOUT_MS);
  expect(outcome, "timeout");
  const fired = lastDeadlineFired();
  const made = fired !== undefined && fired.at !== before;
  split.wake.push(made ? fired.at - fired.deadline : NaN);
  split.after.push(made ? performance.timeOrigin + end - fired.at : NaN);
  return end - (start + TIMEOUT_MS);
}

/**
 * The deadlines' lateness split as the hostile guests' is: the watchdog's
 * wake-up, and the return after it set the flag (`NaN` where the host
 * found the deadline first).
 */
let split = { wake: [] as number[], after: [] as number[] };

function expect(outcome: CallOutcome, expected: string): void {
  if (outcome.outcome !== expected) {
    const error = "error" in outcome ? `: ${outcome.error}` : "";
    throw new Error(
      `expected the call to end "${expected}", got "${outcome.outcome}"${error}`,
    );
  }
}

/** One series: its late calls, and in `sync` their splits. */
type Series = Record<
  "cold" | "warm",
  {
    late: number[];
    wake: number[];
    after: number[];
    cpuOver: number[];
    faults: number[];
  }
>;

async function measure(guest: RealGuest, mode: Mode): Promise<Series> {
  // The meter's rewrite, made once: a cold call is a fresh instance's.
  const first = await guest.load();
  const cold: number[] = [];
  for (let i = 0; i < COLD_RUNS; i++) {
    await settle();
    cold.push(await stopOnce(await guest.load(first.meter), mode));
  }
  const coldSplit = split, coldOvers = overs, coldFaults = faults;
  split = { wake: [], after: [] };
  overs = [];
  faults = [];
  await settle();
  // The meter is attached to the instance loaded last.
  const target = await guest.load(first.meter);
  const warm: number[] = [];
  for (let i = 0; i < WARM_RUNS; i++) {
    warm.push(await stopOnce(target, mode));
  }
  return {
    cold: { late: cold, ...coldSplit, cpuOver: coldOvers, faults: coldFaults },
    warm: { late: warm, ...split, cpuOver: overs, faults },
  };
}

/** The median and the most of a series' page faults. */
function faultCells(faults: number[]): string {
  const sorted = [...faults].sort((a, b) => a - b);
  if (sorted.length === 0 || Number.isNaN(sorted[0])) return "";
  return `${sorted[Math.floor((sorted.length - 1) / 2)]} / ${sorted.at(-1)}`;
}

/** One library's series in one mode, in a fresh process. */
async function inFreshProcess(label: string, mode: Mode): Promise<Series> {
  return await jsonFromFreshProcess(
    new URL(import.meta.url),
    [label, mode],
    `${label} (${mode})`,
  ) as Series;
}

/** Prints the real libraries' rows of the stop-latency section. */
export async function benchRealStopLatency(): Promise<void> {
  const rows: string[][] = [];
  const splits: string[][] = [];
  for (const guest of GUESTS) {
    for (const mode of ["sync", "stop"] as const) {
      const series = await inFreshProcess(guest.label, mode);
      const label = mode === "sync"
        ? "meter.run, timeout"
        : "meter.run, StopSignal";
      for (const call of ["cold", "warm"] as const) {
        const { late, wake, after, cpuOver, faults } = series[call];
        rows.push([
          guest.label,
          label,
          call,
          ...cells(late),
          // A cold series' first call is the process's first stop.
          call === "cold" ? `${late[0]!.toFixed(3)} ms` : "",
          ...cells(cpuOver).slice(1),
          faultCells(faults),
        ]);
        if (mode !== "sync") continue;
        // JSON made the NaNs null.
        const nan = (values: (number | null)[]) =>
          values.map((value) => value ?? NaN);
        splits.push([
          guest.label,
          label,
          call,
          ...splitCells(late, nan(wake), nan(after)),
        ]);
      }
    }
  }
  console.log(
    `\n### Real libraries (hard stops, timeout ${TIMEOUT_MS} ms)\n\nLoaded as docs/other-loaders.md shows; cold = the first call of a fresh instance (the rewrite made once per process), warm = later calls of one instance. Cold rows have ${COLD_RUNS} runs: their p99 is their maximum; their first is the process's first stop (first stop late). CPU over = the calling thread's CPU time in the call - the time from its start to its deadline or to the setting of its StopSignal: the least work it did after the stop was due; where it stays small while late is large, the machine's other work kept a thread off its core. Faults = the calling thread's minor page faults in the call, which a compile in it (V8's compiler faults in its memory) or the guest's fresh memory drives up, whatever the machine's load.\n`,
  );
  printTable(
    [
      "library, work",
      "mode",
      "call",
      "runs",
      "p50 late",
      "p99 late",
      "max late",
      "first stop late",
      "p50 CPU over",
      "p99 CPU over",
      "max CPU over",
      "faults p50 / max",
    ],
    rows,
  );
  console.log(
    "\nWhere the real libraries' deadlines went (wake, after, late calls: as in the hostile guests' split above).\n",
  );
  printSplitTable("library, work", splits);
}

// `deno run bench/stop_latency_real.ts LABEL sync|stop`: one series, as JSON.
if (import.meta.main) {
  const [label, mode] = Deno.args as [string, Mode];
  const guest = GUESTS.find((guest) => guest.label === label);
  if (guest === undefined) throw new Error(`no real guest "${label}"`);
  console.log(JSON.stringify(await measure(guest, mode)));
  // The stopper's thread would keep this process alive.
  if (mode === "stop") (await startStopper()).terminate();
}
