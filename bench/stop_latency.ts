/**
 * How late a stop lands for each hostile guest of issue #10, in each mode:
 * late = (time the call returned) - (call start + timeout). A cold call is
 * the first call of a freshly loaded guest (its code, memories and tables
 * new); a warm one is a later call of the same guest. The watchdog's thread
 * is started once per process and never ends, so no cold call waits for it.
 */
import {
  Aborted,
  type CallOutcome,
  DeadlineExceeded,
  FuelMeter,
  type Guest,
  type GuestOptions,
  invokeIsolated,
  isolatedChildrenExited,
  loadGuest,
  prepareStops,
  runWasi,
  StopSignal,
  type WasiOptions,
  type WasiResult,
} from "../mod.ts";
import wabt from "wabt";
import { printTable } from "./harness.ts";
import { watBinaryen } from "../tests/support/instrument.ts";
import { arrayKeeperWat } from "../tests/support/array_cpu.ts";
import { STRUCT_HOARDER_WAT } from "../tests/support/guests.ts";
import { stalledServer } from "../tests/support/holding_server.ts";
import { lastDeadlineFired } from "../src/watchdog/watchdog.ts";
import { esbuildToLoad } from "../tests/support/esbuild.ts";
import { REACH_LABEL, reachedCallerCalls } from "./stop_latency_reach.ts";
import {
  abortAfter,
  cells,
  endStopper,
  now,
  P99_RUNS,
  printSplitTable,
  settle,
  SETTLE_MS,
  splitCells,
  startStopper,
  stopAt,
  TIMEOUT_MS,
} from "./stop_latency_support.ts";

/** Enough calls that the p99 is not the maximum. */
const WARM_RUNS = 200;
/** Each a fresh load; enough of them that the p99 is not the maximum. */
const COLD_RUNS = 100;
/** Runaway start functions: every load is a first call. */
const START_RUNS = 200;
const ISOLATED_RUNS = 100;
const CLI_RUNS = 100;
/** Long enough for the child to be running the guest at the deadline. */
const ISOLATED_TIMEOUT_MS = 80;
/** A deadline that falls while the child process is still starting. */
const STARTING_TIMEOUT_MS = 10;

interface HostileGuest {
  label: string;
  wat: string;
  export: string;
  options?: GuestOptions;
  /** For the nesting guest: its host calls it back. */
  nests?: boolean;
  /**
   * For the deep nesting guest: its host calls its `down(n)` back, each
   * call with a deadline of its own, until `n` is 0.
   */
  deep?: boolean;
  /**
   * With `deep`: two guests of these bytes call each other's `down(n)`
   * back, each call with a deadline of its own.
   */
  pingPong?: boolean;
  /** Measured in this process only: no isolation or command-line rows. */
  inProcessOnly?: boolean;
  /** Assembled by binaryen, for types wabt cannot write (`(ref extern)`). */
  binaryen?: boolean;
  /** V8 flags its fresh processes start with, beside `--expose-gc`. */
  v8Flags?: string[];
}

/**
 * How a call is stopped: `sync` and `async` by a deadline (`timeout`),
 * `stop` by a StopSignal another thread sets during a synchronous call,
 * `abort` by an AbortSignal aborted during an async call.
 */
type Mode = "sync" | "async" | "stop" | "abort";

const MODES: readonly Mode[] = ["sync", "async", "stop", "abort"];

function isAsync(mode: Mode): boolean {
  return mode === "async" || mode === "abort";
}

/**
 * A guest whose `run` calls the host's `deeper(depth)`, which calls a
 * guest's `down(n)` back until `n` is 0, where it spins.
 */
function deepWat(depth: number): string {
  return `(module (import "host" "deeper" (func $deeper (param i32)))
    (func (export "down") (param $n i32)
      (if (i32.eqz (local.get $n)) (then (loop $l (br $l)))
        (else (call $deeper (i32.sub (local.get $n) (i32.const 1))))))
    (func (export "run") (call $deeper (i32.const ${depth})) (loop $l (br $l))))`;
}

/** The hostile guests, each a row of the table (a probe reads them too). */
export const HOSTILE_GUESTS: HostileGuest[] = [
  {
    label: "slice pump (failed memory.grow)",
    wat: `(module (memory 1 1) (func (export "run")
      (loop $l (drop (memory.grow (i32.const 0x7fffffff))) (br $l))))`,
    export: "run",
  },
  {
    label: "throw/catch loop",
    wat: `(module (tag $e) (func (export "run")
      (loop $l (try (do (throw $e)) (catch $e)) (br $l))))`,
    export: "run",
  },
  {
    label: "loop made free by costs",
    wat: `(module (func (export "run") (loop $l (br $l))))`,
    export: "run",
    options: { costs: { default: 0 } },
  },
  {
    label: "memory.fill 1 GiB",
    wat: `(module (memory 16384 16384) (func (export "run")
      (memory.fill (i32.const 0) (i32.const 7) (i32.const 0x40000000))))`,
    export: "run",
  },
  {
    label: "memory.fill 8 GiB (memory64)",
    wat: `(module (memory i64 131072 131072) (func (export "run")
      (memory.fill (i64.const 0) (i32.const 7) (i64.const 0x200000000))))`,
    export: "run",
    inProcessOnly: true,
    // Past the 4 GiB a guest's memories hold together by default.
    options: { limits: { memory: 2 ** 33 } },
  },
  {
    label: "table.fill 1M (default cap)",
    // Grown by its start function to as many elements as its tables may
    // hold without limits.tables (the grow traps if it fails).
    wat: tableFill(1_000_000),
    export: "run",
  },
  {
    label: "table.fill 10M (limits.tables)",
    // The engine's largest table, which the host's garbage collector walks
    // at each major collection: what raising limits.tables re-opens.
    wat: tableFill(10_000_000),
    export: "run",
    options: { limits: { tables: 10_000_000 } },
  },
  {
    label: "200 one-chunk memory.fills a body",
    // Each a short operator, with no check between them but the flag's
    // (12.5 MiB of fresh memory a call of $fills).
    wat: `(module (memory 3200 3200)
      (func $fills ${
      Array.from(
        { length: 200 },
        (_, i) =>
          `(memory.fill (i32.const ${
            i * 65536
          }) (i32.const 7) (i32.const 65536))`,
      ).join(" ")
    })
      (func (export "run") (loop $l (call $fills) (br $l))))`,
    export: "run",
    // Its rewrite is what the rows measure; a child runs it the same way.
    inProcessOnly: true,
  },
  {
    label: "calls of a 40,000-local function (fuel: false)",
    // Deadline-only, a short function that only direct calls reach goes
    // without an entry check unless its locals count against that.
    wat: `(module
      (func $wide (local ${"v128 ".repeat(40_000)}) (nop))
      (func $line ${"(call $wide) ".repeat(2_000)})
      (func (export "run") (loop $l (call $line) (br $l))))`,
    export: "run",
    options: { fuel: false },
    inProcessOnly: true,
  },
  {
    label: "calls of a 1,024-local function with 42 ifs (fuel: false)",
    // Its own branches, each of which V8's first compile carries every
    // local into, as many as the compile-units limit lets through at this
    // width ((12 * 1,024 + 16) * 85, an `if` counting 2): the first call of
    // each fresh load holds the thread for that compile. 40,000 locals and
    // 5 ifs, which held it 16 to 20 ms of a quiet core, are refused, and
    // so are 84 ifs, which held it 5 to 16 ms.
    wat: `(module
      (func $wide (local $x i32) (local ${"v128 ".repeat(1_023)})
        ${
      "(if (local.get $x) (then (local.set $x (i32.const 1)))) ".repeat(42)
    })
      (func $line ${"(call $wide) ".repeat(2_000)})
      (func (export "run") (loop $l (call $line) (br $l))))`,
    export: "run",
    options: { fuel: false },
    inProcessOnly: true,
  },
  {
    label: "first read of a passive element segment (5,001 entries)",
    // The engine evaluates a passive segment whole when an operator first
    // reads it, one entry or all; its entries weigh in their first reads'
    // budget (src/module/passive_segments.ts), so this is the most `global.get`s
    // a guest may have (a million held a call 63 to 92 ms past its
    // deadline). Only cold calls read it.
    wat: `(module (table 1 funcref)
      (func $f) (global $g funcref (ref.func $f))
      (elem $e funcref ${"(item (global.get $g)) ".repeat(5_001)})
      (func (export "run")
        (table.init $e (i32.const 0) (i32.const 0) (i32.const 1))
        (loop $l (br $l))))`,
    export: "run",
  },
  {
    label: "concat at its cap, then read (js-string, fuel: false)",
    // A string doubled to limits.arrays / 8 characters (32,768), whose
    // first charCodeAt flattens it in one step: past the cap, concat throws.
    wat: `(module
      (import "wasm:js-string" "concat"
        (func $concat (param externref externref) (result (ref extern))))
      (import "wasm:js-string" "length"
        (func $length (param externref) (result i32)))
      (import "wasm:js-string" "charCodeAt"
        (func $at (param externref i32) (result i32)))
      (import "wasm:js-string" "fromCharCode"
        (func $char (param i32) (result (ref extern))))
      (func (export "run") (local $s externref) (local $k i32)
        (loop $l
          (local.set $s (call $char (i32.const 0x3b1)))
          (local.set $k (i32.const 15))
          (loop $d
            (local.set $s (call $concat (local.get $s) (local.get $s)))
            (br_if $d (local.tee $k (i32.sub (local.get $k) (i32.const 1)))))
          (drop (call $at (local.get $s) (i32.const 1)))
          (br $l))))`,
    export: "run",
    options: { fuel: false, compile: { builtins: ["js-string"] } },
    inProcessOnly: true,
    binaryen: true,
  },
  {
    label: "arrays kept at the cap (256 KiB each)",
    // Each array on fresh pages, which the kernel faults in as the engine
    // zeroes them, in one step: at the 8 MiB cap before, 24 to 32 ms each.
    wat: arrayKeeperWat(256 * 1024),
    export: "run",
    inProcessOnly: true,
    binaryen: true,
  },
  {
    label: "small structs kept in a list (up to 48 MB)",
    // The host's collections copy and mark all it keeps, and no stop
    // cuts them short.
    wat: STRUCT_HOARDER_WAT,
    export: "run",
    binaryen: true,
  },
  {
    label: "small structs kept in a list, --max-semi-space-size=1",
    // What README's Limits offer a host: a young generation of 1 MiB a
    // half, sized as the process starts, so that each young collection
    // copies little (the full ones' pauses stay).
    wat: STRUCT_HOARDER_WAT,
    export: "run",
    binaryen: true,
    inProcessOnly: true,
    v8Flags: ["--max-semi-space-size=1"],
  },
  {
    label: "nested invoke, outer deadline",
    wat: `(module (import "host" "nest" (func $nest))
      (func (export "quick"))
      (func (export "run") (call $nest) (loop $l (br $l))))`,
    export: "run",
    nests: true,
  },
  {
    label: "calls nested 300 deep, each with a deadline",
    // The stop lands in the innermost call, or in the descent; each level
    // then returns, and the outer call stops in its own loop.
    wat: deepWat(300),
    export: "run",
    deep: true,
  },
  {
    label: "two guests calling each other 500 deep, each with a deadline",
    // The depth is the guest's to choose, up to the stack's limit (about
    // 630 levels in a process's first calls); each level's call is made
    // inside every call of the other guest above it.
    wat: deepWat(500),
    export: "run",
    deep: true,
    pingPong: true,
  },
];

/**
 * A guest whose start function grows its table to `n`, and whose `run`
 * fills it until stopped.
 */
function tableFill(n: number): string {
  return `(module (table 0 funcref)
    (func $grow (if (i32.lt_s
      (table.grow 0 (ref.null func) (i32.const ${n})) (i32.const 0))
      (then unreachable)))
    (start $grow)
    (func $f) (elem declare func $f)
    (func (export "run") (loop $l
      (table.fill 0 (i32.const 0) (ref.func $f) (i32.const ${n}))
      (table.fill 0 (i32.const 0) (ref.null func) (i32.const ${n}))
      (br $l))))`;
}

/**
 * A start function that runs away. It first calls `host.mark`, so that its
 * lateness counts from its own entry, where its deadline begins (rewriting
 * and compiling the guest come before it).
 */
const RUNAWAY_START = `(module (import "host" "mark" (func $mark))
  (func $s (call $mark) (loop $l (br $l))) (start $s))`;

async function assemble(text: string): Promise<Uint8Array<ArrayBuffer>> {
  const tools = await wabt();
  const module = tools.parseWat("hostile.wat", text, { exceptions: true });
  try {
    return module.toBinary({}).buffer as Uint8Array<ArrayBuffer>;
  } finally {
    module.destroy();
  }
}

/** A hostile guest's bytes, by the assembler it names. */
async function assembleGuest(guest: HostileGuest): Promise<Uint8Array> {
  if (!guest.binaryen) return await assemble(guest.wat);
  // V8 takes neither binaryen's compact imports nor its string types.
  return await watBinaryen(guest.wat, ["Strings", "CompactImports"]);
}

function expectStopped(outcome: CallOutcome, expected: string): void {
  if (outcome.outcome !== expected) {
    throw new Error(
      `expected ${outcome.export} to end with "${expected}", got "${outcome.outcome}"`,
    );
  }
}

async function load(
  bytes: Uint8Array,
  guest: HostileGuest,
  mode: Mode,
): Promise<Guest> {
  const async = isAsync(mode);
  // The import runs only once the guest is loaded.
  const imports: WebAssembly.Imports | undefined = guest.nests
    ? {
      host: {
        nest: async
          ? () => {}
          : () => void loaded.invoke("quick", [], { timeout: 1_000 }),
      },
    }
    : guest.deep
    ? {
      host: {
        deeper: (n: number) =>
          void (partner ?? loaded).invoke("down", [n], { timeout: 60_000 }),
      },
    }
    : undefined;
  const options = {
    ...guest.options,
    ...(async ? { async: true } : { interruptible: true }),
  };
  const loaded = await loadGuest(bytes, { ...options, imports });
  const partner = guest.pingPong
    ? await loadGuest(bytes, {
      ...options,
      imports: {
        host: {
          deeper: (n: number) =>
            void loaded.invoke("down", [n], { timeout: 60_000 }),
        },
      },
    })
    : undefined;
  return loaded;
}

/**
 * One stopped call's lateness, in milliseconds: from its deadline, or from
 * the moment its StopSignal was set or its AbortSignal aborted.
 */
async function stopOnce(
  target: Guest,
  guest: HostileGuest,
  mode: Mode,
): Promise<number> {
  const name = guest.export;
  if (mode === "stop") {
    const { stop, stoppedAt } = await stopAt(now() + TIMEOUT_MS);
    const outcome = target.invoke(name, [], { stop });
    const late = now() - stoppedAt();
    expectStopped(outcome, "aborted");
    return late;
  }
  if (mode === "abort") {
    const { signal, abortedAt, cancel } = abortAfter(TIMEOUT_MS);
    try {
      const outcome = await target.invokeAsync(name, [], { signal });
      const late = performance.now() - abortedAt();
      expectStopped(outcome, "aborted");
      return late;
    } finally {
      cancel();
    }
  }
  const options = { timeout: TIMEOUT_MS };
  const before = lastDeadlineFired()?.at;
  const start = performance.now();
  const outcome = mode === "async"
    ? await target.invokeAsync(name, [], options)
    : target.invoke(name, [], options);
  const end = performance.now();
  const late = end - (start + TIMEOUT_MS);
  expectStopped(outcome, "timeout");
  const fired = lastDeadlineFired();
  lastSplit = fired === undefined || fired.at === before
    ? undefined // stopped by the host's own reading of the clock
    : {
      wake: fired.at - fired.deadline,
      after: performance.timeOrigin + end - fired.at,
    };
  return late;
}

/**
 * The last deadline's lateness split in two: how late the watchdog's
 * thread set the flag after the deadline, and how long the call took to
 * return after that. `undefined` when the host found the deadline passed
 * before the thread did (a bulk operator's chunk loop reads the clock).
 */
let lastSplit: { wake: number; after: number } | undefined;

/** Each stopped call's split, or `NaN`s when it had none. */
function recordSplit(wake: number[], after: number[]): void {
  wake.push(lastSplit?.wake ?? NaN);
  after.push(lastSplit?.after ?? NaN);
  lastSplit = undefined;
}

async function measure(
  bytes: Uint8Array,
  guest: HostileGuest,
  mode: Mode,
): Promise<Series> {
  const cold: number[] = [];
  const warm: number[] = [];
  const coldWake: number[] = [], coldAfter: number[] = [];
  const warmWake: number[] = [], warmAfter: number[] = [];
  for (let i = 0; i < COLD_RUNS; i++) {
    await settle();
    cold.push(await stopOnce(await load(bytes, guest, mode), guest, mode));
    recordSplit(coldWake, coldAfter);
  }
  await settle();
  const target = await load(bytes, guest, mode);
  // Collected again once it is loaded, as a host's idle time before it
  // serves calls would: a guest's large table (230 MB at 10M elements),
  // allocated after a collection, starts V8's incremental marking, whose
  // final pause (20 to 40 ms over that heap) fell in one of the warm calls.
  await settle();
  for (let i = 0; i < WARM_RUNS; i++) {
    warm.push(await stopOnce(target, guest, mode));
    recordSplit(warmWake, warmAfter);
  }
  return { cold, warm, coldWake, coldAfter, warmWake, warmAfter };
}

/**
 * Loads whose start function runs away, stopped at the timeout: how late
 * from the start of its deadline, and the whole load until it rejects.
 * The deadline starts as the start function is called, which is when it
 * calls `host.mark` in a sync guest; an async guest's call is set up first
 * (the deadline already runs), so it may be entered later, or never. Both
 * (rejection - (entry + timeout)) and the error's own `elapsed` - timeout
 * (timed when the stop is found) fall short of the true lateness, by the
 * time from the deadline's start to the entry and by the time from the
 * stop to the rejection; each row takes the larger.
 */
async function runawayStarts(
  bytes: Uint8Array,
  async: boolean,
  bySignal = false,
): Promise<{ late: number[]; load: number[] }> {
  const late: number[] = [];
  const load: number[] = [];
  for (let i = 0; i < START_RUNS; i++) {
    let entered = -Infinity;
    const controller = new AbortController();
    // By a signal, a timer set as the start function is entered aborts it
    // (late from when the timer was due).
    const mark = () => {
      entered = performance.now();
      if (bySignal) setTimeout(() => controller.abort(), TIMEOUT_MS);
    };
    const start = performance.now();
    try {
      await loadGuest(bytes, {
        ...(bySignal ? { signal: controller.signal } : { timeout: TIMEOUT_MS }),
        async,
        imports: { host: { mark } },
      });
    } catch (error) {
      const end = performance.now();
      if (bySignal && error instanceof Aborted) {
        late.push(end - (entered + TIMEOUT_MS));
        load.push(end - (start + TIMEOUT_MS));
        continue;
      }
      if (!(error instanceof DeadlineExceeded)) throw error;
      late.push(
        Math.max(end - (entered + TIMEOUT_MS), error.elapsed - TIMEOUT_MS),
      );
      load.push(end - (start + TIMEOUT_MS));
      continue;
    }
    throw new Error("the runaway start function returned");
  }
  return { late, load };
}

/**
 * The runaway start function metered by a `FuelMeter` and instantiated as
 * a library's loader would: `attach` runs it, stopped by its `timeout`
 * (`sync`) or by a StopSignal the stopper thread sets (`stop`); late from
 * its deadline, or from the moment the signal was set. Each run a
 * fresh meter and instance, so every start is a first call.
 */
async function meterStarts(bytes: Uint8Array, mode: Mode): Promise<number[]> {
  const late: number[] = [];
  for (let i = 0; i < START_RUNS; i++) {
    let entered = -Infinity;
    const meter = new FuelMeter(bytes);
    const imports = { ...meter.imports, host: { mark: () => entered = now() } };
    const { instance } = await WebAssembly.instantiate(meter.bytes, imports);
    const signal = mode === "stop"
      ? await stopAt(now() + SETTLE_MS + TIMEOUT_MS)
      : undefined;
    try {
      meter.attach(
        instance,
        signal ? { stop: signal.stop } : { timeout: TIMEOUT_MS },
      );
    } catch (error) {
      const end = now();
      if (signal !== undefined && error instanceof Aborted) {
        late.push(end - signal.stoppedAt());
        continue;
      }
      if (!(error instanceof DeadlineExceeded)) throw error;
      // The deadline starts as the run is set up, a little before the
      // entry: each measure falls short by one part (see runawayStarts).
      late.push(
        Math.max(end - (entered + TIMEOUT_MS), error.elapsed - TIMEOUT_MS),
      );
      continue;
    }
    throw new Error("the runaway start function returned");
  }
  return late;
}

async function isolated(
  bytes: Uint8Array,
  guest: HostileGuest,
  timeout = ISOLATED_TIMEOUT_MS,
) {
  const late: number[] = [];
  for (let i = 0; i < ISOLATED_RUNS; i++) {
    const start = performance.now();
    const outcome = await invokeIsolated(bytes, guest.export, [], { timeout });
    late.push(performance.now() - (start + timeout));
    expectStopped(outcome, "timeout");
    // The call returns at the kill; the next one starts once the killed
    // child has gone, as it would on a quiet machine.
    await isolatedChildrenExited();
  }
  return late;
}

/** `spin` in isolation: killed while it runs, and while its child starts. */
async function isolatedSpin(): Promise<string[][]> {
  const spin: HostileGuest = {
    label: "spin (loop br 0)",
    wat: `(module (func (export "run") (loop $l (br $l))))`,
    export: "run",
  };
  const bytes = await assemble(spin.wat);
  const rows: string[][] = [];
  for (const timeout of [ISOLATED_TIMEOUT_MS, STARTING_TIMEOUT_MS]) {
    const label = timeout === STARTING_TIMEOUT_MS
      ? `${spin.label}, deadline while the child starts`
      : spin.label;
    const late = await isolated(bytes, spin, timeout);
    rows.push([label, `isolation (${timeout} ms)`, "cold", ...cells(late)]);
  }
  return rows;
}

/**
 * Through the command line: `main.ts --json --timeout` in a fresh process,
 * late = the report's `elapsed_ms` - timeout. `--timeout` is the whole
 * run's, from the moment the run can be stopped on time (Deno's start-up
 * and the watchdog thread's boot come before it): at 5 ms its stop lands
 * in the guest's read, its load (rewrite, compile, start function) or the
 * call, wherever the run is then, and is timed when the run learns of it.
 */
async function throughCli(bytes: Uint8Array, guest: HostileGuest) {
  const file = await Deno.makeTempFile({ suffix: ".wasm" });
  try {
    await Deno.writeFile(file, bytes);
    const late: number[] = [];
    for (let i = 0; i < CLI_RUNS; i++) {
      const { stdout } = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-read",
          new URL("../main.ts", import.meta.url).pathname,
          "--json",
          "--timeout",
          String(TIMEOUT_MS),
          "--invoke",
          guest.export,
          file,
        ],
        stdout: "piped",
        stderr: "null",
      }).output();
      const report = JSON.parse(new TextDecoder().decode(stdout));
      if (report.outcome !== "timeout") {
        throw new Error(
          `expected the CLI to end ${guest.label} with "timeout", got "${report.outcome}"`,
        );
      }
      late.push(report.elapsed_ms - TIMEOUT_MS);
    }
    return late;
  } finally {
    await Deno.remove(file);
  }
}

/** The in-process series of one guest in one mode, as a child measures them. */
type Series = Record<string, number[]>;

/**
 * Measures one guest (or the runaway start function) in one mode, in a
 * fresh process: no row inherits another guest's heap (a GiB memory, tables
 * of 10M entries) or its garbage.
 */
async function inFreshProcess(
  guest: string,
  mode: Mode,
  v8Flags: string[] = [],
): Promise<Series> {
  // The inherited-stdin rows' child reads a pipe that nothing writes to,
  // held open until it has answered.
  const quietPipe = guest === WASI_PIPE_LABEL;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-env",
      "--allow-net=127.0.0.1",
      `--v8-flags=${["--expose-gc", ...v8Flags].join(",")}`,
      new URL(import.meta.url).pathname,
      guest,
      mode,
    ],
    stdin: quietPipe ? "piped" : "inherit",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const { stdout, success } = await child.output();
  if (quietPipe) await child.stdin.close();
  if (!success) throw new Error(`measuring ${guest} (${mode}) failed`);
  return JSON.parse(new TextDecoder().decode(stdout));
}

/** The child's side of {@linkcode inFreshProcess}: prints the series. */
async function measureHere(label: string, mode: Mode): Promise<void> {
  if (label === WASI_LABEL) {
    console.log(JSON.stringify(await wasiSleeps(mode)));
    await endStopper();
    return;
  }
  if (label === WASI_READ_LABEL || label === WASI_PIPE_LABEL) {
    console.log(
      JSON.stringify(await wasiReads(mode, label === WASI_PIPE_LABEL)),
    );
    await endStopper();
    return;
  }
  if (label === FETCH_LABEL) {
    const kind = mode === "stop" ? "stop" : "abort";
    console.log(JSON.stringify(await stalledFetches(kind)));
    return;
  }
  if (label === LARGE_LABEL) {
    const kind = mode === "stop" ? "stop" : "abort";
    console.log(JSON.stringify(await largeLoads(kind)));
    await endStopper();
    return;
  }
  if (label === REACH_LABEL) {
    const runs = { cold: COLD_RUNS, warm: WARM_RUNS };
    const series = await reachedCallerCalls(assemble, mode, runs, TIMEOUT_MS);
    console.log(JSON.stringify(series));
    await endStopper();
    return;
  }
  if (
    label === START_LABEL || label === PREPARED_START_LABEL ||
    label === SIGNAL_START_LABEL
  ) {
    const bytes = await assemble(RUNAWAY_START);
    // As a server readies itself before it takes work.
    if (label === PREPARED_START_LABEL) await prepareStops();
    const bySignal = label === SIGNAL_START_LABEL;
    console.log(
      JSON.stringify(await runawayStarts(bytes, mode === "async", bySignal)),
    );
    return;
  }
  if (label === METER_START_LABEL) {
    const bytes = await assemble(RUNAWAY_START);
    console.log(JSON.stringify(await meterStarts(bytes, mode)));
    await endStopper();
    return;
  }
  const guest = HOSTILE_GUESTS.find((guest) => guest.label === label);
  if (guest === undefined) throw new Error(`no hostile guest "${label}"`);
  const bytes = await assembleGuest(guest);
  console.log(JSON.stringify(await measure(bytes, guest, mode)));
  // The stopper's thread would keep this process alive.
  await endStopper();
}

const START_LABEL = "runaway start function";
/** The same, stopped by the load's signal, which a timer aborts. */
const SIGNAL_START_LABEL = "runaway start function, the load's signal";
/** The same, metered by a `FuelMeter` and run by its `attach`. */
const METER_START_LABEL = "runaway start function, FuelMeter#attach";
/** The same, in a process that called `prepareStops()` before its first load. */
const PREPARED_START_LABEL = "runaway start function, after prepareStops()";
const WASI_LABEL = "WASI command asleep in poll_oneoff";
/** Runs of the WASI sleeper, per mode. */
const WASI_RUNS = 100;

/**
 * A WASI command (`guest/wasi/sleep.wasm`, a C program) asleep for 3 s in
 * `poll_oneoff`, stopped while it sleeps: as an async guest (the default)
 * or held (`async: false`, a plain call), by its timeout (late from the
 * deadline, when the stop was found: `DeadlineExceeded.elapsed`), a
 * StopSignal another thread sets, or (async) an AbortSignal a timer aborts
 * (late from then to the run's return).
 *
 * The process's first run is measured apart (`first`): its load runs the
 * loader's code for the first time (and, before the watchdog's thread
 * started as the API is imported, started that thread), so its stop, and
 * on a slow machine those of the next few runs, can come before the
 * command is asleep: such a stop is a load's, waiting for the load's next
 * step (as the whole-loadGuest rows measure), not a sleep's.
 */
async function wasiSleeps(
  mode: Mode,
): Promise<{ first: number; late: number[] }> {
  const held = mode === "sync" || mode === "stop";
  return await wasiStops("sleep", mode, () => ({
    args: ["3000"],
    stdout: "ignore",
    async: !held,
  }));
}

/**
 * Runs the WASI command `guest/wasi/<name>.wasm` WASI_RUNS + 1 times with
 * the options `options()` makes and the stop of `mode`, and how late each
 * stop landed: the process's first run apart.
 */
async function wasiStops(
  name: string,
  mode: Mode,
  options: () => WasiOptions,
): Promise<{ first: number; late: number[] }> {
  const bytes = await Deno.readFile(
    new URL(`../guest/wasi/${name}.wasm`, import.meta.url),
  );
  // Booted before the first run's stop time is set: a boot of hundreds of
  // milliseconds had that stop fall in the first run's load, not its sleep.
  if (mode === "stop") await startStopper();
  const late: number[] = [];
  for (let i = 0; i <= WASI_RUNS; i++) {
    const given = options();
    const from = await stopFor(mode, given);
    const result = await runWasi(bytes, given);
    late.push(lateness(result, from, performance.now()));
  }
  return { first: late[0], late: late.slice(1) };
}

const WASI_READ_LABEL =
  "WASI command blocked reading stdin, a stream that sends nothing";
const WASI_PIPE_LABEL =
  "WASI command blocked reading stdin, inherited: a pipe that sends nothing";

/**
 * A WASI command (`guest/wasi/copy.wasm` copying stdin to stdout) whose
 * stdin is a stream that never sends, or (`inherited`) this process's own
 * stdin, a pipe nothing writes to, stopped while it waits in `fd_read`:
 * an async run (a stream needs the event loop, and a held run refuses an
 * inherited stdin under a stop), by its timeout, a StopSignal another
 * thread sets, or an AbortSignal a timer aborts, late as in
 * {@linkcode wasiSleeps}.
 */
async function wasiReads(
  mode: Mode,
  inherited: boolean,
): Promise<{ first: number; late: number[] }> {
  return await wasiStops("copy", mode, () => ({
    args: ["-", "-"],
    stdin: inherited ? "inherit" : new ReadableStream<Uint8Array>({
      pull: () => new Promise<void>(() => {}),
    }),
    stdout: "ignore",
    stderr: "ignore",
    async: true,
  }));
}

/**
 * Gives a WASI run the stop of `mode`: its timeout, a StopSignal the
 * stopper thread sets or an AbortSignal a timer aborts, both once it is
 * waiting. Returns when the stop came, for the last two.
 */
async function stopFor(
  mode: Mode,
  options: WasiOptions,
): Promise<() => number> {
  if (mode === "sync" || mode === "async") {
    options.timeout = TIMEOUT_MS;
    return () => Infinity;
  }
  if (mode === "stop") {
    const { stop, stoppedAt } = await stopAt(now() + WASI_LOAD_MS);
    options.stop = stop;
    return () => stoppedAt() - performance.timeOrigin;
  }
  const { signal, abortedAt } = abortAfter(WASI_LOAD_MS);
  options.signal = signal;
  return abortedAt;
}

/** How late a WASI run's stop landed: see {@linkcode wasiSleeps}. */
function lateness(result: WasiResult, from: () => number, end: number) {
  if (result.outcome === "timeout") return result.error.elapsed - TIMEOUT_MS;
  if (result.outcome === "aborted") return end - from();
  throw new Error(`the WASI command ended ${result.outcome}`);
}

/**
 * When a StopSignal or abort comes in the WASI rows: after the command has
 * loaded and is asleep (it loads in a few milliseconds once warm).
 */
const WASI_LOAD_MS = 60;
const FETCH_LABEL = "stalled fetch of the module";
/** Loads stopped while their fetch stalls, per kind of stop. */
const FETCH_RUNS = 100;

/**
 * Loads from a server that sends a module's preamble and then nothing,
 * stopped by an AbortSignal a timer aborts (`abort`) or a StopSignal it
 * sets (`stop`) at start + timeout: how late the load rejects, from then.
 * The process's watchdog's thread started as the API was imported.
 */
async function stalledFetches(kind: "abort" | "stop"): Promise<number[]> {
  const server = stalledServer();
  const url = server.url;
  const late: number[] = [];
  for (let i = 0; i < FETCH_RUNS; i++) {
    let stoppedAt = Infinity;
    const controller = new AbortController();
    const stop = new StopSignal();
    setTimeout(() => {
      stoppedAt = performance.now();
      if (kind === "abort") controller.abort("enough");
      else stop.stop("enough");
    }, TIMEOUT_MS);
    const options: GuestOptions = kind === "abort"
      ? { signal: controller.signal }
      : { stop };
    try {
      await loadGuest(url, options);
    } catch {
      late.push(performance.now() - stoppedAt);
      continue;
    }
    throw new Error("a stalled module loaded");
  }
  await server.close();
  return late;
}

const LARGE_LABEL = "load of esbuild.wasm (14 MB), metered";
/** Loads of the large guest, per kind of stop. */
const LARGE_RUNS = 100;

/**
 * Loads of esbuild.wasm with fuel, stopped at a moment spread over the
 * whole load (the rewrite, the compile on the compile thread, the mapping
 * of the memory's pages, the instantiation): by an
 * `AbortSignal.timeout` (`abort`; late from its deadline, however late its
 * event came) or by a StopSignal another thread sets (`stop`; late from
 * then). Loads that end before their stop are left out.
 */
async function largeLoads(kind: "abort" | "stop"): Promise<number[]> {
  const { bytes, imports } = await esbuildToLoad();
  // Whole loads, the second warm; the first also starts the compile thread
  // (the process's first stoppable load of a large guest does) and the
  // stopper's.
  let whole = 0;
  for (let i = 0; i < 2; i++) {
    const started = performance.now();
    await loadGuest(bytes, {
      fuel: 1e12,
      imports,
      signal: new AbortController().signal,
    });
    whole = performance.now() - started;
  }
  if (kind === "stop") await startStopper();
  const late: number[] = [];
  for (let i = 0; i < LARGE_RUNS; i++) {
    const at = TIMEOUT_MS + (whole * 0.9 - TIMEOUT_MS) * (i / LARGE_RUNS);
    let from: () => number;
    let options: GuestOptions;
    const start = performance.now();
    if (kind === "abort") {
      options = { signal: AbortSignal.timeout(at) };
      from = () => start + at;
    } else {
      const { stop, stoppedAt } = await stopAt(now() + at);
      options = { stop };
      from = () => stoppedAt() - performance.timeOrigin;
    }
    try {
      await loadGuest(bytes, { fuel: 1e12, imports, ...options });
    } catch {
      late.push(performance.now() - from());
    }
    // Let a stop that came after the load pass before the next.
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  }
  return late;
}

const MODE_LABELS: Record<Mode, string> = {
  sync: "sync",
  async: "async",
  stop: "sync, StopSignal",
  abort: "async, abort",
};

/** Prints the stop latency of every hostile guest, cold and warm, per mode. */
export async function benchStopLatency(): Promise<void> {
  const rows: string[][] = [];
  const splits: string[][] = [];
  for (const guest of HOSTILE_GUESTS) {
    const bytes = await assembleGuest(guest);
    for (const mode of MODES) {
      // Async calls refuse nesting.
      if ((guest.nests || guest.deep) && isAsync(mode)) continue;
      const series = await inFreshProcess(guest.label, mode, guest.v8Flags);
      for (const call of ["cold", "warm"] as const) {
        rows.push([
          guest.label,
          MODE_LABELS[mode],
          call,
          ...cells(series[call]),
        ]);
        if (mode !== "sync" && mode !== "async") continue;
        splits.push([
          guest.label,
          MODE_LABELS[mode],
          call,
          ...splitCells(
            series[call],
            series[`${call}Wake`],
            series[`${call}After`],
          ),
        ]);
      }
    }
    if (
      !guest.nests && !guest.deep && !guest.inProcessOnly &&
      guest.options === undefined
    ) {
      rows.push([
        guest.label,
        `isolation (${ISOLATED_TIMEOUT_MS} ms)`,
        "cold",
        ...cells(await isolated(bytes, guest)),
      ]);
      rows.push([
        guest.label,
        "CLI (fresh process)",
        "cold",
        ...cells(await throughCli(bytes, guest)),
      ]);
    }
  }
  for (const mode of MODES) {
    const series = await inFreshProcess(REACH_LABEL, mode);
    for (const call of ["cold", "warm"] as const) {
      rows.push([REACH_LABEL, MODE_LABELS[mode], call, ...cells(series[call])]);
    }
  }
  for (const mode of ["sync", "async"] as const) {
    const { late, load } = await inFreshProcess(START_LABEL, mode);
    rows.push([START_LABEL, mode, "cold", ...cells(late)]);
    rows.push([
      `${START_LABEL}, whole loadGuest`,
      mode,
      "cold",
      ...cells(load),
    ]);
    const prepared = await inFreshProcess(PREPARED_START_LABEL, mode);
    rows.push([
      `${PREPARED_START_LABEL}, whole loadGuest`,
      mode,
      "cold",
      ...cells(prepared.load),
    ]);
    const bySignal = await inFreshProcess(SIGNAL_START_LABEL, mode);
    rows.push([
      SIGNAL_START_LABEL,
      `${mode}, abort`,
      "cold",
      ...cells(bySignal.late),
    ]);
  }
  for (const mode of ["sync", "stop"] as const) {
    const late = await inFreshProcess(METER_START_LABEL, mode);
    rows.push([
      METER_START_LABEL,
      mode === "sync" ? "timeout" : "StopSignal",
      "cold",
      ...cells(late as unknown as number[]),
    ]);
  }
  const WASI_MODES: Record<Mode, string> = {
    sync: "held (async: false), timeout",
    async: "async, timeout",
    stop: "held, StopSignal",
    abort: "async, abort",
  };
  const READ_MODES: Partial<Record<Mode, string>> = {
    async: "async, timeout",
    stop: "async, StopSignal",
    abort: "async, abort",
  };
  for (
    const [label, modes] of [
      [WASI_LABEL, WASI_MODES],
      [WASI_READ_LABEL, READ_MODES],
      [WASI_PIPE_LABEL, READ_MODES],
    ] as const
  ) {
    for (const [mode, modeLabel] of Object.entries(modes)) {
      const { first, late } = await inFreshProcess(
        label,
        mode as Mode,
      ) as unknown as {
        first: number;
        late: number[];
      };
      rows.push([label, modeLabel, "cold", ...cells(late)]);
      rows.push([
        `${label}, the process's first run`,
        modeLabel,
        "cold",
        ...cells([first]),
      ]);
    }
  }
  for (const mode of ["abort", "stop"] as const) {
    const late = await inFreshProcess(FETCH_LABEL, mode) as unknown as number[];
    rows.push([FETCH_LABEL, `loadGuest, ${mode}`, "cold", ...cells(late)]);
  }
  for (const mode of ["abort", "stop"] as const) {
    const late = await inFreshProcess(LARGE_LABEL, mode) as unknown as number[];
    rows.push([
      LARGE_LABEL,
      mode === "abort" ? "loadGuest, timed-out signal" : "loadGuest, stop",
      "cold",
      ...cells(late),
    ]);
  }
  rows.push(...await isolatedSpin());
  console.log(
    `\n## Stop latency per hostile guest (timeout ${TIMEOUT_MS} ms; target p99 <= 2 ms, max <= 20 ms)\n`,
  );
  console.log(
    "late = (time the call returned) - (call start + timeout), or - (the time another thread set the StopSignal, or a timer aborted the AbortSignal, at start + timeout); cold = the first call of a freshly loaded guest, warm = later calls of one guest.",
  );
  console.log(
    "Each guest's sync and async rows come from a fresh process of their own: its first cold call is also the process's first stop.",
  );
  console.log(
    "A start function's late counts from its deadline's start, as it is called; the whole-loadGuest row counts from the loadGuest call (rewrite and compile included).",
  );
  console.log(
    `Rows of fewer than ${P99_RUNS} runs: their p99 is their maximum.\n`,
  );
  printTable(
    ["guest", "mode", "call", "runs", "p50 late", "p99 late", "max late"],
    rows,
  );
  console.log(
    "\n### Where a deadline's lateness went\n\nwake = (time the watchdog's thread first set the flag) - deadline; after = (time the call returned) - (time the flag was first set); p50 / p99 / max in ms, over the stops the thread made (the others the host found first, reading its own clock). Late calls: those over 1 ms late, and how many of them the thread's wake-up made so (wake > after).\n",
  );
  printSplitTable("guest", splits);
}

// `deno run bench/stop_latency.ts GUEST sync|async`: one series, as JSON.
if (import.meta.main) {
  await measureHere(Deno.args[0], Deno.args[1] as Mode);
}
