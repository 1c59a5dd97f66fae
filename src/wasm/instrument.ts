/**
 * The rewriter's public API: {@linkcode instrument}, its options and its
 * result. A metered module counts its work in an added `i64` global and
 * calls an added import, `out_of_fuel`, when a check finds the count spent;
 * when checks cannot resume it traps instead, and needs no import at all. `docs/rewriter.md` describes what
 * is added, where checks go, what operators cost and which errors come out.
 *
 * @example Metering a loop
 * ```ts
 * import { instrument } from "./instrument.ts";
 * import assert from "node:assert/strict";
 *
 * // (func (export "run") (param $n i32)
 * //   (loop (br_if 0 (local.tee $n (i32.sub (local.get $n) (i32.const 1))))))
 * const guest = new Uint8Array([
 *   0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // header
 *   0x01, 0x05, 0x01, 0x60, 0x01, 0x7f, 0x00, // type (i32) -> ()
 *   0x03, 0x02, 0x01, 0x00, // one function of type 0
 *   0x07, 0x07, 0x01, 0x03, 0x72, 0x75, 0x6e, 0x00, 0x00, // export "run"
 *   0x0a, 0x10, 0x01, 0x0e, 0x00, 0x03, 0x40, 0x20, 0x00, 0x41, 0x01, 0x6b,
 *   0x22, 0x00, 0x0d, 0x00, 0x0b, 0x0b, // code
 * ]);
 * const metered = instrument(guest);
 * let granted = 0n;
 * const { instance } = await WebAssembly.instantiate(metered.bytes, {
 *   [metered.importModule]: {
 *     [metered.importName]: (counter: bigint) => {
 *       granted += 1000n;
 *       return counter + 1000n;
 *     },
 *   },
 * });
 * (instance.exports.run as (n: number) => void)(10);
 * const fuel = instance.exports[metered.fuelExport] as WebAssembly.Global;
 * assert.equal(granted - fuel.value, 50n); // 5 per iteration
 * ```
 *
 * @module
 */

import { InvalidModule, isEarlyExitError } from "../errors.ts";
import { readOptions } from "../option_names.ts";
import { checkBooleanValue } from "../option_checks.ts";
import { IMPORT_NAME } from "./added_functions.ts";
import { type CostTable, resolveCosts } from "./costs.ts";
import { startFunction } from "./deferred_start.ts";
import { ModuleRewriter } from "./module_rewriter.ts";
import type { InPlace, OutputAllocator } from "./output_plan.ts";
import { sectionCount } from "./sections.ts";
import { pickZones, wrapZones, ZoneOptionError } from "./stop_zones.ts";
import { keepShapes, primeOnce } from "./primer.ts";
import { runSteps, type Steps } from "./steps.ts";
import { LIMITS, type ModuleInfo } from "./module.ts";
import {
  type AddedMemory,
  type AddedMemoryDescriptor,
  FLAG_CALLBACK_NAME,
  FLAG_MEMORY_NAME,
} from "./stop_flag.ts";
import { ownView } from "../bytes.ts";

export type { AddedMemory, AddedMemoryDescriptor, CostTable };

/**
 * Options for {@linkcode instrument}.
 *
 * @example Usage
 * ```ts
 * import type { InstrumentOptions } from "./instrument.ts";
 *
 * const options: InstrumentOptions = { costs: { default: 2 } };
 * ```
 */
export interface InstrumentOptions {
  /** Operator prices; see {@linkcode CostTable}. */
  costs?: CostTable;
  /**
   * The preferred module name of the added import; suffixed `-1`, `-2`, …
   * if the guest already imports from a module of that name.
   *
   * @default {"early-exit"}
   */
  importModule?: string;
  /**
   * The preferred export name of the fuel counter; suffixed `-1`, `-2`, …
   * if the guest already exports that name.
   *
   * @default {"early-exit:fuel"}
   */
  fuelExport?: string;
  /**
   * Whether a check that finds the fuel spent calls `out_of_fuel`, which may
   * hand out more and let the guest resume (slices, deadlines, async
   * yields), or traps on the spot. A trapping check leaves `-1 - fuel` in
   * the counter, where `fuel` is what was left before the block it could
   * not pay for. V8 optimises loops that contain no call much better (it
   * unrolls them, among other things), so code metered without resuming
   * runs markedly faster in tight loops.
   *
   * @default {true}
   */
  resumable?: boolean;
  /**
   * The counter's starting value. A module that cannot resume must start
   * with its fuel, since its start function runs before the host can set
   * the counter.
   *
   * @default {0n}
   */
  initialFuel?: bigint;
  /**
   * Whether to check the input with `WebAssembly.validate` first and throw
   * {@linkcode InvalidModule} (with the engine's reason and offset) if it is
   * not valid. The rewriter itself checks structure, not types, and turns
   * every valid module into a valid one (the spec suite and differential
   * fuzzing check that), so this is what guarantees a valid result. A host
   * that has compiled the input already may turn it off.
   *
   * @default {true}
   */
  validate?: boolean;
  /**
   * Whether the module also checks a stop flag at every function entry and
   * loop header, whatever those cost: the first byte of a shared one-page
   * memory, imported as `stop_flag` (last in the memory index space; a host
   * sets it by storing 1 in the memory's first `i32`, and clears it by
   * storing 0). Only that byte is read: a host that stores other values
   * must keep the first byte of each non-zero (256, or a counter that wraps
   * to a multiple of 256, is no stop). When the byte is not 0, the guest
   * calls the added function import
   * `on_stop_flag: () -> i32`, and traps with `unreachable` if that
   * returns 1 (0 lets it go on). Any thread may set the flag, so a
   * watchdog can stop a guest whatever it does between checks of fuel.
   * Between the chunks of a bulk operator, the guest also calls
   * `on_stop_flag` with the flag clear (a poll): the host answers 1 only
   * when a stop is due by its own clock, and must not suspend there. So it
   * does each time its GC allocations (structs, arrays, exceptions, the
   * strings of `wasm:js-string`'s `fromCharCodeArray` and `concat`) come
   * to 4 MiB, leaving their bytes as an `i64` at byte 16 of the flag
   * memory, for a host that bounds its heap.
   *
   * So that the flag memory can come last without renumbering the guest's
   * memories, every memory the module defines is imported instead, with
   * the same type; {@linkcode InstrumentedModule.stopFlag} lists what the
   * host must create.
   *
   * @default {false}
   */
  stopFlag?: boolean;
  /**
   * Whether a check that finds the stop flag set traps at once instead of
   * calling `on_stop_flag` (which is still imported). V8 optimises a loop
   * that contains a call, even one that never runs, much worse: a tight
   * loop with the trapping check ran about 1.25 times the plain loop's
   * time, and about 3 times with the callback. The price: the host cannot
   * let the guest go on (no yields from the check), and every set flag is
   * a stop. Needs {@linkcode InstrumentOptions.stopFlag}.
   *
   * @default {false}
   */
  stopFlagTraps?: boolean;
  /**
   * Whether to count fuel. With `false` (which needs
   * {@linkcode InstrumentOptions.stopFlag}), the module checks only the
   * stop flag, for hosts that need deadlines and stops but no budget: the
   * counter and `out_of_fuel` are still there, but nothing uses them.
   *
   * @default {true}
   */
  fuel?: boolean;
  /**
   * Whether to drop the start section and export the start function
   * instead, as {@linkcode InstrumentedModule.startExport}, so that the
   * host calls it after instantiation as an ordinary call it can watch
   * and stop (a start function runs inside instantiation, where no stop
   * can reach it and a suspending guest cannot suspend).
   *
   * @default {false}
   */
  deferStart?: boolean;
  /**
   * Whether to export the shadow stack pointer (the mutable global below
   * which C, C++ and Rust code keep their stack) when the module's own
   * accessors show which global it is, though its name was stripped: an
   * exported function whose whole body is `global.get N` and another whose
   * whole body is `local.get 0; global.set N`, as emscripten's `stackSave`
   * and `stackRestore` are. A stop skips the epilogues that move the
   * pointer back up, so a host that stops the guest restores it through
   * this export ({@linkcode InstrumentedModule.stackPointerExport}).
   *
   * @default {false}
   */
  exportStackPointer?: boolean;
  /**
   * Functions a stop waits for the guest to leave (*no-stop zones*), by
   * export name or function index: a library's allocator, or its own code
   * that frees a buffer before it stores the next one, where a stop would
   * leave the heap for its cleanup to corrupt. Each is wrapped so that an
   * added `i32` global, exported as
   * {@linkcode InstrumentedModule.zoneExport}, counts how deep the guest
   * is in zones; the host reads it in the failure arm of a check and may
   * put the stop off until the guest leaves (see `stop_zones.ts`).
   * `FuelMeter` does that, with a bound. Needs resumable checks that ask
   * `on_stop_flag` (not {@linkcode InstrumentOptions.stopFlagTraps}).
   *
   * @default {[]}
   */
  stopsWaitFor?: readonly (string | number)[];
  /**
   * Whether the exported allocator functions the module has (`malloc`,
   * `free`, `realloc`, `calloc`, `_malloc`, `emscripten_builtin_malloc`,
   * `dlmalloc`, `__wbindgen_malloc`, ...) are zones too, as
   * {@linkcode InstrumentOptions.stopsWaitFor} would make them.
   *
   * @default {false}
   */
  stopsWaitForAllocator?: boolean;
  /**
   * With {@linkcode InstrumentOptions.stopFlag}: whether to export the
   * flag memory as well, as {@linkcode StopFlagImports.export}, so that a
   * host handed an instance can check that it reads the flag the host
   * sets (an instance made with another host's imports would never stop).
   *
   * @default {false}
   */
  exportStopFlag?: boolean;
  /**
   * With {@linkcode InstrumentOptions.stopFlag}, the most bytes one GC
   * array allocated by length (`array.new`, `array.new_default`,
   * `array.new_data`, `array.new_elem`) may take, counting each element as
   * the engine lays it out (`i8` 1 byte, `i16` 2, `i32` and `f32` 4, `v128`
   * 16, others 8): a longer one traps as the engine's own too-large arrays
   * do, before anything is allocated. The engine makes and fills an array
   * in one step no check interrupts, so this bounds how late a stop lands.
   *
   * @default {undefined} (no cap)
   */
  arrayBytes?: number;
  /**
   * With {@linkcode InstrumentOptions.stopFlag}: whether to
   * export a function that calls, given `k`, the `k`th function dear to
   * compile (past an eighth of either compile limit), with zeros for its
   * parameters ({@linkcode InstrumentedModule.precompile}). The engine
   * compiles a function at its first call, and no check runs in that
   * compile; called on an instance whose stop flag is set, each function
   * is compiled and traps at its entry check. The engine shares compiled
   * code between a module's instances, so a host can do that on another
   * thread before the guest's first call. Functions with a parameter that
   * is not a number or a vector are left out.
   *
   * @default {false}
   */
  precompile?: boolean;
}

/**
 * What the host provides to a module instrumented with
 * {@linkcode InstrumentOptions.stopFlag}, all from
 * {@linkcode InstrumentedModule.importModule}.
 *
 * @example Usage
 * ```ts
 * import { instrument } from "./instrument.ts";
 * import assert from "node:assert/strict";
 *
 * const empty = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
 * const { stopFlag } = instrument(empty, { stopFlag: true });
 * assert.equal(stopFlag?.memory, "stop_flag");
 * ```
 */
export interface StopFlagImports {
  /** The field name of the flag memory: `"stop_flag"`. */
  memory: string;
  /** The field name of the callback: `"on_stop_flag"`. */
  callback: string;
  /**
   * Every memory to create and pass, in memory index order: the ones the
   * module defined (`"memory<N>"`, `N` its index), then the flag memory.
   */
  memories: AddedMemory[];
  /**
   * With {@linkcode InstrumentOptions.exportStopFlag}: the export name of
   * the flag memory, the very memory the instance was given.
   */
  export?: string;
}

/**
 * A metered module and the names the host needs to run it.
 *
 * @example Usage
 * ```ts
 * import { instrument } from "./instrument.ts";
 * import assert from "node:assert/strict";
 *
 * const empty = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
 * const metered = instrument(empty);
 * assert.equal(metered.importName, "out_of_fuel");
 * assert.ok(WebAssembly.validate(metered.bytes));
 * ```
 */
export interface InstrumentedModule {
  /** The metered module. */
  bytes: Uint8Array<ArrayBuffer>;
  /** The module name of the one function import that was added. */
  importModule: string;
  /** Its field name: `"out_of_fuel"`. */
  importName: string;
  /** The export name of the fuel counter, a mutable `i64` global. */
  fuelExport: string;
  /** Whether a failed check calls `out_of_fuel` (else it traps). */
  resumable: boolean;
  /** Whether the module counts fuel (see {@linkcode InstrumentOptions.fuel}). */
  fuel: boolean;
  /** The counter's starting value. */
  initialFuel: bigint;
  /** With {@linkcode InstrumentOptions.stopFlag}: what the host provides. */
  stopFlag?: StopFlagImports;
  /**
   * With {@linkcode InstrumentOptions.deferStart}, if the module has a
   * start function: its export name, `"<importModule>:start"` (suffixed
   * `-1`, `-2`, … if taken). The host must call it once, right after
   * instantiation, before anything else.
   */
  startExport?: string;
  /**
   * With {@linkcode InstrumentOptions.exportStackPointer}, if the module's
   * accessors name its stack pointer: the export name of that global,
   * `"<importModule>:stack_pointer"` (suffixed `-1`, `-2`, … if taken).
   */
  stackPointerExport?: string;
  /**
   * With {@linkcode InstrumentOptions.precompile}, if the module has
   * functions dear to compile: the export name of the function that calls
   * them, `"<importModule>:precompile"` (suffixed `-1`, `-2`, … if taken),
   * of type `(param i32)`, and how many it calls (`0` to `functions - 1`).
   */
  precompile?: { export: string; functions: number };
  /**
   * With zones (see {@linkcode InstrumentOptions.stopsWaitFor}): the export
   * name of the zone global, `"<importModule>:zone"` (suffixed `-1`, `-2`,
   * … if taken), a mutable `i32` whose bits 0 to 29 count how deep the
   * guest is in zones and whose bit 30 the host sets to say a stop waits.
   */
  zoneExport?: string;
}

const DEFAULT_IMPORT_MODULE = "early-exit";
const DEFAULT_FUEL_EXPORT = "early-exit:fuel";

function checkInitialFuel(value: unknown): bigint {
  if (typeof value !== "bigint" || value < 0n || value >= 1n << 63n) {
    throw new TypeError(
      `Cannot use initialFuel: expected a bigint from 0 to 2^63 - 1, got ${value}`,
    );
  }
  return value;
}

function checkZoneList(value: unknown): readonly (string | number)[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    throw new ZoneOptionError(
      `Cannot use stopsWaitFor: expected an array of export names and function indices, got ${typeof value}`,
    );
  }
  return value;
}

/**
 * Refuses a module of `has` exports to which metering with zones adds
 * `added`, past the engine's limit.
 */
function refuseZoneExports(has: number, added: number): never {
  throw new InvalidModule(
    `the module defines ${has} exports and metering with zones adds ${added}: more than the engine's limit of ${LIMITS.exports}; meter a module with fewer exports`,
    { offset: 0 },
  );
}

/**
 * Refuses, before the rewrite, a module whose export count shows that the
 * zones' export would take it past the engine's limit: the count heads its
 * section, and the rewrite adds the fuel counter's export, the deferred
 * start's if there is one, and the zones'. (When the others alone are too
 * many, the rewriter says so; the stack pointer's export is known only
 * after the rewrite, and so is counted there.)
 */
function checkZoneExportsAhead(bytes: Uint8Array, deferStart: boolean): void {
  const exports = sectionCount(bytes, 7);
  if (exports === undefined) return;
  const added = 1 +
    (deferStart && startFunction(bytes) !== undefined ? 1 : 0);
  if (
    exports + added <= LIMITS.exports && exports + added + 1 > LIMITS.exports
  ) {
    refuseZoneExports(exports, added + 1);
  }
}

/** `base`, or `base-1`, `base-2`, … whichever is not taken. */
function uniqueExportName(base: string, taken: readonly string[]): string {
  const names = new Set(taken);
  if (!names.has(base)) return base;
  for (let i = 1;; i++) {
    if (!names.has(`${base}-${i}`)) return `${base}-${i}`;
  }
}

function checkName(value: unknown, option: string): string {
  if (typeof value !== "string") {
    throw new TypeError(
      `Cannot use ${option}: expected a string, got ${typeof value}`,
    );
  }
  return value;
}

/**
 * Rewrites a WebAssembly module so that it meters its own execution with a
 * fuel counter, as described in this module's documentation.
 *
 * @param bytes The guest module.
 * @param options Costs and preferred names.
 * @returns The metered module and the names of what was added.
 * @throws {InvalidModule} If `bytes` is not a well-formed module, uses an
 *   unknown opcode or an index out of range.
 * @throws {TypeError} If `options` holds an unknown operator name, a cost
 *   that is not an integer from 0 to 2^31 - 1, or a name that is not a
 *   string.
 *
 * @example Usage
 * ```ts
 * import { instrument } from "./instrument.ts";
 * import assert from "node:assert/strict";
 *
 * // (module (func (export "answer") (result i32) (i32.const 42)))
 * const guest = new Uint8Array([
 *   0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60,
 *   0x00, 0x01, 0x7f, 0x03, 0x02, 0x01, 0x00, 0x07, 0x0a, 0x01, 0x06, 0x61,
 *   0x6e, 0x73, 0x77, 0x65, 0x72, 0x00, 0x00, 0x0a, 0x06, 0x01, 0x04, 0x00,
 *   0x41, 0x2a, 0x0b,
 * ]);
 * const metered = instrument(guest);
 * const { instance } = await WebAssembly.instantiate(metered.bytes, {
 *   [metered.importModule]: { [metered.importName]: () => 1n << 62n },
 * });
 * assert.equal((instance.exports.answer as () => number)(), 42);
 * ```
 */
export function instrument(
  bytes: Uint8Array,
  options: InstrumentOptions = {},
): InstrumentedModule {
  // A misspelt `stopFlag` would give a module without the flag, which no
  // deadline could stop.
  const read = readOptions(options, OPTION_NAMES, "instrument");
  // And a switch of another type would be taken for true or false by how
  // it reads (`validate: 0` skipped the check of the input).
  for (const name of SWITCH_NAMES) {
    checkBooleanValue(read[name], `instrument's ${name}`);
  }
  return instrumentModule(bytes, read).metered;
}

/**
 * Every option {@linkcode instrument} takes, in the order its refusal of
 * an unknown one lists them: `switch` for those that are true or false.
 */
const OPTION_KINDS: Readonly<
  Record<keyof InstrumentOptions, "switch" | "value">
> = {
  costs: "value",
  importModule: "value",
  fuelExport: "value",
  resumable: "switch",
  initialFuel: "value",
  validate: "switch",
  stopFlag: "switch",
  stopFlagTraps: "switch",
  fuel: "switch",
  deferStart: "switch",
  exportStackPointer: "switch",
  stopsWaitFor: "value",
  stopsWaitForAllocator: "switch",
  arrayBytes: "value",
  precompile: "switch",
  exportStopFlag: "switch",
};

/** Every option {@linkcode instrument} takes. */
const OPTION_NAMES = Object.keys(OPTION_KINDS) as (keyof InstrumentOptions)[];

/** The options of {@linkcode instrument} that are true or false. */
const SWITCH_NAMES = OPTION_NAMES.filter((name) =>
  OPTION_KINDS[name] === "switch"
);

/**
 * {@linkcode instrument}, also handing back what the one walk over the input
 * read about it, so that a loader need not read the module again.
 *
 * @param bytes The guest module.
 * @param options Costs and preferred names.
 * @returns The metered module, and what the rewriter read about the input.
 */
export function instrumentModule(
  bytes: Uint8Array,
  options: InstrumentOptions = {},
): { metered: InstrumentedModule; info: ModuleInfo } {
  return runSteps(instrumentSteps(bytes, options));
}

/**
 * {@linkcode instrumentModule} in steps: a loader that gives the event loop
 * a turn between them lets a stop land while a large module is rewritten.
 * The options are checked, and a malformed input refused, as the steps run.
 *
 * @param bytes The guest module.
 * @param options Costs and preferred names.
 * @param allocate Makes the output's buffer (see {@linkcode OutputAllocator}).
 * @param inPlace Asks for the output to be built over `bytes`, in their
 *   buffer, where that pays (see {@linkcode InPlace}): a loader that read
 *   the bytes itself, with room after them, and needs them no more.
 * @returns The steps, which return what `instrumentModule` returns.
 */
export function* instrumentSteps(
  bytes: Uint8Array,
  options: InstrumentOptions = {},
  allocate?: OutputAllocator,
  inPlace?: InPlace,
): Steps<{ metered: InstrumentedModule; info: ModuleInfo }> {
  if (!(bytes instanceof Uint8Array)) {
    const given: unknown = bytes;
    const kind = given === null
      ? "null"
      : typeof given === "object"
      ? `an object (${Object.prototype.toString.call(given).slice(8, -1)})`
      : typeof given;
    throw new TypeError(
      `Cannot instrument the module: expected a Uint8Array, got ${kind}${
        given instanceof ArrayBuffer || given instanceof SharedArrayBuffer
          ? ": pass a view of it, new Uint8Array(buffer)"
          : ""
      }`,
    );
  }
  bytes = ownView(bytes);
  if (bytes.buffer instanceof ArrayBuffer && bytes.buffer.detached) {
    throw new TypeError(
      "Cannot instrument the module: its bytes were transferred to another thread or context (the ArrayBuffer is detached): pass a copy made before the transfer",
    );
  }
  // The rewriter reads its input more than once: another thread writing to
  // a shared buffer in between could make the passes disagree.
  if (bytes.buffer instanceof SharedArrayBuffer) bytes = bytes.slice();
  const costs = resolveCosts(options.costs);
  const importModule = checkName(
    options.importModule ?? DEFAULT_IMPORT_MODULE,
    "importModule",
  );
  const fuelExport = checkName(
    options.fuelExport ?? DEFAULT_FUEL_EXPORT,
    "fuelExport",
  );
  const resumable = options.resumable ?? true;
  const fuel = options.fuel ?? true;
  if (options.stopFlagTraps === true && options.stopFlag !== true) {
    throw new TypeError("Cannot use stopFlagTraps without stopFlag: true");
  }
  if (options.exportStopFlag === true && options.stopFlag !== true) {
    throw new TypeError("Cannot use exportStopFlag without stopFlag: true");
  }
  const arrayBytes = options.arrayBytes;
  if (
    arrayBytes !== undefined &&
    (typeof arrayBytes !== "number" || !Number.isSafeInteger(arrayBytes) ||
      arrayBytes < 0)
  ) {
    throw new RangeError(
      `Cannot use arrayBytes: expected a whole number of bytes from 0 to 2^53 - 1, got ${
        String(arrayBytes)
      }`,
    );
  }
  if (arrayBytes !== undefined && options.stopFlag !== true) {
    throw new TypeError("Cannot use arrayBytes without stopFlag: true");
  }
  if (!fuel && options.stopFlag !== true) {
    throw new TypeError(
      "Cannot use fuel: false without stopFlag: true: nothing could stop the guest",
    );
  }
  let metered: InstrumentedModule;
  let info: ModuleInfo;
  const zoneList = checkZoneList(options.stopsWaitFor);
  // With zones too: their pass keeps every function's slot (a zone's
  // body moves to a function appended after the added one), so the added
  // function's calls still reach the dear functions.
  const precompile = options.precompile === true &&
    options.stopFlag === true;
  // The engine checks the input before the rewrite, though its verdict is
  // used after it (the rewrite's own errors say more: an unknown opcode by
  // name). Its copy of the input is then freed memory that the rewrite's
  // buffers reuse: checked after it, on a first large input in a fresh
  // process, each took fresh pages, and a fresh page costs a fault.
  const valid = options.validate === false ||
    WebAssembly.validate(bytes as Uint8Array<ArrayBuffer>);
  try {
    const initialFuel = checkInitialFuel(options.initialFuel ?? 0n);
    const rewriter = (input: Uint8Array) =>
      new ModuleRewriter(
        input,
        costs,
        importModule,
        fuelExport,
        resumable,
        initialFuel,
        {
          stopFlag: options.stopFlag === true,
          deferStart: options.deferStart === true,
          countsFuel: fuel,
          stopFlagTraps: options.stopFlagTraps === true,
          exportStackPointer: options.exportStackPointer === true,
          arrayBytes,
          precompile: precompile,
          exportStopFlag: options.exportStopFlag === true,
        },
      );
    if (
      zoneList.length > 0 && resumable && fuel &&
      options.stopFlagTraps !== true && options.exportStackPointer !== true
    ) {
      checkZoneExportsAhead(bytes, options.deferStart === true);
    }
    primeOnce(bytes.length, (input) => {
      const primer = rewriter(input);
      primer.run();
      keepShapes(primer, input.length);
    });
    const main = rewriter(bytes);
    // Not over an input the engine is to validate after the rewrite.
    const rewritten = yield* main.steps(
      allocate,
      options.validate === false ? inPlace : undefined,
    );
    keepShapes(main, bytes.length);
    const {
      info: read,
      memories,
      startExport,
      stackPointerExport,
      stopFlagExport,
      ...names
    } = rewritten;
    info = read;
    metered = {
      ...names,
      importName: IMPORT_NAME,
      resumable,
      fuel,
      initialFuel,
    };
    if (startExport !== undefined) metered.startExport = startExport;
    if (stackPointerExport !== undefined) {
      metered.stackPointerExport = stackPointerExport;
    }
    const zones = pickZones(
      read,
      zoneList,
      options.stopsWaitForAllocator === true,
    );
    if (zones.length > 0) {
      if (!resumable || !fuel || options.stopFlagTraps === true) {
        throw new ZoneOptionError(
          "Cannot use stopsWaitFor: a stop can only wait where a failed check asks the host (resumable: true, fuel counted, no stopFlagTraps)",
        );
      }
      const exports = read.exports.length + 2 +
        (startExport === undefined ? 0 : 1) +
        (stackPointerExport === undefined ? 0 : 1) +
        (stopFlagExport === undefined ? 0 : 1) +
        (metered.precompile === undefined ? 0 : 1);
      // The fuel counter is one more global, the zone's another.
      if (read.globalCount + 2 > LIMITS.globals) {
        throw new InvalidModule(
          `the module has ${read.globalCount} globals and metering with zones adds 2: more than the engine's limit of ${LIMITS.globals}; meter a module with fewer globals`,
          { offset: 0 },
        );
      }
      if (exports > LIMITS.exports) {
        refuseZoneExports(read.exports.length, exports - read.exports.length);
      }
      const zoneExport = uniqueExportName(`${metered.importModule}:zone`, [
        ...read.exportNames,
        metered.fuelExport,
        startExport ?? "",
        stackPointerExport ?? "",
        stopFlagExport ?? "",
        metered.precompile?.export ?? "",
      ]);
      metered.bytes = wrapZones(metered.bytes, {
        functions: zones.map((index) => read.shiftFunction(index)),
        outOfFuel: read.importedFunctions,
        fuelGlobal: read.globalCount,
        exportName: zoneExport,
      });
      metered.zoneExport = zoneExport;
      if (metered.bytes.length > LIMITS.moduleSize) {
        throw new InvalidModule(
          `the metered module with zones would be ${metered.bytes.length} bytes, more than the engine's limit of ${LIMITS.moduleSize}; meter a smaller module`,
          { offset: 0 },
        );
      }
    }
    if (memories) {
      metered.stopFlag = {
        memory: FLAG_MEMORY_NAME,
        callback: FLAG_CALLBACK_NAME,
        memories,
        ...(stopFlagExport === undefined ? {} : { export: stopFlagExport }),
      };
    }
  } catch (error) {
    if (isEarlyExitError(error) || error instanceof ZoneOptionError) {
      throw error;
    }
    // A bug here must still surface as the documented error kind.
    throw new InvalidModule(
      `Cannot instrument the module: ${
        error instanceof Error ? error.message : String(error)
      }`,
      { cause: error },
    );
  }
  // What the rewrite does not check, such as types.
  if (!valid) rejectInvalid(bytes);
  return { metered, info };
}

/** The engine's reason for rejecting `bytes`, and its byte offset. */
function compileError(bytes: BufferSource): [string, number?] | undefined {
  try {
    new WebAssembly.Module(bytes);
    return undefined;
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error);
    const match = /^(?:WebAssembly\.Module\(\): )?(.*?)(?: @\+(\d+))?$/s
      .exec(text);
    return match?.[2] === undefined
      ? [match?.[1] ?? text]
      : [match[1]!, Number(match[2])];
  }
}

/** Throws for an input the engine rejects, with its reason and offset. */
function rejectInvalid(input: Uint8Array): never {
  const [message, offset] = compileError(input as Uint8Array<ArrayBuffer>) ??
    ["the engine rejects it"];
  throw new InvalidModule(`Invalid module: ${message}`, { offset });
}
