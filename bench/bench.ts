/**
 * `deno task bench`: every benchmark, as ratios measured side by side in one
 * run. Nothing here passes or fails on wall time. Name sections to run only
 * those: `deno task bench "stop latency" fuel`.
 */
import { benchDeadline } from "./deadline.ts";
import { benchFuel } from "./fuel.ts";
import { benchInterrupt } from "./interrupt.ts";
import { benchWasi } from "./wasi.ts";
import { benchStopLatency } from "./stop_latency.ts";
import { benchRealStopLatency } from "./stop_latency_real.ts";
import { benchLoadStopLatency } from "./stop_latency_loads.ts";
import { benchSqlStopLatency } from "./stop_latency_sql.ts";
import { benchReal } from "./real.ts";
import { benchFresh } from "./fresh.ts";
import { benchMeterRun } from "./meter_run.ts";
import { benchMeterRunAsync } from "./meter_run_async.ts";
import { benchGcAllocations } from "./gc_allocations.ts";
import { benchAsyncCrowd, benchStopsAtOnce } from "./async_crowd.ts";

console.log(
  `early-exit benchmarks on Deno ${Deno.version.deno} (V8 ${Deno.version.v8})`,
);
const sections: [string, () => Promise<void>][] = [
  ["interrupt", benchInterrupt],
  ["real guests", benchReal],
  ["fresh process", benchFresh],
  ["fuel", benchFuel],
  ["deadlines", benchDeadline],
  ["WASI", benchWasi],
  ["stop latency", async () => {
    await benchStopLatency();
    await benchRealStopLatency();
    await benchLoadStopLatency();
    await benchSqlStopLatency();
  }],
  ["FuelMeter#run", benchMeterRun],
  ["FuelMeter#runAsync", benchMeterRunAsync],
  ["GC allocations", benchGcAllocations],
  ["async crowd", async () => {
    await benchAsyncCrowd();
    await benchStopsAtOnce();
  }],
];
// `deno task bench [section ...]` runs only the sections named.
const chosen = Deno.args.length === 0
  ? sections
  : sections.filter(([name]) => Deno.args.includes(name));
if (chosen.length === 0) {
  console.error(
    `expected section names among: ${
      sections.map(([name]) => `"${name}"`).join(", ")
    }; got ${Deno.args.join(" ")}`,
  );
  Deno.exit(2);
}
const start = performance.now();
for (const [name, run] of chosen) {
  const begun = performance.now();
  await run();
  console.log(
    `\n(${name}: ${((performance.now() - begun) / 1e3).toFixed(0)} s)`,
  );
}
console.log(
  `\nThe whole bench: ${((performance.now() - start) / 1e3).toFixed(0)} s`,
);
