/**
 * What the stop-latency benches share: the deadline and pauses they use,
 * the clock every thread agrees on, the thread that sets StopSignals and
 * the timer that aborts, and how a series of latenesses is summed up in a
 * table's cells. `stop_latency.ts` runs the benches; the files beside it
 * measure their own series in processes of their own.
 */
import { StopSignal } from "../mod.ts";
import { printTable } from "./harness.ts";

export const TIMEOUT_MS = 5;

/**
 * A pause before each cold load, so that the previous call's work is done,
 * and another after collecting the garbage of the loads before.
 */
export const SETTLE_MS = 10;

/** Below this many runs, a p99 is the maximum: the table says so. */
export const P99_RUNS = 100;

export function percentile(values: number[], fraction: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil(fraction * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))];
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Waits for the previous call's work, then collects the garbage of the loads
 * before, as a host's idle time between loads would. Without it, a cold
 * row would also time the freeing of a hundred earlier guests: V8 runs the
 * mark-compacts that free their memories (5 to 9 ms each beside GiB
 * memories) as tasks, which run when an async call yields to the event
 * loop, and made the async `memory.fill` 3 to 8 ms late about 1 call in 20.
 */
export async function settle(): Promise<void> {
  await pause(SETTLE_MS);
  (globalThis as { gc?: () => void }).gc?.();
  await pause(SETTLE_MS);
}

/** The thread that sets StopSignals in `stop` mode, once it is ready. */
let stopper: Promise<Worker> | undefined;

export function startStopper(): Promise<Worker> {
  return stopper ??= new Promise((resolve) => {
    const worker = new Worker(
      new URL("./stop_latency_stopper.ts", import.meta.url),
      { type: "module" },
    );
    worker.onmessage = () => resolve(worker);
  });
}

/** The clock every thread shares. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * A StopSignal that the stopper thread sets at `at` (on {@linkcode now}'s
 * clock), and when it did, on the same clock, once it has.
 */
export async function stopAt(
  at: number,
): Promise<{ stop: StopSignal; stoppedAt: () => number }> {
  const worker = await startStopper();
  const stop = new StopSignal();
  const stoppedAt = new Float64Array(new SharedArrayBuffer(8));
  worker.postMessage({ buffer: stop.buffer, at, stoppedAt: stoppedAt.buffer });
  return { stop, stoppedAt: () => stoppedAt[0] };
}

/**
 * An AbortSignal a timer aborts `ms` from now, and when it did (on
 * `performance.now()`'s clock), once it has; `cancel` clears the timer.
 */
export function abortAfter(ms: number): {
  signal: AbortSignal;
  abortedAt: () => number;
  cancel: () => void;
} {
  const controller = new AbortController();
  let abortedAt = Infinity;
  const timer = setTimeout(() => {
    abortedAt = performance.now();
    controller.abort();
  }, ms);
  return {
    signal: controller.signal,
    abortedAt: () => abortedAt,
    cancel: () => clearTimeout(timer),
  };
}

/** Runs, p50, p99 (marked as the maximum when runs are few) and max. */
export function cells(late: number[]): string[] {
  const ms = (value: number) => `${value.toFixed(3)} ms`;
  const p99 = ms(percentile(late, 0.99));
  return [
    String(late.length),
    ms(percentile(late, 0.5)),
    late.length < P99_RUNS ? `${p99} (= max)` : p99,
    ms(Math.max(...late)),
  ];
}

/**
 * Prints where deadlines' lateness went, one row per series from
 * {@linkcode splitCells}, under a first column named `first`.
 */
export function printSplitTable(first: string, splits: string[][]): void {
  printTable(
    [first, "mode", "call", "set by the thread", "wake", "after", "late calls"],
    splits,
  );
}

/** The split of a series' deadlines: see the table's legend. */
export function splitCells(
  late: number[],
  wake: number[],
  after: number[],
): string[] {
  // A stop the thread did not make is NaN here, null once through JSON.
  const made = wake.filter(Number.isFinite);
  const spent = after.filter(Number.isFinite);
  const triple = (values: number[]) =>
    values.length === 0
      ? "-"
      : [0.5, 0.99].map((fraction) => percentile(values, fraction).toFixed(2))
        .concat(Math.max(...values).toFixed(2)).join(" / ");
  let lateCalls = 0, byWake = 0;
  late.forEach((value, i) => {
    if (value <= 1) return;
    lateCalls++;
    if (wake[i] > after[i]) byWake++;
  });
  return [
    `${made.length} of ${late.length}`,
    triple(made),
    triple(spent),
    `${lateCalls} (${byWake} by the wake-up)`,
  ];
}

/** Ends the stopper's thread, if one was started: it would keep the process alive. */
export async function endStopper(): Promise<void> {
  (await stopper)?.terminate();
}
