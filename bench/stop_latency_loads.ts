/**
 * How late a stop lands in loads of large guests, each row's loads in a
 * fresh process of their own, every load cold (a fresh guest): a guest
 * whose first memory gets 32 MiB of data (written by the host in steps, and
 * beside it, with that off, copied by the engine's instantiation), a name
 * section of 64 MiB of empty subsections, an isolated call of a 64 MiB
 * file and one of 64 MiB of the caller's bytes (the first of each in its
 * process, with a 1 ms deadline, falls in the readying of the process's
 * first spawn), and a StopSignal set while a load copies 64 MiB of the
 * caller's bytes. The stops are spread over the whole load; late = (time
 * the load or call ended) - (its deadline, or when another thread set the
 * StopSignal). Last, a process's first load given a StopSignal set before
 * it, one fresh process a load (late = time to its rejection). Figures,
 * not verdicts: nothing here passes or fails.
 *
 * @module
 */

import {
  type GuestOptions,
  invokeIsolated,
  isolatedChildrenExited,
  loadGuest,
  StopSignal,
} from "../mod.ts";
import { liftSettings } from "../src/load/data_lift.ts";
import {
  concatBytes,
  encodeLeb,
  PREAMBLE,
} from "../tests/support/module_bytes.ts";
import { printTable } from "./harness.ts";
import {
  now,
  percentile,
  SETTLE_MS,
  startStopper,
  stopAt,
} from "./stop_latency_support.ts";

const MiB = 1 << 20;
/** Loads per row: each a large guest's, cold. */
const RUNS = 40;

/** A section: its id, its size, then `content`. */
function sectionOf(id: number, content: Uint8Array): Uint8Array {
  return concatBytes([id, ...encodeLeb(content.length)], content);
}

/** `(func (export "run") (loop br 0))`'s sections, and `memoryPages` of memory. */
function spinWith(memoryPages: number, ...rest: Uint8Array[]): Uint8Array {
  return concatBytes(
    PREAMBLE,
    sectionOf(1, Uint8Array.of(1, 0x60, 0, 0)),
    sectionOf(3, Uint8Array.of(1, 0)),
    ...(memoryPages > 0
      ? [sectionOf(5, Uint8Array.of(1, 0, ...encodeLeb(memoryPages)))]
      : []),
    sectionOf(7, Uint8Array.of(1, 3, 0x72, 0x75, 0x6e, 0, 0)),
    sectionOf(10, Uint8Array.of(1, 7, 0, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b)),
    ...rest,
  );
}

/** One active segment of 32 MiB (as flite's 17 MB are two). */
function bigData(): Uint8Array {
  const data = new Uint8Array(32 * MiB);
  for (let i = 0; i < data.length; i += 4096) data[i] = i >> 12;
  const segment = concatBytes(
    [1, 0, 0x41, 0, 0x0b],
    encodeLeb(data.length),
    data,
  );
  return spinWith(32 * 16 + 1, sectionOf(11, segment));
}

/** A name section of 64 MiB of empty subsections. */
function bigNames(): Uint8Array {
  const subsections = new Uint8Array(64 * MiB);
  for (let at = 0; at < subsections.length; at += 2) subsections[at] = 4;
  const name = new TextEncoder().encode("name");
  return spinWith(
    0,
    sectionOf(0, concatBytes([name.length], name, subsections)),
  );
}

/** A custom section of 64 MiB: a large file whose reading is the load. */
function bigFile(): Uint8Array {
  const name = new TextEncoder().encode("padding");
  return spinWith(
    0,
    sectionOf(0, concatBytes([name.length], name, new Uint8Array(64 * MiB))),
  );
}

/** What a row measures: its label, its kind of stop, and its series' name. */
const ROWS = [
  [
    "guest with 32 MiB of data, metered: data written by the engine",
    "timed-out signal",
    "data-engine",
  ],
  [
    "guest with 32 MiB of data, metered: data written in steps",
    "timed-out signal",
    "data-lifted",
  ],
  [
    "name section of 64 MiB of empty subsections, metered",
    "timed-out signal",
    "names",
  ],
  ["invokeIsolated of a 64 MiB file", "timeout", "isolated-file"],
  [
    "invokeIsolated of 64 MiB of the caller's bytes",
    "timeout",
    "isolated-bytes",
  ],
  ["64 MiB of the caller's bytes, metered", "StopSignal", "copy-stop"],
  [
    "a process's first load, a StopSignal set before it (spin)",
    "StopSignal",
    "first-load-set",
  ],
] as const;

/**
 * Fresh processes of the first-load row: each measures its own first
 * load, after the import's warm-ups and the watchdog's boot.
 */
const FIRST_LOAD_PROCESSES = 20;

/**
 * A process's first load, given a StopSignal set before it: how long it
 * takes to reject (the stop was due before the call).
 */
async function firstLoadSet(): Promise<number[]> {
  await new Promise((resolve) => setTimeout(resolve, 500));
  const stop = new StopSignal();
  stop.stop("set before the load");
  const start = performance.now();
  try {
    await loadGuest(spinWith(0), { stop, timeout: 60_000 });
  } catch {
    return [performance.now() - start];
  }
  throw new Error("a load given a StopSignal set before it returned");
}

/**
 * Loads `bytes` {@linkcode RUNS} times, each stopped at a moment spread
 * over a whole load's time, and gives how late each ended.
 */
async function stoppedLoads(
  bytes: Uint8Array,
  kind: "abort" | "stop",
): Promise<number[]> {
  let whole = 0;
  for (let i = 0; i < 2; i++) {
    const started = performance.now();
    await loadGuest(bytes, {
      fuel: 1e12,
      signal: new AbortController().signal,
    });
    whole = performance.now() - started;
  }
  if (kind === "stop") await startStopper();
  const late: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const at = 1 + (whole * 0.9 - 1) * (i / RUNS);
    let options: GuestOptions;
    let from: () => number;
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
      await loadGuest(bytes, { fuel: 1e12, ...options });
    } catch {
      late.push(performance.now() - from());
    }
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  }
  return late;
}

/** Isolated calls of a 64 MiB file, their timeouts spread over its read. */
async function isolatedFile(): Promise<number[]> {
  const path = await Deno.makeTempFile({ suffix: ".wasm" });
  try {
    await Deno.writeFile(path, bigFile());
    return await isolatedLoads(path);
  } finally {
    await Deno.remove(path);
  }
}

/**
 * The same with the module's bytes given by the caller, which the host
 * writes to the child's stdin (nothing but the host holds them).
 */
async function isolatedBytes(): Promise<number[]> {
  return await isolatedLoads(bigFile());
}

/** Isolated calls of `source` whose deadlines are spread over its load. */
async function isolatedLoads(source: string | Uint8Array): Promise<number[]> {
  // How long a read of the module takes, about: of the file, or of a file
  // of the bytes.
  const path = typeof source === "string"
    ? source
    : await Deno.makeTempFile({ suffix: ".wasm" });
  if (typeof source !== "string") await Deno.writeFile(path, source);
  const started = performance.now();
  await Deno.readFile(path);
  const read = Math.max(5, performance.now() - started);
  if (typeof source !== "string") await Deno.remove(path);
  const late: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const timeout = 1 + read * 2 * (i / RUNS);
    const start = performance.now();
    await invokeIsolated(source, "run", [], { timeout });
    late.push(performance.now() - (start + timeout));
    await isolatedChildrenExited();
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  }
  return late;
}

/** One series, measured in this process. */
async function measureHere(series: string): Promise<number[]> {
  switch (series) {
    case "data-engine":
      liftSettings.minBytes = Infinity;
      return await stoppedLoads(bigData(), "abort");
    case "data-lifted":
      return await stoppedLoads(bigData(), "abort");
    case "names":
      return await stoppedLoads(bigNames(), "abort");
    case "isolated-file":
      return await isolatedFile();
    case "isolated-bytes":
      return await isolatedBytes();
    case "copy-stop":
      return await stoppedLoads(bigFile(), "stop");
    case "first-load-set":
      return await firstLoadSet();
  }
  throw new Error(`no series "${series}"`);
}

/** One series in a fresh process. */
async function inFreshProcess(series: string): Promise<number[]> {
  const { stdout, success } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, series],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!success) throw new Error(`measuring ${series} failed`);
  return JSON.parse(new TextDecoder().decode(stdout));
}

/** Prints the rows. */
export async function benchLoadStopLatency(): Promise<void> {
  const rows: string[][] = [];
  for (const [label, stop, series] of ROWS) {
    const late: number[] = [];
    const processes = series === "first-load-set" ? FIRST_LOAD_PROCESSES : 1;
    for (let i = 0; i < processes; i++) {
      late.push(...await inFreshProcess(series));
    }
    const ms = (fraction: number) =>
      `${percentile(late, fraction).toFixed(3)} ms`;
    rows.push([
      label,
      stop,
      "cold",
      String(late.length),
      ms(0.5),
      ms(0.9),
      `${Math.max(...late).toFixed(3)} ms`,
    ]);
  }
  console.log(
    `\n## Stop latency of loads of large guests (stops spread over a whole load; ${RUNS} loads a row, each row a fresh process)\n`,
  );
  console.log(
    "late = (time the load or call ended) - (its deadline, or the time another thread set the StopSignal); loads that ended before their stop are left out.\n",
  );
  printTable(
    ["guest", "stop", "load", "runs", "p50 late", "p90 late", "max late"],
    rows,
  );
}

// `deno run -A bench/stop_latency_loads.ts SERIES`: one series, as JSON.
if (import.meta.main) {
  console.log(JSON.stringify(await measureHere(Deno.args[0]!)));
  // The stopper's thread would keep this process alive.
  Deno.exit(0);
}
