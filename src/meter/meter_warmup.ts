/**
 * `FuelMeter.run`'s stop path run once per process, ahead of a caller's
 * first stop.
 *
 * A process's first stop through `meter.run` came back 3 to 10 ms after
 * its deadline on real libraries even with the watchdog on time, against
 * under 1 ms for later ones: the host's side of the stop ran for the first
 * time, unoptimised (the flag's callback, the trap and its classification,
 * the glue's cleanup on the grace, the stack pointer put back under the
 * watchdog's guard, the stop error, the outcome, the watch's disposal),
 * and so did the watchdog's own firing. `loadGuest` warms its calls' stop
 * path in `stop_path_warmup.ts`; this does the same for meters: the first
 * instance attached to a caller's meter in a process (just after its
 * loader compiled and instantiated it, a far larger cost; or in
 * `prepareStops`) is followed by two runs of a tiny guest on a meter of
 * its own, one stopped by a deadline and one by a StopSignal, each through
 * the steps a library's glue takes (a shadow stack pointer, a call back
 * into the guest after the trap, the trap wrapped in the glue's own
 * error). Its results are thrown away; nothing is kept but V8's code. A
 * guest's own meter, made by `loadGuest` or `runWasi`, does not run it:
 * their calls take a path of their own, which their loader warms, and it
 * took about 7 ms of a process's first load of a tiny guest (20 to 32 ms,
 * then 13 to 22).
 *
 * @module
 */

import { newCallState } from "../call/call_state.ts";
import { enclosingWatches } from "../call/call_watch.ts";
import type { FuelMeter } from "./fuel.ts";
import { StopSignal } from "../watchdog/stop_signal.ts";
import { watchdogCaughtUp } from "../watchdog/watchdog.ts";

/**
 * A guest shaped as a library's where a stop meets it: a shadow stack
 * pointer, moved before the stop and put back after it, a host import
 * called inside the run (which sets the StopSignal), a loop that never
 * ends, and an export the glue calls to clean up.
 *
 * ```wat
 * (module
 *   (import "host" "cue" (func $cue))
 *   (global $sp (export "__stack_pointer") (mut i32) (i32.const 1024))
 *   (func (export "spin")
 *     (global.set $sp (i32.const 512))
 *     (call $cue)
 *     (loop $l (br $l)))
 *   (func (export "restore") (param $to i32)
 *     (global.set $sp (local.get $to))))
 * ```
 */
// deno-fmt-ignore
export const METER_WARM_UP_GUEST: readonly number[] = [
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x60,
  0x00, 0x00, 0x60, 0x01, 0x7f, 0x00, 0x02, 0x0c, 0x01, 0x04, 0x68, 0x6f,
  0x73, 0x74, 0x03, 0x63, 0x75, 0x65, 0x00, 0x00, 0x03, 0x03, 0x02, 0x00,
  0x01, 0x06, 0x07, 0x01, 0x7f, 0x01, 0x41, 0x80, 0x08, 0x0b, 0x07, 0x24,
  0x03, 0x0f, 0x5f, 0x5f, 0x73, 0x74, 0x61, 0x63, 0x6b, 0x5f, 0x70, 0x6f,
  0x69, 0x6e, 0x74, 0x65, 0x72, 0x03, 0x00, 0x04, 0x73, 0x70, 0x69, 0x6e,
  0x00, 0x01, 0x07, 0x72, 0x65, 0x73, 0x74, 0x6f, 0x72, 0x65, 0x00, 0x02,
  0x0a, 0x17, 0x02, 0x0e, 0x00, 0x41, 0x80, 0x04, 0x24, 0x00, 0x10, 0x00,
  0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b, 0x06, 0x00, 0x20, 0x00, 0x24, 0x00,
  0x0b,
];

/** The warm-up's deadline, in milliseconds. */
const WARM_UP_TIMEOUT_MS = 0.5;

/**
 * The longest the warm-up's import waits for the watchdog to set the flag,
 * in milliseconds: past it the guest goes on, and a slice's end stops it.
 */
const FLAG_WAIT_MS = 20;

/** What the warm-up did in this process: for tests. */
const status: { runs: number; outcomes: string[]; error?: unknown } = {
  runs: 0,
  outcomes: [],
};

/**
 * Runs the warm-up, once per process, when it can run as a caller's stop
 * would: the watchdog's thread up and caught up (so that its flag, not the
 * host's clock, ends the runs), and no watched call in progress (whose
 * stops the warm-up's runs would answer to). Otherwise a later attach
 * tries again. Nothing is thrown: a warm-up that fails leaves the first
 * stop to run the code cold, as before.
 *
 * @param meterOf Makes a meter of the given bytes (the class itself, so
 * that this file does not import it).
 * @param flagOf A meter's stop flag, which the warm-up's import waits on.
 */
export function warmMeterStopPath(
  meterOf: (bytes: Uint8Array) => FuelMeter,
  flagOf: (meter: FuelMeter) => Int32Array | undefined,
): void {
  if (status.runs > 0 || !watchdogCaughtUp()) return;
  if (enclosingWatches(newCallState()).length > 0) return;
  status.runs++;
  try {
    const signal = new StopSignal();
    const meter = meterOf(new Uint8Array(METER_WARM_UP_GUEST));
    const flag = flagOf(meter);
    let cue = () => {};
    // The import sleeps until the watchdog has set the flag, so that the
    // guest meets the stop at a check, as a caller's guest does, rather
    // than at the end of a fuel slice (a fresh instance's backstop).
    const flagSet = () => {
      if (flag === undefined) return;
      const until = performance.now() + FLAG_WAIT_MS;
      while (Atomics.load(flag, 0) === 0 && performance.now() < until) {
        Atomics.wait(flag, 0, 0, 0.1);
      }
    };
    const { exports } = new WebAssembly.Instance(
      new WebAssembly.Module(meter.bytes as Uint8Array<ArrayBuffer>),
      { ...meter.imports, host: { cue: () => cue() } },
    );
    meter.attach(exports);
    const spin = exports.spin as () => void;
    const restore = exports.restore as (to: number) => void;
    // As a library's glue does: cleans up after the trap, and wraps it.
    const glue = () => {
      try {
        spin();
      } catch (error) {
        restore(1024);
        throw new Error("the glue's own error", { cause: error });
      }
    };
    cue = flagSet;
    const timedOut = meter.run(glue, {
      timeout: WARM_UP_TIMEOUT_MS,
      label: "the meter's warm-up",
    });
    cue = () => (signal.stop("the meter's warm-up"), flagSet());
    const stopped = meter.run(glue, {
      stop: signal,
      label: "the meter's warm-up",
    });
    status.outcomes.push(timedOut.outcome, stopped.outcome);
  } catch (error) {
    // Only a warm-up: the first stop runs the same code, and reports.
    status.error = error;
  }
}

/**
 * How many times this process has run {@linkcode warmMeterStopPath}'s
 * warm-up, how its two runs ended, and what it threw, if anything: for
 * tests.
 *
 * @returns The count, the outcomes and the error.
 */
export function meterWarmUpStatus(): {
  runs: number;
  outcomes: string[];
  error?: unknown;
} {
  return { ...status, outcomes: [...status.outcomes] };
}
