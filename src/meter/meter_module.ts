/**
 * The module a {@linkcode FuelMeter} runs: its source and options checked
 * against each other, and its bytes rewritten to count fuel and read the
 * stop flag (or the rewriter's output it was given, taken as it is).
 *
 * @module
 */

import { unshared } from "../bytes.ts";
import type { InstrumentedModule, InstrumentOptions } from "../wasm/mod.ts";
import { hasStartFunction } from "../module/signatures.ts";
import {
  checkLimits,
  DEFAULT_ARRAY_BYTES,
  limitGuest,
  type ResourceLimits,
} from "../module/limits.ts";
import {
  checkInstanceSize,
  checkInstantiation,
  checkSizedAllocations,
} from "../module/instance_size.ts";
import { resolveCosts } from "../wasm/costs.ts";
import type { MeterRewriter } from "./meter_cache.ts";
import { checkDeadlineOnlyMeter } from "./meter_deadline_only.ts";
import { HAS_JSPI } from "../call/jspi.ts";
import { isInstance, readSafely } from "../thrown_values.ts";
import { describeValue } from "../option_checks.ts";
import { DETACHED, isDetached, sourceHint } from "../module/source_hints.ts";
import { readOptions } from "../option_names.ts";
import {
  checkBooleanValue,
  checkFuelValue,
  checkFunctionValue,
} from "../option_checks.ts";
import { meteringFor } from "./meter_tank.ts";
import {
  FUEL_METER_OPTION_NAMES,
  type FuelMeterOptions,
} from "./meter_options.ts";
import { checkFuel } from "./meter_checks.ts";

/** What `new FuelMeter` made of its source and options. */
export interface MeterModule {
  /** The options, read once (see `option_names.ts`). */
  options: FuelMeterOptions;
  /** The module the meter runs. */
  metered: InstrumentedModule;
  /**
   * Whether the meter rewrote bytes itself, and so supplies the stop flag's
   * imports; a host that gave it the rewriter's output supplies its own.
   */
  rewritten: boolean;
  /** The starting budget: `Infinity` for a deadline-only meter. */
  fuel: number;
  /** `false` for a deadline-only meter (`fuel: false`). */
  countsFuel: boolean;
  /** The `limits` option, checked. */
  limits: ResourceLimits | undefined;
}

/**
 * Checks a meter's source and options, and rewrites the source's bytes.
 * {@linkcode FuelMeter.create} may run this twice (see `meter_cache.ts`),
 * so it has no effect outside what it returns.
 *
 * @param source The module's bytes, or the rewriter's output.
 * @param options As given to the constructor.
 * @param costs Operator costs for the rewriter.
 * @param meterRewrite How to rewrite: at once, or through the rewrite cache.
 * @returns The module to run, and what the meter needs of its options.
 */
export function meterModule(
  source: Uint8Array | ArrayBuffer | InstrumentedModule,
  options: FuelMeterOptions,
  costs: InstrumentOptions | undefined,
  meterRewrite: MeterRewriter,
): MeterModule {
  options = readOptions(options, FUEL_METER_OPTION_NAMES, "new FuelMeter", {
    costs:
      "the rewriter's options go third: new FuelMeter(bytes, options, { costs })",
  });
  if (options.cache !== undefined) {
    throw new TypeError(
      "new FuelMeter cannot read a cache, which is read asynchronously: make the meter with await FuelMeter.create(bytes, { cache })",
    );
  }
  // Looked at so that no look throws: a revoked proxy would make the
  // engine's TypeError, which names no option.
  if (isDetached(source)) {
    throw new TypeError(`FuelMeter cannot meter the bytes: ${DETACHED}`);
  }
  if (isInstance(source, ArrayBuffer)) {
    source = new Uint8Array(source as ArrayBuffer);
  }
  if (
    !isInstance(source, Uint8Array) &&
    !isInstance(readSafely(source, "bytes"), Uint8Array)
  ) {
    throw new TypeError(
      `FuelMeter meters a module's bytes: pass a Uint8Array or an ArrayBuffer of the .wasm file, or what instrument() returned (a compiled WebAssembly.Module cannot be rewritten); got ${
        describeValue(source)
      }${
        typeof source === "string" || isInstance(source, URL)
          ? " (read its bytes first: await Deno.readFile(path))"
          : sourceHint(source) ?? ""
      }`,
    );
  }
  source = source as Uint8Array | InstrumentedModule;
  // Another thread may write bytes over a SharedArrayBuffer while the meter
  // checks and rewrites them, so that what a check passed is not what is
  // rewritten (as a plain load's count of memories once let 101 through):
  // one copy serves every pass.
  if (source instanceof Uint8Array) source = unshared(source);
  // A truthy value of another type would be taken for true (`stopFlag:
  // "no"` gave a stop flag), a hook of another type found only when due.
  for (const name of ["resumable", "stopFlag", "suspend"] as const) {
    checkBooleanValue(options[name], `new FuelMeter's ${name}`);
  }
  checkFunctionValue(
    options.poll,
    "new FuelMeter's poll",
    "each time the guest asks for fuel",
  );
  checkFunctionValue(
    options.refuel,
    "new FuelMeter's refuel",
    "with the shortfall when the guest runs out of fuel",
  );
  checkFuelValue(options.fuel, "new FuelMeter's fuel", true);
  const countsFuel = options.fuel !== false;
  if (!countsFuel) {
    checkDeadlineOnlyMeter(source instanceof Uint8Array, options);
  }
  const fuel = options.fuel === false
    ? Infinity
    : checkFuel(options.fuel ?? Infinity, "fuel");
  const resumable = source instanceof Uint8Array
    ? options.resumable ?? true
    : source.resumable;
  if (options.stopFlag === true && !resumable) {
    throw new TypeError(
      "a stop flag stops a call at its deadline or StopSignal, which a meter whose guest traps as soon as its fuel is spent cannot be given: drop stopFlag, or make the meter with resumable: true",
    );
  }
  if (
    (options.suspend ?? false) && HAS_JSPI && countsFuel && resumable &&
    hasStartFunction(source instanceof Uint8Array ? source : source.bytes)
  ) {
    // Its first check asks the meter for fuel from inside attach, a plain
    // call outside WebAssembly.promising, where V8 refuses every call of a
    // suspending import (SuspendError), one that would not suspend too.
    throw new TypeError(
      "FuelMeter: a module with a start function cannot be metered with suspend: true, since its start function runs as the instance is attached, a plain call, where no call of the meter's suspending import is allowed: make the meter without suspend (and call it with run, not runAsync)",
    );
  }
  const limits = checkLimits(options.limits, "FuelMeter");
  if (limits !== undefined && !(source instanceof Uint8Array)) {
    throw new TypeError(
      "FuelMeter: limits are written into the module's bytes: pass its bytes rather than what instrument() returned",
    );
  }
  let metered: InstrumentedModule;
  if (source instanceof Uint8Array) {
    // The cache's second run is given the rewrite the first asked for,
    // of the bytes the first checked and limited (see `meter_cache.ts`).
    const checked = meterRewrite.checked === true;
    // Without limits.tables or limits.memory, their defaults.
    const bytes = checked ? source : limitGuest(source, limits, "the module");
    // Before anything instantiates it, which nothing can cut short.
    // Its bodies are checked as they are rewritten.
    if (!checked) checkInstanceSize(source, "the module", false);
    const zones = options.stopsWaitFor;
    const stopFlag = resumable && options.stopFlag !== false;
    const rewrite = meterRewrite(bytes, {
      ...costs,
      ...meteringFor(fuel, resumable),
      exportStackPointer: true,
      stopFlag,
      // So that `attach` can tell an instance made with another meter's
      // imports, whose flag no stop of this meter would set.
      exportStopFlag: stopFlag,
      // One allocation holds the thread whole: its size bounds how late
      // a stop lands.
      ...(stopFlag
        ? { arrayBytes: limits?.arrays ?? DEFAULT_ARRAY_BYTES }
        : {}),
      // Deadline-only: the flag's checks alone, trapping at once.
      fuel: countsFuel,
      stopFlagTraps: !countsFuel,
      stopsWaitFor: zones === false ? undefined : zones,
      stopsWaitForAllocator: resumable && zones !== false && countsFuel,
      // Its functions dear to compile, which `attach` has compiled before
      // the library's first call needs them (`meter_precompile.ts`).
      precompile: stopFlag,
      // Run by `attach`, under the stops it is given, rather than inside
      // the loader's instantiation, where none reaches it.
      deferStart: hasStartFunction(bytes),
    }, bytes !== source);
    metered = rewrite.metered;
    // Before any loader instantiates what the guest asks for.
    checkInstantiation(
      rewrite.info.footprint,
      resolveCosts(costs?.costs),
      fuel,
      "the module",
    );
    checkSizedAllocations(rewrite.info.footprint, "the module");
  } else metered = source;
  return {
    options,
    metered,
    rewritten: source instanceof Uint8Array,
    fuel,
    countsFuel,
    limits,
  };
}
