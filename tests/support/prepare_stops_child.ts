/**
 * A fresh process that readies its stops first, for
 * tests/prepare_stops_test.ts. Prints one line of JSON: whether the
 * watchdog's thread ran before and after `prepareStops()`, whether a second
 * call gave the same promise, whether the compile thread ran after it, and
 * how a later call with a deadline ended.
 */
import { loadGuest, prepareStops } from "../../mod.ts";
import { watchdogStarted } from "../../src/watchdog.ts";
import { compileThreadStarted } from "../../src/compile_thread.ts";

const before = watchdogStarted() || compileThreadStarted();
const first = prepareStops();
const same = prepareStops() === first;
await first;
const after = watchdogStarted();
const compileThread = compileThreadStarted();
const guest = await loadGuest(
  new URL("../../guest/runaway.wasm", import.meta.url),
  { timeout: 20 },
);
const outcome = guest.invoke("spin").outcome;
console.log(JSON.stringify({ before, after, compileThread, same, outcome }));
