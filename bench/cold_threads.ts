/**
 * Who runs during a cold call: each of this process's threads' CPU time and
 * run delay (`/proc/self/task/<tid>/schedstat`) read right before and right
 * after the first call of a freshly loaded guest, stopped by a 5 ms
 * deadline, loaded and called as `bench/stop_latency.ts` does, then as
 * many warm calls of one guest. Split by whether the watchdog's thread set
 * the flag more than 1 ms late. Threads are named as the kernel names them
 * (`worker-1` is the watchdog's thread, the first Worker). Linux only.
 *
 * `deno run -A --v8-flags=--expose-gc bench/cold_threads.ts [GUEST] [RUNS]`
 * (GUEST: `pump`, `free`, `throw`, `wide` or `segment`; `--rows` prints the
 * late calls one by one).
 */
import { type Guest, loadGuest } from "../mod.ts";
import wabt from "wabt";
import { lastDeadlineFired } from "../src/watchdog/watchdog.ts";
import { HOSTILE_GUESTS } from "./stop_latency.ts";
import { percentile, settle } from "./stop_latency_support.ts";

/** The probe's short names for the stop-latency rows it reads. */
const LABELS: Record<string, string> = {
  pump: "slice pump (failed memory.grow)",
  free: "loop made free by costs",
  wide: "calls of a 40,000-local function (fuel: false)",
  segment: "first read of a passive element segment (5,001 entries)",
  throw: "throw/catch loop",
};

/** One thread's name, CPU time and run delay, in nanoseconds. */
interface ThreadTimes {
  name: string;
  cpu: number;
  delay: number;
  /** The CPU it last ran on. */
  core: number;
}

/** Every thread of this process, by id. */
function threads(): Map<string, ThreadTimes> {
  const found = new Map<string, ThreadTimes>();
  for (const entry of Deno.readDirSync("/proc/self/task")) {
    try {
      const base = `/proc/self/task/${entry.name}`;
      const [cpu, delay] = Deno.readTextFileSync(`${base}/schedstat`)
        .split(" ").map(Number);
      const name = Deno.readTextFileSync(`${base}/comm`).trim();
      const stat = Deno.readTextFileSync(`${base}/stat`);
      // Fields after the name in parentheses; the CPU is field 39.
      const core = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[36]);
      found.set(entry.name, { name, cpu, delay, core });
    } catch {
      // Ended meanwhile.
    }
  }
  return found;
}

/** What each thread ran and waited between two readings, in ms. */
function spent(
  before: Map<string, ThreadTimes>,
  after: Map<string, ThreadTimes>,
): Map<string, { name: string; cpu: number; delay: number }> {
  const out = new Map<string, { name: string; cpu: number; delay: number }>();
  for (const [tid, now] of after) {
    const then = before.get(tid) ?? { cpu: 0, delay: 0 };
    const cpu = (now.cpu - then.cpu) / 1e6;
    const delay = (now.delay - then.delay) / 1e6;
    if (cpu > 0 || delay > 0) {
      out.set(tid, { name: now.name, cpu, delay });
    }
  }
  return out;
}

const which = Deno.args[0] ?? "pump";
const runs = Number(Deno.args.find((a) => /^\d+$/.test(a)) ?? 100);
const guest = HOSTILE_GUESTS.find((g) => g.label === LABELS[which])!;
const tools = await wabt();
const parsed = tools.parseWat("g.wat", guest.wat, { exceptions: true });
const bytes = parsed.toBinary({}).buffer;
parsed.destroy();

const self = Deno.readTextFileSync("/proc/thread-self/comm").trim();
const mainTid = Deno.readLinkSync("/proc/thread-self").split("/").pop()!;
interface Row {
  late: number;
  wake: number;
  /** Whether the watchdog's thread last ran on the guest's core, before and after the call. */
  sameCore: [boolean, boolean];
  /** By thread name (main thread "main"), over the call. */
  call: Record<string, { cpu: number; delay: number }>;
  /** The same, from the load's end to the call's start. */
  gap: Record<string, { cpu: number; delay: number }>;
}
const rows: Row[] = [];

function sameCore(times: Map<string, ThreadTimes>): boolean {
  const watchdog = [...times.values()].find((t) => t.name === "worker-1");
  return watchdog?.core === times.get(mainTid)?.core;
}

function byName(
  times: Map<string, { name: string; cpu: number; delay: number }>,
): Record<string, { cpu: number; delay: number }> {
  const out: Record<string, { cpu: number; delay: number }> = {};
  for (const [tid, t] of times) {
    const name = tid === mainTid ? "main" : `${t.name}`;
    const sum = out[name] ??= { cpu: 0, delay: 0 };
    sum.cpu += t.cpu;
    sum.delay += t.delay;
  }
  return out;
}

const warmRows: Row[] = [];
let loaded: Guest | undefined;
for (let i = 0; i < 2 * runs; i++) {
  const cold = i < runs;
  if (cold || i === runs) await settle();
  const beforeLoad = threads();
  if (cold || loaded === undefined) {
    loaded = await loadGuest(bytes, { ...guest.options, interruptible: true });
  }
  if (i === runs) await settle();
  const before = threads();
  const start = performance.now();
  const outcome = loaded.invoke("run", [], { timeout: 5 });
  const end = performance.now();
  const after = threads();
  if (outcome.outcome !== "timeout") throw new Error(outcome.outcome);
  const fired = lastDeadlineFired();
  (cold ? rows : warmRows).push({
    late: end - start - 5,
    wake: fired === undefined ? NaN : fired.at - fired.deadline,
    sameCore: [sameCore(before), sameCore(after)],
    call: byName(spent(before, after)),
    gap: byName(spent(beforeLoad, before)),
  });
}

const late = rows.filter((row) => row.wake > 1);
const onTime = rows.filter((row) => !(row.wake > 1));
console.log(
  `${which}: ${runs} cold calls (main thread "${self}"), wake p50 ${
    percentile(rows.map((r) => r.wake), 0.5).toFixed(2)
  } p99 ${
    percentile(rows.map((r) => r.wake), 0.99).toFixed(2)
  } ms; ${late.length} woke > 1 ms late; load ${
    Deno.readTextFileSync("/proc/loadavg").trim()
  }`,
);
const warmLate = warmRows.filter((row) => row.wake > 1);
console.log(
  `warm: wake p50 ${
    percentile(warmRows.map((r) => r.wake), 0.5).toFixed(2)
  } p99 ${
    percentile(warmRows.map((r) => r.wake), 0.99).toFixed(2)
  } ms; ${warmLate.length} woke > 1 ms late`,
);
console.log(
  "threads: " + [...threads().values()].map((t) => t.name).join(", "),
);
for (
  const [title, set] of [
    ["cold, late wake", late],
    ["cold, on time", onTime],
    ["warm, late wake", warmLate],
    ["warm, on time", warmRows.filter((row) => !(row.wake > 1))],
  ] as const
) {
  if (set.length === 0) continue;
  const names = new Set(set.flatMap((row) => Object.keys(row.call)));
  const same = (i: 0 | 1) => set.filter((row) => row.sameCore[i]).length;
  console.log(
    `\n${title} (${set.length} calls): mean per call, ms; the watchdog last on the guest's core before ${
      same(0)
    }, after ${same(1)}`,
  );
  for (const name of [...names].sort()) {
    const sum = (key: "cpu" | "delay", part: "call" | "gap") =>
      set.reduce((s, row) => s + (row[part][name]?.[key] ?? 0), 0) /
      set.length;
    const ran = set.filter((row) => (row.call[name]?.cpu ?? 0) > 0.05).length;
    console.log(
      `  ${name.padEnd(18)} call cpu ${sum("cpu", "call").toFixed(3)} delay ${
        sum("delay", "call").toFixed(3)
      } (ran >0.05 ms in ${ran})   load..call cpu ${
        sum("cpu", "gap").toFixed(3)
      }`,
    );
  }
}
if (Deno.args.includes("--rows")) {
  for (const row of late) console.log(JSON.stringify(row));
}
