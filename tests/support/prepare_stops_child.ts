/**
 * A fresh process that readies its stops first, for
 * tests/prepare_stops_test.ts. Prints one line of JSON: whether the
 * watchdog's thread ran before `prepareStops()` (importing the API starts
 * it), whether the compile thread, runWasi's listing thread or a stop path
 * did, whether the watchdog's ran after it, whether a second call gave the
 * same promise, whether the compile thread (created by then, not still
 * being created on the watchdog's thread) and runWasi's listing thread ran
 * after it, which stop paths it had run, how its WASI command's runs
 * and its `FuelMeter.run` warm-up's ended, and how a later call with a
 * deadline ended.
 *
 * With the argument `loads`, it calls no `prepareStops()` but loads guests
 * instead, an async one and then a plain one, and prints which stop paths
 * had run before them and after each, how an async call ended, and
 * whether the `FuelMeter.run` warm-up ran (a loaded guest's meter does
 * not run it).
 */
import { loadGuest, prepareStops } from "../../mod.ts";
import {
  threadSpawning,
  watchdogStarted,
} from "../../src/watchdog/watchdog.ts";
import { compileThreadStarted } from "../../src/load/compile_thread.ts";
import { listerStarted } from "../../src/wasi/wasi_lister.ts";
import { stopPathsWarmed } from "../../src/load/stop_path_warmup.ts";
import { wasiRunsWarmed } from "../../src/warmup/wasi_warmup.ts";
import { meterWarmUpStatus } from "../../src/meter/meter_warmup.ts";

const RUNAWAY = new URL("../../guest/runaway.wasm", import.meta.url);

if (Deno.args[0] === "loads") {
  const before = stopPathsWarmed();
  const guest = await loadGuest(RUNAWAY, { async: true });
  const afterAsync = stopPathsWarmed();
  const outcome = (await guest.invokeAsync("spin", [], { timeout: 20 }))
    .outcome;
  await loadGuest(RUNAWAY, { interruptible: true });
  const afterPlain = stopPathsWarmed();
  // A loaded guest's calls do not go through FuelMeter.run.
  const meterRuns = meterWarmUpStatus().runs;
  console.log(
    JSON.stringify({ before, afterAsync, outcome, afterPlain, meterRuns }),
  );
} else {
  const watchdogBefore = watchdogStarted();
  const before = compileThreadStarted() || listerStarted() ||
    stopPathsWarmed().plain || stopPathsWarmed().async;
  const first = prepareStops();
  const same = prepareStops() === first;
  await first;
  const after = watchdogStarted();
  // Created by the watchdog's thread, which prepareStops() waits for.
  const compileThread = compileThreadStarted() && !threadSpawning();
  const listingThread = listerStarted();
  const warmed = stopPathsWarmed();
  const wasiWarmed = wasiRunsWarmed();
  const { runs: meterRuns, outcomes: meterWarmed } = meterWarmUpStatus();
  const guest = await loadGuest(RUNAWAY, { timeout: 20 });
  const outcome = guest.invoke("spin").outcome;
  console.log(
    JSON.stringify({
      watchdogBefore,
      before,
      after,
      compileThread,
      listingThread,
      warmed,
      wasiWarmed,
      meterRuns,
      meterWarmed,
      same,
      outcome,
    }),
  );
}
