/**
 * GC allocations: how late a stop lands on a guest that allocates GC arrays
 * at the cap (`limits.arrays`) one after another, each kept, so each is
 * made on fresh pages the kernel faults in as the engine zeroes them, in
 * one step no check interrupts. Side by side: arrays at the default cap
 * (256 KiB), at the cap before (1 MiB, `limits.arrays` raised to it), and
 * a body of 64 allocations at the default cap with no loop or call between
 * them (each checks the flag before it allocates). Late as in the stop
 * latency section: from the deadline, or from the moment another thread
 * set the StopSignal; cold = the first call of a freshly loaded guest,
 * warm = later calls of one guest. Each series runs in a fresh process.
 *
 * Then what one array costs: the thread's CPU time per 4 KiB page and per
 * array, over calls that make 16 MiB of arrays of each size.
 */
import { type CallOutcome, type Guest, loadGuest, StopSignal } from "../mod.ts";
import { jsonFromFreshProcess, printTable } from "./harness.ts";
import { watBinaryen } from "../tests/support/instrument.ts";
import {
  ARRAY_HOARDER_WAT,
  arrayKeeperWat,
} from "../tests/support/array_cpu.ts";

/** binaryen's features V8 does not take: its compact imports, its string types. */
const V8_LACKS = ["Strings", "CompactImports"];
import {
  schedstatOfThisThread,
  threadCpuMs,
  waitedForCpuMs,
} from "../tests/support/thread_cpu.ts";
import { DEFAULT_ARRAY_BYTES } from "../src/module/limits.ts";
import {
  cells,
  now,
  percentile,
  settle,
  startStopper,
  TIMEOUT_MS,
} from "./stop_latency_support.ts";

/** Each a fresh load; enough of them that the p99 is not the maximum. */
const COLD_RUNS = 100;
/** Enough calls that the p99 is not the maximum. */
const WARM_RUNS = 200;
/** Calls timed per size for the CPU table. */
const CPU_CALLS = 9;
/** The bytes of arrays one call of the CPU table makes. */
const CPU_CALL_BYTES = 16 * 1_048_576;
/** The cap before. */
const CAP_BEFORE_BYTES = 1_048_576;
/** Allocations in the straight body. */
const STRAIGHT = 64;

/**
 * How a call is stopped: `sync` and `async` by a deadline (`timeout`),
 * `stop` by a StopSignal another thread sets during a synchronous call.
 */
type Mode = "sync" | "async" | "stop";

const MODES: readonly Mode[] = ["sync", "async", "stop"];

const MODE_LABELS: Record<Mode, string> = {
  sync: "sync",
  async: "async",
  stop: "sync, StopSignal",
};

interface AllocatingGuest {
  label: string;
  wat: string;
  /** `limits.arrays`. */
  arrays: number;
}

const GUESTS: AllocatingGuest[] = [
  {
    label: "arrays kept at the cap (256 KiB each)",
    wat: arrayKeeperWat(DEFAULT_ARRAY_BYTES),
    arrays: DEFAULT_ARRAY_BYTES,
  },
  {
    label: "arrays kept at the cap before (1 MiB each)",
    wat: arrayKeeperWat(CAP_BEFORE_BYTES),
    arrays: CAP_BEFORE_BYTES,
  },
  {
    label: `${STRAIGHT} arrays at the cap a body, no loop or call between`,
    // A call of $line makes 16 MiB of arrays, each kept, with no check of
    // the guest's own between them; the loop around it checks once a call.
    wat: `(module
      (type $ints (array (mut i32)))
      (type $node (struct (field (ref null $node)) (field (ref $ints))))
      (global $kept (mut (ref null $node)) (ref.null $node))
      (func $line ${
      `(global.set $kept (struct.new $node (global.get $kept)
          (array.new_default $ints (i32.const ${DEFAULT_ARRAY_BYTES / 4}))))`
        .repeat(STRAIGHT)
    })
      (func (export "run") (loop $l (call $line) (br $l))))`,
    arrays: DEFAULT_ARRAY_BYTES,
  },
];

function expectStopped(outcome: CallOutcome, expected: string): void {
  if (outcome.outcome !== expected) {
    throw new Error(
      `expected run to end with "${expected}", got "${outcome.outcome}"`,
    );
  }
}

async function load(
  bytes: Uint8Array,
  guest: AllocatingGuest,
  mode: Mode,
): Promise<Guest> {
  return await loadGuest(bytes, {
    limits: { arrays: guest.arrays },
    ...(mode === "async" ? { async: true } : { interruptible: true }),
  });
}

/** This thread's schedule statistics, for its waits for a CPU. */
let schedstat: string | undefined;

/**
 * Each stopped call's lateness less the time this thread waited for a CPU
 * during the call (at most its lateness): about what the call would have
 * been late on a machine with nothing else to run. The watchdog's and the
 * stopper's threads' own waits are still in it.
 */
let idle: number[] = [];

/** One stopped call's lateness, in milliseconds. */
async function stopOnce(target: Guest, mode: Mode): Promise<number> {
  schedstat ??= schedstatOfThisThread();
  const waited = waitedForCpuMs(schedstat);
  const late = await lateOnce(target, mode);
  const waits = waitedForCpuMs(schedstat) - waited;
  idle.push(late - Math.min(Math.max(late, 0), waits));
  return late;
}

async function lateOnce(target: Guest, mode: Mode): Promise<number> {
  if (mode === "stop") {
    const worker = await startStopper();
    const stop = new StopSignal();
    const stoppedAt = new Float64Array(new SharedArrayBuffer(8));
    worker.postMessage({
      buffer: stop.buffer,
      at: now() + TIMEOUT_MS,
      stoppedAt: stoppedAt.buffer,
    });
    const outcome = target.invoke("run", [], { stop });
    const late = now() - stoppedAt[0];
    expectStopped(outcome, "aborted");
    return late;
  }
  const options = { timeout: TIMEOUT_MS };
  const start = performance.now();
  const outcome = mode === "async"
    ? await target.invokeAsync("run", [], options)
    : target.invoke("run", [], options);
  const late = performance.now() - (start + TIMEOUT_MS);
  expectStopped(outcome, "timeout");
  return late;
}

/** Cold and warm lateness of one guest in one mode. */
async function measure(
  bytes: Uint8Array,
  guest: AllocatingGuest,
  mode: Mode,
): Promise<Series> {
  const cold: number[] = [];
  const warm: number[] = [];
  for (let i = 0; i < COLD_RUNS; i++) {
    await settle();
    cold.push(await stopOnce(await load(bytes, guest, mode), mode));
  }
  const coldIdle = idle;
  idle = [];
  await settle();
  const target = await load(bytes, guest, mode);
  await settle();
  for (let i = 0; i < WARM_RUNS; i++) {
    warm.push(await stopOnce(target, mode));
  }
  return { cold, warm, coldIdle, warmIdle: idle };
}

/** One guest's lateness in one mode, and less its thread's waits. */
type Series = Record<"cold" | "warm" | "coldIdle" | "warmIdle", number[]>;

/**
 * The thread CPU of arrays of each size, in turn, a call of
 * {@linkcode CPU_CALL_BYTES} each: per call, µs a 4 KiB page and ms an
 * array.
 */
async function allocationCpu(): Promise<Record<string, number[]>> {
  const bytes = await watBinaryen(ARRAY_HOARDER_WAT, V8_LACKS);
  const perPage: Record<string, number[]> = {};
  const sizes = [DEFAULT_ARRAY_BYTES, CAP_BEFORE_BYTES];
  // Every guest kept, and its arrays with it, so that no call reuses the
  // pages of a collected one: each array is on fresh pages.
  const guests: Guest[] = [];
  for (let call = 0; call < CPU_CALLS; call++) {
    for (const size of sizes) {
      const count = CPU_CALL_BYTES / size;
      const guest = await loadGuest(bytes, {
        limits: { arrays: size },
        timeout: 60_000,
      });
      guests.push(guest);
      await settle();
      const before = threadCpuMs();
      const outcome = guest.invoke("run", [size / 4, count]);
      const spent = threadCpuMs() - before;
      expectStopped(outcome, "returned");
      (perPage[size] ??= []).push(spent * 1e3 / (CPU_CALL_BYTES / 4096));
    }
  }
  return perPage;
}

/** One guest's series in one mode, in a fresh process. */
function inFreshProcess(label: string, mode: string): Promise<unknown> {
  return jsonFromFreshProcess(
    new URL(import.meta.url),
    [label, mode],
    `${label} (${mode})`,
  );
}

const CPU_LABEL = "allocation CPU";

/** The child's side of {@linkcode inFreshProcess}: prints the series. */
async function measureHere(label: string, mode: Mode): Promise<void> {
  if (label === CPU_LABEL) {
    console.log(JSON.stringify(await allocationCpu()));
    return;
  }
  const guest = GUESTS.find((guest) => guest.label === label);
  if (guest === undefined) throw new Error(`no allocating guest "${label}"`);
  const bytes = await watBinaryen(guest.wat, V8_LACKS);
  console.log(JSON.stringify(await measure(bytes, guest, mode)));
  // The stopper's thread would keep this process alive.
  if (mode === "stop") (await startStopper()).terminate();
}

/** Prints the GC allocations section. */
export async function benchGcAllocations(): Promise<void> {
  const rows: string[][] = [];
  for (const guest of GUESTS) {
    for (const mode of MODES) {
      const series = await inFreshProcess(guest.label, mode) as Series;
      for (const call of ["cold", "warm"] as const) {
        rows.push([
          guest.label,
          MODE_LABELS[mode],
          call,
          ...cells(series[call]),
          ...cells(series[`${call}Idle`]).slice(1),
        ]);
      }
    }
  }
  console.log(
    `\n## GC allocations: stop latency for arrays at the cap (timeout ${TIMEOUT_MS} ms)\n`,
  );
  console.log(
    "late = (time the call returned) - (call start + timeout), or - (the time another thread set the StopSignal); cold = the first call of a freshly loaded guest, warm = later calls of one guest; idle = late less the time the calling thread waited for a CPU during the call (up to all of late), about what a machine with nothing else to run would give. Each guest's rows in a mode come from a fresh process.\n",
  );
  printTable(
    [
      "guest",
      "mode",
      "call",
      "runs",
      "p50 late",
      "p99 late",
      "max late",
      "p50 idle",
      "p99 idle",
      "max idle",
    ],
    rows,
  );
  const perPage = await inFreshProcess(CPU_LABEL, "sync") as Record<
    string,
    number[]
  >;
  console.log(
    `\n### What one array costs\n\nThe thread's CPU time over a call that makes ${
      CPU_CALL_BYTES / 1_048_576
    } MiB of kept arrays, each on fresh pages; ${CPU_CALLS} calls a size, in turn; p50 and max of the calls.\n`,
  );
  const cpuRows = Object.entries(perPage).map(([size, us]) => {
    const pages = Number(size) / 4096;
    return [
      `${Number(size) / 1024} KiB`,
      `${percentile(us, 0.5).toFixed(1)} / ${Math.max(...us).toFixed(1)}`,
      `${(percentile(us, 0.5) * pages / 1e3).toFixed(2)} / ${
        (Math.max(...us) * pages / 1e3).toFixed(2)
      }`,
    ];
  });
  printTable(["array", "µs a 4 KiB page", "ms an array"], cpuRows);
}

// `deno run bench/gc_allocations.ts GUEST MODE`: one series, as JSON.
if (import.meta.main) {
  await measureHere(Deno.args[0]!, Deno.args[1] as Mode);
}
