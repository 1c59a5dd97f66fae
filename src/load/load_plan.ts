/**
 * What a load will do, read from its options before it reads a byte: every
 * option checked, and whether the guest is rewritten, metered and stoppable.
 *
 * @module
 */

import type { GuestOptions } from "./guest_options.ts";
import { HAS_JSPI } from "../call/jspi.ts";
import { openCache, type RewriteCache } from "../cache/rewrite_cache.ts";
import {
  checkBooleanValue,
  checkFuelAndTimeout,
  checkFuelValue,
  checkImportsValue,
  checkLabelValue,
} from "../option_checks.ts";
import { readOptions } from "../option_names.ts";
import { checkCompileOptions } from "../module/compile_options.ts";
import { type InterruptOptions, readInterruptOption } from "./imports.ts";
import { checkSource, type GuestSource } from "./load.ts";
import { checkLimits, type ResourceLimits } from "../module/limits.ts";
import { withHostStop } from "../watchdog/caller_stop_signal.ts";

/** A load's options, checked, and what they ask of it. */
export interface LoadPlan {
  /** The options as read, once (a getter is not read twice). */
  options: GuestOptions;
  /** Whether fuel is counted: not a deadline-only guest (`fuel: false`). */
  countsFuel: boolean;
  /** Whether the load was given a `timeout`, `signal` or `stop`. */
  stopsGiven: boolean;
  /**
   * Whether the guest's calls (or its start function) can be stopped by a
   * deadline, an abort or a StopSignal: it reads a stop flag the watchdog
   * sets.
   */
  stoppable: boolean;
  /** Whether the guest is rewritten with checks. */
  metered: boolean;
  /** Whether its bytes are rewritten at all: metered, or limits written in. */
  rewritten: boolean;
  /** The limits written into the guest, when given. */
  limits: ResourceLimits | undefined;
  /** How `env.interrupt_execution` is supplied (false: not at all). */
  interrupt: InterruptOptions | false;
  /** The cache its rewrite is read from and written to, when given. */
  cache: RewriteCache | undefined;
}

/** Every option `loadGuest` takes. */
const GUEST_OPTION_NAMES: readonly (keyof GuestOptions)[] = [
  "imports",
  "interrupt",
  "fuel",
  "costs",
  "limits",
  "timeout",
  "signal",
  "stop",
  "async",
  "asyncImports",
  "label",
  "compile",
  "interruptible",
  "cache",
];

/**
 * Reads and checks a load's options against its source, before anything is
 * read or started.
 *
 * @param source What the guest is loaded from.
 * @param given The options as the caller gave them.
 * @returns The plan of the load.
 * @throws {TypeError} When an option is not of its type, or asks for what
 *   the source cannot give (checks written into a compiled module).
 */
export function planLoad(source: GuestSource, given: GuestOptions): LoadPlan {
  const options = withHostStop(
    readOptions(given, GUEST_OPTION_NAMES, "loadGuest", {
      refuel: "it is a call's option: give it to invokeAsync",
    }),
    "loadGuest",
  );
  const countsFuel = options.fuel !== false;
  // The fuel's own check takes false (deadline-only) too; the rest here.
  checkFuelValue(options.fuel, "loadGuest's fuel", true);
  checkFuelAndTimeout({ ...options, fuel: undefined }, "loadGuest");
  if (!countsFuel && options.costs !== undefined) {
    throw new TypeError(
      "loadGuest was given costs with fuel: false: costs price fuel, which fuel: false does not count; drop costs, or give fuel a budget (Infinity for none)",
    );
  }
  checkBooleanValue(options.async, "loadGuest's async");
  checkBooleanValue(options.interruptible, "loadGuest's interruptible");
  checkLabelValue(options.label, "loadGuest's label");
  const interrupt = readInterruptOption(options.interrupt);
  if (options.imports !== undefined && typeof options.imports !== "function") {
    // Its shape now; the modules the guest imports once they are known.
    checkImportsValue(options.imports, "loadGuest's imports", []);
  }
  const limits = checkLimits(options.limits, "loadGuest");
  // The engine is given the options as read, not the caller's object.
  const compile = checkCompileOptions(options.compile, "loadGuest");
  if (compile !== undefined) options.compile = compile;
  checkSource(source);
  // A signal or StopSignal needs checks too: they stop the start function.
  const stopsGiven = options.timeout !== undefined ||
    options.signal !== undefined || options.stop !== undefined;
  const metered = options.fuel !== undefined || options.costs !== undefined ||
    stopsGiven || options.async === true || options.interruptible === true;
  if (options.async && !HAS_JSPI) {
    throw new TypeError(
      "async guests need JSPI (WebAssembly.Suspending), which Deno has from 2.4 on",
    );
  }
  if (metered && source instanceof WebAssembly.Module) {
    // Named by what asked for the rewrite: fuel is only one of its reasons.
    const why = countsFuel &&
        (options.fuel !== undefined || options.costs !== undefined)
      ? "fuel metering rewrites the guest's bytes"
      : stopsGiven
      ? "a deadline, signal or StopSignal needs checks written into the guest's bytes"
      : options.fuel === false
      ? "a deadline-only guest (fuel: false) needs checks written into its bytes"
      : options.async === true
      ? "an async guest needs checks written into its bytes"
      : "an interruptible guest needs checks written into its bytes";
    checkSource(source, why);
  }
  if (limits !== undefined && source instanceof WebAssembly.Module) {
    throw new TypeError(
      "limits are written into the guest's bytes: pass bytes, a path or a URL rather than a compiled WebAssembly.Module",
    );
  }
  return {
    options,
    countsFuel,
    stopsGiven,
    stoppable: stopsGiven || options.async === true ||
      options.interruptible === true || options.fuel === false,
    metered,
    rewritten: metered || limits !== undefined,
    limits,
    interrupt,
    cache: options.cache === undefined
      ? undefined
      : openCache(options.cache, "loadGuest"),
  };
}
