/**
 * What compiling and instantiating a guest costs the engine one item at a
 * time, which nothing can stop: each kind of item's weight, a guest's
 * counts summed into its instantiation work, and the refusal of a guest of
 * more types than that work allows, read no further than that.
 *
 * @module
 */

import { GuestLoadError } from "../errors.ts";
import { ModuleInfo } from "../wasm/module.ts";
import { keptFromEngine, Reader } from "../wasm/reader.ts";
import { readSections } from "../wasm/sections.ts";
import type { Steps } from "../wasm/steps.ts";

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
 * hold of their own, in the call that first reads the segment, which
 * `passive_segments.ts` bounds.
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
   * with `elementSegment`), decoded as the guest is compiled. What the
   * engine does when a call first reads the segment (evaluates it whole,
   * which no check interrupts) has a budget of its own, far smaller:
   * `MAX_PASSIVE_FIRST_READ_WORK` in `passive_segments.ts`.
   */
  passiveEntry: 30,
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
 * import { instantiationWork } from "./instantiation_work.ts";
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
export const INSTANTIATION_ITEMS: [
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
 * The most types whose {@linkcode INSTANTIATION_WEIGHTS} alone leave a
 * guest within {@linkcode MAX_INSTANTIATION_WORK}.
 */
export const MOST_TYPES = Math.floor(
  MAX_INSTANTIATION_WORK / INSTANTIATION_WEIGHTS.type,
);

/** The refusal of a guest of more than {@linkcode MOST_TYPES} types. */
export function tooManyTypes(label: string): GuestLoadError {
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
export function typeValues(info: ModuleInfo): number {
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
