/**
 * The host side of fuel metering: the tank a metered guest draws from.
 *
 * The rewriter (`instrument`) makes the guest keep a counter of
 * the fuel it may still spend in a mutable i64 global, charge every block up
 * front, and call the import `out_of_fuel(counter, cost)` when a charge would
 * take the counter below zero. The meter answers that call: it moves fuel
 * from its tank into the counter (a *slice*), or returns -1, on which the
 * guest executes `unreachable`, a trap no guest can catch.
 *
 * Handing fuel out in slices lets the host look in on a guest that never
 * calls it. A guest can make slices slow (a loop the cost table makes free,
 * one gibibyte `memory.fill`), so deadlines and stop signals come through a
 * stop flag as well, whose checks do not depend on fuel (see
 * `call_watch.ts`): the meter rewrites a guest that can resume with one by
 * default and supplies its imports in `meter.imports`. With no slice set,
 * the whole budget goes into the counter and the host is never called until
 * it runs out.
 *
 * Accounting is exact at every exit: a block the guest could not pay for is
 * not charged, and neither is anything after a stop.
 *
 * The class decides when fuel moves and delivers stops, the paths the
 * guest calls at every slice and check; the rest is beside it: the books
 * that move the fuel (`fuel_books.ts`), a stop once delivered and the grace
 * after it (`stop_delivery.ts`), its options (`meter_options.ts`)
 * and the module it runs (`meter_module.ts`), the slices' sizes
 * (`meter_tank.ts`), how long a stop waits (`meter_waits.ts`,
 * `zone_wait.ts`), the watchdog's guards on the host's own calls
 * (`meter_host_calls.ts`), and a run around one call (`meter_run.ts`,
 * through `meter_calls.ts`).
 *
 * @module
 */

import { noteAttachedMemories } from "../call/stop_in_guest_memory.ts";
import { unshared } from "../bytes.ts";
import type { InstrumentedModule, InstrumentOptions } from "../wasm/mod.ts";
import {
  checkMeterRunOptions,
  meterIdle,
  type MeterRunOptions,
  plainCallsRefused,
  runMetered,
  runMeteredAsync,
} from "./meter_run.ts";
import { turnUnlessDue } from "../watchdog/yield.ts";
import { heapCheck, meterHeapStops } from "../call/heap_limit.ts";
import { openCache } from "../cache/rewrite_cache.ts";
import { constructCached, type MeterRewriter } from "./meter_cache.ts";
import { instrumentModule } from "../wasm/instrument.ts";
import { type CallOutcome, START_FUNCTION } from "../call/outcome.ts";
import { findStackPointer, type StackPointer } from "./stack_pointer.ts";
import { meterStopFlag } from "./meter_stop_flag.ts";
import { bindFlag } from "../watchdog/watchdog.ts";
import {
  endGuard,
  guardHostCall,
  offBooksWithoutFuel,
} from "./meter_host_calls.ts";
import { ZONE_DEPTH } from "../wasm/stop_zones.ts";
import { stopsInZone, ZoneWait } from "./zone_wait.ts";
import { ExportError } from "../load_errors.ts";
import { HAS_JSPI, suspending } from "../call/jspi.ts";
import { oneLineText } from "../early_exit_error.ts";
import {
  importedAddedGlobal,
  noteAddedGlobals,
  noteAddedImports,
  noteExports,
} from "../module/handed_out.ts";
import { isDetachedCounter, OFF_BOOKS_FUEL } from "./meter_tank.ts";
import type { StopReason } from "../call/stop_reason.ts";
import type { FuelMeterOptions } from "./meter_options.ts";
import { meterModule } from "./meter_module.ts";
import {
  checkFuel,
  checkFuelRoom,
  checkHookResult,
  checkRunFunction,
} from "./meter_checks.ts";
import type { MeterCalls } from "./meter_calls.ts";
import { FuelBooks, type MeterBooks } from "./fuel_books.ts";
import { StopDelivery } from "./stop_delivery.ts";
import { warmMeterStopPath } from "./meter_warmup.ts";
import { checkAttachedFlag } from "./meter_stop_flag.ts";
import { compileDearFunctions, precompileRefused } from "./meter_precompile.ts";
import { wrapMeterExports } from "./meter_exports.ts";
import { innerStopDue } from "../call/flags_in_calls.ts";

/** The runners' access to a meter; see {@linkcode MeterCalls}. */
export let meterCalls: MeterCalls;

/** The start functions `attach` has called, of every meter's instances. */
const startsBegun = new WeakSet<object>();

/**
 * How the constructor rewrites; {@linkcode FuelMeter.create} swaps it. The
 * constructor runs up to this call (in `meterModule`) twice there (see
 * `meter_cache.ts`), so nothing before it may have an effect outside the
 * meter.
 */
let meterRewrite: MeterRewriter = instrumentModule;

/**
 * The fuel tank of one metered instance.
 *
 * Use it directly to meter a module that another loader instantiates
 * (emscripten's `instantiateWasm`, wasm-bindgen's init): pass `meter.bytes`
 * and the extra `meter.imports` to the loader, then `attach` the instance.
 * Make each call into the library through {@linkcode FuelMeter.run}, which
 * gives it a fuel cap, a deadline or stop signals and a typed outcome, and
 * leaves the meter ready for the next call whatever happened.
 *
 * @example Metering a module someone else instantiates
 * ```ts
 * import { FuelMeter } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * const bytes = await Deno.readFile(new URL("../../guest/compute.wasm", import.meta.url));
 * const meter = new FuelMeter(bytes, { fuel: 1_000_000 });
 * // What a loader such as emscripten's instantiateWasm hook would do:
 * const { instance } = await WebAssembly.instantiate(meter.bytes, { ...meter.imports });
 * meter.attach(instance);
 * const fib = instance.exports.fib as (n: number) => number;
 * assert.equal(fib(20), 6765);
 * assert.ok(meter.consumed > 0);
 * assert.equal(meter.consumed + meter.remaining, 1_000_000);
 * ```
 */
export class FuelMeter {
  #bytes: Uint8Array;

  /** The metered module's bytes. */
  get bytes(): Uint8Array<ArrayBuffer> {
    // A stoppable load writes a large rewrite where the compile thread
    // reads it, in shared memory: a plain copy only for a caller who asks.
    if (this.#bytes.buffer instanceof SharedArrayBuffer) {
      this.#bytes = this.#bytes.slice();
    }
    return this.#bytes as Uint8Array<ArrayBuffer>;
  }
  /** The import the metered module needs, to merge into its imports. */
  readonly imports: WebAssembly.Imports;

  // The module, and the instance attached.
  /** The export the rewriter gave the guest's fuel counter. */
  readonly #fuelExport: string;
  /** The export the rewriter gave the guest's stack pointer, if found. */
  readonly #stackPointerExport: string | undefined;
  /** The export name of the guest's zone global, when it has zones. */
  readonly #zoneExport: string | undefined;
  /** Whether the guest asks for more fuel, or traps once it is spent. */
  readonly #resumable: boolean;
  /** False for a deadline-only meter (`fuel: false`): no books to keep. */
  readonly #countsFuel: boolean;
  /** Whether `out_of_fuel` may suspend the guest (JSPI). */
  readonly #suspend: boolean;
  /** An instance's counter before any of its code has run. */
  #initialCounter = 0n;
  /** The attached instance's shadow stack pointer, when it exports one. */
  #stack: StackPointer | undefined;
  /** The guest's stop flag, when this meter rewrote it with one. */
  #flag: Int32Array | undefined;
  /**
   * The flag memory's export name and the memory itself, which an
   * instance made with this meter's imports exports.
   */
  #flagMemory: { export: string; memory: WebAssembly.Memory } | undefined;
  /** The attached instance's zones, and a stop's wait for them. */
  readonly #zones = new ZoneWait();
  /** Whether attaching warms `run`'s stop path (not a loader's meter). */
  #warmsRun = true;

  /**
   * The books: the tank, the attached instance's counter, and the calls in
   * progress with what their caps set aside.
   */
  readonly #books: FuelBooks;

  // A stop, from its request until the books are settled.
  /** Why the last stop happened, until the next call begins. */
  #reason: StopReason | undefined;
  /**
   * The stop once delivered, and the grace the glue's cleanup runs on
   * after it.
   */
  readonly #delivery: StopDelivery;
  /**
   * Set while a stop waits for the guest to leave a zone: the guest runs
   * on its grace fuel, handed to its counter, until then.
   */
  #waitingForZone = false;

  // The calls in progress, and their hooks.
  /** The export the rewrite made of the module's start function, if any. */
  readonly #startExport: string | undefined;
  /**
   * Calls begun since the instance was attached: the first few of a fresh
   * instance get a backstop slice (see `COLD_CALLS` in `meter_tank.ts`).
   */
  #callsSinceAttach = 0;
  /**
   * The rewrite's export that calls the functions dear to compile, when
   * this meter rewrote the module and it has some.
   */
  #dear: { export: string; functions: number } | undefined;
  /** Set while `attach` has them compiled: every check then traps. */
  #precompiling = false;
  /**
   * Set while a `runAsync` call that was stopped as it waited on a promise
   * not the meter's still waits: its stop holds until it has trapped.
   */
  #stranded = false;
  /** The meter's own hooks (see {@linkcode FuelMeterOptions}). */
  readonly #poll: FuelMeterOptions["poll"];
  readonly #refuel: FuelMeterOptions["refuel"];
  /** The current `run`'s own check, run before the user's `poll`. */
  #callPoll: (() => boolean) | undefined;
  /** Whether the current run lets the event loop run at every slice. */
  #yields = false;
  /** The async run's: told of every stop (see `MeterCalls.onStop`). */
  #onStop: (() => void) | undefined;

  /**
   * Meters a module.
   *
   * @param source The module's bytes, or the rewriter's output.
   * @param options The starting budget, and the hooks that run when the guest asks for fuel.
   * @param costs Operator costs for the rewriter, when `source` is bytes.
   */
  constructor(
    source: Uint8Array | ArrayBuffer | InstrumentedModule,
    options: FuelMeterOptions = {},
    costs?: InstrumentOptions,
  ) {
    const read = meterModule(source, options, costs, meterRewrite);
    const { metered, fuel, countsFuel, limits } = read;
    options = read.options;
    this.#bytes = metered.bytes;
    // A module of the caller's own rewrite keeps the start it was given.
    this.#startExport = read.rewritten ? metered.startExport : undefined;
    this.#fuelExport = metered.fuelExport;
    this.#stackPointerExport = metered.stackPointerExport;
    this.#zoneExport = metered.zoneExport;
    noteAddedGlobals(this, [
      metered.fuelExport,
      metered.zoneExport,
      metered.stackPointerExport,
    ]);
    this.#resumable = metered.resumable;
    const handed = Number(metered.initialFuel);
    if (handed > fuel) {
      throw new RangeError(
        `the module starts with ${handed} fuel, more than the meter's ${fuel}`,
      );
    }
    this.#books = new FuelBooks(fuel, handed, metered.resumable, countsFuel);
    this.#initialCounter = metered.initialFuel;
    this.#poll = options.poll;
    this.#refuel = options.refuel;
    this.#suspend = (options.suspend ?? false) && HAS_JSPI;
    // The guest's count of its GC allocations comes through its flag's
    // callback too (see `heap_limit.ts`): past the heap's limit, the
    // meter stops it as `stop()` does, and the run ends `out_of_memory`.
    let pastHeap = () => false;
    const onFlag = () => {
      if (!pastHeap()) return undefined;
      // Delivered as any stop is (zones, soft stops), but for a guest
      // without fuel, whose flag alone stops it: it traps here.
      return countsFuel ? this.#onStopFlag() : 1;
    };
    const flagged = read.rewritten && metered.stopFlag
      ? meterStopFlag(
        metered.stopFlag,
        options.suspend
          ? suspending(() =>
            this.#precompiling ? 1 : onFlag() ?? this.#onStopFlagAsync()
          )
          : () => this.#precompiling ? 1 : onFlag() ?? this.#onStopFlag(),
      )
      : undefined;
    if (flagged !== undefined) {
      pastHeap = heapCheck(flagged.flag, limits?.heap, (stop) => {
        meterHeapStops.set(this, stop);
        this.stop("host");
      });
    }
    this.#flag = flagged?.flag;
    this.#delivery = new StopDelivery(this.#flag, () => this.#cutIfInZone());
    const flagExport = metered.stopFlag?.export;
    if (flagged !== undefined && flagExport !== undefined) {
      this.#flagMemory = { export: flagExport, memory: flagged.memory };
    }
    this.#countsFuel = countsFuel;
    // Bound now, so that no run's deadline waits for a message to reach the
    // watchdog: a deadline-only guest asks the host for nothing meanwhile.
    if (!countsFuel) bindFlag(this.#flag!, 1);
    this.imports = {
      [metered.importModule]: Object.defineProperties({
        [metered.importName]: options.suspend
          ? suspending(this.#outOfFuel)
          : this.#outOfFuel,
      }, Object.getOwnPropertyDescriptors(flagged?.imports ?? {})),
    };
    noteAddedImports(
      this.imports[metered.importModule]!,
      "metered by a FuelMeter",
    );
    // Compiled ahead as each instance is attached (`meter_precompile.ts`).
    if (flagged !== undefined) this.#dear = metered.precompile;
  }

  /**
   * Meters a module as `new FuelMeter` does, and with `cache` keeps the
   * rewrite on disk: a process that meters the same bytes with the same
   * options (and the same early-exit) again reads it instead of rewriting,
   * the bulk of a metered start-up in a fresh process. It needs read and
   * write permission for the directory. The first time pays for the rewrite
   * as before, and a little more to store it. See {@linkcode RewriteCache}.
   *
   * @example Keeping the rewrite for the next process
   * ```ts
   * import { FuelMeter } from "@early-exit/early-exit";
   * import assert from "node:assert/strict";
   *
   * const cache = await Deno.makeTempDir();
   * const bytes = await Deno.readFile(new URL("../../guest/compute.wasm", import.meta.url));
   * const meter = await FuelMeter.create(bytes, { fuel: 1_000_000, cache });
   * const { instance } = await WebAssembly.instantiate(meter.bytes, meter.imports);
   * meter.attach(instance);
   * const fib = instance.exports.fib as (n: number) => number;
   * assert.equal(fib(20), 6765);
   * assert.equal([...Deno.readDirSync(cache)].length, 1); // the entry
   * await Deno.remove(cache, { recursive: true });
   * ```
   *
   * @param source The module's bytes, or the rewriter's output (which needs no rewrite, nor a cache).
   * @param options As for the constructor, and `cache`: a directory's path or `file:` URL, or a `RewriteCache`.
   * @param costs Operator costs for the rewriter, when `source` is bytes.
   * @returns The meter.
   * @throws {GuestLoadError} With reason `permission` when read or write permission for the cache is missing, or `io` when an entry cannot be written.
   */
  static async create(
    source: Uint8Array | ArrayBuffer | InstrumentedModule,
    options: FuelMeterOptions = {},
    costs?: InstrumentOptions,
  ): Promise<FuelMeter> {
    const { cache, ...rest } = options;
    if (cache === undefined) return new FuelMeter(source, rest, costs);
    // Keyed, checked and rewritten from one copy of shared bytes, which
    // another thread may write meanwhile (see `meter_module.ts`).
    if (source instanceof Uint8Array) source = unshared(source);
    const store = openCache(cache, "FuelMeter.create");
    return await constructCached(store, (rewriter) => {
      meterRewrite = rewriter;
      try {
        return new FuelMeter(source, rest, costs);
      } finally {
        meterRewrite = instrumentModule;
      }
    });
  }

  /**
   * Connects the meter to the instance of {@linkcode FuelMeter.bytes}, and
   * loads the first slice of fuel into it. Its functions and the globals
   * the rewriter added (the fuel counter, zone count, stack pointer) are
   * then refused as the imports of a guest `loadGuest` loads. Its glue
   * calls its exports directly, so no flag is held set between runs: call
   * it from another guest's import through `meter.run`, which that guest's
   * stops then reach. An instance whose fuel counter or zone count a guest
   * was already handed as an import (its exports given to `loadGuest`
   * before it was attached) is refused with a `TypeError`. One instance is
   * attached at a time: attaching another puts the fuel the one before
   * held back in the tank, and a call of that one then fails at its first
   * check (`out_of_fuel` throws a `TypeError`; a trapping meter's guest
   * traps) until it is attached again.
   *
   * The module's start function, if it has one, runs here rather than
   * inside the loader's instantiation, where nothing could stop it: as a
   * run with `options` (a deadline, a `StopSignal`, a fuel cap), whose stop
   * `attach` throws as its branded error (`DeadlineExceeded`,
   * `FuelExhausted`, `Aborted`, `GuestTrap`…). Attach each instance before
   * its glue calls it, as the examples do: until then its start function
   * has not run. After a stop the instance is half made: instantiate the
   * module again. Attached again, an instance's start function does not
   * run again.
   *
   * @example A start function that never returns, stopped by a deadline
   * ```ts
   * import { DeadlineExceeded, FuelMeter } from "@early-exit/early-exit";
   * import assert from "node:assert/strict";
   *
   * // (module (func $start (loop $forever (br $forever))) (start $start))
   * const bytes = new Uint8Array([
   *   0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01, 0x60,
   *   0x00, 0x00, 0x03, 0x02, 0x01, 0x00, 0x08, 0x01, 0x00, 0x0a, 0x09, 0x01,
   *   0x07, 0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b,
   * ]);
   * const meter = new FuelMeter(bytes);
   * const { instance } = await WebAssembly.instantiate(meter.bytes, meter.imports);
   * assert.throws(() => meter.attach(instance, { timeout: 50 }), DeadlineExceeded);
   * ```
   *
   * @param instance An instance of the metered module, or its exports.
   * @param options The stops of the module's start function, as for
   *   {@linkcode FuelMeter.run}; its outcome's `export` is `"(start)"`
   *   unless `label` says otherwise. Checked (as `run` checks them) for a
   *   module without one too, and unused there.
   * @throws {TypeError} When the instance is not one of this meter's bytes, its counters were handed to a guest, its code ran before it was attached, before its start function, or an option is refused.
   * @throws {RangeError} When an option's number is out of range.
   * @throws {EarlyExitError} The branded error of the start function's stop or trap.
   */
  attach(
    instance: WebAssembly.Instance | WebAssembly.Exports,
    options?: MeterRunOptions,
  ): void {
    const exports = instance instanceof WebAssembly.Instance
      ? instance.exports
      : instance;
    const counter = exports[this.#fuelExport];
    if (!(counter instanceof WebAssembly.Global)) {
      throw new TypeError(
        `the instance has no fuel counter export "${this.#fuelExport}": attach an instance of meter.bytes`,
      );
    }
    // Checked before anything changes, whether or not the module has a
    // start function to apply them to.
    if (options !== undefined) {
      options = checkMeterRunOptions(this, options, "FuelMeter.attach");
    }
    checkAttachedFlag(exports, this.#flagMemory);
    if (this.#books.counter === counter) {
      // The same instance again: its counter is the meter's already, and a
      // stop of the call in progress holds.
      this.settle();
      // Its start function, unless an earlier attach began it.
      this.#runStart(exports, options);
      return;
    }
    this.#checkNotRunYet(exports, counter);
    // A guest loaded before the instance was attached may have been handed
    // its counter or zone count, and could set them. (Its stack pointer may
    // be the host's, which guests may share.)
    const taken = importedAddedGlobal(exports, [
      this.#fuelExport,
      this.#zoneExport,
    ]);
    if (taken !== undefined) {
      throw new TypeError(
        `the instance's global "${
          oneLineText(taken.name, 200)
        }", which early-exit added to meter and stop it, is an import of the guest ${
          oneLineText(taken.importer, 200)
        }, which could set it: attach an instance whose exports no guest was given`,
      );
    }
    // Another instance of the same bytes: what the old one held is back in
    // the tank, and it must not spend it.
    if (this.#books.counter !== undefined) this.#forgetDelivery();
    this.#books.attach(counter);
    this.#callsSinceAttach = 0;
    noteExports(exports, "attached to a FuelMeter", undefined, this);
    noteAttachedMemories(this, exports);
    this.#stack = findStackPointer(exports, this.#stackPointerExport);
    const zone = this.#zoneExport && exports[this.#zoneExport];
    this.#zones.attach(zone instanceof WebAssembly.Global ? zone : undefined);
    this.#compileDear(exports, zone);
    // Keep what the start function left, and load the next slice.
    this.#settle();
    // Once per process: a caller's first stop then runs warm code. A
    // loaded guest's calls take a path of their own, warmed by its loader.
    if (this.#warmsRun) warmMeterRuns();
    this.#runStart(exports, options);
  }

  /**
   * The attached instance's exports with each function wrapped, so that a
   * call the library's glue makes outside every run (emscripten's
   * constructors as the library starts, after its `receive`; Go's entries
   * from its own timers) runs as a {@linkcode FuelMeter.run} with
   * `options`: hand the glue `{ exports: meter.wrapExports(instance.exports,
   * options) }` in place of the instance. A call inside a run is the
   * instance's own, under that run's stops. A stopped call throws the
   * stop's branded error to the glue (a trap, `GuestTrap`), which cannot
   * say that the stop cut a zone as a run's `stoppedInZone` does: make the
   * calls after which the heap must be whole in `run`. What the glue's
   * imports threw comes back to it as it was thrown. Memories,
   * tables and globals pass as they are. Each wrapped call outside a run
   * costs a run's set-up, several microseconds: wrap the library's own
   * heavy calls in `run` as before, where the wrappers cost one check.
   *
   * @example The glue's own first call, looping, stopped at a deadline
   * ```ts
   * import { DeadlineExceeded, FuelMeter } from "@early-exit/early-exit";
   * import assert from "node:assert/strict";
   *
   * const bytes = await Deno.readFile(new URL("../../guest/runaway.wasm", import.meta.url));
   * const meter = new FuelMeter(bytes);
   * const { instance } = await WebAssembly.instantiate(meter.bytes, meter.imports);
   * meter.attach(instance);
   * const exports = meter.wrapExports(instance.exports, { timeout: 50 });
   * // As a library's glue would, a turn after it was handed the instance:
   * assert.throws(() => (exports.spin as () => void)(), DeadlineExceeded);
   * ```
   *
   * @param exports The attached instance's exports.
   * @param options The stops of each call made outside a run, as for
   *   {@linkcode FuelMeter.run}; a call's outcome is named after its export
   *   unless `label` says otherwise.
   * @returns A frozen object of the same names.
   * @throws {TypeError} When `exports` are not the attached instance's, the meter was made with `suspend: true` (whose instance takes promising calls only), or an option is refused (as `run` refuses it).
   */
  wrapExports(
    exports: WebAssembly.Exports,
    options: MeterRunOptions = {},
  ): WebAssembly.Exports {
    if (
      this.#books.counter === undefined || exports === null ||
      typeof exports !== "object" ||
      exports[this.#fuelExport] !== this.#books.counter
    ) {
      throw new TypeError(
        "FuelMeter.wrapExports: give the exports of the instance attached to this meter (attach it first: meter.attach(instance), then meter.wrapExports(instance.exports))",
      );
    }
    if (this.#suspend) {
      throw new TypeError(plainCallsRefused("FuelMeter.wrapExports"));
    }
    return wrapMeterExports(this, exports, options);
  }

  /**
   * Refuses an instance whose code ran before its start function: the
   * glue called it before attaching it, and it ran on state the start
   * function had yet to make. Its counter tells (a guest that counts no
   * fuel cannot: its start function then simply runs late).
   */
  #checkNotRunYet(
    exports: WebAssembly.Exports,
    counter: WebAssembly.Global,
  ): void {
    if (
      this.#pendingStart(exports) === undefined || !this.#countsFuel ||
      counter.value === this.#initialCounter
    ) return;
    throw new TypeError(
      "FuelMeter.attach: the instance ran code before it was attached, before its start function, which the meter runs in attach; attach each instance of meter.bytes before its glue calls it (then instantiate again)",
    );
  }

  /** The instance's start function, unless it has none or it began. */
  #pendingStart(exports: WebAssembly.Exports): (() => void) | undefined {
    const start = this.#startExport && exports[this.#startExport];
    if (typeof start !== "function" || startsBegun.has(start)) return;
    return start as () => void;
  }

  /**
   * Runs the start function the rewrite took out of the module, as a run
   * with the caller's stops; inside a call of this meter already in
   * progress and given none, as part of it, under its stops (runs do not
   * nest, so stops of its own are refused there as a nested run's are).
   */
  #runStart(
    exports: WebAssembly.Exports,
    options: MeterRunOptions | undefined,
  ): void {
    const start = this.#pendingStart(exports);
    if (start === undefined) return;
    // Once the run has begun, not when it refused its options.
    const begin = () => {
      startsBegun.add(start);
      start();
    };
    if (this.#books.runs > 0 && options === undefined) {
      begin();
      return;
    }
    const outcome = runMetered(
      this,
      meterCalls,
      this.#stack,
      begin,
      { label: START_FUNCTION, ...options },
      "FuelMeter.attach",
    );
    if (outcome.outcome !== "returned") throw outcome.error;
  }

  /**
   * Has the engine compile the attached instance's functions dear to
   * compile, each trapping at its entry (see `meter_precompile.ts`), with
   * the counter and zone count as they were. Not inside a run, whose flag
   * the watchdog may set.
   */
  #compileDear(exports: WebAssembly.Exports, zone: unknown): void {
    const flag = this.#flag;
    if (
      this.#dear === undefined || flag === undefined ||
      this.#books.runs > 0 || precompileRefused()
    ) return;
    const counter = this.#books.counter!.value;
    const depth = zone instanceof WebAssembly.Global ? zone.value : undefined;
    this.#precompiling = true;
    try {
      // An empty counter too: a check that charges fuel before it reads
      // the flag traps there all the same, on the library's own instance.
      this.#books.counter!.value = 0n;
      compileDearFunctions(this, exports, this.#dear, flag);
    } finally {
      this.#precompiling = false;
      this.#books.counter!.value = counter;
      if (depth !== undefined) (zone as WebAssembly.Global).value = depth;
    }
  }

  /** Fuel the guest may still spend. */
  get remaining(): number {
    return this.#books.usage.remaining;
  }

  /**
   * `consumed` and `remaining` together, from one read of the guest's
   * counter (each read converts a 64-bit global to a number).
   */
  get usage(): { consumed: number; remaining: number } {
    return this.#books.usage;
  }

  /** Fuel the guest has spent since the meter was made. */
  get consumed(): number {
    return this.#books.usage.consumed;
  }

  /**
   * The most fuel handed to the guest at a time: the guest calls the host
   * back at least this often. Default: the whole tank.
   */
  get slice(): number {
    return this.#books.slice;
  }

  set slice(fuel: number) {
    checkFuel(fuel, "slice");
    this.#books.slice = fuel === 0 ? Infinity : fuel;
  }

  /**
   * Adds fuel to the tank. During a call capped with `fuel` (a `run`'s or
   * a guest call's), the tank is what that call may still draw: the fuel
   * added is the call's to spend, and the rest, set aside by the cap, comes
   * back when the call ends. Fuel that would take what the meter holds
   * (with what capped calls set aside) past 2^53 - 1, where its count stops
   * being exact, is a `RangeError`; `Infinity` always fits.
   *
   * @param fuel How much to add.
   */
  addFuel(fuel: number): void {
    this.#refuseFuel("addFuel");
    checkFuelRoom(
      this.remaining + this.#books.setAside(),
      checkFuel(fuel, "fuel"),
      "FuelMeter.addFuel",
    );
    this.#books.add(fuel);
    // A guest that cannot ask for more must hold it before it runs, and one
    // that ran dry gets the top-up at its next check, without settle().
    if (this.#stopHolds()) return;
    if (this.#books.refillsOnAdd) this.#settle();
  }

  /**
   * Sets the fuel the guest may still spend, whatever is left. During a
   * call capped with `fuel`, that is what the call may still draw, and the
   * rest of the tank, set aside by the cap, comes back when it ends (the
   * two together at most 2^53 - 1, else a `RangeError`). A call that was
   * stopped stays stopped.
   *
   * @param fuel The new amount.
   */
  setFuel(fuel: number): void {
    this.#refuseFuel("setFuel");
    checkFuelRoom(
      this.#books.setAside(),
      checkFuel(fuel, "fuel"),
      "FuelMeter.setFuel",
    );
    if (this.#stopHolds()) {
      // The stop holds: only what is left after it changes.
      this.#books.setParked(fuel);
      return;
    }
    this.#forgetDelivery();
    this.#books.set(fuel);
  }

  /**
   * Whether the guest counts fuel: `false` for a deadline-only meter
   * (`new FuelMeter(bytes, { fuel: false })`), whose guest only reads its
   * stop flag, and whose `consumed` stays 0.
   *
   * @example A meter for deadlines only
   * ```ts
   * import { FuelMeter } from "@early-exit/early-exit";
   * import assert from "node:assert/strict";
   *
   * const bytes = await Deno.readFile(new URL("../../guest/runaway.wasm", import.meta.url));
   * const meter = new FuelMeter(bytes, { fuel: false });
   * const { instance } = await WebAssembly.instantiate(meter.bytes, meter.imports);
   * meter.attach(instance);
   * const result = meter.run(instance.exports.spin as () => void, { timeout: 20 });
   * assert.equal(result.outcome, "timeout");
   * assert.equal(result.fuel, undefined);
   * assert.equal(meter.countsFuel, false);
   * ```
   */
  get countsFuel(): boolean {
    return this.#countsFuel;
  }

  /** Whether the guest can ask for more fuel and resume. */
  get resumable(): boolean {
    return this.#resumable;
  }

  /** Whether the guest's last request for fuel was refused. */
  get exhausted(): boolean {
    // A resumable guest's counter says nothing of it: not read.
    const books = this.#books;
    return books.exhaustedAt(this.#resumable ? undefined : books.readCounter());
  }

  /**
   * Makes the guest trap at its next check, whatever it does meanwhile
   * (even when it catches the exception that unwinds it).
   *
   * @param reason Why, as {@linkcode FuelMeter.stopReason} will say; the first reason wins.
   */
  stop(reason: StopReason = "host"): void {
    if (!this.#countsFuel) {
      // No counter to park: the flag alone stops the guest, and stays set
      // until the run ends, so the glue's calls back in trap too.
      if (this.#books.counter === undefined || this.#delivery.stopping) return;
      this.#reason ??= reason;
      // A guest from loadGuest has its flag in its call state, which the
      // hook sets.
      if (this.#flag !== undefined) Atomics.store(this.#flag, 0, 1);
      this.#delivery.stopping = true;
      this.#onStop?.();
      return;
    }
    const books = this.#books;
    if (books.counter === undefined || books.parked !== undefined) return;
    // Stopped already, or a stop waits for the guest to leave a zone.
    if (this.#delivery.delivered || this.#waitingForZone) return;
    this.#reason ??= reason;
    books.park();
    // A loop that costs no fuel still reads the flag.
    if (this.#flag !== undefined) Atomics.store(this.#flag, 0, 1);
    this.#delivery.markStopping();
    this.#onStop?.();
  }

  /**
   * Why the guest was last stopped: `fuel`, `deadline`, `abort`, `stop` or
   * `host`; `undefined` when nothing stopped it since the last call began
   * (a call through {@linkcode FuelMeter.run} or `Guest#invoke`).
   */
  get stopReason(): StopReason | undefined {
    // A guest that traps when its fuel is spent never tells the meter.
    return this.#reason ?? (this.exhausted ? "fuel" : undefined);
  }

  /**
   * Whether the guest has been stopped and the books are not settled yet.
   * A library that checks an interrupt hook of its own (QuickJS's
   * `setInterruptHandler`, SQLite's progress handler) can poll this, and
   * with `run(fn, { soft: true })` unwind by itself on its grace fuel.
   */
  get stopping(): boolean {
    return this.#delivery.hear();
  }

  /**
   * Runs `fn`, any JavaScript that calls into the attached instance (such
   * as `() => vm.evalCode(src)` or `() => db.exec(sql)`), under a fuel cap,
   * a deadline or stop signals, and reports how it ended as a
   * {@linkcode CallOutcome}: `returned` with `fn`'s value, or
   * `fuel_exhausted`, `timeout`, `aborted` (a `StopSignal` or
   * `AbortSignal`), `interrupted` ({@linkcode FuelMeter.stop}) or `trap`,
   * whatever the library's glue did with the trap on its way out. A
   * JavaScript error `fn` throws that is neither a stop nor a trap (the
   * library's own, such as SQLite's "syntax error") is the `error` outcome:
   * a `HostImportError` whose `cause` is what was thrown. `run` itself
   * throws only for a misuse (see below).
   *
   * After a stop the library's own cleanup gets `grace` fuel, booked
   * nowhere, so that it can finish; then the guest's shadow stack pointer is
   * put back (when the instance exports `__stack_pointer`, emscripten's
   * `stackSave`/`stackRestore` or wasm-bindgen's stack adjustment, or the
   * rewriter recognised it by its accessors) and the meter is ready for the
   * next call, with no step from the caller. What the library kept on its
   * heap is as the stop left it: a transaction left open must be rolled
   * back, for example.
   *
   * `run` holds the thread until `fn` returns, so an `AbortSignal` can
   * stop it only if aborted before; {@linkcode FuelMeter.runAsync} lets the
   * event loop run meanwhile, where the glue calls the guest through
   * `WebAssembly.promising` (emscripten's and wasm-bindgen's usual glue
   * calls exports directly, and cannot). Stop a `run` from another thread
   * with a `StopSignal`.
   *
   * Runs of one meter do not nest: a `run` or `runAsync` called while a
   * `run` is in progress (from `fn`, or from a host import the guest
   * called) throws a `TypeError`, since it would take over the outer
   * run's fuel cap, deadline and signals. Call the guest directly there:
   * the outer run's stops cover it.
   *
   * @example Capping a call's fuel
   * ```ts
   * import { FuelMeter } from "@early-exit/early-exit";
   * import assert from "node:assert/strict";
   *
   * const bytes = await Deno.readFile(new URL("../../guest/compute.wasm", import.meta.url));
   * const meter = new FuelMeter(bytes);
   * const { instance } = await WebAssembly.instantiate(meter.bytes, meter.imports);
   * meter.attach(instance);
   * const fib = instance.exports.fib as (n: number) => number;
   *
   * const stopped = meter.run(() => fib(30), { fuel: 10_000 });
   * assert.equal(stopped.outcome, "fuel_exhausted");
   * assert.equal(meter.stopReason, "fuel");
   * const done = meter.run(() => fib(10)); // ready again, no settle() needed
   * assert.equal(done.outcome === "returned" && done.value, 55);
   * assert.equal(meter.remaining, Infinity); // the cap never replaced the tank
   * ```
   *
   * @param fn What to run; it calls into the attached instance.
   * @param options Fuel cap, `timeout`, `stop`, `signal` and `grace`.
   * @returns How the call ended, with the fuel it used.
   * @throws {TypeError} When `fn` is not a function, the meter was made with `suspend: true` (use {@linkcode FuelMeter.runAsync}), a meter whose guest cannot resume is given a deadline or a signal, a run of this meter is in progress, `stop` is a StopSignal over a shared memory the attached instance exports, or `fn` returned a promise (whose work after its first await no stop would reach; the run is over when this is thrown).
   */
  run(fn: () => unknown, options?: MeterRunOptions): CallOutcome {
    if (this.#books.counter === undefined) {
      throw new TypeError("attach an instance of meter.bytes before run()");
    }
    checkRunFunction(fn, "FuelMeter.run");
    return runMetered(this, meterCalls, this.#stack, fn, options);
  }

  /**
   * {@linkcode FuelMeter.run} for calls that suspend (JSPI): awaits what
   * `fn` returns, and at every slice of fuel suspends the guest for one
   * turn of the event loop, so that timers, I/O and an `AbortSignal` run
   * while it does. `fn` must call the guest through
   * `WebAssembly.promising`, and the meter must be made with
   * `suspend: true`. One call at a time: a second `run` or `runAsync`
   * before this one ends is refused.
   *
   * @example Aborting a suspendable call from a timer
   * ```ts
   * import { FuelMeter } from "@early-exit/early-exit";
   * import assert from "node:assert/strict";
   *
   * const bytes = await Deno.readFile(new URL("../../guest/runaway.wasm", import.meta.url));
   * const meter = new FuelMeter(bytes, { suspend: true });
   * const { instance } = await WebAssembly.instantiate(meter.bytes, meter.imports);
   * meter.attach(instance);
   * const { promising } = WebAssembly as unknown as {
   *   promising(fn: unknown): () => Promise<void>;
   * };
   * const spin = promising(instance.exports.spin);
   * const controller = new AbortController();
   * setTimeout(() => controller.abort("enough"), 20);
   * const result = await meter.runAsync(spin, { signal: controller.signal });
   * assert.equal(result.outcome, "aborted");
   * assert.equal(meter.stopReason, "abort");
   * ```
   *
   * @param fn What to run; it calls into the attached instance through `WebAssembly.promising`.
   * @param options Fuel cap, `timeout`, `stop`, `signal` and `grace`.
   * @returns How the call ended, with the fuel it used.
   * @throws {TypeError} When the meter was not made with `suspend: true` (or this Deno lacks JSPI), a call is in flight, or `stop` is a StopSignal over a shared memory the attached instance exports.
   */
  runAsync(fn: () => unknown, options?: MeterRunOptions): Promise<CallOutcome> {
    if (this.#books.counter === undefined) {
      throw new TypeError(
        "attach an instance of meter.bytes before runAsync()",
      );
    }
    checkRunFunction(fn, "FuelMeter.runAsync");
    if (!this.#suspend) {
      throw new TypeError(
        "runAsync suspends the guest at every slice of fuel, which needs JSPI and a meter made with suspend: true (and calls through WebAssembly.promising); use run() for glue that calls the guest directly",
      );
    }
    return runMeteredAsync(this, meterCalls, this.#stack, fn, options);
  }

  /**
   * Resolves once the meter takes a new run. That is at once, unless a
   * {@linkcode FuelMeter.runAsync} is in flight (then once it has ended),
   * or the last one was stopped while its call waited
   * on a promise that is not the meter's: a library's own async import, or
   * the caller's JavaScript between calls into the guest. No check runs
   * during such a wait, so the run ends at its deadline, abort, StopSignal
   * or {@linkcode FuelMeter.stop} without the call; the meter stays
   * stopped, the call traps
   * as soon as it resumes, and until then a new run is refused.
   *
   * @example Waiting for a call stopped inside a library's own wait
   * ```ts
   * import { FuelMeter } from "@early-exit/early-exit";
   * import assert from "node:assert/strict";
   *
   * const bytes = await Deno.readFile(new URL("../../guest/runaway.wasm", import.meta.url));
   * const meter = new FuelMeter(bytes, { suspend: true });
   * const { instance } = await WebAssembly.instantiate(meter.bytes, meter.imports);
   * meter.attach(instance);
   * const { promising } = WebAssembly as unknown as {
   *   promising(fn: unknown): () => Promise<void>;
   * };
   * const spin = promising(instance.exports.spin);
   * let go = () => {};
   * const ready = new Promise<void>((resolve) => (go = resolve));
   * // The glue waits before it calls the guest: the deadline still lands.
   * const glue = async () => {
   *   await ready;
   *   await spin();
   * };
   * const result = await meter.runAsync(glue, { timeout: 20 });
   * assert.equal(result.outcome, "timeout");
   * go(); // the call then traps at the guest's first check
   * await meter.idle();
   * const next = await meter.runAsync(spin, { timeout: 20 });
   * assert.equal(next.outcome, "timeout");
   * ```
   *
   * @returns Settles when the meter takes a new run.
   */
  idle(): Promise<void> {
    return meterIdle(this);
  }

  /**
   * Settles the books after a call, however it ended: puts back fuel held
   * for a stop or an empty slice, and reloads the counter for the next call.
   * During a call that was stopped it does nothing: the stop holds until
   * the call ends, which settles the books itself.
   */
  settle(): void {
    // A stop made during a call holds until the call ends, which settles.
    if (this.#stopHolds()) return;
    this.#settle();
  }

  // The books: fuel moved between the tank and the guest's counter
  // (`fuel_books.ts`), and what a stop changes in them.

  #settle(): void {
    this.#forgetDelivery();
    this.#books.returnSlice();
    this.#books.refill();
    this.#clearStop();
  }

  /**
   * Whether a call is in progress and was stopped: its stop holds until it
   * ends, whatever the host does to the fuel meanwhile.
   */
  #stopHolds(): boolean {
    if (this.#books.runs === 0 && !this.#stranded) return false;
    return this.#countsFuel
      ? this.#books.parked !== undefined
      : this.#delivery.stopping;
  }

  /** A deadline-only guest's stop is its flag: clears it. */
  #clearStop(): void {
    if (!this.#countsFuel) Atomics.store(this.#flag!, 0, 0);
  }

  /** Refuses fuel to a deadline-only meter, which counts none. */
  #refuseFuel(what: string): void {
    if (this.#countsFuel) return;
    throw new ExportError(
      `FuelMeter.${what}: this meter was made with fuel: false, which counts no fuel; make the meter with a fuel budget (new FuelMeter(bytes) for an unlimited one) to give it fuel`,
    );
  }

  /** Forgets a stop's delivery, and its grace, as the slice comes back. */
  #forgetDelivery(): void {
    this.#delivery.forget();
    this.#waitingForZone = false;
    this.#zones.forget();
  }

  // What the runners do around one call (see `meter_calls.ts`).

  static {
    meterCalls = {
      begin: (meter, cap) => meter.#begin(cap),
      end: (meter, level) => meter.#end(level),
      level: (meter) => meter.#books.runs,
      stoppedSinceBegin: (meter) => meter.#reason !== undefined,
      watch: (meter, poll, yields) => {
        meter.#callPoll = poll;
        meter.#yields = yields;
      },
      grace: (meter, fuel, soft, onStopping) => {
        meter.#delivery.beginRun(checkFuel(fuel, "grace"), soft, onStopping);
      },
      offBooks: (meter, fn, afterStop) => meter.#offBooks(fn, afterStop),
      forgetStop: (meter) => meter.#forgetStop(),
      strand: (meter, stranded) => void (meter.#stranded = stranded),
      insideZone: (meter) => meter.#zones.inside,
      flag: (meter) => meter.#flag,
      suspends: (meter) => meter.#suspend,
      onStop: (meter, onStop) => {
        const before = meter.#onStop;
        meter.#onStop = onStop;
        return before;
      },
      charge: (meter, fuel) => meter.#charge(fuel),
      callsSinceAttach: (meter) => meter.#callsSinceAttach,
      forGuest: (meter) => void (meter.#warmsRun = false),
    };
  }

  #charge(fuel: number): boolean {
    if (!this.#countsFuel || this.#books.counter === undefined || fuel <= 0) {
      return true;
    }
    // A stop is pending: nothing after it is charged.
    if (
      this.#books.parked !== undefined || this.#delivery.delivered ||
      this.#waitingForZone
    ) {
      return true;
    }
    if (this.#books.charge(fuel)) return true;
    this.#reason ??= "fuel";
    return false;
  }

  #begin(cap: number | undefined): MeterBooks {
    if (cap !== undefined && this.#countsFuel) checkFuel(cap, "fuel");
    const books = this.#books;
    const level = books.runs;
    // No check of an earlier call is still waiting for its answer.
    if (level === 0) books.waiting = undefined;
    this.#callsSinceAttach++;
    if (!this.#countsFuel) {
      // No books; the flag was cleared before the run's watch was armed.
      books.enter(level);
      this.#delivery.stopping = false;
      this.#reason = undefined;
      return this.usage;
    }
    this.#forgetDelivery();
    this.#zones.leaveAll();
    this.#reason = undefined;
    return books.begin(level, cap);
  }

  #forgetStop(): void {
    if (
      this.#books.parked === undefined && !this.#delivery.delivered &&
      !this.#delivery.stopping && this.#reason === undefined
    ) return;
    this.#forgetDelivery();
    this.#books.returnSlice();
    this.#books.refill();
    this.#reason = undefined;
  }

  #end(level = this.#books.runs - 1): MeterBooks & { exhausted: boolean } {
    const books = this.#books;
    // Already ended: the call's end was cut short after its books.
    if (books.runs <= level) return { ...this.usage, exhausted: false };
    // One read of the counter serves the whole settling.
    const raw = books.readCounter();
    const exhausted = books.exhaustedAt(raw);
    // A guest that traps when its fuel is spent never tells the meter, and
    // the books below refill its counter: say why it stopped first.
    if (exhausted) this.#reason ??= "fuel";
    // The run's watch is disposed: nothing sets the flag for it any more.
    this.#clearStop();
    this.#zones.leaveAll();
    this.#callPoll = undefined;
    this.#yields = false;
    this.#delivery.endRun();
    this.#forgetDelivery();
    // What this call set aside comes back, and so does what calls nested
    // in it set aside whose end a stack overflow cut short.
    return { ...books.end(level, raw), exhausted };
  }

  // A stop put off while the guest is in a no-stop zone (`zone_wait.ts`).

  /**
   * Puts a stop off while the guest is inside a zone and the grace can pay
   * for `need`: hands the grace to the guest and marks the zone global, so
   * that the wrapper that leaves the last zone asks again. Returns the
   * counter to give the guest, or `undefined` when the stop lands now.
   */
  #waitForZone(need: number): bigint | undefined {
    const zones = this.#zones;
    if (!zones.present || this.#delivery.soft) return undefined;
    const value = zones.read();
    if (!this.#waitingForZone) zones.begin();
    if (
      (value & ZONE_DEPTH) === 0 || this.#delivery.grace < need ||
      !zones.affords(need) ||
      (this.#waitingForZone && zones.over())
    ) {
      this.#endZoneWait(0);
      return undefined;
    }
    if (!this.#waitingForZone) zones.startClock();
    this.#waitingForZone = true;
    zones.restartChecks();
    this.#delivery.markStopping();
    zones.markWaiting(value);
    // Every loop header and function entry in the zone asks again, so a
    // loop the cost table makes free is bounded too.
    if (this.#flag !== undefined) Atomics.store(this.#flag, 0, 1);
    // At most ZONE_WAIT_FUEL in all, what the guest gave back counting
    // again; the rest of the grace stays for the glue's cleanup.
    const give = zones.handOut(this.#delivery.grace);
    this.#delivery.grace -= give;
    return BigInt(give - need);
  }

  /**
   * Ends a stop's wait for the guest to leave its zone (or one never
   * begun): the grace gets back `left`, what the guest had left of what
   * it was handed, and what the chunks counted, which paid for no fuel.
   */
  #endZoneWait(left: number): void {
    const chunks = this.#zones.end();
    if (this.#waitingForZone) {
      this.#delivery.grace += Math.max(0, left) + chunks;
    }
    this.#waitingForZone = false;
  }

  // The host's own calls into the guest, outside the books.

  #offBooks<T>(fn: () => T, afterStop = false): T {
    if (!this.#countsFuel) {
      return offBooksWithoutFuel(this.#flag!, fn, afterStop);
    }
    const counter = this.#books.counter;
    if (counter === undefined) return fn();
    const saved = counter.value;
    const flagWas = this.#flag === undefined ? 0 : Atomics.load(this.#flag, 0);
    // Any check that still runs dry is refused, and the books never see it;
    // a check that finds the flag set GRACE_MS after this call began traps.
    const putBack = this.#delivery.hostCall(afterStop);
    counter.value = BigInt(OFF_BOOKS_FUEL);
    const guard = guardHostCall(this.#flag);
    try {
      return fn();
    } finally {
      endGuard(this.#flag, guard, flagWas);
      counter.value = saved;
      putBack();
    }
  }

  // The guest's imports: asked at a slice, or when a check finds its flag set.

  /**
   * The guest's `on_stop_flag`: called when it finds its stop flag set, by
   * the watchdog at a deadline or for a StopSignal, or by
   * {@linkcode FuelMeter.stop}. Returns 1 to make it trap.
   */
  readonly #onStopFlag = (): number => {
    if (Atomics.load(this.#flag!, 0) === 0) return this.#pollForStop();
    Atomics.store(this.#flag!, 0, 0);
    // After the stop, the glue's cleanup calling back in: its fuel checks
    // pay for it from the grace, for GRACE_MS at most.
    if (this.#delivery.delivered) {
      if (!this.#delivery.over()) return this.#delivery.goesOn();
      this.#cutIfInZone();
      return 1;
    }
    const counter = this.#books.counter!;
    if (this.#waitingForZone) {
      // A pass in the zone costs its grace (see `ZoneWait.passCheck`).
      const now = counter.value;
      const next = this.#zones.passCheck(now);
      if (next !== undefined) {
        counter.value = next;
        Atomics.store(this.#flag!, 0, 1);
        return 0;
      }
      this.#endZoneWait(Number(now) - 1);
    } else {
      if (this.#books.parked === undefined && this.#callPoll?.() !== true) {
        if (!innerStopDue(this.#flag)) return 0;
        // A call of another guest made inside this run reached this
        // guest's code, and its stop is due: the code traps, unwinding to
        // that call, and this run goes on (`flags_in_calls.ts`).
        Atomics.store(this.#flag!, 0, 1);
        return 1;
      }
      if (this.#books.parked === undefined) this.stop();
      // A soft stop traps at the first fuel check once the grace is spent.
      if (this.#delivery.soft) return 0;
      const waiting = this.#waitForZone(0);
      if (waiting !== undefined) {
        counter.value = waiting;
        return 0;
      }
    }
    this.#delivery.deliver();
    this.#delivery.markStopping();
    return 1;
  };

  /**
   * `on_stop_flag` called with the flag clear, by a bulk operator between
   * its chunks: asks whether a stop is due (the deadline by this thread's
   * clock), and only then goes on as if the flag were set. Never suspends.
   */
  readonly #pollForStop = (): number => {
    if (this.#delivery.delivered || this.#waitingForZone) return 0;
    if (this.#books.parked === undefined && this.#callPoll?.() !== true) {
      return 0;
    }
    Atomics.store(this.#flag!, 0, 1);
    return this.#onStopFlag();
  };

  /**
   * `on_stop_flag` for a meter whose guest may suspend: in an async run,
   * the watchdog sets the flag every tick, and the guest waits one turn of
   * the event loop before the check, even in a loop that costs no fuel.
   * A stop the run's watch finds due already (its deadline, StopSignal or
   * signal; never the user's `poll`) is answered before that turn, which
   * could run other work and V8's pending tasks first.
   */
  readonly #onStopFlagAsync = (): number | Promise<number> => {
    const flag = this.#flag!;
    if (Atomics.load(flag, 0) === 0) return this.#pollForStop();
    if (
      !this.#yields || this.#delivery.delivered ||
      this.#books.parked !== undefined ||
      this.#waitingForZone
    ) {
      return this.#onStopFlag();
    }
    // Cleared first, so that a set that races with the watch's look is
    // not lost; set again for a due stop, which the check then delivers.
    Atomics.store(flag, 0, 0);
    if (this.#callPoll?.() === true || innerStopDue(flag)) {
      Atomics.store(flag, 0, 1);
      return this.#onStopFlag();
    }
    // Its turn comes after the other async guests' slices, unless its stop
    // comes due meanwhile: the next guest that yields then wakes it.
    return turnUnlessDue(this.#stopDue).then(this.#onStopFlag);
  };

  /**
   * Whether the run's stop is due (and, if so, recorded), asked by other
   * guests' yields while this one waits for its turn.
   */
  readonly #stopDue = (): boolean => this.#callPoll?.() === true;

  /** The guest's import: called when a charge takes the counter below zero. */
  readonly #outOfFuel = (
    counter: bigint,
    cost: bigint,
  ): bigint | Promise<bigint> => {
    if (this.#precompiling) return -1n;
    if (isDetachedCounter(counter)) {
      throw new TypeError(
        "an instance that is no longer attached to this FuelMeter was called (attach() took another instance of its bytes, and the old one's fuel went back to the meter): call the instance attached, or give each instance a meter of its own",
      );
    }
    const need = Number(cost);
    if (this.#delivery.delivered) return this.#delivery.spend(need);
    if (this.#waitingForZone) {
      // The guest left its last zone (a cost of 0, from the wrapper), or
      // spent the grace it was given inside: what it has left is grace,
      // and counts again towards the wait's ZONE_WAIT_FUEL.
      const left = Math.max(0, Number(counter + cost));
      this.#delivery.grace += left;
      this.#zones.giveBack(left);
      return this.#deliver(need);
    }
    if (this.#books.parked !== undefined) {
      return this.#park(this.#books.parked, need);
    }
    // What was left of the slice before the charge that failed.
    const before = Math.max(0, Number(counter + cost));
    // A stop recorded from inside poll must see the slice as it was.
    this.#books.waiting = before;
    let stop: boolean | Promise<boolean>;
    try {
      stop = this.#callPoll?.() || this.#askPoll();
    } catch (error) {
      // A hook threw (onStopping, poll): the run ends here.
      this.#books.waiting = undefined;
      throw error;
    }
    if (stop === false && this.#yields) {
      // An async run: timers, I/O and abort events get their turn, then
      // the call looks again; unless `poll` itself made a stop due (set
      // the run's StopSignal, aborted its signal), which needs no turn.
      stop = this.#callPoll?.() === true ||
        turnUnlessDue(this.#stopDue).then(() => this.#callPoll?.() ?? false);
    }
    if (stop === false || stop === true) this.#books.waiting = undefined;
    if (stop === false) return this.#grant(before, need);
    if (stop === true) return this.#park(before, need);
    return stop.then((now) => {
      this.#books.waiting = undefined;
      const stops = now ?? false;
      checkHookResult(stops, "boolean", "poll's promise");
      return stops ? this.#park(before, need) : this.#grant(before, need);
    }, (error) => {
      this.#books.waiting = undefined;
      throw error;
    });
  };

  /**
   * What the meter's `poll` answers: a boolean, or for a meter that may
   * suspend, a promise of one. No answer is no stop.
   */
  #askPoll(): boolean | Promise<boolean> {
    const stop = this.#poll?.() ?? false;
    if (stop instanceof Promise) {
      this.#canWait(stop, "poll");
      return stop;
    }
    checkHookResult(stop, "boolean", "poll", this.#suspend);
    return stop;
  }

  /**
   * Refuses a hook's promise that the guest cannot wait for: only a meter
   * made with `suspend: true` may suspend the guest on one.
   */
  #canWait(promise: Promise<unknown>, hook: string): void {
    if (this.#suspend) return;
    // Nobody waits for it: a later rejection must not go unhandled.
    promise.then(undefined, () => {});
    throw new TypeError(
      `FuelMeter's ${hook} returned a promise, which only a meter made with suspend: true (its calls made through WebAssembly.promising) can wait for: return a ${
        hook === "poll" ? "boolean" : "number"
      }, or make the meter with suspend: true and run it with runAsync`,
    );
  }

  // A stop delivered, and the grace the glue's cleanup runs on after it.

  /** Stops the guest: it traps now, or in a soft stop runs on its grace. */
  #park(before: number, need: number): bigint {
    this.#books.parkAt(before);
    this.#reason ??= "host";
    return this.#deliver(need);
  }

  #deliver(need: number): bigint {
    const waiting = this.#waitForZone(need);
    if (waiting !== undefined) return waiting;
    const delivery = this.#delivery;
    delivery.deliver();
    delivery.markStopping();
    return delivery.soft ? delivery.spend(need) : -1n;
  }

  /**
   * Marks the run as stopped inside a no-stop zone when the guest is in one
   * as it traps: the stop itself, or the cleanup after it (which may be in
   * the allocator) once its grace is spent. A trap of the guest's own
   * that unwound through a zone leaves the depth up until the run ends, so
   * a later stop in that run is marked too: that trap cut the zone.
   */
  #cutIfInZone(): void {
    if (this.#zones.inside) stopsInZone.add(this);
  }

  // Fuel granted at a slice.

  /** Pays for a block of cost `need`, or refuses (-1) when the fuel is gone. */
  #grant(before: number, need: number): bigint | Promise<bigint> {
    if (this.#books.parked !== undefined) return -1n;
    const available = before + this.#books.tank;
    if (available < need && this.#refuel !== undefined) {
      const more = this.#refuel(need - available);
      if (typeof more === "number") return this.#pay(before, need, more);
      if (!(more instanceof Promise)) {
        checkHookResult(more, "number", "refuel", this.#suspend);
      }
      this.#canWait(more, "refuel");
      this.#books.waiting = before;
      return more.then((fuel) => {
        this.#books.waiting = undefined;
        return this.#books.parked === undefined
          ? this.#pay(before, need, fuel)
          : this.#park(before, need);
      }, (error) => {
        this.#books.waiting = undefined;
        throw error;
      });
    }
    return this.#pay(before, need, 0);
  }

  #pay(before: number, need: number, added: number): bigint {
    const books = this.#books;
    checkFuelRoom(
      before + books.tank + books.setAside(),
      checkFuel(added, "fuel added by refuel"),
      "refuel",
    );
    const counter = books.pay(before, need, added);
    if (counter !== undefined) return counter;
    this.#reason ??= "fuel";
    return this.#deliver(need);
  }
}

/**
 * Runs `FuelMeter.run`'s stop path once per process (see
 * `meter_warmup.ts`), when it can: the first attach of a caller's meter
 * does, and so does `prepareStops`.
 */
export function warmMeterRuns(): void {
  warmMeterStopPath((bytes) => new FuelMeter(bytes), meterCalls.flag);
}
