/**
 * Loads guests over and over in one process, each stopped somewhere else:
 * in the start function, in the rewrite, in the compile on its thread, in a
 * call, or not at all. Prints, as JSON, the process's open descriptors,
 * threads and heap (after a forced GC) after a first round and after the
 * last, and how the loads ended. Run it with `--v8-flags=--expose-gc`; it
 * must then end by itself, with nothing left to keep it alive.
 *
 * @module
 */

import { assembleWat } from "../../guest/build.ts";
import { isEarlyExitError, loadGuest, StopSignal } from "../../mod.ts";
import { concatBytes, encodeLeb, PREAMBLE } from "./module_bytes.ts";

/** Descriptors, threads and heap in use. */
export interface Resources {
  descriptors: number;
  threads: number;
  heap: number;
}

/** What the child prints. */
export interface LoadSoakReport {
  warm: Resources;
  last: Resources;
  /** How many loads or calls ended each way, by outcome or error name. */
  ended: Record<string, number>;
  /** Loads and calls in each round. */
  perRound: number;
  /** Rounds run, the first included. */
  rounds: number;
  /** Of each round's, those that always stop: a spinning call or start function. */
  alwaysStopped: number;
}

const collect = (globalThis as unknown as { gc?: () => void }).gc;

function resources(): Resources {
  if (collect === undefined) throw new Error("run with --v8-flags=--expose-gc");
  collect();
  collect();
  const count = (path: string) => Array.from(Deno.readDirSync(path)).length;
  return {
    descriptors: count("/proc/self/fd"),
    threads: count("/proc/self/task"),
    heap: Deno.memoryUsage().heapUsed,
  };
}

/**
 * A guest past the size that is compiled on the compile thread (1 MiB),
 * mostly a data segment, so that its rewrite and compile are short: a
 * memory, 1.1 MB of data and a small function.
 */
function largeGuest(): Uint8Array {
  const data = new Uint8Array(1_100_000).fill(7);
  const segment = concatBytes(
    [0x01, 0x00, 0x41, 0x00, 0x0b],
    encodeLeb(data.length),
    data,
  );
  return concatBytes(
    PREAMBLE,
    [0x01, 0x04, 0x01, 0x60, 0x00, 0x00],
    [0x03, 0x02, 0x01, 0x00],
    [0x05, 0x03, 0x01, 0x00, 0x11],
    [0x0a, 0x07, 0x01, 0x05, 0x00, 0x41, 0x00, 0x1a, 0x0b],
    [0x0b, ...encodeLeb(segment.length)],
    segment,
  );
}

const large = largeGuest();
const spinning = await assembleWat(`(module
  (func $spin (loop $forever (br $forever)))
  (func (export "spin") (call $spin)))`);
const startsForever = await assembleWat(`(module
  (func $spin (loop $forever (br $forever)))
  (start $spin))`);

const ended: Record<string, number> = {};
function note(how: string): void {
  ended[how] = (ended[how] ?? 0) + 1;
}
async function ending(load: () => Promise<unknown>): Promise<void> {
  try {
    note(String(await load()));
  } catch (error) {
    if (!isEarlyExitError(error)) throw error;
    note(error.name);
  }
}

/** Runs of each kind of load in a round. */
const SMALL_RUNS = 30;
const LARGE_RUNS = 6;

/** One round: each kind of stop, several times. */
async function round(): Promise<void> {
  for (let i = 0; i < SMALL_RUNS; i++) {
    // Stopped in the start function, by the deadline.
    await ending(() => loadGuest(startsForever, { timeout: 1 }));
    // Stopped in a call, and the guest dropped.
    await ending(async () => {
      const guest = await loadGuest(spinning, { interruptible: true });
      return guest.invoke("spin", [], { timeout: 0 }).outcome;
    });
  }
  for (let i = 0; i < LARGE_RUNS; i++) {
    // Stopped early in the rewrite, later in it or in the compile on its
    // thread, or loaded: by an AbortSignal, then by a StopSignal.
    const after = i * 30;
    await ending(async () => {
      await loadGuest(large, {
        fuel: 1e9,
        signal: AbortSignal.timeout(after),
      });
      return "loaded";
    });
    const stop = new StopSignal();
    const timer = setTimeout(() => stop.stop("enough"), after);
    await ending(async () => {
      await loadGuest(large, { fuel: 1e9, stop });
      return "loaded";
    });
    clearTimeout(timer);
  }
}

const ROUNDS = 3;
await round();
const warm = resources();
for (let i = 1; i < ROUNDS; i++) await round();
const report: LoadSoakReport = {
  warm,
  last: resources(),
  ended,
  perRound: 2 * SMALL_RUNS + 2 * LARGE_RUNS,
  rounds: ROUNDS,
  alwaysStopped: SMALL_RUNS,
};
console.log(JSON.stringify(report));
