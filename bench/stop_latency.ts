/**
 * How late a stop lands for each hostile guest of issue #10, in each mode:
 * late = (time the call returned) - (call start + timeout). A cold call is
 * the first call of a freshly loaded guest after the watchdog's thread has
 * gone idle; a warm one is a later call of the same guest.
 */
import {
  type CallOutcome,
  type Guest,
  type GuestOptions,
  invokeIsolated,
  isolatedChildrenExited,
  loadGuest,
} from "../mod.ts";
import wabt from "wabt";
import { printTable } from "./harness.ts";

/**
 * The idle spell before a cold call: longer than the watchdog's thread once
 * outlived the last call (it now never ends), so rows stay comparable.
 */
const IDLE_MS = 1_100;
const TIMEOUT_MS = 5;
const WARM_RUNS = 60;
const COLD_RUNS = 3;
const ISOLATED_RUNS = 12;
const CLI_RUNS = 8;
const ISOLATED_TIMEOUT_MS = 250;
/** A deadline that falls while the child process is still starting. */
const STARTING_TIMEOUT_MS = 10;

interface HostileGuest {
  label: string;
  wat: string;
  export: string;
  options?: GuestOptions;
  /** For the nesting guest: its host calls it back. */
  nests?: boolean;
}

const GUESTS: HostileGuest[] = [
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
    label: "table.fill 10M",
    wat: `(module (table 10000000 funcref) (func (export "run")
      (table.fill 0 (i32.const 0) (ref.null func) (i32.const 10000000))))`,
    export: "run",
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
    label: "runaway start function (load)",
    wat: `(module (func $s (loop $l (br $l))) (start $s))`,
    export: "",
  },
];

async function assemble(text: string): Promise<Uint8Array<ArrayBuffer>> {
  const tools = await wabt();
  const module = tools.parseWat("hostile.wat", text, { exceptions: true });
  try {
    return module.toBinary({}).buffer as Uint8Array<ArrayBuffer>;
  } finally {
    module.destroy();
  }
}

function percentile(values: number[], fraction: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil(fraction * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))];
}

function expectStopped(outcome: CallOutcome, expected: string): void {
  if (outcome.outcome !== expected) {
    throw new Error(
      `expected ${outcome.export} to end with "${expected}", got "${outcome.outcome}"`,
    );
  }
}

function idle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, IDLE_MS));
}

async function load(
  bytes: Uint8Array,
  guest: HostileGuest,
  async: boolean,
): Promise<Guest> {
  // The import runs only once the guest is loaded.
  const imports = guest.nests
    ? {
      host: {
        nest: async
          ? () => {}
          : () => void loaded.invoke("quick", [], { timeout: 1_000 }),
      },
    }
    : undefined;
  const loaded = await loadGuest(bytes, {
    ...guest.options,
    ...(async ? { async: true } : { interruptible: true }),
    imports,
  });
  return loaded;
}

/** One stopped call's lateness, in milliseconds. */
async function stopOnce(
  target: Guest,
  guest: HostileGuest,
  async: boolean,
): Promise<number> {
  const options = { timeout: TIMEOUT_MS };
  const start = performance.now();
  const outcome = async
    ? await target.invokeAsync(guest.export, [], options)
    : target.invoke(guest.export, [], options);
  const late = performance.now() - (start + TIMEOUT_MS);
  expectStopped(outcome, "timeout");
  return late;
}

/** A load whose start function runs away, stopped at the timeout. */
async function loadOnce(bytes: Uint8Array, async: boolean): Promise<number> {
  const start = performance.now();
  try {
    await loadGuest(bytes, { timeout: TIMEOUT_MS, async });
  } catch (error) {
    if ((error as Error).name !== "DeadlineExceeded") throw error;
    return performance.now() - (start + TIMEOUT_MS);
  }
  throw new Error("the runaway start function returned");
}

async function measure(
  bytes: Uint8Array,
  guest: HostileGuest,
  async: boolean,
): Promise<{ cold: number[]; warm: number[] }> {
  const cold: number[] = [];
  const warm: number[] = [];
  for (let i = 0; i < COLD_RUNS; i++) {
    await idle();
    if (guest.export === "") cold.push(await loadOnce(bytes, async));
    else {cold.push(
        await stopOnce(await load(bytes, guest, async), guest, async),
      );}
  }
  const target = guest.export === ""
    ? undefined
    : await load(bytes, guest, async);
  for (let i = 0; i < WARM_RUNS; i++) {
    if (target === undefined) warm.push(await loadOnce(bytes, async));
    else warm.push(await stopOnce(target, guest, async));
  }
  return { cold, warm };
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
 * late = the call's own `elapsed_ms` - timeout (process start-up is not part
 * of the call).
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

function cells(late: number[]): string[] {
  const ms = (value: number) => `${value.toFixed(3)} ms`;
  return [
    String(late.length),
    ms(percentile(late, 0.5)),
    ms(percentile(late, 0.99)),
    ms(Math.max(...late)),
  ];
}

/** Prints the stop latency of every hostile guest, cold and warm, per mode. */
export async function benchStopLatency(): Promise<void> {
  const rows: string[][] = [];
  for (const guest of GUESTS) {
    const bytes = await assemble(guest.wat);
    for (const async of [false, true]) {
      const mode = async ? "async" : "sync";
      if (guest.nests && async) continue; // an async guest refuses nesting
      const { cold, warm } = await measure(bytes, guest, async);
      rows.push([guest.label, mode, "cold", ...cells(cold)]);
      rows.push([guest.label, mode, "warm", ...cells(warm)]);
    }
    if (guest.export !== "" && !guest.nests && guest.options === undefined) {
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
  rows.push(...await isolatedSpin());
  console.log(
    `\n## Stop latency per hostile guest (timeout ${TIMEOUT_MS} ms; target p99 <= 2 ms, max <= 20 ms)\n`,
  );
  console.log(
    "late = (time the call returned) - (call start + timeout); cold = first call of a fresh guest with the watchdog idle.\n",
  );
  printTable(
    ["guest", "mode", "call", "runs", "p50 late", "p99 late", "max late"],
    rows,
  );
}
