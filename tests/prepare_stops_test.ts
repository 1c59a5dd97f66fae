/**
 * Importing the API starts the watchdog's thread; `prepareStops()` starts
 * the compile thread and the listing thread ahead of the first load that
 * needs them, once per process, and runs both stop paths, a plain call's
 * and an async call's, once, a stoppable `runWasi`'s, held and async, and
 * `FuelMeter.run`'s; without it, the first async load runs an async
 * call's before it returns, and the first other stoppable load a plain
 * call's (and no load runs `FuelMeter.run`'s: a loaded guest's calls do
 * not take it).
 */
import assert from "./support/assert.ts";
import { jsonFromChild } from "./support/json_child.ts";
import { docWatBytes } from "./support/doc_wat.ts";
import { EXITING_COMMAND } from "../src/warmup/wasi_warmup.ts";

const CHILD = new URL("./support/prepare_stops_child.ts", import.meta.url);
const ROOT = new URL("../", import.meta.url).pathname;

async function child(...args: string[]): Promise<unknown> {
  return await jsonFromChild(CHILD, [`--allow-read=${ROOT}`], args);
}

Deno.test("importing the API starts the watchdog's thread; prepareStops() starts the compile thread and runWasi's listing thread once, runs both stop paths and a stoppable runWasi's, and later deadlines land", async () => {
  assert.deepEqual(await child(), {
    watchdogBefore: true,
    before: false,
    after: true,
    compileThread: true,
    listingThread: true,
    warmed: { plain: true, async: true },
    // Held and async, each to its end and stopped as it loads.
    wasiWarmed: ["exited", "aborted", "exited", "aborted"],
    // FuelMeter.run's, by a deadline and by a StopSignal.
    meterRuns: 1,
    meterWarmed: ["timeout", "aborted"],
    same: true,
    outcome: "timeout",
  });
});

Deno.test("the first async load runs an async call's stop path before it returns, and the first plain stoppable load a plain call's, neither FuelMeter.run's", async () => {
  assert.deepEqual(await child("loads"), {
    before: { plain: false, async: false },
    afterAsync: { plain: false, async: true },
    outcome: "timeout",
    afterPlain: { plain: true, async: true },
    meterRuns: 0,
  });
});

Deno.test("prepareStops()' WASI command's bytes are its text, assembled", async () => {
  const source = new URL("../src/warmup/wasi_warmup.ts", import.meta.url);
  assert.deepEqual(await docWatBytes(source), [...EXITING_COMMAND]);
});
