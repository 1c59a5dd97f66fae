/**
 * A fresh process's view of when a `FuelMeter` starts the watchdog's
 * thread: prints, as JSON, whether it runs after the meter is made and
 * used without a deadline, and after a first run with one, with how that
 * run ended. The guest's loop is made free by its costs, so that only the
 * stop flag can stop it (its fuel never asks the host).
 *
 * @module
 */

import { FuelMeter } from "../../mod.ts";
import { watchdogStarted } from "../../src/watchdog.ts";
import { RUNAWAY } from "./guests.ts";

const meter = new FuelMeter(await Deno.readFile(RUNAWAY), {
  costs: { default: 0 },
});
const { instance } = await WebAssembly.instantiate(meter.bytes, meter.imports);
meter.attach(instance);
const spin = instance.exports.spin as () => void;
const quick = meter.run(() => 1);
const before = watchdogStarted();
const stopped = meter.run(() => spin(), { timeout: 5 });
console.log(JSON.stringify({
  quick: quick.outcome,
  before,
  stopped: stopped.outcome,
  after: watchdogStarted(),
}));
