/**
 * Readying a process for stops before its first guest needs one.
 *
 * @module
 */

import { startCompileThread } from "../load/compile_thread.ts";
import { warmMeterRuns } from "../meter/fuel.ts";
import { loadGuest } from "../load/load_guest.ts";
import { readyIsolation } from "../isolate/isolate_spawn.ts";
import { startLister } from "../wasi/wasi_lister.ts";
import { watchdogReady } from "../watchdog/watchdog.ts";
import { warmWasiRuns } from "./wasi_warmup.ts";

/** The smallest module: a magic number and a version, nothing else. */
const EMPTY_MODULE = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

/** The longest wait for the watchdog's thread to catch up, in milliseconds. */
const WATCHDOG_WAIT_MS = 5_000;

/**
 * Readies this process to stop guests, now: has the watchdog's thread
 * (the thread that lands deadlines and StopSignals, which importing
 * early-exit started) create the thread that compiles a large guest a stop
 * may end while it loads, and the thread on which a stoppable `runWasi`
 * with preopens lists directories and does its disk work, waits for them,
 * and runs the code that stops a call once, a plain call's and an async
 * call's, a `FuelMeter.run`'s, and a stoppable `runWasi`'s (a tiny
 * command, held and async, to its end and stopped as it loads: a
 * process's first such run held its stops 8 to 12 ms in code run for the
 * first time, after this 2.7 to 3.3).
 * The first load of a large guest a stop can end (and the first such
 * `runWasi`) starts the threads otherwise: creating a thread holds the
 * watchdog's thread for tens of milliseconds (hundreds on a loaded
 * machine), during which it sets no flag, so that a deadline or
 * StopSignal of another guest's call that falls meanwhile lands that much
 * late (the load's own stops do not wait for it). Where `--allow-run`
 * allows isolation mode's child, it also loads Deno's code for starting
 * processes, which a process's first isolated call otherwise runs for the
 * first time within its deadline (6 to 9 ms here). A server that stops
 * guests calls this once as it starts, before it takes work; later calls
 * return the same promise.
 *
 * @returns A promise that settles when the threads are up and a stop has
 * run.
 *
 * @example Ready the process, then load and stop a guest
 * ```ts
 * import { loadGuest, prepareStops } from "@early-exit/early-exit";
 *
 * await prepareStops(); // once, at start-up
 * const guest = await loadGuest("guest/runaway.wasm", { timeout: 50 });
 * console.log(guest.invoke("spin").outcome); // "timeout"
 * ```
 */
export function prepareStops(): Promise<void> {
  if (prepared === undefined) {
    startCompileThread();
    startLister();
    readyIsolation();
  }
  // A plain guest's load runs a plain call's stop path once, an async
  // guest's an async call's.
  prepared ??= loadGuest(new Uint8Array(EMPTY_MODULE), {
    interruptible: true,
    label: "prepareStops",
  }).then(() =>
    loadGuest(new Uint8Array(EMPTY_MODULE), {
      async: true,
      label: "prepareStops",
    })
  ).then(warmWasiRuns).then(async () => {
    // FuelMeter.run's warm-up runs only once the watchdog's thread has
    // caught up (its flag, not the clock, must end the runs): on a busy
    // machine it may still be taking the WASI runs' messages.
    await watchdogReady(WATCHDOG_WAIT_MS);
    warmMeterRuns();
  });
  return prepared;
}

let prepared: Promise<void> | undefined;
