/**
 * Reading the module's sections into a {@linkcode ModuleInfo}: the
 * dispatch by section id, and the sections that name functions (exports,
 * start, elements, data offsets), whose indices shift once the rewriter
 * adds its import.
 *
 * @module
 */

import { readConstExpr, readFunctionIndex } from "./const_expr.ts";
import {
  EXTERNAL_KINDS,
  type FunctionSignature,
  LIMITS,
  type ModuleInfo,
} from "./module.ts";
import { Patches } from "./patches.ts";
import type { Reader } from "./reader.ts";
import { READ_STEP_BYTES, runSteps, type Steps } from "./steps.ts";
import { readRefType } from "./types.ts";

/**
 * Reads any section but a custom or the code section.
 *
 * @param info The module so far.
 * @param id The section id.
 * @param r A reader over the section's contents.
 * @param patches Where to record shifted function indices.
 */
export function readSection(
  info: ModuleInfo,
  id: number,
  r: Reader,
  patches: Patches,
): void {
  switch (id) {
    case 1:
      return info.readTypes(r);
    case 2:
      return info.readImports(r);
    case 3:
      return info.readFunctions(r);
    case 4:
      return info.readTables(r, patches);
    case 5:
      return info.readMemories(r);
    case 6:
      return info.readGlobals(r, patches);
    case 7:
      return readExports(info, r, patches);
    case 8:
      return readStart(info, r, patches);
    case 9:
      return readElements(info, r, patches);
    case 11:
      return readData(info, r, patches);
    case 12:
      r.u32(); // the data count
      return;
    case 13:
      return info.readTags(r);
  }
}

/**
 * Reads the export section.
 *
 * @param info The module so far.
 * @param r A reader over the section's contents.
 * @param patches Where to record shifted function indices.
 */
export function readExports(
  info: ModuleInfo,
  r: Reader,
  patches: Patches,
): void {
  runSteps(readExportsSteps(info, r, patches));
}

/**
 * {@linkcode readExports} in steps of about {@linkcode READ_STEP_BYTES} of the
 * section.
 *
 * @param info The module so far.
 * @param r A reader over the section's contents.
 * @param patches Where to record shifted function indices.
 * @returns The steps.
 */
export function* readExportsSteps(
  info: ModuleInfo,
  r: Reader,
  patches: Patches,
): Steps<void> {
  let mark = r.pos;
  const count = r.count("export", 3);
  // What the rewrite adds is counted once it is known (`#checkLimits`).
  if (count > LIMITS.exports) r.fail(`too many exports: ${count}`);
  for (let i = 0; i < count; i++) {
    const nameAt = r.pos;
    const name = r.name();
    if (info.exportNames.has(name)) {
      r.fail(`duplicate export name "${name}"`, nameAt);
    }
    info.exportNames.add(name);
    const kindAt = r.pos;
    const kind = r.u8("export kind");
    const at = r.pos;
    const index = r.u32();
    if (kind < EXTERNAL_KINDS.length) {
      info.exports.push({ name, kind: EXTERNAL_KINDS[kind]!, index });
    }
    const check = (what: string, limit: number) => {
      if (index >= limit) {
        r.fail(
          `${what} index ${index} out of range: the module has ${limit}`,
          at,
        );
      }
    };
    switch (kind) {
      case 0:
        info.checkFunction(r, index, at);
        info.declareFunction(index);
        info.hostEntered.add(index);
        if (index >= info.importedFunctions) {
          patches.add(at, r.pos - at, info.shiftFunction(index));
        }
        break;
      case 1:
        check("table", info.tableIs64.length);
        break;
      case 2:
        check("memory", info.memoryIs64.length);
        break;
      case 3:
        check("global", info.globalCount);
        break;
      case 4:
        check("tag", info.tagCount);
        break;
      default:
        r.fail(`unknown export kind 0x${kind.toString(16)}`, kindAt);
    }
    if (r.pos - mark >= READ_STEP_BYTES) {
      mark = r.pos;
      yield;
    }
  }
}

/**
 * Reads the start section.
 *
 * @param info The module so far.
 * @param r A reader over the section's contents.
 * @param patches Where to record the shifted function index.
 */
export function readStart(
  info: ModuleInfo,
  r: Reader,
  patches: Patches,
): void {
  const at = r.pos;
  const index = r.u32();
  info.checkFunction(r, index, at);
  if (index >= info.importedFunctions) {
    patches.add(at, r.pos - at, info.shiftFunction(index));
  } else info.referencedImports.add(index);
  // The engine checks this only while the start section is there; a
  // deferred start is exported instead, where any type would do.
  const signature = info.typeSignatures[info.functionTypes[index]!];
  if (
    signature === undefined || signature.params.length > 0 ||
    signature.results.length > 0
  ) {
    r.fail(
      `start function ${index} has type ${
        describeType(signature)
      }: a start function takes no parameters and returns nothing`,
      at,
    );
  }
  info.hasStart = true;
  info.hostCallable.add(index);
  info.hostEntered.add(index);
}

function describeType(signature: FunctionSignature | undefined): string {
  if (signature === undefined) return "that is not a function type";
  const list = (types: readonly string[]) => `(${types.join(", ")})`;
  return `${list(signature.params)} -> ${list(signature.results)}`;
}

/**
 * Reads the element section.
 *
 * @param info The module so far.
 * @param r A reader over the section's contents.
 * @param patches Where to record shifted function indices.
 */
export function readElements(
  info: ModuleInfo,
  r: Reader,
  patches: Patches,
): void {
  runSteps(readElementsSteps(info, r, patches));
}

/**
 * {@linkcode readElements} in steps of about {@linkcode READ_STEP_BYTES} of the
 * section: a few megabytes of function indices took half a second to read.
 *
 * @param info The module so far.
 * @param r A reader over the section's contents.
 * @param patches Where to record shifted function indices.
 * @returns The steps.
 */
export function* readElementsSteps(
  info: ModuleInfo,
  r: Reader,
  patches: Patches,
): Steps<void> {
  let mark = r.pos;
  const count = r.count("element segment", 2, LIMITS.elementSegments);
  for (let i = 0; i < count; i++) {
    const at = r.pos;
    const flags = r.u32();
    if (flags > 7) r.fail(`unknown element segment flags ${flags}`, at);
    const active = (flags & 1) === 0;
    const explicitTable = (flags & 2) !== 0;
    const expressions = (flags & 4) !== 0;
    if (active && explicitTable) readTableIndex(info, r);
    if (active) readConstExpr(r, info, info.globalCount, patches);
    if (!active || explicitTable) {
      if (expressions) readRefType(r, info.typeCount);
      else {
        const kindAt = r.pos;
        if (r.u8("element kind") !== 0) {
          r.fail("unknown element kind", kindAt);
        }
      }
    }
    const n = r.count(
      "element",
      expressions ? 2 : 1,
      LIMITS.segmentElements,
    );
    // An active segment is copied into its table at instantiation; a
    // passive one is evaluated whole by the first operator that reads it.
    const passive = !active && !explicitTable;
    const footprint = info.footprint;
    if (active) footprint.elementEntries += n;
    else if (passive && n > 1) footprint.passiveEntries += n - 1;
    for (let j = 0; j < n; j++) {
      if (expressions) {
        const at = r.pos;
        const operators = footprint.evaluatedOperators;
        const allocated = footprint.allocatedElements;
        readConstExpr(r, info, info.globalCount, patches);
        if (passive) {
          const more = footprint.evaluatedOperators - operators;
          footprint.passiveOperators += more;
          footprint.passiveAllocatedElements += footprint.allocatedElements -
            allocated;
          const lone = r.bytes[at];
          if (j > 0 && (more > 0 || (lone !== 0xd2 && lone !== 0xd0))) {
            footprint.passiveEvaluatedEntries++;
          }
        }
      } else readFunctionIndex(r, info, patches);
      if (r.pos - mark >= READ_STEP_BYTES) {
        mark = r.pos;
        yield;
      }
    }
  }
}

/**
 * Reads a section other than the code, in steps where one can be long
 * (types, imports, functions, globals, exports, element and data segments).
 *
 * @param info The module so far.
 * @param id The section's id.
 * @param r A reader over the section's contents.
 * @param patches Where to record shifted function indices.
 * @returns The steps.
 */
export function* readSectionSteps(
  info: ModuleInfo,
  id: number,
  r: Reader,
  patches: Patches,
): Steps<void> {
  switch (id) {
    case 1:
      return yield* info.readTypesSteps(r);
    case 2:
      return yield* info.readImportsSteps(r);
    case 3:
      return yield* info.readFunctionsSteps(r);
    case 6:
      return yield* info.readGlobalsSteps(r, patches);
    case 7:
      return yield* readExportsSteps(info, r, patches);
    case 9:
      return yield* readElementsSteps(info, r, patches);
    case 11:
      return yield* readDataSteps(info, r, patches);
    default:
      readSection(info, id, r, patches);
  }
}

function readTableIndex(info: ModuleInfo, r: Reader): void {
  const at = r.pos;
  const index = r.u32();
  if (index >= info.tableIs64.length) {
    r.fail(
      `table index ${index} out of range: the module has ${info.tableIs64.length} tables`,
      at,
    );
  }
}

// What `skipPlainSegments` skipped besides its return value: kept out of
// objects, whose property stores after its loop would have no feedback
// when V8 optimises the running loop, and throw that code away.
let segmentsSkipped = 0;
let dataBytesSkipped = 0;

/**
 * Skips the data segments from the `i`th on while they are active in
 * memory 0 at an `i32.const` offset of at most 4 bytes, with a size of at
 * most 4 bytes that fits the section: what the general reader would accept
 * without a check to make. Leaves the index of the first segment not
 * skipped (`count` at the end) in `segmentsSkipped`, and their sizes' sum
 * in `dataBytesSkipped`.
 *
 * @returns Where the first segment not skipped starts.
 */
function skipPlainSegments(
  bytes: Uint8Array,
  p: number,
  end: number,
  i: number,
  count: number,
): number {
  let dataBytes = 0;
  for (; i < count; i++) {
    if (bytes[p] !== 0 || bytes[p + 1] !== 0x41) break;
    let q = p + 2;
    const constLast = Math.min(end, q + 4);
    while (q < constLast && bytes[q]! >= 0x80) q++;
    if (q >= constLast || q + 1 >= end || bytes[q + 1] !== 0x0b) break;
    q += 2;
    const sizeLast = Math.min(end, q + 4);
    let size = 0;
    let scale = 1;
    while (q < sizeLast) {
      const b = bytes[q++]!;
      size += (b & 0x7f) * scale;
      if (b < 0x80) {
        scale = 0;
        break;
      }
      scale *= 128;
    }
    if (scale !== 0 || size > end - q) break;
    p = q + size;
    dataBytes += size;
  }
  segmentsSkipped = i;
  dataBytesSkipped = dataBytes;
  return p;
}

/**
 * How many data segments a step of {@linkcode readDataSteps} reads: a Go
 * module has about 100,000, read at once in 2 to 8 ms.
 */
const DATA_STEP_SEGMENTS = 8192;

/**
 * Reads the data section.
 *
 * @param info The module so far.
 * @param r A reader over the section's contents.
 * @param patches Where to record shifted function indices (only an invalid
 *   offset expression could hold one).
 */
export function readData(
  info: ModuleInfo,
  r: Reader,
  patches: Patches,
): void {
  runSteps(readDataSteps(info, r, patches));
}

/**
 * {@linkcode readData} in steps of {@linkcode DATA_STEP_SEGMENTS}
 * segments (their bytes are skipped, not read), or fewer where the segments
 * read other than by the fast skip hold {@linkcode READ_STEP_BYTES} before
 * their payloads.
 *
 * @param info The module so far.
 * @param r A reader over the section's contents.
 * @param patches Where to record shifted function indices.
 * @returns The steps.
 */
export function* readDataSteps(
  info: ModuleInfo,
  r: Reader,
  patches: Patches,
): Steps<void> {
  yield* dataSegmentsSteps(info, r, patches, true);
}

/**
 * The data section's segments in steps; with `checkMemory` false, memory
 * indices are read but not checked. Returns the number of segments.
 */
function* dataSegmentsSteps(
  info: ModuleInfo,
  r: Reader,
  patches: Patches,
  checkMemory: boolean,
): Steps<number> {
  const count = r.count("data segment", 2, LIMITS.dataSegments);
  // Without a memory of the guest's, memory 0 of a stop flag's rewrite is
  // the flag memory: a segment active in memory 0 must be refused here, not
  // skipped unchecked.
  const skips = !checkMemory || info.memoryIs64.length > 0;
  let i = 0;
  while (i < count) {
    const pauseAt = Math.min(count, i + DATA_STEP_SEGMENTS);
    // What the general reader went through, payloads left out: a segment's
    // offset may be a long constant expression (1,000 segments of 1,000
    // `i32.add`s held one step 117 to 667 ms).
    let read = 0;
    while (i < pauseAt && read < READ_STEP_BYTES) {
      // Most segments are `0, i32.const k, end, size, bytes`: skipped in a
      // loop of locals alone (a Go module has about 100,000 of them, read
      // before V8 has optimised anything), the rest by the general reader.
      if (skips) {
        r.pos = skipPlainSegments(r.bytes, r.pos, r.end, i, pauseAt);
        i = segmentsSkipped;
        info.footprint.dataBytes += dataBytesSkipped;
        if (i === pauseAt) break;
      }
      read += readSegment(info, r, patches, checkMemory, i);
      i++;
    }
    if (i < count) yield;
  }
  return count;
}

/**
 * Reads one data segment that `skipPlainSegments` left to the general
 * reader, and returns how many bytes it read before the segment's payload.
 */
function readSegment(
  info: ModuleInfo,
  r: Reader,
  patches: Patches,
  checkMemory: boolean,
  index: number,
): number {
  const at = r.pos;
  const flags = r.u32();
  if (flags > 2) r.fail(`unknown data segment flags ${flags}`, at);
  if (flags === 0 && checkMemory && info.memoryIs64.length === 0) {
    r.fail(
      `data segment ${index} is active in memory 0, but the module has no memory: give the module a memory, or make the segment passive`,
      at,
    );
  }
  if (flags === 2) {
    const memAt = r.pos;
    const memory = r.u32();
    if (checkMemory && memory >= info.memoryIs64.length) {
      r.fail(`memory index ${memory} out of range`, memAt);
    }
  }
  if (flags !== 1) readConstExpr(r, info, info.globalCount, patches);
  const size = r.u32();
  const header = r.pos - at;
  r.skip(size, "data bytes");
  // An active segment is copied into its memory at instantiation.
  if (flags !== 1) info.footprint.dataBytes += size;
  return header;
}

/**
 * Reads the data section's offsets alone, for what the engine evaluates as
 * it instantiates: the operators of an offset of more than one go to
 * `info.footprint.evaluatedOperators`, and active segments' sizes to its
 * `dataBytes`, as {@linkcode readDataSteps} does, in the same steps; but
 * memory indices are not checked (the memory section need not have been
 * read).
 *
 * @param info The module so far (its globals, for `global.get`).
 * @param r A reader over the section's contents.
 * @returns The steps, which return the number of segments.
 * @example Usage
 * ```ts
 * import { readDataOffsetsSteps } from "./module_sections.ts";
 * import { ModuleInfo } from "./module.ts";
 * import { Reader } from "./reader.ts";
 * import { runSteps } from "./steps.ts";
 * import assert from "node:assert/strict";
 *
 * // One active segment at `1 + 2`, of one byte.
 * const section = new Uint8Array([
 *   1, 0, 0x41, 1, 0x41, 2, 0x6a, 0x0b, 1, 0x78,
 * ]);
 * const info = new ModuleInfo();
 * assert.equal(runSteps(readDataOffsetsSteps(info, new Reader(section))), 1);
 * assert.equal(info.footprint.evaluatedOperators, 3);
 * ```
 */
export function* readDataOffsetsSteps(
  info: ModuleInfo,
  r: Reader,
): Steps<number> {
  return yield* dataSegmentsSteps(info, r, new Patches(), false);
}
