/**
 * Loads a guest: reads and compiles its module, meters it when asked to,
 * builds its imports, and instantiates it.
 *
 * @module
 */

import { inSharedMemory } from "../bytes.ts";
import { allocatesOnHeapSteps } from "../call/heap_limit.ts";
import {
  callRefuel,
  newCallState,
  requestStop,
  stoppedByHost,
} from "../call/call_state.ts";
import {
  type InterruptDetails,
  Interrupted,
  InvalidModule,
  isInvalidModule,
} from "../errors.ts";
import { FuelMeter, meterCalls } from "../meter/fuel.ts";
import { meteringFor } from "../meter/meter_tank.ts";
import { HAS_JSPI } from "../call/jspi.ts";
import { LoadStops } from "./load_stops.ts";
import {
  checkStopOutsideGuest,
  importedMemories,
} from "../call/stop_in_guest_memory.ts";
import { readOptions } from "../option_names.ts";
import { assembleGuest, type Guest, runStart } from "../call/guest.ts";
import type { GuestOptions, HostControls } from "../call/guest_options.ts";
import {
  buildImports,
  describeImports,
  readInterruptOption,
} from "./imports.ts";
import { instantiate } from "./instantiate.ts";
import {
  checkLimits,
  DEFAULT_ARRAY_BYTES,
  planGuestLimitsSteps,
} from "./limits.ts";
import {
  joinLimitsInPlaceSteps,
  joinLimitsSteps,
  type LimitsPlan,
} from "../wasm/limits.ts";
import {
  checkInstanceSizeSteps,
  checkInstantiation,
  checkSizedAllocations,
} from "./instance_size.ts";
import { checkTypeCountSteps } from "./instantiation_work.ts";
import {
  checkSource,
  compileBytes,
  type GuestSource,
  loadModule,
  STREAM_CHUNK,
} from "./load.ts";
import {
  addedImportModule,
  checkCompileOptions,
  type CompileOptions,
  engineModules,
} from "./compile_options.ts";
import { sharedBufferOnThread, startCompileThread } from "./compile_thread.ts";
import { dataReach, prefaultSteps } from "./data_prefault.ts";
import {
  liftDataSteps,
  type LiftedData,
  liftSettings,
  memoryBytesOf,
  writeData,
  writeDataSteps,
} from "./data_lift.ts";
import {
  checkBooleanValue,
  checkFuelAndTimeout,
  checkFuelValue,
  checkImportsValue,
  checkLabelValue,
} from "../option_checks.ts";
import {
  describeModule,
  type ImportDescriptor,
  type ModuleSignatures,
  readSignatures,
} from "./signatures.ts";
import { type StopFlagHost, stopFlagHost } from "../call/stop_flag_host.ts";
import type { InstrumentOptions } from "../wasm/mod.ts";
import { instrumentSteps, type StopFlagImports } from "../wasm/instrument.ts";
import { startPrecompile } from "./precompile.ts";
import type { ImportEntry } from "../wasm/module.ts";
import type { InPlace } from "../wasm/output_plan.ts";
import { resolveCosts } from "../wasm/costs.ts";
import { keptFromEngine } from "../wasm/reader.ts";
import { readSections } from "../wasm/sections.ts";
import {
  boundFlag,
  startWatchdog,
  watchdogReady,
} from "../watchdog/watchdog.ts";
import { warmStopPath } from "../call/stop_path_warmup.ts";
import { givenError } from "../call/outcome.ts";
import {
  type CachedRewrite,
  openCache,
  type RewriteCache,
  rewriteThrough,
} from "../cache/rewrite_cache.ts";
import { roomForHit } from "../cache/rewrite_splice.ts";

/** The longest a load waits for the watchdog's thread to start. */
const WATCHDOG_WAIT_MS = 5_000;

const START_SECTION = 8;

/**
 * The room a stoppable load's copy of the caller's bytes, or the bytes a
 * load reads from a file, have before them, in which the sections the
 * guest's limits change may grow as they are written over them (esbuild's
 * shrink by 8 bytes; a table given a maximum grows by 3 to 5).
 */
const LIMITS_ROOM = 4096;

/**
 * Loads, compiles and instantiates a guest.
 *
 * @param source A path, a `file:`/`http:`/`https:` URL, bytes, or a compiled module.
 *   A load that watches a stop (or reads a `cache`) copies bytes at one
 *   moment, a turn of the event loop or more after the call: keep them as
 *   they are until its promise settles. Bytes over a `SharedArrayBuffer`,
 *   which another thread may write, are copied first (at the call, or from
 *   the next turn on when the load watches a stop), and only the copy is
 *   read.
 * @param options How to load it: its imports, fuel, stops, limits and the rest (see {@linkcode GuestOptions}).
 * @returns The guest, ready to call.
 * @throws {GuestLoadError} When the source cannot be read or fetched, or (reason
 *   `io`) bytes given were transferred away or resized before the load copied them.
 * @throws {InvalidModule} When the bytes are not a valid module, or cannot be metered.
 * @throws {ImportError} When the guest needs an import that is missing or of the wrong kind.
 * @throws {GuestLoadError} With reason `limits`, when a memory or table starts above its `limits`,
 *   or the guest has more than 100 memories, its tables start with more than 1,000,000 elements,
 *   or its instantiation would hold the thread too long (see the README's Limits).
 * @throws {FuelExhausted} When a metered guest's start function runs out of fuel, or its
 *   instantiation alone (memories, tables, segments, constant allocations) costs more than `fuel`.
 * @throws {DeadlineExceeded} When the start function runs past the `timeout`.
 * @throws {Aborted} When `signal` aborts or `stop` is set before the start function ends.
 * @throws {TypeError} When an option is not of its type, or `stop` is a StopSignal over a shared memory the guest imports.
 *
 * @example Usage
 * ```ts
 * import { loadGuest } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * const guest = await loadGuest(new URL("../../guest/early_exit_guest.wasm", import.meta.url), {
 *   interrupt: { onCall: () => ({ reason: "stop here", code: 7 }) },
 * });
 * assert.throws(() => guest.call("exit_early"), /stop here/);
 * ```
 *
 * @example Metering
 * ```ts
 * import { loadGuest } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * const guest = await loadGuest(new URL("../../guest/compute.wasm", import.meta.url), { fuel: 1000 });
 * const result = guest.invoke("fib", [25]);
 * assert.equal(result.outcome, "fuel_exhausted");
 * assert.equal(result.fuel?.consumed, 1000 - (result.fuel?.remaining ?? 0));
 * guest.meter?.addFuel(10_000_000);
 * assert.equal(guest.call("fib", 20), 6765);
 * ```
 */
export function loadGuest(
  source: GuestSource,
  options: GuestOptions = {},
): Promise<Guest> {
  return loadGuestWith(source, options, {}).catch((error) => {
    throw givenError(error);
  });
}

/** What a loader inside early-exit may ask for beyond {@linkcode GuestOptions}. */
export interface InternalLoadOptions {
  /**
   * A stoppable guest whose fuel checks trap when the budget is spent, for
   * runs that need no refuel: cheaper checks (`runWasi`).
   */
  trappingFuel?: boolean;
  /**
   * Whether the bytes given are this load's to write over: a rewrite
   * cache's hit builds its output in their buffer (the command line, which
   * read them with room for it; see `roomForHit`).
   */
  ownsBytes?: boolean;
  /**
   * Checks the guest's imports before they are built, and throws to refuse
   * the guest (`runWasi`: WASI functions of the wrong type).
   */
  checkImports?: (needed: ImportDescriptor[]) => void;
  /**
   * Given the guest's bytes as soon as they are read, before anything
   * writes over them (`runWasi`: whether it has a start function).
   */
  onBytes?: (bytes: Uint8Array) => void;
  /**
   * Loads a guest with more memories than `MAX_MEMORIES`, more table
   * elements than `MAX_TABLE_ELEMENTS`, or constant expressions allocating
   * more than `MAX_ALLOCATED_ELEMENTS` (an isolated child, where a failed
   * instantiation ends only the child).
   */
  anySize?: boolean;
  /**
   * With `anySize`, still refuses a guest loaded as it is whose functions
   * a rewrite would refuse as too dear to compile (an isolated child that
   * neither meters nor has a deadline: the engine's compile could hold it
   * for ever, or end it).
   */
  checkBodies?: boolean;
  /** See `ImportMode.interruptFix`. */
  interruptFix?: string;
}

/** Every option {@linkcode loadGuest} takes. */
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
 * {@linkcode loadGuest}, with what early-exit's own loaders may ask for.
 *
 * @param source As for {@linkcode loadGuest}.
 * @param options As for {@linkcode loadGuest}.
 * @param internal The internal options.
 * @returns The guest, ready to call.
 */
export async function loadGuestWith(
  source: GuestSource,
  options: GuestOptions,
  internal: InternalLoadOptions,
): Promise<Guest> {
  options = readOptions(options, GUEST_OPTION_NAMES, "loadGuest", {
    refuel: "it is a call's option: give it to invokeAsync",
  });
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
  checkCompileOptions(options.compile, "loadGuest");
  checkSource(source);
  // A signal or StopSignal needs checks too: they stop the start function.
  const stoppable = options.timeout !== undefined ||
    options.signal !== undefined || options.stop !== undefined;
  const metered = options.fuel !== undefined || options.costs !== undefined ||
    stoppable || options.async === true || options.interruptible === true;
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
      : stoppable
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
  const rewritten = metered || limits !== undefined;
  const cache = options.cache === undefined
    ? undefined
    : openCache(options.cache, "loadGuest");
  // Whether the guest reads a stop flag: a stoppable one does, and so does
  // one whose GC allocations the host must look at (found below).
  let flagged = stoppableGuest(options);
  // The load's signal and StopSignal end it wherever it waits; the start
  // function's call watches them from there on.
  const stops = new LoadStops(options.signal, options.stop);
  let guest: Guest;
  try {
    // A load stopped before it begins does not start the watchdog's thread.
    stops.check();
    // Its watchdog thread starts while the guest loads, so that a first call
    // (or the start function) with a short deadline does not wait for it.
    // Creating it holds this thread (tens of milliseconds, once per
    // process); a stop that comes meanwhile ends the load at its first wait.
    if (flagged) startWatchdog();
    // Bytes over a SharedArrayBuffer can change under the load as another
    // thread writes them, and a check that passed on what it read would not
    // hold for what the engine then compiles (a plain load's count of a
    // guest's memories, beside a thread that wrote them, let 101 through
    // about once in 1,500 loads): every pass reads one copy of them, made at
    // once (in pieces, turns apart, when the load watches a stop).
    if (source instanceof Uint8Array && inSharedMemory(source)) {
      source = await stops.snapshot(source, options.label ?? "bytes");
    }
    // A metered guest is read once, by the rewriter, and compiled once, after
    // the rewrite.
    // Bytes read here are this load's to give away: a cache hit builds its
    // output in their buffer, read with room for it.
    const readHere = typeof source === "string" || source instanceof URL;
    const owned = internal.ownsBytes === true ||
      !(source instanceof Uint8Array || source instanceof ArrayBuffer);
    const consumable = cache !== undefined && metered && limits === undefined &&
      owned;
    // Without a cache, a rewrite of bytes read here, or given to be written
    // over (the command line's), that watches no stop (a stoppable one
    // writes its output where the compile thread reads it), builds its
    // output over them where their buffer has room: bytes read here are
    // read with room for it.
    const rewritesInPlace = metered && cache === undefined &&
      (readHere || internal.ownsBytes === true) && !stops.watched;
    // A guest compiled as it is is checked before the engine sees it: the
    // engine's validation of some bodies is itself the harm.
    // Its tables get their default limit written in too.
    let checked = false;
    const loaded = await stops.race(loadModule(source, {
      compile: !rewritten,
      compileOptions: options.compile,
      room: consumable || (rewritesInPlace && readHere)
        ? roomForHit
        : undefined,
      // Room for the limits to grow into as they are written over the
      // bytes read (not where a cache hit may build its output over them).
      before: rewritten && !consumable ? LIMITS_ROOM : undefined,
      signal: stops.signal,
      check: rewritten ? undefined : async (bytes, name) => {
        const label = options.label ?? name;
        if (internal.anySize !== true) {
          await stops.runSteps(checkInstanceSizeSteps(bytes, label));
          checked = true;
        } else if (internal.checkBodies === true) {
          await stops.runSteps(
            checkInstanceSizeSteps(bytes, label, true, false),
          );
        }
        return await limitedBytes(
          stops,
          bytes,
          undefined,
          label,
          options.compile,
        );
      },
    }));
    if (loaded.bytes !== undefined) internal.onBytes?.(loaded.bytes);
    // A large stoppable guest is compiled on a thread of its own, which boots
    // while the guest is rewritten.
    if (
      metered && stops.watched && (loaded.bytes?.length ?? 0) > STREAM_CHUNK
    ) {
      startCompileThread();
    }
    // The caller's code runs in the turns of the event loop that a stoppable
    // rewrite gives, and while a cache reads: those read a copy of the
    // caller's bytes, taken at once (see LoadStops.snapshot).
    const snapshot = metered && !owned && loaded.bytes !== undefined &&
      (stops.watched || cache !== undefined);
    const label = options.label ?? loaded.label;
    const state = newCallState();
    let module: WebAssembly.Module;
    let signatures: ModuleSignatures | undefined;
    let flagHost: StopFlagHost | undefined;
    let importModule = "";
    let startExport: string | undefined;
    // Whether the start function of a guest loaded for plain calls runs as
    // an async call does (see yieldsInStart).
    let startYields = false;
    let dear: { export: string; functions: number } | undefined;
    let flagImports: StopFlagImports | undefined;
    let declaredImports: readonly ImportEntry[] = [];
    let footprint = { memoryPages: 0, tableElements: 0 };
    let dataTarget: { name: string; reach: number } | undefined;
    let lifted: LiftedData | undefined;
    // The copy has room before it for the limits to grow the sections they
    // change: they are written over it, not into a second buffer of its
    // size (each such buffer sets V8's collections of this thread's heap
    // off, as external memory, and a stop waits for their pauses).
    const original = snapshot
      ? await stops.snapshot(loaded.bytes!, label, LIMITS_ROOM)
      : loaded.bytes;
    // The guest's bytes as given, put back together, when the limits were
    // written over them (for the engine's verdict, should it refuse the
    // rewrite). No closure here holds `original`: the guest's would keep
    // it alive with it.
    let restore: (() => Uint8Array) | undefined;
    // A metered guest that can allocate on the host's heap reads a stop
    // flag, whose callback reads the heap (`heap_limit.ts`), even under a
    // fuel budget alone: a budget bounds its heap only when it is small.
    if (
      metered && !flagged && original !== undefined &&
      await stops.runSteps(allocatesOnHeapSteps(original))
    ) {
      flagged = true;
      startWatchdog();
    }
    // Its types before its limits are written in, which reads them all.
    if (rewritten && original !== undefined && internal.anySize !== true) {
      await stops.runSteps(checkTypeCountSteps(original, label));
    }
    // Without limits.tables, a default one (the garbage collector's pauses
    // grow with the guest's tables).
    const plan = !rewritten ? undefined : await stops.race(
      plannedLimits(stops, original!, limits, label, options.compile),
    );
    // Before the engine instantiates the guest, which nothing can cut short
    // (after its limits, which name what is over them more precisely).
    if (original !== undefined && internal.anySize !== true && !checked) {
      // A metered guest's bodies are checked as they are rewritten.
      await stops.runSteps(checkInstanceSizeSteps(original, label, !metered));
    }
    // Written over the load's own copy of the caller's bytes, or over the
    // bytes it read from a path or a URL, where they have the room; else
    // into a buffer of their own.
    const inPlace = plan === undefined || !(snapshot || readHere)
      ? undefined
      : await stops.runSteps(joinLimitsInPlaceSteps(plan));
    if (inPlace !== undefined) restore = inPlace.original;
    const bytes = plan === undefined
      ? original
      : inPlace?.bytes ?? await stops.runSteps(joinLimitsSteps(plan));
    if (metered) {
      const fuel = options.fuel === false ? Infinity : options.fuel ?? Infinity;
      const addedModule = addedImportModule(options.compile);
      const overInput: InPlace | undefined = rewritesInPlace ? {} : undefined;
      const rewrite = await stops.race(rewriteGuest(
        stops,
        bytes!,
        label,
        options.compile,
        cache,
        owned || bytes !== original || snapshot,
        consumable && bytes === original,
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
              (options.async === true && internal.trappingFuel !== true) ||
                start,
            ),
            initialFuel: 0n,
            // A guest that can be stopped reads a stop flag the watchdog sets,
            // and its start function runs as a watched call once it is
            // instantiated.
            stopFlag: flagged,
            // One allocation holds the thread whole: its size bounds how
            // late a stop lands (a guest with a flag for its heap alone
            // has no stop to land).
            ...(stoppableGuest(options)
              ? { arrayBytes: limits?.arrays ?? DEFAULT_ARRAY_BYTES }
              : {}),
            ...flagChecks(
              flagged,
              countsFuel,
              options.async === true || startYields,
            ),
            deferStart: flagged,
            // Its functions dear to compile, reachable by the compile
            // thread, which compiles them ahead (`precompile.ts`).
            precompile: stoppableGuest(options),
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
        const given = original!;
        restore = () => {
          rebuild();
          return limited?.() ?? given;
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
        if (internal.anySize !== true) {
          checkSizedAllocations(rewrite.info.footprint, label);
        }
      } catch (error) {
        // The rewrite skipped validation: an invalid guest (a memory past
        // the engine's limit) is refused as such, not as over its budget. A
        // cache hit compiled already (and may have built its output in the
        // guest's buffer).
        if (
          rewrite.module === undefined &&
          !WebAssembly.validate(
            (restore?.() ?? original) as Uint8Array<ArrayBuffer>,
          )
        ) {
          await compileBytes(restore?.() ?? original!, label, options.compile);
        }
        throw error;
      }
      signatures = describeModule(rewrite.info);
      const { stopFlag } = rewrite.metered;
      // The guest's first memory, when it defines it (the host makes it
      // fresh), is where its data segments go, as a rule.
      const first = stopFlag?.memories.find((memory) =>
        memory.index === 0 && memory.name !== stopFlag.memory
      );
      if (first !== undefined) {
        dataTarget = {
          name: first.name,
          reach: dataReach(rewrite.info.footprint.dataBytes),
        };
      }
      importModule = rewrite.metered.importModule;
      startExport = rewrite.metered.startExport;
      dear = rewrite.metered.precompile;
      flagImports = rewrite.metered.stopFlag;
      declaredImports = rewrite.info.imports;
      footprint = rewrite.info.footprint;
      state.meter = new FuelMeter(rewrite.metered, {
        fuel,
        poll: () => state.poll?.() ?? false,
        refuel: (shortfall) => callRefuel(state, shortfall),
        suspend: options.async ?? false,
      });
      meterCalls.onStop(state.meter, () => stoppedByHost(state));
      meterCalls.forGuest(state.meter);
      if (stopFlag !== undefined) {
        // A call's deadline, and an async call's ticks, each use a slot.
        const bound = boundFlag(options.async || startYields ? 2 : 1);
        flagHost = stopFlagHost(
          stopFlag,
          state,
          options.async ?? false,
          bound,
          limits?.heap,
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
      if (
        stoppable && rewrite.module === undefined &&
        memoryBytes !== undefined &&
        rewrite.info.footprint.dataBytes > liftSettings.minBytes
      ) {
        lifted = await stops.runSteps(
          liftDataSteps(written, memoryBytes, liftSettings.minBytes),
        );
      }
      module = rewrite.module ?? await stops.race(compileRewritten(
        lifted?.bytes ?? written,
        restore ?? original!,
        label,
        options.compile,
        stops.signal,
      ));
    } else if (limits !== undefined) {
      module = await stops.race(
        compileRewritten(
          bytes!,
          restore ?? original!,
          label,
          options.compile,
        ),
      );
      // Its imports as limited: an imported memory or table the limits cap
      // must be supplied with that maximum.
      signatures = readSignatures(bytes!);
    } else {
      module = loaded.module!;
      if (loaded.bytes !== undefined) signatures = readSignatures(loaded.bytes);
    }
    const host: HostControls = {
      interrupt(importName: string, details?: InterruptDetails): never {
        return requestStop(state, () => new Interrupted(importName, details));
      },
    };
    const supplied = typeof options.imports === "function"
      ? options.imports(host)
      : options.imports ?? {};
    const needed = signatures?.imports ?? describeImports(module);
    checkImportsValue(
      supplied,
      typeof options.imports === "function"
        ? "the value loadGuest's imports function returned"
        : "loadGuest's imports",
      needed.map((entry) => entry.module),
    );
    internal.checkImports?.(needed);
    const base: WebAssembly.Imports = {
      ...buildImports(needed, supplied, interrupt, state, {
        async: options.async ?? false,
        engineModules: engineModules(options.compile),
        guest: label,
        interruptFix: internal.interruptFix,
      }),
      ...state.meter?.imports,
    };
    // Before the start function, the first code that could write the flag.
    checkStopOutsideGuest(
      options.stop,
      "loadGuest's stop",
      label,
      importedMemories(base),
    );
    const newImports = flagHost === undefined ? undefined : () => ({
      ...base,
      [importModule]: { ...base[importModule], ...flagHost.imports() },
    });
    const targetOf = (imports: WebAssembly.Imports) =>
      (imports[importModule] as Record<string, unknown>)[
        dataTarget!.name
      ] as WebAssembly.Memory;
    // A fresh instance's memory gets the lifted data at once.
    const data = lifted;
    const freshImports = data === undefined || newImports === undefined
      ? newImports
      : () => {
        const imports = newImports();
        writeData(targetOf(imports), data);
        return imports;
      };
    const imports = newImports?.() ?? base;
    if (data !== undefined) {
      await stops.runSteps(writeDataSteps(targetOf(imports), data));
    } else if (dataTarget !== undefined && stops.watched) {
      // The memory the guest's data is copied into, mapped in steps rather
      // than page by page as instantiation copies (a hold of milliseconds).
      await stops.runSteps(prefaultSteps(targetOf(imports), dataTarget.reach));
    }
    // Instantiation holds the thread at once (about 2 ms for esbuild): a
    // hold of its own, not one with the steps before or the work after it.
    await stops.turn();
    const instance = await stops.race(
      instantiate(module, imports, state, needed, label),
    );
    await stops.turn();
    // The start function never runs before the thread that stops it is
    // up; a stop that comes while the load waits for it ends the load.
    if (flagged) await stops.race(watchdogReady(WATCHDOG_WAIT_MS));
    guest = assembleGuest({
      module,
      label,
      instance,
      imports,
      signatures: signatures?.exports ?? new Map(),
      state,
      needed,
      options,
      freshImports,
      startExport,
      // A second run of the start function, or a dear function called
      // with zeros, is no call the guest offers.
      addedExports: new Set(
        [startExport, dear?.export].filter((name) => name !== undefined),
      ),
    });
    // Its functions dear to compile, compiled on the compile thread before
    // its first call can need them; a stop ends the wait.
    const ahead = startPrecompile(
      guest,
      module,
      dear,
      flagImports,
      declaredImports,
      footprint,
    );
    if (ahead !== undefined) await stops.race(ahead);
    if (flagged) {
      await stops.race(warmStopPath(
        (bytes, async) =>
          loadGuestWith(bytes, {
            ...(async ? { async } : { interruptible: true }),
            label: "the stop path's warm-up",
          }, {}),
        options.async === true,
      ));
    }
    // A stop that came as the load ended: the start function never runs.
    stops.check();
  } finally {
    stops.dispose();
  }
  await runStart(guest);
  return guest;
}

/**
 * The guest's bytes with its limits written in. When the decoder refuses
 * them, the engine's verdict on the guest's own bytes comes first.
 */
async function limitedBytes(
  stops: LoadStops,
  bytes: Uint8Array,
  limits: GuestOptions["limits"],
  label: string,
  compile: CompileOptions | undefined,
): Promise<Uint8Array> {
  return await stops.runSteps(
    joinLimitsSteps(
      await plannedLimits(stops, bytes, limits, label, compile),
    ),
  );
}

/**
 * What writing the guest's limits in changes, read in steps. When the
 * decoder refuses the bytes, the engine's verdict on them comes first.
 */
async function plannedLimits(
  stops: LoadStops,
  bytes: Uint8Array,
  limits: GuestOptions["limits"],
  label: string,
  compile: CompileOptions | undefined,
): Promise<LimitsPlan> {
  try {
    return await stops.runSteps(planGuestLimitsSteps(bytes, limits, label));
  } catch (error) {
    if (isInvalidModule(error)) await compileBytes(bytes, label, compile);
    throw error;
  }
}

/**
 * Whether a guest's calls (or its start function) can be stopped by a
 * deadline, an abort or a StopSignal: it gets a stop flag the watchdog sets.
 */
function stoppableGuest(options: GuestOptions): boolean {
  return options.async === true || options.interruptible === true ||
    options.fuel === false ||
    options.timeout !== undefined || options.signal !== undefined ||
    options.stop !== undefined;
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
 */
async function compileRewritten(
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
