/**
 * {@linkcode FuelMeter.wrapExports}: an instance's exports whose functions
 * each run through `meter.run` when the glue calls them outside every run,
 * so that a library's own calls (emscripten's constructors at its start,
 * Go's entries from its timers) get a deadline, a `StopSignal` or a fuel
 * cap too. Inside a run they are the instance's own functions, under that
 * run's stops: runs do not nest.
 *
 * @module
 */

import type { FuelMeter } from "./fuel.ts";
import {
  checkMeterRunOptions,
  meterRunning,
  type MeterRunOptions,
} from "./meter_run.ts";

/**
 * Wraps each exported function of `exports` (the rest pass as they are).
 *
 * @param meter The meter the instance is attached to.
 * @param exports The instance's exports.
 * @param options The stops of each call made outside a run.
 * @returns A frozen object of the same names.
 */
export function wrapMeterExports(
  meter: FuelMeter,
  exports: WebAssembly.Exports,
  options: MeterRunOptions,
): WebAssembly.Exports {
  // Read once, checked now: a refused option is the caller's mistake here,
  // not the first call's.
  options = checkMeterRunOptions(meter, options, "FuelMeter.wrapExports");
  const wrapped: WebAssembly.Exports = {};
  for (const [name, value] of Object.entries(exports)) {
    if (typeof value !== "function") {
      wrapped[name] = value;
      continue;
    }
    const fn = value as (...args: unknown[]) => unknown;
    // Made once per export, not once per call.
    const runOptions = { ...options, label: options.label ?? name };
    wrapped[name] = function (...args: unknown[]) {
      if (meterRunning(meter)) return fn(...args);
      const outcome = meter.run(() => fn(...args), runOptions);
      if (outcome.outcome === "returned") return outcome.value;
      // What the glue's own imports threw goes back to the glue as it was
      // thrown (emscripten unwinds with its own throws); a stop or a trap
      // as its branded error.
      throw outcome.outcome === "error" ? outcome.error.cause : outcome.error;
    };
  }
  return Object.freeze(wrapped);
}
