/**
 * Loads a guest: reads and compiles its module, meters it when asked to,
 * builds its imports, and instantiates it.
 *
 * @module
 */

import { inSharedMemory, ownSource } from "../bytes.ts";
import { allocatesOnHeapSteps } from "../call/heap_limit.ts";
import {
  type CallState,
  newCallState,
  requestStop,
} from "../call/call_state.ts";
import {
  type InterruptDetails,
  Interrupted,
  isInvalidModule,
} from "../errors.ts";
import { LoadStops } from "./load_stops.ts";
import {
  checkStopOutsideGuest,
  importedMemories,
} from "../call/stop_in_guest_memory.ts";
import { assembleGuest, type Guest, runStart } from "./guest.ts";
import type { GuestOptions, HostControls } from "./guest_options.ts";
import { buildImports, describeImports, missingImport } from "./imports.ts";
import { instantiate } from "./instantiate.ts";
import { planGuestLimitsSteps } from "../module/limits.ts";
import {
  joinLimitsInPlaceSteps,
  joinLimitsSteps,
  type LimitsPlan,
} from "../wasm/limits.ts";
import { checkInstanceSizeSteps } from "../module/instance_size.ts";
import { sectionCount } from "../wasm/sections.ts";
import { checkTypeCountSteps } from "../module/instantiation_work.ts";
import {
  compileBytes,
  type GuestSource,
  loadModule,
  STREAM_CHUNK,
} from "./load.ts";
import { type LoadPlan, planLoad } from "./load_plan.ts";
import {
  compileRewritten,
  type MeteredModule,
  meterGuest,
} from "./metered_module.ts";
import {
  type CompileOptions,
  engineModules,
} from "../module/compile_options.ts";
import { startCompileThread } from "./compile_thread.ts";
import { prefaultSteps } from "./data_prefault.ts";
import { writeData, writeDataSteps } from "./data_lift.ts";
import { checkImportsValue } from "../option_checks.ts";
import {
  type ImportDescriptor,
  type ModuleSignatures,
  readImportsEarly,
  readSignatures,
} from "../module/signatures.ts";
import { startPrecompile } from "./precompile.ts";
import { startWatchdog, watchdogReady } from "../watchdog/watchdog.ts";
import { warmStopPath } from "./stop_path_warmup.ts";
import { givenError } from "../call/outcome.ts";
import { roomForHit } from "../cache/rewrite_splice.ts";

/** The longest a load waits for the watchdog's thread to start. */
const WATCHDOG_WAIT_MS = 5_000;

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
   * Loads a guest with more memories than `MAX_MEMORIES` (or than
   * `MAX_MAPPED_REGIONS` leaves room for among the guests alive), more table
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

/**
 * {@linkcode loadGuest}, with what early-exit's own loaders may ask for.
 *
 * @param source As for {@linkcode loadGuest}.
 * @param given As for {@linkcode loadGuest}'s options.
 * @param internal The internal options.
 * @returns The guest, ready to call.
 */
export async function loadGuestWith(
  source: GuestSource,
  given: GuestOptions,
  internal: InternalLoadOptions,
): Promise<Guest> {
  source = ownSource(source);
  const plan = planLoad(source, given);
  const { options, metered, rewritten, limits, cache } = plan;
  // Whether the guest reads a stop flag: a stoppable one does, and so does
  // one whose GC allocations the host must look at (found below).
  let flagged = plan.stoppable;
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
    // A missing import is named before the rewrite and the compile, which
    // took a 14 MB guest's load 100 to 400 ms. An imports function is
    // called once, as the guest's imports are built.
    const importsFirst = (bytes: Uint8Array) => {
      if (typeof options.imports === "function") return;
      const needed = readImportsEarly(bytes);
      if (needed === undefined) return;
      internal.checkImports?.(needed);
      const missing = missingImport(
        needed,
        options.imports ?? {},
        plan.interrupt,
        engineModules(options.compile),
      );
      if (missing !== undefined) throw missing;
    };
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
        importsFirst(bytes);
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
    if (rewritten && loaded.bytes !== undefined) importsFirst(loaded.bytes);
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
    // The copy has room before it for the limits to grow the sections they
    // change: they are written over it, not into a second buffer of its
    // size (each such buffer sets V8's collections of this thread's heap
    // off, as external memory, and a stop waits for their pauses).
    const original = snapshot
      ? await stops.snapshot(loaded.bytes!, label, LIMITS_ROOM)
      : loaded.bytes;
    // The memories it defines (section 5), read before the limits are
    // written over these bytes. A compiled module given without its bytes
    // counts only the memories it imports.
    const defined = original === undefined ? 0 : sectionCount(original, 5) ?? 0;
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
    const limitsPlan = !rewritten ? undefined : await stops.race(
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
    // into a buffer of their own. `restore` then puts the guest's bytes as
    // given back together (for the engine's verdict, should it refuse the
    // rewrite); no closure here holds `original`: the guest's would keep it
    // alive with it.
    const inPlace = limitsPlan === undefined || !(snapshot || readHere)
      ? undefined
      : await stops.runSteps(joinLimitsInPlaceSteps(limitsPlan));
    const bytes = limitsPlan === undefined
      ? original
      : inPlace?.bytes ?? await stops.runSteps(joinLimitsSteps(limitsPlan));
    let module: WebAssembly.Module;
    let signatures: ModuleSignatures | undefined;
    let meteredModule: MeteredModule | undefined;
    if (metered) {
      meteredModule = await meterGuest({
        stops,
        plan,
        label,
        state,
        bytes: bytes!,
        original: original!,
        restore: inPlace?.original,
        flagged,
        owned: owned || bytes !== original || snapshot,
        consumable: consumable && bytes === original,
        overInput: rewritesInPlace,
        trappingFuel: internal.trappingFuel === true,
        anySize: internal.anySize === true,
      });
      ({ module, signatures } = meteredModule);
    } else if (limits !== undefined) {
      module = await stops.race(
        compileRewritten(
          bytes!,
          inPlace?.original ?? original!,
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
    const needed = signatures?.imports ?? describeImports(module);
    const { imports, freshImports, dataMemory } = guestImports(
      plan,
      internal,
      label,
      state,
      needed,
      meteredModule,
    );
    const lifted = meteredModule?.lifted;
    if (lifted !== undefined) {
      await stops.runSteps(writeDataSteps(dataMemory!, lifted));
    } else if (dataMemory !== undefined && stops.watched) {
      // The memory the guest's data is copied into, mapped in steps rather
      // than page by page as instantiation copies (a hold of milliseconds).
      await stops.runSteps(
        prefaultSteps(dataMemory, meteredModule!.dataTarget!.reach),
      );
    }
    // Instantiation holds the thread at once (about 2 ms for esbuild): a
    // hold of its own, not one with the steps before or the work after it.
    await stops.turn();
    // A stop flag turns every memory the guest defines into an import. An
    // isolated child, which loads past every cap, counts none.
    const definedMemories = internal.anySize === true
      ? undefined
      : metered && flagged
      ? 0
      : defined;
    const instance = await stops.race(
      instantiate(module, imports, state, needed, label, definedMemories),
    );
    await stops.turn();
    // The start function never runs before the thread that stops it is
    // up; a stop that comes while the load waits for it ends the load.
    if (flagged) await stops.race(watchdogReady(WATCHDOG_WAIT_MS));
    const startExport = meteredModule?.startExport;
    const dear = meteredModule?.precompile;
    guest = assembleGuest({
      module,
      label,
      instance,
      imports,
      definedMemories,
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
    const ahead = meteredModule === undefined ? undefined : startPrecompile(
      guest,
      module,
      dear,
      meteredModule.stopFlag,
      meteredModule.imports,
      meteredModule.footprint,
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

/** A guest's imports, built and checked, and how to build them afresh. */
interface GuestImports {
  /** The imports its instance is made with. */
  imports: WebAssembly.Imports;
  /**
   * Builds them afresh, with a new memory for the stop flag (and the
   * guest's data written in), for an instance made again.
   */
  freshImports?: () => WebAssembly.Imports;
  /** The memory in `imports`, made by the host, that the guest's data goes into. */
  dataMemory?: WebAssembly.Memory;
}

/**
 * Builds a guest's imports: the caller's, the interrupt import, and a
 * metered guest's own (its meter's and its stop flag's), checked against
 * what the guest needs before its start function, the first code that
 * could write a StopSignal's flag, runs.
 */
function guestImports(
  plan: LoadPlan,
  internal: InternalLoadOptions,
  label: string,
  state: CallState,
  needed: ImportDescriptor[],
  metered: MeteredModule | undefined,
): GuestImports {
  const { options } = plan;
  const host: HostControls = {
    interrupt(importName: string, details?: InterruptDetails): never {
      return requestStop(state, () => new Interrupted(importName, details));
    },
  };
  const supplied = typeof options.imports === "function"
    ? options.imports(host)
    : options.imports ?? {};
  checkImportsValue(
    supplied,
    typeof options.imports === "function"
      ? "the value loadGuest's imports function returned"
      : "loadGuest's imports",
    needed.map((entry) => entry.module),
  );
  internal.checkImports?.(needed);
  const base: WebAssembly.Imports = {
    ...buildImports(needed, supplied, plan.interrupt, state, {
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
  const flagHost = metered?.flagHost;
  if (metered === undefined || flagHost === undefined) {
    return { imports: base };
  }
  const { importModule, dataTarget, lifted } = metered;
  const newImports = () => ({
    ...base,
    [importModule]: { ...base[importModule], ...flagHost.imports() },
  });
  const targetOf = (imports: WebAssembly.Imports) =>
    (imports[importModule] as Record<string, unknown>)[
      dataTarget!.name
    ] as WebAssembly.Memory;
  // A fresh instance's memory gets the lifted data at once.
  const freshImports = lifted === undefined ? newImports : () => {
    const imports = newImports();
    writeData(targetOf(imports), lifted);
    return imports;
  };
  const imports = newImports();
  return {
    imports,
    freshImports,
    dataMemory: dataTarget === undefined ? undefined : targetOf(imports),
  };
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
