/**
 * A fresh process that readies its stops first, for
 * tests/prepare_stops_test.ts. Prints one line of JSON: whether the
 * watchdog's thread ran before `prepareStops()` (importing the API starts
 * it), whether the compile thread or runWasi's listing thread did, whether
 * the watchdog's ran after it, whether a second
 * call gave the same promise, whether the compile thread and runWasi's
 * listing thread ran after it, and how a later call with a deadline ended.
 */
import { loadGuest, prepareStops } from "../../mod.ts";
import { watchdogStarted } from "../../src/watchdog.ts";
import { compileThreadStarted } from "../../src/compile_thread.ts";
import { listerStarted } from "../../src/wasi_readdir.ts";

const watchdogBefore = watchdogStarted();
const before = compileThreadStarted() || listerStarted();
const first = prepareStops();
const same = prepareStops() === first;
await first;
const after = watchdogStarted();
const compileThread = compileThreadStarted();
const listingThread = listerStarted();
const guest = await loadGuest(
  new URL("../../guest/runaway.wasm", import.meta.url),
  { timeout: 20 },
);
const outcome = guest.invoke("spin").outcome;
console.log(
  JSON.stringify({
    watchdogBefore,
    before,
    after,
    compileThread,
    listingThread,
    same,
    outcome,
  }),
);
