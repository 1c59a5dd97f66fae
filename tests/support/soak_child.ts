/**
 * The soak: 10,000 calls of each way a call can stop, on one guest, with the
 * heap and RSS measured after a forced GC after each thousand. Run it with
 * `--v8-flags=--expose-gc`; it prints one JSON object, the figures by kind.
 *
 * @module
 */

import { assembleWat } from "../../guest/build.ts";
import {
  type AsyncCallOptions,
  type CallOutcome,
  loadGuest,
  StopSignal,
} from "../../mod.ts";

/** Calls per kind, measured after each block. */
const BLOCKS = 10;
const BLOCK_CALLS = 1_000;

/** Heap used and RSS in bytes, after a forced GC. */
export interface Sample {
  heap: number;
  rss: number;
}

/** What the soak prints: per kind, a sample before and after each block. */
export interface SoakReport {
  kinds: Record<
    string,
    { before: Sample; blocks: Sample[]; wrong: number; seconds: number }
  >;
  seconds: number;
}

const collect = (globalThis as unknown as { gc?: () => void }).gc;

function sample(): Sample {
  if (collect === undefined) throw new Error("run with --v8-flags=--expose-gc");
  collect();
  collect();
  const { heapUsed, rss } = Deno.memoryUsage();
  return { heap: heapUsed, rss };
}

const bytes = await assembleWat(`(module
  (import "env" "interrupt_execution" (func $interrupt))
  (import "env" "tick" (func $tick))
  (func (export "interrupt") (call $interrupt))
  (func (export "spin") (loop $forever (br $forever)))
  (func (export "tick_forever") (loop $forever (call $tick) (br $forever)))
  (func (export "trap") unreachable))`);

let tick = () => {};
const imports = { env: { tick: () => tick() } };
const guest = await loadGuest(bytes, { interruptible: true, imports });
const asyncGuest = await loadGuest(bytes, { async: true, imports });
const stop = new StopSignal();
/** A word never set, for the StopSignal kind's import to wait on. */
const nap = new Int32Array(new SharedArrayBuffer(4));
const NAP_MS = 0.1;

/**
 * Each kind: the call that stops that way, and the outcome it must end with.
 * A call's `fuel` stays set for the next, so the calls after the fuel kind's
 * start with a full tank.
 */
const KINDS: [
  string,
  CallOutcome["outcome"],
  () => CallOutcome | Promise<CallOutcome>,
][] = [
  ["interrupt", "interrupted", () => guest.invoke("interrupt")],
  ["fuel", "fuel_exhausted", () => guest.invoke("spin", [], { fuel: 1_000 })],
  [
    "deadline",
    "timeout",
    () => guest.invoke("spin", [], { fuel: Infinity, timeout: 0 }),
  ],
  ["StopSignal", "aborted", () => {
    stop.reset();
    tick = () => {
      stop.stop("enough");
      // The watchdog reads the signal every half millisecond: waiting for
      // it here rather than spinning through the guest's loop leaves the
      // stop's path as it was, at a fraction of the CPU time.
      Atomics.wait(nap, 0, 0, NAP_MS);
    };
    return guest.invoke("tick_forever", [], { fuel: Infinity, stop });
  }],
  ["trap", "trap", () => guest.invoke("trap")],
  ["abort", "aborted", () => {
    const controller = new AbortController();
    tick = () => controller.abort("enough");
    const options: AsyncCallOptions = { signal: controller.signal };
    return asyncGuest.invokeAsync("tick_forever", [], options);
  }],
];

const started = performance.now();
const report: SoakReport = { kinds: {}, seconds: 0 };
for (const [kind, outcome, call] of KINDS) {
  const before = sample();
  const start = performance.now();
  const blocks: Sample[] = [];
  let wrong = 0;
  for (let block = 0; block < BLOCKS; block++) {
    for (let i = 0; i < BLOCK_CALLS; i++) {
      const result = await call();
      if (result.outcome !== outcome) {
        if (wrong++ === 0) console.error(kind, result);
      }
    }
    blocks.push(sample());
  }
  const seconds = (performance.now() - start) / 1000;
  report.kinds[kind] = { before, blocks, wrong, seconds };
}
report.seconds = (performance.now() - started) / 1000;
console.log(JSON.stringify(report));
