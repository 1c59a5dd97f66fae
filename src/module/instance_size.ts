/**
 * The refusals, before the engine compiles or instantiates a guest in this
 * process, of one whose instantiation alone could exhaust the process or
 * hold its thread too long: too many memories, table elements, bindings,
 * tags or segments, constant expressions that allocate too much, too much
 * instantiation work, or (for a metered guest) more than its fuel pays for.
 *
 * @module
 */

import { FuelExhausted, GuestLoadError } from "../errors.ts";
import { ModuleInfo } from "../wasm/module.ts";
import {
  readDataOffsetsSteps,
  readSectionSteps,
} from "../wasm/module_sections.ts";
import { Patches } from "../wasm/patches.ts";
import { keptFromEngine, Reader } from "../wasm/reader.ts";
import { checkBodyLimitsSteps, refusedBodies } from "../wasm/body_limits.ts";
import { readSections } from "../wasm/sections.ts";
import { runSteps, type Steps } from "../wasm/steps.ts";
import type { CostModel } from "../wasm/costs.ts";
import { type Footprint, footprintCost } from "../wasm/footprint.ts";
import { checkPassiveFirstReads } from "./passive_segments.ts";
import {
  FREE_NAME_BYTES,
  INSTANTIATION_ITEMS,
  type InstantiationCounts,
  instantiationWork,
  MAX_INSTANTIATION_WORK,
  MOST_TYPES,
  tooManyTypes,
  typeValues,
} from "./instantiation_work.ts";

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
 * Refuses a guest with more memories than {@linkcode MAX_MEMORIES}, whose
 * tables start with more elements than {@linkcode MAX_TABLE_ELEMENTS}, or
 * whose constant expressions allocate more than
 * {@linkcode MAX_ALLOCATED_ELEMENTS}, with more imports or exports than
 * {@linkcode MAX_BINDINGS}, more tags or element segments than
 * {@linkcode MAX_TAGS_AND_SEGMENTS}, or functions, globals, table
 * elements, imports, exports, tags and segments that weigh more than
 * {@linkcode MAX_INSTANTIATION_WORK} together, before the engine
 * instantiates it;
 * and, before the engine compiles it, a guest whose bodies nest too deep,
 * whose blocks' function types carry too many values, or that has a try of
 * too many catch clauses or a function too dear to compile (what a rewrite
 * refuses, for a guest that is not rewritten). Bytes that cannot be decoded
 * pass: compiling them says what is wrong.
 *
 * @param bytes The guest's bytes, as given.
 * @param label The guest's name in messages.
 * @param bodies Whether to check the bodies (a rewrite checks them itself).
 * @throws {GuestLoadError} With reason `limits`, for too many memories, table
 *   elements, imports, exports, tags or element segments, or too much
 *   instantiation work.
 * @throws {InvalidModule} For bodies whose validation or compile would harm
 *   the host.
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
 * @param sizes Whether to check the rest (an isolated child, where a failed
 *   instantiation ends only the child, checks only the bodies).
 * @returns The steps.
 * @throws {GuestLoadError} With reason `limits`, for too many memories, table
 *   elements, imports, exports, tags or element segments, or too much
 *   instantiation work.
 * @throws {InvalidModule} For bodies whose validation or compile would harm
 *   the host.
 */
export function* checkInstanceSizeSteps(
  bytes: Uint8Array,
  label: string,
  bodies = true,
  sizes = true,
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
        // Their types, which a throw's and a catch's compile weigh by.
        if (bodies) {
          try {
            const r = new Reader(bytes, start, end);
            yield* readSectionSteps(info, id, r, new Patches());
          } catch {
            // The engine says what is wrong with them.
          }
        }
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
    if (keptFromEngine(error) || refusedBodies(error)) throw error;
    return;
  }
  if (!sizes) return;
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
  checkPassiveFirstReads(footprint, label, hint);
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
      }, which weigh ${work} in instantiation work, more than the ${MAX_INSTANTIATION_WORK} a guest instantiated in this process may (the engine handles each as it compiles and instantiates the guest, which cannot be stopped)`,
      `give the guest fewer of them, or ${hint}`,
    );
  }
}

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
