/**
 * The loader's code, run once as the API is imported, before any stop can
 * be due.
 *
 * A process's first stoppable load ran the rewriter's and the load's checks
 * for the first time: V8 compiled each function as it was first called and
 * ran it unoptimised, so a tiny guest's first load took 24 to 33 ms of the
 * thread's CPU before its start function ran, against 1.5 to 2 for the
 * loads after it. A timeout counts from the start function, but the whole
 * load is the caller's wait, and an abort or StopSignal that falls in it
 * waits for the step it falls in, which the first call of a function
 * makes long. The same work is done here on a small module, synchronously,
 * as the watchdog's thread boots: at import, where no stop can fall in it.
 * Its results are thrown away; nothing it does is kept but V8's code.
 *
 * @module
 */

import { newCallState } from "../call/call_state.ts";
import { allocatesOnHeapSteps } from "../call/heap_limit.ts";
import { buildImports } from "../load/imports.ts";
import {
  checkInstanceSizeSteps,
  checkInstantiation,
  checkSizedAllocations,
} from "../module/instance_size.ts";
import { checkTypeCountSteps } from "../module/instantiation_work.ts";
import { DEFAULT_ARRAY_BYTES, limitGuestSteps } from "../module/limits.ts";
import { describeModule } from "../module/signatures.ts";
import { resolveCosts } from "../wasm/costs.ts";
import { instrumentSteps } from "../wasm/instrument.ts";
import { runSteps } from "../wasm/steps.ts";
import { loadGuest } from "../load/load_guest.ts";
import { StopSignal } from "../watchdog/stop_signal.ts";

/**
 * A guest as small as a real one is shaped: an import called in a loop, a
 * memory with data, a mutable global, an export and a start function.
 *
 * ```wat
 * (module
 *   (import "host" "tick" (func $tick (param i32)))
 *   (memory 1)
 *   (global $n (mut i32) (i32.const 0))
 *   (func $run (export "run") (param $k i32) (result i32)
 *     (loop $l
 *       (global.set $n (i32.add (global.get $n) (i32.load (local.get $k))))
 *       (call $tick (global.get $n))
 *       (br_if $l (local.tee $k (i32.sub (local.get $k) (i32.const 1)))))
 *     (global.get $n))
 *   (func $start (drop (call $run (i32.const 2))))
 *   (start $start)
 *   (data (i32.const 0) "\01\02"))
 * ```
 */
// deno-fmt-ignore
export const WARM_UP_GUEST: readonly number[] = [
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x0d, 0x03, 0x60,
  0x01, 0x7f, 0x00, 0x60, 0x01, 0x7f, 0x01, 0x7f, 0x60, 0x00, 0x00, 0x02,
  0x0d, 0x01, 0x04, 0x68, 0x6f, 0x73, 0x74, 0x04, 0x74, 0x69, 0x63, 0x6b,
  0x00, 0x00, 0x03, 0x03, 0x02, 0x01, 0x02, 0x05, 0x03, 0x01, 0x00, 0x01,
  0x06, 0x06, 0x01, 0x7f, 0x01, 0x41, 0x00, 0x0b, 0x07, 0x07, 0x01, 0x03,
  0x72, 0x75, 0x6e, 0x00, 0x01, 0x08, 0x01, 0x02, 0x0a, 0x28, 0x02, 0x1e,
  0x00, 0x03, 0x40, 0x23, 0x00, 0x20, 0x00, 0x28, 0x02, 0x00, 0x6a, 0x24,
  0x00, 0x23, 0x00, 0x10, 0x00, 0x20, 0x00, 0x41, 0x01, 0x6b, 0x22, 0x00,
  0x0d, 0x00, 0x0b, 0x23, 0x00, 0x0b, 0x07, 0x00, 0x41, 0x02, 0x10, 0x01,
  0x1a, 0x0b, 0x0b, 0x08, 0x01, 0x00, 0x41, 0x00, 0x0b, 0x02, 0x01, 0x02,
];

/**
 * A guest of the features whose rewrite takes paths of their own: a
 * table grown, filled, copied and initialised from a passive segment
 * (dropped after), a memory filled, copied and initialised from a passive
 * data segment, each by a constant length and by one the rewrite cannot
 * read (those become calls of the added functions that work in chunks,
 * 0 at run time), a memory grown, a throw caught, an indirect call, a
 * start function. The command line loads it before its deadline starts,
 * so that the first rewrite of a guest that has them does not run that
 * code for the first time under the deadline (a `table.fill` of 1,000,000
 * elements took the scan of its body 0.8 ms more in a fresh process).
 *
 * ```wat
 * (module
 *   (type $v (func))
 *   (memory 1 1)
 *   (table $t 0 funcref)
 *   (tag $e)
 *   (global $g (mut i32) (i32.const 0))
 *   (func $f (global.set $g (i32.add (global.get $g) (i32.const 1))))
 *   (elem declare func $f)
 *   (elem $p funcref (ref.func $f) (ref.null func))
 *   (data $d "\01\02")
 *   (func $start (local $n i32)
 *     (drop (table.grow $t (ref.null func) (i32.const 4)))
 *     (table.fill $t (i32.const 0) (ref.func $f) (i32.const 4))
 *     (table.init $t $p (i32.const 0) (i32.const 0) (i32.const 2))
 *     (table.init $t $p (i32.const 0) (i32.const 0) (local.get $n))
 *     (elem.drop $p)
 *     (table.copy $t $t (i32.const 2) (i32.const 0) (i32.const 2))
 *     (drop (table.grow $t (ref.null func) (local.get $n)))
 *     (table.fill $t (i32.const 0) (ref.func $f) (local.get $n))
 *     (table.copy $t $t (i32.const 0) (i32.const 0) (local.get $n))
 *     (memory.fill (i32.const 0) (i32.const 1) (i32.const 16))
 *     (memory.copy (i32.const 16) (i32.const 0) (i32.const 16))
 *     (memory.init $d (i32.const 32) (i32.const 0) (i32.const 2))
 *     (memory.init $d (i32.const 0) (i32.const 0) (local.get $n))
 *     (data.drop $d)
 *     (memory.fill (i32.const 0) (i32.const 1) (local.get $n))
 *     (memory.copy (i32.const 0) (i32.const 0) (local.get $n))
 *     (drop (memory.grow (local.get $n)))
 *     (try (do (throw $e)) (catch $e))
 *     (call_indirect (type $v) (i32.const 0)))
 *   (start $start))
 * ```
 */
// deno-fmt-ignore
export const FEATURES_WARM_UP_GUEST: readonly number[] = [
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01, 0x60,
  0x00, 0x00, 0x03, 0x03, 0x02, 0x00, 0x00, 0x04, 0x04, 0x01, 0x70, 0x00,
  0x00, 0x05, 0x04, 0x01, 0x01, 0x01, 0x01, 0x0d, 0x03, 0x01, 0x00, 0x00,
  0x06, 0x06, 0x01, 0x7f, 0x01, 0x41, 0x00, 0x0b, 0x08, 0x01, 0x01, 0x09,
  0x0e, 0x02, 0x03, 0x00, 0x01, 0x00, 0x05, 0x70, 0x02, 0xd2, 0x00, 0x0b,
  0xd0, 0x70, 0x0b, 0x0c, 0x01, 0x01, 0x0a, 0xac, 0x01, 0x02, 0x09, 0x00,
  0x23, 0x00, 0x41, 0x01, 0x6a, 0x24, 0x00, 0x0b, 0x9f, 0x01, 0x01, 0x01,
  0x7f, 0xd0, 0x70, 0x41, 0x04, 0xfc, 0x0f, 0x00, 0x1a, 0x41, 0x00, 0xd2,
  0x00, 0x41, 0x04, 0xfc, 0x11, 0x00, 0x41, 0x00, 0x41, 0x00, 0x41, 0x02,
  0xfc, 0x0c, 0x01, 0x00, 0x41, 0x00, 0x41, 0x00, 0x20, 0x00, 0xfc, 0x0c,
  0x01, 0x00, 0xfc, 0x0d, 0x01, 0x41, 0x02, 0x41, 0x00, 0x41, 0x02, 0xfc,
  0x0e, 0x00, 0x00, 0xd0, 0x70, 0x20, 0x00, 0xfc, 0x0f, 0x00, 0x1a, 0x41,
  0x00, 0xd2, 0x00, 0x20, 0x00, 0xfc, 0x11, 0x00, 0x41, 0x00, 0x41, 0x00,
  0x20, 0x00, 0xfc, 0x0e, 0x00, 0x00, 0x41, 0x00, 0x41, 0x01, 0x41, 0x10,
  0xfc, 0x0b, 0x00, 0x41, 0x10, 0x41, 0x00, 0x41, 0x10, 0xfc, 0x0a, 0x00,
  0x00, 0x41, 0x20, 0x41, 0x00, 0x41, 0x02, 0xfc, 0x08, 0x00, 0x00, 0x41,
  0x00, 0x41, 0x00, 0x20, 0x00, 0xfc, 0x08, 0x00, 0x00, 0xfc, 0x09, 0x00,
  0x41, 0x00, 0x41, 0x01, 0x20, 0x00, 0xfc, 0x0b, 0x00, 0x41, 0x00, 0x41,
  0x00, 0x20, 0x00, 0xfc, 0x0a, 0x00, 0x00, 0x20, 0x00, 0x40, 0x00, 0x1a,
  0x06, 0x40, 0x08, 0x00, 0x07, 0x00, 0x0b, 0x41, 0x00, 0x11, 0x00, 0x00,
  0x0b, 0x0b, 0x05, 0x01, 0x01, 0x02, 0x01, 0x02,
];

const LABEL = "the load's warm-up";

/**
 * How many times this process has run the warm-up, what it threw, and the
 * kind of error each of its loads that a stop ended rejected with.
 */
const status: { runs: number; error?: unknown; entryStops: string[] } = {
  runs: 0,
  entryStops: [],
};

/**
 * Runs a stoppable load's synchronous work once on
 * {@linkcode WARM_UP_GUEST}: its checks, its limits, its rewrite as a
 * plain guest's and as an async guest's, the guest's imports built for
 * each, and the engine's compile of each rewrite. Nothing is thrown: a
 * warm-up that fails leaves the first load to compile the code, as
 * before.
 */
export function warmLoadPathAtImport(): void {
  status.runs++;
  try {
    const bytes = new Uint8Array(WARM_UP_GUEST);
    runSteps(allocatesOnHeapSteps(bytes));
    runSteps(checkTypeCountSteps(bytes, LABEL));
    const limited = runSteps(limitGuestSteps(bytes, undefined, LABEL));
    runSteps(checkInstanceSizeSteps(bytes, LABEL, false));
    // A plain guest's flag checks trap, and so do its fuel checks unless
    // it has a start function; an async guest's ask the host.
    for (
      const [async, resumable] of [[false, false], [false, true], [true, true]]
    ) {
      const { metered, info } = runSteps(instrumentSteps(limited, {
        resumable,
        initialFuel: 0n,
        stopFlag: true,
        arrayBytes: DEFAULT_ARRAY_BYTES,
        fuel: true,
        stopFlagTraps: !async,
        deferStart: true,
        validate: false,
      }));
      checkInstantiation(info.footprint, resolveCosts(undefined), 1e9, LABEL);
      checkSizedAllocations(info.footprint, LABEL);
      buildImports(
        describeModule(info).imports,
        { host: { tick() {} } },
        {},
        newCallState(),
        { async, guest: LABEL },
      );
      new WebAssembly.Module(metered.bytes as Uint8Array<ArrayBuffer>);
    }
    warmAbortDispatch();
    warmLoadEntry();
  } catch (error) {
    // Only a warm-up: the first load runs the same code, and reports.
    status.error = error;
  }
}

/**
 * Runs `loadGuest` itself up to its first look at its stops, with stops
 * that came before it began (a StopSignal set, an AbortSignal aborted): its
 * options' checks and the watch of its stops run for the first time here,
 * and it rejects before it reads, rewrites or starts anything. A process's
 * first load otherwise ran them cold: given a StopSignal set before it, it
 * rejected 3 to 10 ms after it was called (the sooner after the import, the
 * later).
 */
function warmLoadEntry(): void {
  const stop = new StopSignal();
  stop.stop(LABEL);
  const aborted = new AbortController();
  aborted.abort(LABEL);
  const bytes = new Uint8Array(WARM_UP_GUEST);
  const options = { timeout: 1_000, imports: { host: { tick() {} } } };
  for (const given of [{ stop }, { signal: aborted.signal }]) {
    // Its rejection is the point; no one waits for it.
    loadGuest(bytes, { ...options, ...given }).catch((error) => {
      status.entryStops.push(String((error as { kind?: unknown })?.kind));
    });
  }
}

/**
 * How many times {@linkcode warmAbortDispatch} aborts: the first abort
 * runs Deno's code for the first time and the next ones still run it
 * unoptimised (0.03 to 0.28 ms each, against 0.9 to 1.0 for the first).
 */
const ABORT_WARM_UP_ROUNDS = 4;

/**
 * Aborts signals as a stop does: a signal with listeners, one made with
 * `AbortSignal.any` from it, a `TimeoutError` `DOMException` for reason
 * and, in a listener, a second signal aborted with its default reason.
 * Deno's first such abort in a process runs its event dispatch and builds
 * its first `DOMException` (0.3 ms each on a quiet machine) for the first
 * time, 1.0 to 1.2 ms in all, by which a process's first abort of a load
 * or an async call, and the command line's first deadline, landed late.
 */
function warmAbortDispatch(): void {
  for (let round = 0; round < ABORT_WARM_UP_ROUNDS; round++) {
    const controller = new AbortController();
    const joined = AbortSignal.any([controller.signal]);
    const inner = new AbortController();
    const listener = () => {};
    controller.signal.addEventListener("abort", listener);
    inner.signal.addEventListener("abort", listener);
    joined.addEventListener("abort", () => inner.abort());
    controller.abort(new DOMException(LABEL, "TimeoutError"));
  }
}

/**
 * How many times this process has run {@linkcode warmLoadPathAtImport},
 * what it threw, if anything (a warm-up that throws is lost without a
 * word), and how its loads given a stop ended: for tests.
 *
 * @returns The count, and the error.
 */
export function loadWarmUpStatus(): {
  runs: number;
  error?: unknown;
  entryStops: string[];
} {
  return { ...status, entryStops: [...status.entryStops] };
}
