/**
 * The first instance attached to a `FuelMeter` in a process runs the
 * meter's warm-up (`src/meter/meter_warmup.ts`): two runs of a tiny guest, one
 * stopped by a deadline and one by a StopSignal, so that a caller's first
 * stop through `meter.run` does not run the stop path's code for the
 * first time. It must run once, only once the watchdog's thread is up
 * (the first attach here waits for it), with both runs stopped, on the
 * bytes its text assembles to, and must make a fresh isolate's first
 * stopped run cheaper than a cold one.
 */
import assert from "./support/assert.ts";
import { docWatBytes } from "./support/doc_wat.ts";
import { FuelMeter } from "../mod.ts";
import { RUNAWAY } from "./support/guests.ts";
import {
  METER_WARM_UP_GUEST,
  meterWarmUpStatus,
} from "../src/meter/meter_warmup.ts";
import { watchdogReady } from "../src/watchdog/watchdog.ts";

const runaway = await Deno.readFile(RUNAWAY);

async function attached(): Promise<FuelMeter> {
  const meter = new FuelMeter(runaway);
  const { instance } = await WebAssembly.instantiate(
    meter.bytes,
    meter.imports,
  );
  meter.attach(instance);
  return meter;
}

Deno.test("the first attach in a process runs the meter's warm-up once, both of its runs stopped", async () => {
  assert.equal(meterWarmUpStatus().runs, 0);
  await watchdogReady(10_000);
  await attached();
  assert.deepEqual(meterWarmUpStatus(), {
    runs: 1,
    outcomes: ["timeout", "aborted"],
  });
  await attached();
  assert.equal(meterWarmUpStatus().runs, 1);
});

Deno.test("the meter's warm-up guest's bytes are its text, assembled", async () => {
  const source = new URL("../src/meter/meter_warmup.ts", import.meta.url);
  assert.deepEqual(await docWatBytes(source), [...METER_WARM_UP_GUEST]);
});

interface FirstStop {
  cpu: number;
  outcome: string;
  runs: number;
  outcomes: string[];
}

async function firstStop(warm: boolean): Promise<FirstStop> {
  const worker = new Worker(
    new URL("./support/meter_warmup_worker.ts", import.meta.url),
    { type: "module" },
  );
  try {
    return await new Promise<FirstStop>((resolve, reject) => {
      worker.onmessage = (event) => resolve(event.data);
      worker.onerror = (event) => reject(event.error ?? event.message);
      worker.postMessage({ warm, bytes: runaway });
    });
  } finally {
    worker.terminate();
  }
}

Deno.test("after the warm-up, a fresh isolate's first stopped run takes well under a cold one's CPU", async () => {
  // Summed over three isolates each, run side by side; each isolate's own
  // thread's CPU time is what is compared. Measured alone, a warmed first
  // stop took a fifth to a third of a cold one; in full suites, once just
  // over half and once three quarters, when the warmed side's isolates
  // drew a busy spell. So up to three rounds, one of which must be under
  // 0.7 (without the warm-up, every round is about 1).
  const SIDE = 3;
  const ROUNDS = 3;
  const kinds = [...Array(2 * SIDE).keys()].map((i) => i >= SIDE);
  const sum = (half: FirstStop[]) =>
    half.reduce((total, stop) => total + stop.cpu, 0);
  const seen: string[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const stops = await Promise.all(kinds.map(firstStop));
    for (const [i, stop] of stops.entries()) {
      assert.equal(stop.outcome, "aborted");
      // The cold isolates' warm-up was used up before it could run.
      assert.deepEqual(
        [stop.runs, stop.outcomes],
        i < SIDE ? [1, []] : [1, ["timeout", "aborted"]],
      );
    }
    const cold = sum(stops.slice(0, SIDE)), warmed = sum(stops.slice(SIDE));
    if (warmed < cold * 0.7) return;
    seen.push(`${warmed.toFixed(2)} ms against ${cold.toFixed(2)}`);
  }
  assert.fail(
    `after the warm-up, the first stopped runs did not take under 0.7 of a cold one's CPU in any of ${ROUNDS} rounds (warmed against cold: ${
      seen.join("; ")
    }); expected under 0.7 in one`,
  );
});
