/**
 * The host side of resource limits and of metered instantiation: checking
 * the `limits` option, writing the limits into a guest's bytes, and
 * refusing, before the engine allocates anything, a guest whose memories
 * or tables start above their limits or whose instantiation alone costs
 * more than its fuel budget.
 *
 * @module
 */

import { FuelExhausted, GuestLoadError } from "./errors.ts";
import { readOption, showValue } from "./option_checks.ts";
import { applyLimitsSteps, type ResourceLimits } from "./wasm/limits.ts";
import { ModuleInfo } from "./wasm/module.ts";
import {
  readDataOffsetsSteps,
  readSection,
  readSectionSteps,
} from "./wasm/module_sections.ts";
import { Patches } from "./wasm/patches.ts";
import { keptFromEngine, Reader } from "./wasm/reader.ts";
import { checkBodyLimitsSteps } from "./wasm/body_limits.ts";
import { readSections } from "./wasm/sections.ts";
import { runSteps, type Steps } from "./wasm/steps.ts";
import { readLimits } from "./wasm/types.ts";

const PAGE = 65536;
import type { CostModel } from "./wasm/costs.ts";
import { type Footprint, footprintCost } from "./wasm/footprint.ts";

export type { ResourceLimits } from "./wasm/limits.ts";

/**
 * Checks the `limits` option.
 *
 * @param limits The option as given.
 * @param where The function it was given to, for messages.
 * @returns The limits, or `undefined` when none apply.
 * @throws {TypeError} When it is not an object of the known keys.
 * @throws {RangeError} When a limit is not a whole number, 0 or more.
 */
export function checkLimits(
  limits: unknown,
  where: string,
): ResourceLimits | undefined {
  if (limits === undefined) return undefined;
  if (typeof limits !== "object" || limits === null) {
    throw new TypeError(
      `${where}: limits must be an object such as { memory: 16_777_216, tables: 10_000 }; got ${
        limits === null ? "null" : typeof limits
      }`,
    );
  }
  const checked: {
    memory?: number;
    tables?: number;
    arrays?: number;
    heap?: number;
  } = {};
  const entries = readOption(
    `${where}: limits`,
    "a plain object such as { memory: 16_777_216, tables: 10_000 }",
    () => Object.entries(limits),
  );
  for (const [key, value] of entries) {
    if (
      key !== "memory" && key !== "tables" && key !== "arrays" &&
      key !== "heap"
    ) {
      throw new TypeError(
        `${where}: limits.${key} is not a limit; use limits.memory (bytes per memory), limits.tables (elements per table), limits.arrays (bytes per GC array) or limits.heap (bytes of live host heap)`,
      );
    }
    if (value === undefined) continue;
    if (
      typeof value !== "number" || !Number.isSafeInteger(value) || value < 0
    ) {
      throw new RangeError(
        `${where}: limits.${key} must be a whole number from 0 to 2^53 - 1 (${
          key === "tables" ? "elements" : "bytes"
        }); got ${showValue(value)}`,
      );
    }
    checked[key] = value;
  }
  return checked.memory === undefined && checked.tables === undefined &&
      checked.arrays === undefined && checked.heap === undefined
    ? undefined
    : checked;
}

/**
 * Writes the limits into a guest's bytes, or refuses the guest when one of
 * its memories or tables starts above its limit. Without `limits.tables`,
 * its own tables may grow to {@linkcode DEFAULT_TABLE_ELEMENTS} together;
 * without `limits.memory`, its own memories to
 * {@linkcode DEFAULT_MEMORY_BYTES}.
 *
 * @param bytes The guest's bytes.
 * @param limits Its limits, if any.
 * @param label The guest's name in messages.
 * @returns The bytes with every maximum within its limit.
 * @throws {GuestLoadError} With reason `limits`, for a minimum above its limit.
 * @throws {InvalidModule} When the bytes cannot be decoded.
 */
export function limitGuest(
  bytes: Uint8Array,
  limits: ResourceLimits | undefined,
  label: string,
): Uint8Array {
  return runSteps(limitGuestSteps(bytes, limits, label));
}

/**
 * {@linkcode limitGuest} in steps, for a load that watches a stop.
 *
 * @param bytes The guest's bytes.
 * @param limits The limits, if any.
 * @param label The guest's name in messages.
 * @returns The steps, which return the limited bytes.
 * @throws {GuestLoadError} With reason `limits`, for a minimum above its limit.
 * @throws {InvalidModule} When the sections it reads cannot be decoded.
 */
export function* limitGuestSteps(
  bytes: Uint8Array,
  limits: ResourceLimits | undefined,
  label: string,
): Steps<Uint8Array> {
  const limited = yield* applyLimitsSteps(bytes, {
    ...limits,
    ...(limits?.tables === undefined
      ? { tablesTogether: DEFAULT_TABLE_ELEMENTS }
      : {}),
    ...(limits?.memory === undefined
      ? { memoriesTogether: DEFAULT_MEMORY_BYTES }
      : {}),
  });
  const over = limited.over;
  if (over === undefined) return limited.bytes;
  if (over.together !== undefined) {
    const { memories, largest } = over.together;
    throw new GuestLoadError(
      "limits",
      `${label} needs ${
        memories === 1
          ? `memory ${over.index} to start at ${over.minimum} bytes`
          : `its ${memories} memories to start at ${over.minimum} bytes together`
      }, more than the ${over.limit} a guest's own memories may hold together when limits.memory is not set`,
      `set limits.memory (the most bytes each memory may hold, which replaces this default) to at least ${largest}, or give the guest smaller memories`,
    );
  }
  const what = `${over.imported ? "imported " : ""}${over.kind} ${over.index}`;
  const unit = over.kind === "memory" ? "bytes" : "elements";
  const option = over.kind === "memory" ? "limits.memory" : "limits.tables";
  throw new GuestLoadError(
    "limits",
    `${label} needs ${what} to start at ${over.minimum} ${unit}, more than ${option} (${over.limit})`,
    `raise ${option} to at least ${over.minimum}, or give the guest a smaller ${over.kind}`,
  );
}

/**
 * The most memories (imported plus defined) a guest instantiated in this
 * process may have. The engine's instantiation cannot be stopped, and its
 * time grows with the count and the memories' sizes: on a 2-core machine
 * 100 memories took about 1 ms (200 ms at 4 GiB each), 1,000 took 10 to
 * 15 ms (1.8 s at 1 GiB each), and 40,000 shared memories ended the whole
 * process, out of memory. Real modules have one or a few.
 */
export const MAX_MEMORIES = 100;

/**
 * The most elements a guest's own tables may start with, together, when it
 * is instantiated in this process. The engine allocates them on its heap
 * at once: 1,000,000 took about 13 to 30 ms, 100,000,000 (ten tables of
 * the engine's largest size) took 1.5 s and 2.4 GB, and 300,000,000 ended
 * the whole process, out of memory.
 */
export const MAX_TABLE_ELEMENTS = 1_000_000;

/**
 * The most bytes one GC array a guest allocates by length may take when it
 * is loaded to be stopped (a deadline, `signal` or `stop`), unless
 * `limits.arrays` says otherwise. The engine allocates and fills an array
 * in one step that no check interrupts, on fresh pages the kernel faults in
 * as it zeroes them: on a 2-core VM, about 12 µs of CPU a 4 KiB page, so 8
 * MiB (an earlier cap) took 24 to 32 ms and a guest keeping such arrays
 * had its stops 15 to 60 ms late; 1 MiB (the cap before) about 4 ms, its
 * sync stops p99 6.7 ms late on a quiet machine; 256 KiB about 1 ms (12 to
 * 18 µs a page), its stops p99 1.7 ms late. An `array.new_default` of 1e8 elements landed 370
 * to 660 ms past its deadline.
 */
export const DEFAULT_ARRAY_BYTES = 262_144;

/**
 * The most struct fields and array elements a guest's constant expressions
 * (global, table and element initializers) may allocate together when it
 * is instantiated in this process. The engine allocates them on its heap
 * during instantiation, which nothing can stop: an 89-byte guest of four
 * globals, each `(array.new_default $bytes (i32.const 500000000))`, ended
 * a host with a 1 GiB heap, out of memory, under `timeout` and `limits`
 * alike. Under `fuel`, the budget pays for them before they are made.
 */
export const MAX_ALLOCATED_ELEMENTS = 16_777_216;

/**
 * The most imports, and separately the most exports, a guest instantiated in
 * this process may have. The engine binds each one as it instantiates,
 * which nothing can stop, and in time that grows with the count: on a busy
 * 2-core machine 10,000 exported functions took 16 to 90 ms and 10,000
 * imports 20 to 70 ms, while a 7 MB guest of 999,000 exports held the
 * thread for seconds (3.4 to 3.7 s in instantiation alone, and as long
 * again listing them), so a load's `signal` or `stop` landed seconds late.
 * Real guests have a few dozen of each (sql.js: 56 exports, 40 imports).
 */
export const MAX_BINDINGS = 10_000;

/**
 * The most tags, and separately the most element segments, a guest
 * instantiated in this process may define: the engine makes each as it
 * instantiates. On a busy 2-core machine 100,000 took 18 to 42 ms, and a
 * million (which the engine accepts) 0.3 to 1.3 s of tags and 0.6 to 1.4 s
 * of active element segments. Real guests define a few of each.
 */
export const MAX_TAGS_AND_SEGMENTS = 100_000;

/**
 * What each thing the engine handles one by one as it compiles and
 * instantiates a guest weighs in its {@linkcode instantiationWork}: about
 * the nanoseconds it held the JavaScript thread for each on a 2-core machine
 * shared with other work (100,000 to 1,000,000 of each, compiled with
 * `WebAssembly.compile`, instantiated with `new WebAssembly.Instance`, and
 * loaded whole with a `stop`), rounded up. Compiling and instantiating are
 * holds of their own, but a guest's counts weigh in both, so one budget
 * bounds each. Declarative element segments' entries cost next to nothing
 * there (the engine reads them as it compiles); a passive segment's are a
 * hold of their own, in the call that first reads the segment, which the
 * same budget bounds.
 */
export const INSTANTIATION_WEIGHTS = {
  /**
   * A type the guest defines (each member of a recursion group): decoded
   * and canonicalized as the guest is compiled, given its runtime type as
   * it is instantiated. 5,000 to 20,000 types compiled in 1 to 4.5 µs
   * each (the fastest of 5, fresh types each time, at load average 10),
   * and a 690 KB guest of 100,000 types held a stoppable load's thread 85
   * to 264 ms at once (instantiated alone: 225 to 340 ms); 9,400 held it
   * 29 to 40 ms at load average 7 to 9.
   */
  type: 2_900,
  /**
   * A parameter, result or field of a type, or an array type's element:
   * decoded and compared as its type is canonicalized (500 struct types of
   * 100 fields compiled in 1.7 ms at the fastest, 20,000 of about 20 in
   * 67 to 120 ms).
   */
  typeValue: 200,
  /**
   * A function the guest defines: compiled, 55 to 150 ns each (100,000
   * empty ones in a module of 400 KB); instantiated, a few; and a
   * rewritten one passes through the rewriter's whole-module steps.
   */
  function: 200,
  /**
   * A global set by a lone `i32.const` or `ref.null`: compiled, 25 to 100 ns
   * each (200,000 held a compile 15 to 23 ms under load, and as long when
   * the compile thread handed the module back); instantiated, 11 to 13.
   */
  plainGlobal: 100,
  /**
   * A global set by another constant expression, which the engine evaluates
   * as it instantiates (a million of `i64.const`, `global.get` or `i32.add`:
   * 100 to 240 ms; of `struct.new`: up to 460).
   */
  evaluatedGlobal: 500,
  /** A global set by a lone `ref.func` (a million: 400 to 650 ms). */
  funcRefGlobal: 700,
  /**
   * An operator of a constant expression of more than one, evaluated as
   * the guest is instantiated (a 2 MB guest of 100 globals, each an
   * `array.new_fixed` of 10,000 `i32.const`: 410 ms instantiated, and a
   * stoppable load's longest hold 122 to 393 ms, at load average 15),
   * after its compile validated it (1.5 s for those, on the compile
   * thread in a stoppable load, but on the loading thread for a guest of
   * up to 1 MiB).
   */
  evaluatedOperator: 1_000,
  /** An entry of an active element segment (a million: 130 to 330 ms). */
  elementEntry: 300,
  /**
   * An entry of a passive element segment after its first (which weighs in
   * with `elementSegment`, so that 100,000 segments of one entry, each
   * evaluated by an operator of its own, stay within the budget). The
   * engine evaluates a whole segment when a `table.init`, `array.new_elem`
   * or `array.init_elem` first reads it (one entry is enough), in one step
   * no check interrupts: a million at the first `table.init` of one entry,
   * on a quiet 2-core machine, took 10 to 13 ms as function indices, 16 to
   * 20 as `ref.func`, 67 to 94 as `global.get` and 108 to 181 as
   * `struct.new_default`, and a 5 ms deadline landed 63 to 92 ms late (5
   * million `global.get`: 322 to 361). Weighed as the dearest kind on a
   * busy machine: 33,000 `struct.new_default` entries, a budget's worth,
   * held a call about 7 ms (a stop 2 ms late at the median, 9 at most, at
   * load average 2). Each segment is evaluated once an instance, so one
   * budget bounds them all.
   */
  passiveEntry: 600,
  /**
   * An initial element of a table whose initializer is not a lone
   * `ref.null` (a million `ref.func`: 215 to 250 ms, a 55-byte guest).
   */
  filledTableElement: 500,
  /**
   * An import, bound as the guest is instantiated (10,000 functions: 11 to
   * 19 ms instantiated, 13 to 34 ms loaded).
   */
  import: 1_500,
  /**
   * An export, bound as the guest is instantiated and wrapped as it is
   * loaded (10,000 functions: 14 to 26 ms loaded, of which 2 to 15 the
   * instantiation).
   */
  export: 1_500,
  /**
   * A byte of the import and export sections past their first
   * {@linkcode FREE_NAME_BYTES}, most of them names: the engine makes a
   * string of each name as it instantiates the guest (of an imported
   * string constant, each time), one step per name. 16 MB of export names
   * took a first instantiation 61 ms of CPU, 16 MB of string constants 55
   * ms and 64 MB 212 ms, at load average 2 to 5: a stop that came
   * meanwhile waited for it.
   */
  nameByte: 4,
  /** A tag, made as the guest is instantiated (100,000: 5 to 21 ms). */
  tag: 150,
  /**
   * An element segment, active or not, decoded as the guest is compiled
   * (100,000 passive ones: 2 to 7 ms).
   */
  elementSegment: 100,
  /**
   * A data segment, active or passive, decoded as the guest is compiled and
   * set up as it is instantiated (100,000 of one byte each: 7 to 15 ms
   * instantiated, 4 to 6 on a quiet machine; the engine takes at most
   * 100,000).
   */
  dataSegment: 60,
} as const;

/**
 * The bytes of a guest's import and export sections that weigh nothing in
 * its instantiation work: names that short take the engine about a
 * millisecond. Real guests have a few hundred bytes (esbuild.wasm 687,
 * sql.js 549, QuickJS 543), and 10,000 imports and as many exports of short
 * names about 160,000.
 */
export const FREE_NAME_BYTES = 262_144;

/**
 * The most {@linkcode instantiationWork} a guest loaded in this process may
 * have: about 20 ms of a busy shared 2-core machine's thread for its longest
 * hold, under half that on a quiet one (100,000 functions, 40,000 table
 * elements set by `ref.func`, or 200,000 globals set by a constant).
 * Compiling and instantiating cannot be stopped, so a stop that comes
 * while either runs lands that late. Real guests weigh a fraction of it
 * (esbuild's about two fifths, with its 98,450 data segments; QuickJS's and
 * sql.js's a twentieth).
 */
export const MAX_INSTANTIATION_WORK = 20_000_000;

/** What a guest's instantiation does that grows with its counts. */
export interface InstantiationCounts {
  /** Types the guest defines, recursion groups' members each. */
  types: number;
  /** Parameters, results and fields of those types, and array elements. */
  typeValues: number;
  /** Functions the guest defines. */
  functions: number;
  /** Globals set by a lone `i32.const` or `ref.null`. */
  plainGlobals: number;
  /** Globals set by other constant expressions. */
  evaluatedGlobals: number;
  /** Globals set by a lone `ref.func`. */
  funcRefGlobals: number;
  /** Operators of constant expressions of more than one operator. */
  evaluatedOperators: number;
  /** Entries of active element segments. */
  elementEntries: number;
  /** Entries of passive element segments after each one's first. */
  passiveEntries: number;
  /** Initial elements of tables with an initializer other than `ref.null`. */
  filledTableElements: number;
  /** Imports, of every kind. */
  imports: number;
  /** Exports, of every kind. */
  exports: number;
  /**
   * Bytes of the import and export sections (their names the most of it)
   * past the first {@linkcode FREE_NAME_BYTES}.
   */
  nameBytes: number;
  /** Tags the guest defines. */
  tags: number;
  /** Element segments, active, passive and declarative. */
  elementSegments: number;
  /** Data segments, active and passive. */
  dataSegments: number;
}

/**
 * The work the engine does one item at a time as it compiles and
 * instantiates a guest, weighed by {@linkcode INSTANTIATION_WEIGHTS}.
 *
 * @param counts The guest's counts.
 * @returns The sum of each count times its weight.
 *
 * @example Usage
 * ```ts
 * import { instantiationWork } from "./limits.ts";
 * import assert from "node:assert/strict";
 *
 * const counts = {
 *   types: 3,
 *   typeValues: 4,
 *   functions: 1000,
 *   plainGlobals: 10,
 *   evaluatedGlobals: 0,
 *   funcRefGlobals: 0,
 *   evaluatedOperators: 0,
 *   elementEntries: 500,
 *   passiveEntries: 0,
 *   filledTableElements: 0,
 *   imports: 4,
 *   exports: 2,
 *   nameBytes: 50,
 *   tags: 0,
 *   elementSegments: 1,
 *   dataSegments: 20,
 * };
 * assert.equal(
 *   instantiationWork(counts),
 *   3 * 2900 + 4 * 200 + 1000 * 200 + 10 * 100 + 500 * 300 + 6 * 1500 +
 *     50 * 4 + 1 * 100 + 20 * 60,
 * );
 * ```
 */
export function instantiationWork(counts: InstantiationCounts): number {
  let work = 0;
  for (const [key, weight] of INSTANTIATION_ITEMS) {
    work += counts[key] * INSTANTIATION_WEIGHTS[weight];
  }
  return work;
}

/**
 * Each count of {@linkcode InstantiationCounts}: its weight in
 * {@linkcode INSTANTIATION_WEIGHTS}, and how a refusal names one of it and
 * more than one.
 */
const INSTANTIATION_ITEMS: [
  keyof InstantiationCounts,
  keyof typeof INSTANTIATION_WEIGHTS,
  string,
  string,
][] = [
  ["types", "type", "type", "types"],
  ["typeValues", "typeValue", "value in a type", "values in types"],
  ["functions", "function", "function", "functions"],
  [
    "plainGlobals",
    "plainGlobal",
    "global set by a constant",
    "globals set by a constant",
  ],
  [
    "evaluatedGlobals",
    "evaluatedGlobal",
    "global set by an expression",
    "globals set by an expression",
  ],
  [
    "funcRefGlobals",
    "funcRefGlobal",
    "global set by ref.func",
    "globals set by ref.func",
  ],
  [
    "evaluatedOperators",
    "evaluatedOperator",
    "operator of a constant expression",
    "operators of constant expressions",
  ],
  [
    "elementEntries",
    "elementEntry",
    "active element segment entry",
    "active element segment entries",
  ],
  [
    "passiveEntries",
    "passiveEntry",
    "passive element segment entry after its segment's first",
    "passive element segment entries after their segments' first",
  ],
  [
    "filledTableElements",
    "filledTableElement",
    "table element set by an initializer",
    "table elements set by an initializer",
  ],
  ["imports", "import", "import", "imports"],
  ["exports", "export", "export", "exports"],
  [
    "nameBytes",
    "nameByte",
    `byte of import and export sections past the first ${FREE_NAME_BYTES}`,
    `bytes of import and export sections past the first ${FREE_NAME_BYTES}`,
  ],
  ["tags", "tag", "tag", "tags"],
  ["elementSegments", "elementSegment", "element segment", "element segments"],
  ["dataSegments", "dataSegment", "data segment", "data segments"],
];

/**
 * Refuses a guest with more memories than {@linkcode MAX_MEMORIES}, whose
 * tables start with more elements than {@linkcode MAX_TABLE_ELEMENTS}, or
 * whose constant expressions allocate more than
 * {@linkcode MAX_ALLOCATED_ELEMENTS}, with more imports or exports than
 * {@linkcode MAX_BINDINGS}, more tags or element segments than
 * {@linkcode MAX_TAGS_AND_SEGMENTS}, or functions, globals, table
 * elements, imports, exports, tags and segments that weigh more than
 * {@linkcode MAX_INSTANTIATION_WORK} together, before the engine
 * instantiates it;
 * and, before the engine compiles it, a guest whose bodies nest too deep or
 * whose blocks' function types carry too many values (what a rewrite
 * refuses, for a guest that is not rewritten). Bytes that cannot be decoded
 * pass: compiling them says what is wrong.
 *
 * @param bytes The guest's bytes, as given.
 * @param label The guest's name in messages.
 * @param bodies Whether to check the bodies (a rewrite checks them itself).
 * @throws {GuestLoadError} With reason `limits`, for too many memories, table
 *   elements, imports, exports, tags or element segments, or too much
 *   instantiation work.
 * @throws {InvalidModule} For bodies whose validation would harm the host.
 */
export function checkInstanceSize(
  bytes: Uint8Array,
  label: string,
  bodies = true,
): void {
  runSteps(checkInstanceSizeSteps(bytes, label, bodies));
}

/**
 * {@linkcode checkInstanceSize} in steps, which pause in long sections (a
 * million types took half a second to read), for a load that watches a
 * stop.
 *
 * @param bytes The guest's bytes, as given.
 * @param label The guest's name in messages.
 * @param bodies Whether to check the bodies (a rewrite checks them itself).
 * @returns The steps.
 * @throws {GuestLoadError} With reason `limits`, for too many memories, table
 *   elements, imports, exports, tags or element segments, or too much
 *   instantiation work.
 */
export function* checkInstanceSizeSteps(
  bytes: Uint8Array,
  label: string,
  bodies = true,
): Steps<void> {
  let memories = 0;
  let elements = 0;
  let exports = 0;
  let nameBytes = 0;
  let tags = 0;
  let segments = 0;
  let dataSegments = 0;
  // Unknown (NaN) when the sections that allocate cannot be decoded.
  let allocated = 0;
  const info = new ModuleInfo();
  // Types past what the work allows alone are not read: a million of them
  // took a second to read, much of it collecting what was read.
  info.typeReadLimit = MOST_TYPES;
  try {
    for (const { id, start, end } of readSections(bytes)) {
      // A section a step at least: a cold reader took up to 3.5 ms on
      // esbuild's element segments alone.
      yield;
      if (info.typeCount > info.typeReadLimit) break;
      if (id === 2 || id === 7) nameBytes += end - start;
      if (id === 9) {
        segments = new Reader(bytes, start, end).count("element segment");
      }
      if (id === 3 || id === 6 || id === 9) {
        // Globals and element segments, whose constant expressions the
        // footprint sums with the tables' initializers. The counts of the
        // sections after them go on when these cannot be read (but the
        // bodies need the functions' types).
        if (Number.isNaN(allocated)) continue;
        try {
          const r = new Reader(bytes, start, end);
          yield* readSectionSteps(info, id, r, new Patches());
        } catch {
          allocated = NaN;
          if (id === 3) break;
        }
      } else if (id === 1 || id === 2 || id === 4) {
        const before = info.footprint.tableElements;
        const r = new Reader(bytes, start, end);
        yield* readSectionSteps(info, id, r, new Patches());
        if (id === 2) {
          memories += info.imports.filter((entry) => entry.kind === "memory")
            .length;
        } else if (id === 4) {
          elements += info.footprint.tableElements - before;
        }
      } else if (id === 5) {
        memories += new Reader(bytes, start, end).count("memory", 2);
      } else if (id === 7) {
        exports = new Reader(bytes, start, end).count("export", 3);
      } else if (id === 13) {
        tags = new Reader(bytes, start, end).count("tag", 2);
      } else if (id === 11) {
        // Their offsets too, which the engine evaluates one by one.
        try {
          const r = new Reader(bytes, start, end);
          dataSegments = yield* readDataOffsetsSteps(info, r);
        } catch {
          dataSegments = new Reader(bytes, start, end).count("data segment", 2);
        }
      } else if (id === 10 && bodies) {
        // What the engine's validation of the bodies would pay for.
        yield* checkBodyLimitsSteps(bytes, start, end, info);
      }
    }
  } catch (error) {
    if (keptFromEngine(error)) throw error;
    return;
  }
  const hint =
    "run it with invokeIsolated, where a failed instantiation ends only the child process";
  if (info.typeCount > info.typeReadLimit) throw tooManyTypes(label);
  allocated += info.footprint.allocatedElements;
  if (memories > MAX_MEMORIES) {
    throw new GuestLoadError(
      "limits",
      `${label} has ${memories} memories (imported and defined), more than the ${MAX_MEMORIES} a guest instantiated in this process may have (instantiating that many can exhaust the whole process, and cannot be stopped)`,
      `give the guest fewer memories, or ${hint}`,
    );
  }
  // What the engine makes one by one as it instantiates.
  const entries: [count: number, what: string, most: number][] = [
    [info.imports.length, "imports", MAX_BINDINGS],
    [exports, "exports", MAX_BINDINGS],
    [tags, "tags", MAX_TAGS_AND_SEGMENTS],
    [segments, "element segments", MAX_TAGS_AND_SEGMENTS],
  ];
  for (const [count, what, most] of entries) {
    if (count <= most) continue;
    throw new GuestLoadError(
      "limits",
      `${label} has ${count} ${what}, more than the ${most} a guest instantiated in this process may have (the engine makes each as it instantiates, which cannot be stopped)`,
      `give the guest fewer ${what}, or ${hint}`,
    );
  }
  if (elements > MAX_TABLE_ELEMENTS) {
    throw new GuestLoadError(
      "limits",
      `${label} has tables that start with ${elements} elements together, more than the ${MAX_TABLE_ELEMENTS} a guest instantiated in this process may have (allocating that many can exhaust the whole process, and cannot be stopped)`,
      `give the guest smaller tables, or ${hint}`,
    );
  }
  if (allocated > MAX_ALLOCATED_ELEMENTS) {
    throw new GuestLoadError(
      "limits",
      `${label} allocates ${allocated} struct fields and array elements in its constant expressions (globals, tables and element segments), more than the ${MAX_ALLOCATED_ELEMENTS} a guest instantiated in this process may (allocating that many can exhaust the whole process, and cannot be stopped)`,
      `give the guest smaller initial objects, or ${hint}`,
    );
  }
  const footprint = info.footprint;
  const counts: InstantiationCounts = {
    types: info.typeCount,
    typeValues: typeValues(info),
    functions: info.definedFunctions,
    plainGlobals: footprint.plainGlobals,
    evaluatedGlobals: footprint.evaluatedGlobals,
    funcRefGlobals: footprint.funcRefGlobals,
    evaluatedOperators: footprint.evaluatedOperators,
    elementEntries: footprint.elementEntries,
    passiveEntries: footprint.passiveEntries,
    filledTableElements: footprint.filledTableElements,
    imports: info.imports.length,
    exports,
    nameBytes: Math.max(0, nameBytes - FREE_NAME_BYTES),
    tags,
    elementSegments: segments,
    dataSegments,
  };
  const work = instantiationWork(counts);
  if (work > MAX_INSTANTIATION_WORK) {
    const parts = INSTANTIATION_ITEMS.filter(([key]) => counts[key] > 0)
      .map(([key, , one, many]) =>
        `${counts[key]} ${counts[key] === 1 ? one : many}`
      );
    throw new GuestLoadError(
      "limits",
      `${label} has ${
        parts.join(", ")
      }, which weigh ${work} in instantiation work, more than the ${MAX_INSTANTIATION_WORK} a guest instantiated in this process may (the engine handles each as it compiles and instantiates the guest, or as a call first reads a passive segment, which cannot be stopped)`,
      `give the guest fewer of them, or ${hint}`,
    );
  }
}

/**
 * The most types whose {@linkcode INSTANTIATION_WEIGHTS} alone leave a
 * guest within {@linkcode MAX_INSTANTIATION_WORK}.
 */
const MOST_TYPES = Math.floor(
  MAX_INSTANTIATION_WORK / INSTANTIATION_WEIGHTS.type,
);

/** The refusal of a guest of more than {@linkcode MOST_TYPES} types. */
function tooManyTypes(label: string): GuestLoadError {
  return new GuestLoadError(
    "limits",
    `${label} has more than ${MOST_TYPES} types, which weigh more than the ${MAX_INSTANTIATION_WORK} in instantiation work a guest instantiated in this process may (${INSTANTIATION_WEIGHTS.type} each: the engine handles each as it compiles and instantiates the guest, which cannot be stopped)`,
    "give the guest fewer types, or run it with invokeIsolated, where a failed instantiation ends only the child process",
  );
}

/**
 * Refuses a guest of more types than its instantiation work allows, in
 * steps, reading no more of its type section than that: for a load that
 * reads the whole section before {@linkcode checkInstanceSizeSteps} (a
 * rewrite writing its limits in), where a million types held the thread
 * for half a second at a time, collecting what was read. Bytes that cannot
 * be decoded pass.
 *
 * @param bytes The guest's bytes, as given.
 * @param label The guest's name in messages.
 * @returns The steps.
 * @throws {GuestLoadError} With reason `limits`, for too many types.
 */
export function* checkTypeCountSteps(
  bytes: Uint8Array,
  label: string,
): Steps<void> {
  const info = new ModuleInfo();
  info.typeReadLimit = MOST_TYPES;
  try {
    for (const { id, start, end } of readSections(bytes)) {
      if (id !== 1) continue;
      yield* info.readTypesSteps(new Reader(bytes, start, end));
      break;
    }
  } catch (error) {
    if (keptFromEngine(error)) throw error;
    return;
  }
  if (info.typeCount > MOST_TYPES) throw tooManyTypes(label);
}

/**
 * How many parameters, results, struct fields and array elements the
 * guest's types hold together.
 */
function typeValues(info: ModuleInfo): number {
  let values = 0;
  for (let i = 0; i < info.typeCount; i++) {
    const signature = info.typeSignatures[i];
    if (signature !== undefined) {
      values += signature.params.length + signature.results.length;
    } else if (info.structFields[i]! >= 0) {
      values += info.structFields[i]!;
    } else if (info.arrayElements[i] !== undefined) {
      values++;
    }
  }
  return values;
}

/**
 * The most elements a guest's own tables may grow to together when its
 * `limits` set no `tables`: `table.grow` past it returns -1, as at a
 * declared maximum (each table may grow by an even share of what their
 * minimums leave). The host's garbage collector walks every element at
 * each major collection, and its pause, which no stop can cut short,
 * grows with them: a forced full collection took about 5 to 6 ms with
 * 1,000,000 funcref elements, 8 to 12 ms with 2,000,000 and 30 to 40 ms
 * with 10,000,000 (the engine's largest table). Real guests' tables hold
 * from about a hundred elements to ten thousand (esbuild's: 9,403).
 */
export const DEFAULT_TABLE_ELEMENTS = 1_000_000;

/**
 * The most bytes a guest's own linear memories may grow to together when
 * its `limits` set no `memory`: 4 GiB, what one 32-bit memory may reach, so
 * a guest of one such memory is unchanged. In process, memories are the
 * host's memory, and nothing else bounds them: a guest of 100 memories
 * (the most it may have) could otherwise grow to 400 GiB, and one 64-bit
 * memory to the engine's 16 GiB, until the system's out-of-memory killer
 * ends the host. Each own memory may grow by an even share of what their
 * minimums leave (a declared maximum, so `memory.grow` past it returns -1);
 * a guest whose own memories start above it together is refused. An
 * imported memory keeps the maximum its maker gave it. `limits.memory`
 * replaces this default with a bound on each memory.
 */
export const DEFAULT_MEMORY_BYTES = 4 * 1024 * 1024 * 1024;

/**
 * The most elements a guest's constant expressions (the initializers of
 * its globals, tables and element segments) may allocate together by a
 * length or a struct type rather than element by element (`array.new`,
 * `array.new_default`, `struct.new_default`) when it is instantiated in
 * this process. The engine builds them all as it instantiates, which
 * nothing can stop, and a few bytes of the module can ask for millions:
 * 1,000,000 elements took about 1 ms as bytes and 16 to 24 ms as `v128`,
 * 16,000,000 `i64` 200 to 300 ms, and 3,000,000,000 bytes 5.6 s.
 */
export const MAX_SIZED_ELEMENTS = 1_000_000;

/**
 * Refuses a metered guest whose constant expressions allocate more than
 * {@linkcode MAX_SIZED_ELEMENTS} elements by length, before the engine
 * instantiates it.
 *
 * @param footprint What instantiating the guest does.
 * @param label The guest's name in messages.
 * @throws {GuestLoadError} With reason `limits`, when they allocate more.
 */
export function checkSizedAllocations(
  footprint: Footprint,
  label: string,
): void {
  const sized = footprint.sizedElements;
  if (!(sized > MAX_SIZED_ELEMENTS)) return;
  throw new GuestLoadError(
    "limits",
    `${label} has constant expressions that allocate ${sized} elements by length (array.new, array.new_default, struct.new_default) as it is instantiated, more than the ${MAX_SIZED_ELEMENTS} a guest instantiated in this process may (building them cannot be stopped)`,
    "allocate them in a function the guest calls, where a stop can land between allocations, or run it with invokeIsolated, where a failed instantiation ends only the child process",
  );
}

/**
 * Refuses a guest whose instantiation alone costs more than its budget:
 * its memories' and tables' initial sizes, its active segments and the
 * objects its constant expressions allocate, priced as the cost model
 * prices `memory.grow`, `memory.init`, `table.grow` and `array.new`.
 *
 * @param footprint What instantiating the guest does.
 * @param costs The guest's cost model.
 * @param budget Its fuel budget.
 * @param label The guest's name in messages.
 * @throws {FuelExhausted} When the budget cannot pay for it.
 */
export function checkInstantiation(
  footprint: Footprint,
  costs: CostModel,
  budget: number,
  label: string,
): void {
  if (budget === Infinity) return;
  const cost = footprintCost(footprint, costs);
  if (cost <= budget) return;
  const needs = cost === Infinity
    ? "an amount of fuel only known at instantiation (an allocation sized by an imported global)"
    : `${cost} fuel`;
  throw new FuelExhausted(
    budget,
    0,
    `guest ran out of fuel before it started: instantiating ${label} needs ${needs} for its memories, tables, segments and constant allocations, more than its budget of ${budget}; give it more fuel`,
  );
}

/**
 * Holds a guest's linear memories together to `total` bytes, for an
 * isolated child whose heap limit must bound them too: each of its `n`
 * memories (imported or defined) gets `total / n`, or `limits.memory` where
 * that is smaller. A memory that starts above its share is refused here,
 * before a child is started.
 *
 * @param bytes The guest's bytes.
 * @param limits The limits given, if any.
 * @param total The most bytes all its memories may hold together.
 * @param option How the caller names what set `total`, for messages.
 * @param label The guest's name in messages.
 * @returns The limits to load the guest with.
 * @throws {GuestLoadError} With reason `limits`, for a memory that starts above its share.
 * @throws {InvalidModule} When the sections it reads cannot be decoded.
 */
export function shareMemory(
  bytes: Uint8Array,
  limits: ResourceLimits | undefined,
  total: number,
  option: string,
  label: string,
): ResourceLimits {
  // Every memory's declared minimum in pages, imports first: read, not
  // rewritten (the child writes the limits in).
  const info = new ModuleInfo();
  const minimums: number[] = [];
  for (const { id, start, end } of readSections(bytes)) {
    if (id === 1 || id === 2) {
      readSection(info, id, new Reader(bytes, start, end), new Patches());
    } else if (id === 5) {
      const r = new Reader(bytes, start, end);
      const count = r.count("memory", 2);
      for (let i = 0; i < count; i++) minimums.push(readLimits(r).min);
    }
  }
  const imported = info.imports.filter((entry) => entry.kind === "memory");
  minimums.unshift(...imported.map((entry) => entry.limits!.min));
  const count = Math.max(1, minimums.length);
  const share = Math.floor(total / count);
  // A stricter limits.memory holds, and the child refuses by it as usual.
  if (limits?.memory !== undefined && limits.memory <= share) return limits;
  const index = minimums.findIndex((pages) => pages * PAGE > share);
  if (index >= 0) {
    const what = `${index < imported.length ? "imported " : ""}memory ${index}`;
    const of = count === 1 ? "" : `, its share of ${count} memories`;
    const minimum = minimums[index]! * PAGE;
    throw new GuestLoadError(
      "limits",
      `${label} needs ${what} to start at ${minimum} bytes, more than ${option} allows it (${share} bytes${of})`,
      `raise ${option} to at least ${
        Math.ceil(minimum * count / 1048576)
      }, or give the guest a smaller memory`,
    );
  }
  return { ...limits, memory: share };
}
