/**
 * A small side-by-side timer: cases are run in interleaved rounds so that
 * drift in machine speed hits both sides of a ratio alike, and the median
 * round is reported, in wall time and in the process's CPU time.
 */
import process from "node:process";

/** The process's CPU time (user + system) so far, in milliseconds. */
export function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e3;
}

/** Wall and CPU time of one sample, in nanoseconds per call. */
interface Sample {
  wall: number;
  cpu: number;
}

/** Times `iterations` calls of `fn`: nanoseconds per call, wall and CPU. */
function timeOnce(fn: () => unknown, iterations: number): Sample {
  const cpu = cpuMs();
  const start = performance.now();
  for (let i = 0; i < iterations; i++) fn();
  const wall = performance.now() - start;
  return {
    wall: (wall * 1e6) / iterations,
    cpu: ((cpuMs() - cpu) * 1e6) / iterations,
  };
}

/** Picks an iteration count that makes one round take about `roundMs`. */
function calibrate(fn: () => unknown, roundMs: number): number {
  let iterations = 1;
  for (;;) {
    const start = performance.now();
    for (let i = 0; i < iterations; i++) fn();
    const elapsed = performance.now() - start;
    if (elapsed >= roundMs / 4 || iterations >= 1 << 30) {
      return Math.max(
        1,
        Math.round((iterations * roundMs) / Math.max(elapsed, 0.001)),
      );
    }
    iterations *= 4;
  }
}

/** The middle value (the mean of the two middle ones for an even count). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * How many instances each side of a comparison loads, each timed in every
 * round. On a shared 2-core VM the machine's speed shifts in phases of tens
 * of milliseconds: one instance of the plain compute guest, timed in
 * consecutive batches, ran fib(30) in anything from 2.3 to 3.9 ms. With one
 * sample per side and round, a ratio could be a draw of two phases; spread
 * over several instances interleaved with the other side's, each side meets
 * the same mix of them.
 */
export const INSTANCES = 5;

/**
 * A side's time over its instances: the median of the cases named
 * `${side} 0` to `${side} ${instances - 1}`.
 */
export function overInstances(
  times: Record<string, number>,
  side: string,
  instances = INSTANCES,
): number {
  return median(
    Array.from({ length: instances }, (_, i) => times[`${side} ${i}`]!),
  );
}

/** The median wall time per call of each case, in nanoseconds. */
export function compare(
  cases: Record<string, () => unknown>,
  options: { rounds?: number; roundMs?: number } = {},
): Record<string, number> {
  return compareTimes(cases, options).wall;
}

/** Median times per call of each case, in nanoseconds. */
export interface Times {
  /** Wall time. */
  wall: Record<string, number>;
  /**
   * The process's CPU time over the same calls: it leaves out the time the
   * machine gave to other processes, and adds the time of V8's own threads
   * (compilers, the collector) and of the watchdog.
   */
  cpu: Record<string, number>;
}

/** The median time per call of each case, wall and CPU, in nanoseconds. */
export function compareTimes(
  cases: Record<string, () => unknown>,
  options: {
    rounds?: number;
    roundMs?: number;
    /** Calls per sample, for cases too slow to calibrate (one warm-up call). */
    iterations?: number;
  } = {},
): Times {
  const rounds = options.rounds ?? 9;
  const roundMs = options.roundMs ?? 40;
  const names = Object.keys(cases);
  const fixed = options.iterations;
  for (const name of names) {
    // warm up
    timeOnce(cases[name], fixed ?? calibrate(cases[name], roundMs));
  }
  const counts = Object.fromEntries(
    names.map((n) => [n, fixed ?? calibrate(cases[n], roundMs)]),
  );
  const samples: Record<string, Sample[]> = Object.fromEntries(
    names.map((n) => [n, []]),
  );
  for (let round = 0; round < rounds; round++) {
    for (const name of names) {
      samples[name].push(timeOnce(cases[name], counts[name]));
    }
  }
  const pick = (key: keyof Sample) =>
    Object.fromEntries(
      names.map((n) => [n, median(samples[n].map((s) => s[key]))]),
    );
  return { wall: pick("wall"), cpu: pick("cpu") };
}

/** The geometric mean, the fair average of ratios. */
export function geomean(values: number[]): number {
  return Math.exp(
    values.reduce((sum, v) => sum + Math.log(v), 0) / values.length,
  );
}

/** Formats nanoseconds for a table. */
export function formatNs(ns: number): string {
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(2)} µs`;
  return `${ns.toFixed(1)} ns`;
}

/** Prints rows as an aligned text table. */
export function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) =>
    Math.max(h.length, ...rows.map((r) => r[i].length))
  );
  const line = (cells: string[]) =>
    cells.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd();
  console.log(line(header));
  console.log(line(widths.map((w) => "-".repeat(w))));
  for (const row of rows) console.log(line(row));
}

/**
 * How long a fresh process of {@linkcode jsonFromFreshProcess} may take, in
 * milliseconds: several times the longest (sql.js's stops, 15 s; the real
 * guests' stops, a minute or two a process), so that a measurement that never ends ends
 * the bench with a line rather than keeping it waiting.
 */
const FRESH_PROCESS_LIMIT_MS = 15 * 60_000;

/**
 * Runs `module` with `args` in a fresh Deno process with every permission
 * (reading a thread's CPU time in /proc takes them all) and `gc` exposed,
 * and returns what it printed on stdout, read as JSON.
 */
export async function jsonFromFreshProcess(
  module: URL,
  args: string[],
  what: string,
): Promise<unknown> {
  const limit = AbortSignal.timeout(FRESH_PROCESS_LIMIT_MS);
  const { stdout, success } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      "--v8-flags=--expose-gc",
      module.pathname,
      ...args,
    ],
    stdout: "piped",
    stderr: "inherit",
    signal: limit,
  }).output();
  if (limit.aborted) {
    throw new Error(
      `measuring ${what} ran past ${
        FRESH_PROCESS_LIMIT_MS / 60_000
      } minutes and was stopped`,
    );
  }
  if (!success) throw new Error(`measuring ${what} failed`);
  return JSON.parse(new TextDecoder().decode(stdout));
}
