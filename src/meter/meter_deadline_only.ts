/**
 * What a deadline-only {@linkcode FuelMeter} (`new FuelMeter(bytes,
 * { fuel: false })`) refuses, each with one line saying why and what to do
 * instead: the options that only make sense when fuel is counted.
 *
 * Such a meter's guest counts no fuel, and a check that finds its stop flag
 * set traps at once, without asking the host (a loop with a call in it, even
 * one never made, is optimised much worse by V8). So nothing can be paid
 * from a budget or a grace, the guest cannot be let go on after a stop (no
 * soft stops, no waiting for a no-stop zone, no yields), and the meter
 * learns of a stop when the call comes back.
 *
 * @module
 */

import { ExportError } from "../load_errors.ts";
import type { FuelMeterOptions } from "./meter_options.ts";
import type { MeterRunOptions } from "./meter_run.ts";

/** How to get a meter that counts fuel, for the messages. */
const COUNTED =
  "make the meter with a fuel budget (new FuelMeter(bytes) for an unlimited one)";

/**
 * Refuses what a deadline-only meter cannot do, when it is made.
 *
 * @param bytesGiven Whether the meter was given the module's bytes.
 * @param options The meter's options.
 * @throws {TypeError} For an option that needs fuel counted.
 */
export function checkDeadlineOnlyMeter(
  bytesGiven: boolean,
  options: FuelMeterOptions,
): void {
  const refuse = (what: string, why: string) => {
    throw new TypeError(
      `FuelMeter was given ${what} with fuel: false: ${why}; drop it, or ${COUNTED}`,
    );
  };
  if (!bytesGiven) {
    throw new TypeError(
      "FuelMeter with fuel: false rewrites the module itself: pass its bytes rather than what instrument() returned",
    );
  }
  if (options.resumable === false) {
    refuse(
      "resumable: false",
      "a guest that traps when its fuel is spent needs fuel counted",
    );
  }
  if (options.stopFlag === false) {
    refuse(
      "stopFlag: false",
      "the stop flag is the only check such a guest has, so nothing could stop it",
    );
  }
  if (options.poll !== undefined) {
    refuse("poll", "the guest never asks for fuel, so poll would never run");
  }
  if (options.refuel !== undefined) {
    refuse(
      "refuel",
      "the guest never asks for fuel, so refuel would never run",
    );
  }
  if (options.suspend === true) {
    refuse(
      "suspend: true",
      "its checks trap at once, so they cannot suspend the guest for runAsync (use run with a timeout or a StopSignal)",
    );
  }
  const zones = options.stopsWaitFor;
  if (zones !== undefined && zones !== false && zones.length > 0) {
    refuse(
      "stopsWaitFor",
      "a stop waits for a no-stop zone on grace fuel, which such a guest does not count",
    );
  }
}

/**
 * Refuses what a run of a deadline-only meter cannot do.
 *
 * @param options The run's options.
 * @param what `FuelMeter.run`, for the message.
 * @throws {ExportError} For an option that needs fuel counted.
 */
export function checkDeadlineOnlyRun(
  options: MeterRunOptions,
  what: string,
): void {
  const refuse = (given: string, why: string) => {
    throw new ExportError(
      `${what} was given ${given}, but this meter was made with fuel: false, ${why}; drop it, or ${COUNTED}`,
    );
  };
  if (options.fuel !== undefined) {
    refuse(`fuel: ${options.fuel}`, "which counts none");
  }
  if (options.soft === true) {
    refuse("soft: true", "whose guest runs on no grace fuel after a stop");
  }
  if (options.grace !== undefined && options.grace !== 0) {
    refuse(
      `grace: ${options.grace}`,
      "whose guest traps at every check after a stop (grace 0)",
    );
  }
  if (options.onStopping !== undefined) {
    refuse(
      "onStopping",
      "whose guest traps at its check without calling the host",
    );
  }
}
