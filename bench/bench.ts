/**
 * `deno task bench`: every benchmark, as ratios measured side by side in one
 * run. Nothing here passes or fails on wall time.
 */
import { benchDeadline } from "./deadline.ts";
import { benchFuel } from "./fuel.ts";
import { benchInterrupt } from "./interrupt.ts";
import { benchWasi } from "./wasi.ts";
import { benchStopLatency } from "./stop_latency.ts";
import { benchMeterRun } from "./meter_run.ts";

console.log(
  `early-exit benchmarks on Deno ${Deno.version.deno} (V8 ${Deno.version.v8})`,
);
await benchInterrupt();
await benchFuel();
await benchDeadline();
await benchWasi();
await benchStopLatency();
await benchMeterRun();
