/**
 * A metered guest's load between its bytes and its instance: the rewrite
 * (through the cache when there is one), the checks of what instantiating
 * it would allocate, its `FuelMeter` and stop flag, and its compile.
 *
 * @module
 */

import {
  callRefuel,
  type CallState,
  stoppedByHost,
} from "../call/call_state.ts";
import { type StopFlagHost, stopFlagHost } from "../call/stop_flag_host.ts";
import {
  type CachedRewrite,
  type RewriteCache,
  rewriteThrough,
} from "../cache/rewrite_cache.ts";
import { InvalidModule, isInvalidModule } from "../errors.ts";
import { FuelMeter, meterCalls } from "../meter/fuel.ts";
import { meteringFor } from "../meter/meter_tank.ts";
import { HAS_JSPI } from "../call/jspi.ts";
import type { GuestOptions } from "./guest_options.ts";
import { resolveCosts } from "../wasm/costs.ts";
import type { Footprint } from "../wasm/footprint.ts";
import { instrumentSteps, type StopFlagImports } from "../wasm/instrument.ts";
import type { InstrumentOptions } from "../wasm/mod.ts";
import type { ImportEntry } from "../wasm/module.ts";
import type { InPlace } from "../wasm/output_plan.ts";
import { keptFromEngine } from "../wasm/reader.ts";
import { readSections } from "../wasm/sections.ts";
import { boundFlag } from "../watchdog/watchdog.ts";
import {
  addedImportModule,
  type CompileOptions,
} from "../module/compile_options.ts";
import { sharedBufferOnThread, startCompileThread } from "./compile_thread.ts";
import { dataReach } from "./data_prefault.ts";
import {
  liftDataSteps,
  type LiftedData,
  liftSettings,
  memoryBytesOf,
} from "./data_lift.ts";
import {
  checkInstantiation,
  checkSizedAllocations,
} from "../module/instance_size.ts";
import { DEFAULT_ARRAY_BYTES } from "../module/limits.ts";
import { compileBytes, STREAM_CHUNK } from "./load.ts";
import type { LoadPlan } from "./load_plan.ts";
import type { LoadStops } from "./load_stops.ts";
import { describeModule, type ModuleSignatures } from "../module/signatures.ts";

const START_SECTION = 8;

/** What a metered load has read and decided by the time it rewrites. */
export interface MeterInputs {
  /** The load's stops. */
  stops: LoadStops;
  /** The load's options and what they ask of it. */
  plan: LoadPlan;
  /** The guest's name in messages. */
  label: string;
  /** The state its calls will share; the meter and flag are set on it. */
  state: CallState;
  /** The bytes to rewrite: the guest's, with its limits written in. */
  bytes: Uint8Array;
  /** The guest's bytes as given, for the engine's verdict on them. */
  original: Uint8Array;
  /** Puts `original` back together, when the limits were written over it. */
  restore?: () => Uint8Array;
  /** Whether the guest reads a stop flag (a stoppable one, or one whose heap the host watches). */
  flagged: boolean;
  /** Whether `bytes` are the load's own to write over (see rewriteGuest). */
  owned: boolean;
  /** Whether a cache hit may build its output in the buffer of `bytes`. */
  consumable: boolean;
  /** Whether the rewrite builds its output over `bytes` where there is room. */
  overInput: boolean;
  /** A stoppable guest whose fuel checks trap (see `InternalLoadOptions`). */
  trappingFuel: boolean;
  /** Whether guests of any size are loaded (see `InternalLoadOptions`). */
  anySize: boolean;
}

/** A metered guest, compiled, and what its rewrite tells the host. */
export interface MeteredModule {
  /** The compiled rewrite. */
  module: WebAssembly.Module;
  /** The guest's own imports and exports, as the rewriter read them. */
  signatures: ModuleSignatures;
  /** The module the rewrite's added imports come from. */
  importModule: string;
  /** The export the rewrite made of the guest's start function. */
  startExport?: string;
  /** The export that compiles the guest's functions dear to compile. */
  precompile?: { export: string; functions: number };
  /** The memories and flag the rewrite imports, when it reads a stop flag. */
  stopFlag?: StopFlagImports;
  /** The host of the guest's stop flag, when it reads one. */
  flagHost?: StopFlagHost;
  /** The imports the guest declares. */
  imports: readonly ImportEntry[];
  /** What instantiating the guest allocates. */
  footprint: Footprint;
  /** The first memory, made by the host, that the guest's data goes into. */
  dataTarget?: { name: string; reach: number };
  /** The guest's data, taken out of the module for the host to write. */
  lifted?: LiftedData;
}

/**
 * Rewrites a guest for metering, checks what instantiating it would
 * allocate, gives its call state a `FuelMeter` (and a stop flag when it
 * reads one), and compiles it.
 *
 * @param inputs What the load has read and decided.
 * @returns The compiled rewrite and what the host needs to instantiate it.
 */
export async function meterGuest(inputs: MeterInputs): Promise<MeteredModule> {
  const { stops, plan, label, state, bytes, original, flagged } = inputs;
  const { options, countsFuel } = plan;
  let restore = inputs.restore;
  const fuel = options.fuel === false ? Infinity : options.fuel ?? Infinity;
  const addedModule = addedImportModule(options.compile);
  const overInput: InPlace | undefined = inputs.overInput ? {} : undefined;
  // Whether the start function of a guest loaded for plain calls runs as
  // an async call does (see yieldsInStart).
  let startYields = false;
  const rewrite = await stops.race(rewriteGuest(
    stops,
    bytes,
    label,
    options.compile,
    plan.cache,
    inputs.owned,
    inputs.consumable,
    (start) => {
      startYields = yieldsInStart(options, start);
      return {
        costs: options.costs,
        // Only an async guest's checks ask the host for more fuel (to yield
        // and refuel); a plain call's fuel checks trap when the budget is
        // spent, which V8 optimises much better, and its stops come through
        // the flag. A start function runs before the host can read the
        // counter of a guest that traps, so such a guest asks instead. The
        // meter fills the counter as it attaches, before any call: the
        // budget stays out of the module, and one rewrite (and one cache
        // entry) serves every budget.
        ...meteringFor(
          fuel,
          (options.async === true && !inputs.trappingFuel) || start,
        ),
        initialFuel: 0n,
        // A guest that can be stopped reads a stop flag the watchdog sets,
        // and its start function runs as a watched call once it is
        // instantiated.
        stopFlag: flagged,
        // One allocation holds the thread whole: its size bounds how
        // late a stop lands (a guest with a flag for its heap alone
        // has no stop to land).
        ...(plan.stoppable
          ? { arrayBytes: plan.limits?.arrays ?? DEFAULT_ARRAY_BYTES }
          : {}),
        ...flagChecks(
          flagged,
          countsFuel,
          options.async === true || startYields,
        ),
        deferStart: flagged,
        // Its functions dear to compile, reachable by the compile
        // thread, which compiles them ahead (`precompile.ts`).
        precompile: plan.stoppable,
        validate: false,
        // Never a module the engine supplies itself.
        ...(addedModule === undefined ? {} : { importModule: addedModule }),
      };
    },
    overInput,
  ));
  // Built over the guest's bytes: the engine's verdict, should it be
  // asked for, reads them put back first.
  const rebuild = overInput?.restore;
  if (rebuild !== undefined) {
    const limited = restore;
    restore = () => {
      rebuild();
      return limited?.() ?? original;
    };
  }
  // Before the host or the engine allocates anything the guest asks for
  // (the stop flag's host creates the guest's memories).
  try {
    checkInstantiation(
      rewrite.info.footprint,
      resolveCosts(options.costs),
      fuel,
      label,
    );
    if (!inputs.anySize) {
      checkSizedAllocations(rewrite.info.footprint, label);
    }
  } catch (error) {
    // The rewrite skipped validation: an invalid guest (a memory past
    // the engine's limit) is refused as such, not as over its budget. A
    // cache hit compiled already (and may have built its output in the
    // guest's buffer).
    if (rewrite.module === undefined) {
      const given = restore?.() ?? original;
      if (!WebAssembly.validate(given as Uint8Array<ArrayBuffer>)) {
        await compileBytes(given, label, options.compile);
      }
    }
    throw error;
  }
  const { stopFlag } = rewrite.metered;
  // The guest's first memory, when it defines it (the host makes it
  // fresh), is where its data segments go, as a rule.
  const first = stopFlag?.memories.find((memory) =>
    memory.index === 0 && memory.name !== stopFlag.memory
  );
  const dataTarget = first === undefined ? undefined : {
    name: first.name,
    reach: dataReach(rewrite.info.footprint.dataBytes),
  };
  state.meter = new FuelMeter(rewrite.metered, {
    fuel,
    poll: () => state.poll?.() ?? false,
    refuel: (shortfall) => callRefuel(state, shortfall),
    suspend: options.async ?? false,
  });
  state.fuelChecks = rewrite.metered.fuel;
  meterCalls.onStop(state.meter, () => stoppedByHost(state));
  meterCalls.forGuest(state.meter);
  let flagHost: StopFlagHost | undefined;
  if (stopFlag !== undefined) {
    // A call's deadline, and an async call's ticks, each use a slot.
    const bound = boundFlag(options.async || startYields ? 2 : 1);
    flagHost = stopFlagHost(
      stopFlag,
      state,
      options.async ?? false,
      bound,
      plan.limits?.heap,
      startYields,
    );
    state.flag = flagHost.flag;
  }
  // The data of a first memory the host makes, written by the host in
  // steps: a stoppable load's instantiation then copies none of it.
  const memoryBytes = first === undefined
    ? undefined
    : memoryBytesOf(first.descriptor);
  // As written (the meter's bytes are a plain copy of shared ones,
  // made when they are asked for).
  const written = rewrite.metered.bytes;
  const lifted = plan.stopsGiven && rewrite.module === undefined &&
      memoryBytes !== undefined &&
      rewrite.info.footprint.dataBytes > liftSettings.minBytes
    ? await stops.runSteps(
      liftDataSteps(written, memoryBytes, liftSettings.minBytes),
    )
    : undefined;
  const module = rewrite.module ?? await stops.race(compileRewritten(
    lifted?.bytes ?? written,
    restore ?? original,
    label,
    options.compile,
    stops.signal,
  ));
  return {
    module,
    signatures: describeModule(rewrite.info),
    importModule: rewrite.metered.importModule,
    startExport: rewrite.metered.startExport,
    precompile: rewrite.metered.precompile,
    stopFlag,
    flagHost,
    imports: rewrite.info.imports,
    footprint: rewrite.info.footprint,
    dataTarget,
    lifted,
  };
}

/**
 * How a stoppable guest's checks are written. A guest loaded with
 * `fuel: false` gets no fuel checks. Unless its calls are async (whose flag
 * checks ask the host, which suspends them to yield), a set flag traps at
 * once rather than calling the host: V8 optimises a loop with a call in it,
 * even one never made, much worse. The host never lets such a guest go on
 * past a set flag, so the flag is only set for a stop: deadlines and
 * StopSignals from the watchdog's slots, judged by its clock, and never
 * after the call that armed them has ended.
 */
function flagChecks(
  flagged: boolean,
  countsFuel: boolean,
  async: boolean,
): Pick<InstrumentOptions, "fuel" | "stopFlagTraps"> {
  if (!flagged) return {};
  return { fuel: countsFuel, stopFlagTraps: !async };
}

/**
 * Whether the start function of a guest loaded for plain calls must yield
 * to the event loop as it runs: the load's `signal` fires only there, and
 * a start function that held the thread would keep it from ever firing
 * (one that never ended held the load for ever). It then runs through JSPI
 * as an async call does, its flag checks ask the host (a plain guest's
 * trap), and its later calls are plain.
 */
function yieldsInStart(options: GuestOptions, hasStart: boolean): boolean {
  return hasStart && HAS_JSPI && options.signal !== undefined &&
    options.async !== true;
}

/**
 * Rewrites a guest for metering, through the cache when there is one. When
 * the rewriter refuses the module, the engine's verdict on the guest's own
 * bytes comes first: an invalid module gets the same message metered or not.
 * A rewrite read from the cache is compiled here, so that one the engine
 * refuses is rewritten and replaced.
 */
async function rewriteGuest(
  stops: LoadStops,
  bytes: Uint8Array,
  label: string,
  compile: CompileOptions | undefined,
  cache: RewriteCache | undefined,
  owned: boolean,
  consumable: boolean,
  options: (hasStart: boolean) => InstrumentOptions,
  overInput?: InPlace,
): Promise<CachedRewrite & { module?: WebAssembly.Module }> {
  try {
    // In steps, so that the load's stops can end a long rewrite. The event
    // loop's turns between them let the caller's code run: a stoppable or
    // cached load's bytes are its own (`owned`), copied when they were not.
    // Only the section headers: the rewrite is the one read of the module.
    let hasStart = false;
    for (const { id } of readSections(bytes)) hasStart ||= id === START_SECTION;
    const rewrite = (from: Uint8Array, settings: InstrumentOptions) =>
      stops.runSteps(instrumentSteps(from, settings));
    if (cache === undefined) {
      return await stops.runSteps(
        instrumentSteps(
          bytes,
          options(hasStart),
          stops.watched ? sharedOutput : undefined,
          overInput,
        ),
      );
    }
    let module: WebAssembly.Module | undefined;
    let stopped: { error: unknown } | undefined;
    const cached = await rewriteThrough(
      cache,
      bytes,
      options(hasStart),
      rewrite,
      async (stored) => {
        // A stoppable load compiles a large hit on the compile thread, as
        // it does a fresh rewrite: on this one, the engine's compile holds
        // the event loop (0.4 s for flite's 21.7 MB), so no stop lands.
        try {
          module = await compileBytes(
            stored.bytes,
            label,
            compile,
            stops.signal,
          );
        } catch (error) {
          // A stop broke the compile off: the entry is not at fault, so
          // it is neither rejected nor rewritten.
          if (!stops.signal?.aborted) throw error;
          stopped = { error };
        }
      },
      consumable,
      owned,
    );
    if (stopped !== undefined) throw stopped.error;
    return { ...cached, module };
  } catch (error) {
    // The engine's verdict first, unless asking for it is the harm.
    if (isInvalidModule(error) && !keptFromEngine(error)) {
      // A rewrite built over them (which then failed) puts them back.
      overInput?.restore?.();
      await compileBytes(bytes, label, compile);
    }
    throw error;
  }
}

/**
 * The buffer a stoppable load's rewrite is written into: a large one in
 * shared memory, where the compile thread reads it, rather than a plain
 * one copied there (one buffer of the output's size per load, not two:
 * each load's large buffers are what set V8's collections of this thread's
 * heap off, as external memory, and a stop waits for their pauses).
 */
function sharedOutput(size: number): Uint8Array | Promise<Uint8Array> {
  if (size <= STREAM_CHUNK || !startCompileThread()) {
    return new Uint8Array(size);
  }
  // Made and mapped by the compile thread, so that this thread is not
  // held while the C library zeroes it (see sharedBufferOnThread).
  const made = sharedBufferOnThread(size);
  if (made === undefined) return new Uint8Array(new SharedArrayBuffer(size));
  // No thread after all: the compile falls back to this thread.
  return made.then(
    (buffer) => new Uint8Array(buffer),
    () => new Uint8Array(size),
  );
}

/**
 * Compiles the rewritten guest. Should the engine refuse it, the guest's own
 * bytes say whether the guest was invalid to begin with, or the rewriter
 * made a mistake.
 *
 * @param rewritten The rewritten bytes.
 * @param original The guest's own bytes, or how to put them back together.
 * @param label The guest's name in messages.
 * @param compile The engine's compile options.
 * @param stream A signal that breaks a streamed compile off.
 * @returns The compiled module.
 */
export async function compileRewritten(
  rewritten: Uint8Array,
  original: Uint8Array | (() => Uint8Array),
  label: string,
  compile: CompileOptions | undefined,
  stream?: AbortSignal,
): Promise<WebAssembly.Module> {
  try {
    return await compileBytes(rewritten, label, compile, stream);
  } catch (error) {
    // A stop broke the stream off: the load has ended with the stop's error.
    if (stream?.aborted) throw error;
    await compileBytes(
      typeof original === "function" ? original() : original,
      label,
      compile,
    );
    // The engine's own words, not compileBytes's sentence about the guest.
    const engine = (error as Error).cause ?? error;
    throw new InvalidModule(
      `${label} is valid, but its metered rewrite is not (a bug in early-exit; please report it): ${
        (engine as Error).message
      }`,
      { cause: engine },
    );
  }
}
