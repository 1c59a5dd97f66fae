/**
 * Section walking: what the rewriter must know about a module before its
 * code (type, import, function, table, memory, tag and global sections), and
 * the index checks and shifts for the sections that name functions and
 * globals (exports, start, elements, data offsets, constant expressions).
 *
 * Every index the guest writes is checked against the module's ORIGINAL
 * counts, so a malformed guest cannot reach what the rewriter appends.
 *
 * @module
 */

import { readConstExpr } from "./const_expr.ts";
import { type Footprint, newFootprint } from "./footprint.ts";
import type { Patches } from "./patches.ts";
import { failBeforeEngine, type Reader } from "./reader.ts";
import { READ_STEP_BYTES, runSteps, type Steps } from "./steps.ts";
import {
  type Limits,
  readLimits,
  readRefType,
  readTableLimits,
  readValType,
  type ValueType,
} from "./types.ts";

/**
 * A function type's parameter and result types.
 *
 * @example The signature of `(func (param i32 i32) (result i64))`
 * ```ts
 * import type { FunctionSignature } from "./module.ts";
 * import assert from "node:assert/strict";
 *
 * const add: FunctionSignature = { params: ["i32", "i32"], results: ["i64"] };
 * assert.equal(add.params.length, 2);
 * ```
 */
export interface FunctionSignature {
  /** Parameter types, e.g. `["i32", "i64"]`. */
  params: ValueType[];
  /** Result types. */
  results: ValueType[];
}

/** What an import or export is. */
export type ExternalKind = "function" | "table" | "memory" | "global" | "tag";

/** By the byte that encodes them in imports and exports. */
export const EXTERNAL_KINDS: readonly ExternalKind[] = [
  "function",
  "table",
  "memory",
  "global",
  "tag",
];

/** One import as the module declares it. */
export interface ImportEntry {
  /** The import's module name. */
  module: string;
  /** The import's field name. */
  name: string;
  /** What kind of thing it is. */
  kind: ExternalKind;
  /** For functions and tags: the type index. */
  type?: number;
  /** For tables: the element type; for globals: the value type. */
  valueType?: ValueType;
  /** For globals: whether it is mutable. */
  mutable?: boolean;
  /** For tables and memories: the limits. */
  limits?: Limits;
}

/** One export as the module declares it. */
export interface ExportEntry {
  /** The export's name. */
  name: string;
  /** What kind of thing it is. */
  kind: ExternalKind;
  /** Its index in the space of its kind (imports first). */
  index: number;
}

/** V8's limits (wasm-limits.h); the output must stay within them. */
export const LIMITS = {
  types: 1_000_000,
  /** Defined functions. */
  functions: 1_000_000,
  imports: 1_000_000,
  globals: 1_000_000,
  exports: 1_000_000,
  /** Memories, imported and defined. */
  memories: 100_000,
  locals: 50_000,
  /** Defined tables (imported ones are not counted). */
  tables: 100_000,
  /** Defined tags (imported ones are not counted). */
  tags: 1_000_000,
  /** Parameters, and results, of one function type. */
  params: 1_000,
  structFields: 10_000,
  elementSegments: 10_000_000,
  /** Entries of one element segment. */
  segmentElements: 10_000_000,
  dataSegments: 100_000,
  /**
   * Elements of one table (`--wasm-max-table-size`): a grow past it fails
   * whatever the table's declared maximum.
   */
  tableSize: 10_000_000,
  /**
   * Not the engine's: the parameters and results of every block, loop, if
   * and try whose type is a type index, summed over the module. The
   * engine's validation holds about 16 bytes for each, until the end of
   * the function: 300 KB of `(block (type $t))` with 1,000 parameters and
   * 1,000 results held the thread 2.7 s and 3.1 GB, and a 7.6 MB function
   * could ask for 80 GB.
   */
  blockTypeValues: 1 << 22,
  functionSize: 7_654_321,
  /** Bytes of a whole module. */
  moduleSize: 1 << 30,
} as const;

/**
 * What the rewriter knows about the module so far, in original indices.
 *
 * @example Usage
 * ```ts
 * import { ModuleInfo } from "./module.ts";
 * import assert from "node:assert/strict";
 *
 * const info = new ModuleInfo();
 * assert.equal(info.functionCount, 0);
 * ```
 */
export class ModuleInfo {
  /** How many types the type section defines. */
  typeCount = 0;
  /**
   * The most types a read of the type section takes in: past it, the read
   * ends with `typeCount` one over it, so that a check that refuses so
   * many does not first hold (and collect) a million of them.
   */
  typeReadLimit = Infinity;
  /** Per type: the number of parameters of a function type, else -1. */
  typeParams: Int32Array = new Int32Array(0);
  /**
   * Per type: where a plain function type (`0x60`, outside any recursion
   * group and without `sub`) starts in the module, else -1.
   */
  typeOffsets: Int32Array = new Int32Array(0);
  /** How many functions are imported. */
  importedFunctions = 0;
  /** How many functions are defined. */
  definedFunctions = 0;
  /** Per function (imports first): its type index. */
  functionTypes: Uint32Array = new Uint32Array(0);
  /** Per table: whether it is a table64. */
  tableIs64: boolean[] = [];
  /**
   * Per table: the most elements it can hold, its declared maximum or
   * `LIMITS.tableSize`, whichever is less; -1 for an imported table, whose
   * maximum may be below the one its import declares.
   */
  tableMaxima: number[] = [];
  /** Per table: its element type, as encoded. */
  tableElementTypes: Uint8Array[] = [];
  /** Per memory: whether it is a memory64. */
  memoryIs64: boolean[] = [];
  /** How many globals exist (imported and defined). */
  globalCount = 0;
  /** How many tags exist (imported and defined). */
  tagCount = 0;
  /** Per tag (imports first): its type index. */
  tagTypes: number[] = [];
  /** The module names the guest imports from. */
  importModules: Set<string> = new Set();
  /** The names the guest exports. */
  exportNames: Set<string> = new Set();
  /** Per type: its signature if it is a function type. */
  typeSignatures: (FunctionSignature | undefined)[] = [];
  /** Per type: its element's storage type, as encoded, if it is an array. */
  arrayElements: (Uint8Array | undefined)[] = [];
  /** Per type: the number of fields of a struct type, else -1. */
  structFields: Int32Array = new Int32Array(0);
  /**
   * Per global: its value when it is an `i32` known before instantiation,
   * else `NaN` (imports, other types).
   */
  globalValues: number[] = [];
  /** What instantiating the module allocates and copies. */
  footprint: Footprint = newFootprint();
  /** Every import, in order. */
  imports: ImportEntry[] = [];
  /**
   * The imported functions a constant expression, an element segment or
   * the start section names (outside the code).
   */
  referencedImports: Set<number> = new Set();
  /** Every export, in order. */
  exports: ExportEntry[] = [];
  /** Whether the module has a start function. */
  hasStart = false;
  /**
   * The start function when the rewrite exports it instead (a deferred
   * start), else -1. The export declares it for `ref.func`, so code may
   * name it there only if the input declares it too.
   */
  deferredStart = -1;
  /**
   * Whether an export, an element segment or a constant expression names
   * {@linkcode ModuleInfo.deferredStart}.
   */
  startDeclared = false;
  /**
   * The functions the host can call without a call in the code: the
   * exported ones, those an element segment or a constant expression names
   * (a table or a reference can be handed to the host), and the start
   * function. Their entry checks stay, but deadline-only for very short
   * ones among them that the host cannot call by name and that call no
   * defined function (see `settleEntryChecks` in `entry_checks.ts`).
   */
  hostCallable: Set<number> = new Set();
  /**
   * The functions the host can call by name: the exported ones and the
   * start function. Their entry checks stay in every rewrite.
   */
  hostEntered: Set<number> = new Set();
  /**
   * How many function imports the rewrite appends after the guest's.
   */
  addedImports = 1;
  /**
   * The parameters and results of the blocks whose type is a type index,
   * in the bodies read so far (see `LIMITS.blockTypeValues`).
   */
  blockTypeValues = 0;

  /** Imported plus defined functions. */
  get functionCount(): number {
    return this.importedFunctions + this.definedFunctions;
  }

  /**
   * How much every defined function's index grows: by the
   * {@linkcode ModuleInfo.addedImports} function imports appended after the
   * guest's, and by the slow path, the first defined function (every check
   * calls it, and a low index is a short call).
   *
   * @returns The shift.
   */
  get functionShift(): number {
    return this.addedImports + 1;
  }

  /**
   * The new index of original function `index` once
   * {@linkcode ModuleInfo.addedImports} function imports have been appended
   * after the guest's own and the slow path put before its defined ones.
   *
   * @param index An original function index.
   * @returns The index in the rewritten module.
   */
  shiftFunction(index: number): number {
    return index >= this.importedFunctions ? index + this.functionShift : index;
  }

  /**
   * Counts a block type's parameters and results against
   * `LIMITS.blockTypeValues`.
   *
   * @param type The block's type index, or -1 for another block type.
   * @param at Where the block's operator starts, for the error.
   */
  countBlockType(type: number, at: number): void {
    if (type < 0) return;
    const signature = this.typeSignatures[type];
    if (signature === undefined) return;
    this.blockTypeValues += signature.params.length + signature.results.length;
    if (this.blockTypeValues > LIMITS.blockTypeValues) {
      // Not shown to the engine: its verdict would cost what is refused.
      failBeforeEngine(
        `the module's blocks typed by a function type carry more than ${LIMITS.blockTypeValues} parameters and results together (each block, loop, if and try counts its type's), which the engine's validation holds in memory and time before any check can run: give the blocks fewer parameters and results, or fewer such blocks, or run it with invokeIsolated and a timeout but no fuel, whose child is killed at the deadline`,
        at,
      );
    }
  }

  /**
   * Checks a function index against the original function count.
   *
   * @param r The reader (for the error).
   * @param index The index.
   * @param at Where the index starts.
   */
  checkFunction(r: Reader, index: number, at: number): void {
    if (index >= this.functionCount) {
      r.fail(
        `function index ${index} out of range: the module has ${this.functionCount} functions`,
        at,
      );
    }
  }

  /**
   * Notes that an export, an element segment or a constant expression
   * names a function, which declares it for `ref.func` in code.
   *
   * @param index An original function index.
   */
  declareFunction(index: number): void {
    if (index === this.deferredStart) this.startDeclared = true;
    this.hostCallable.add(index);
  }

  /**
   * Checks a global index against a limit.
   *
   * @param r The reader (for the error).
   * @param index The index.
   * @param at Where the index starts.
   * @param limit How many globals are visible there.
   */
  checkGlobal(
    r: Reader,
    index: number,
    at: number,
    limit: number = this.globalCount,
  ): void {
    if (index >= limit) {
      r.fail(
        `global index ${index} out of range: ${limit} globals are visible here`,
        at,
      );
    }
  }

  /**
   * Reads a function type index and checks that it names a function type.
   *
   * @param r The reader.
   * @returns The type index.
   */
  readFunctionType(r: Reader): number {
    const at = r.pos;
    const index = r.u32();
    if (index >= this.typeCount) {
      r.fail(
        `type index ${index} out of range: the module has ${this.typeCount} types`,
        at,
      );
    }
    if (this.typeParams[index]! < 0) {
      r.fail(`type ${index} is not a function type`, at);
    }
    return index;
  }

  #addFunction(type: number): void {
    const n = this.importedFunctions + this.definedFunctions;
    if (n >= this.functionTypes.length) {
      const next = new Uint32Array(Math.max(16, n * 2));
      next.set(this.functionTypes);
      this.functionTypes = next;
    }
    this.functionTypes[n] = type;
  }

  /**
   * Reads the type section.
   *
   * @param r A reader over the section's contents.
   */
  readTypes(r: Reader): void {
    runSteps(this.readTypesSteps(r));
  }

  /**
   * {@linkcode ModuleInfo.readTypes} in steps of about
   * {@linkcode READ_STEP_BYTES} of the section (a million types took half a
   * second).
   *
   * @param r A reader over the section's contents.
   * @returns The steps.
   */
  *readTypesSteps(r: Reader): Steps<void> {
    let mark = r.pos;
    const groups = r.count("type", 2, LIMITS.types);
    // Per type, in typed arrays sized for one type a group and doubled
    // when recursion groups hold more: grown by `push`, a million types'
    // arrays held three times their size, most of it dropped copies.
    let params = new Int32Array(groups);
    let offsets = new Int32Array(groups);
    let fields = new Int32Array(groups).fill(-1);
    let count = 0;
    const signatures = this.typeSignatures;
    const arrays = this.arrayElements;
    // Identical function types share one signature (see `readSubType`).
    const shared: SharedSignatures = new Map();
    const add = (offset: number, signature: FunctionSignature | undefined) => {
      if (count === params.length) {
        const capacity = Math.max(16, count * 2);
        params = grown(params, capacity, 0);
        offsets = grown(offsets, capacity, 0);
        fields = grown(fields, capacity, -1);
      }
      signatures.push(signature);
      params[count] = signature ? signature.params.length : -1;
      offsets[count] = offset;
      if (subType.fields >= 0) fields[count] = subType.fields;
      if (subType.element !== undefined) {
        // Only array types have an entry; the rest read as `undefined`.
        while (arrays.length < count) arrays.push(undefined);
        arrays.push(subType.element);
      }
      count++;
    };
    const most = this.typeReadLimit;
    groups: for (let g = 0; g < groups; g++) {
      if (r.peek("type") === 0x4e) {
        r.pos++;
        const n = r.count("recursion group", 2);
        // Checked before the group is read: its types are held as read.
        if (count + n > LIMITS.types - 2) {
          r.fail(`too many types: more than ${LIMITS.types - 2}`);
        }
        const limit = count + n;
        for (let i = 0; i < n; i++) {
          add(-1, readSubType(r, limit, shared));
          if (count > most) break groups;
          if (r.pos - mark >= READ_STEP_BYTES) {
            mark = r.pos;
            yield;
          }
        }
      } else {
        const offset = r.peek("type") === 0x60 ? r.pos : -1;
        add(offset, readSubType(r, count + 1, shared));
        if (count > most) break;
      }
      if (count > LIMITS.types - 2) {
        r.fail(`too many types: more than ${LIMITS.types - 2}`);
      }
      if (r.pos - mark >= READ_STEP_BYTES) {
        mark = r.pos;
        yield;
      }
    }
    this.typeCount = count;
    this.typeParams = count === params.length ? params : params.slice(0, count);
    this.typeOffsets = count === offsets.length
      ? offsets
      : offsets.slice(0, count);
    this.structFields = count === fields.length
      ? fields
      : fields.slice(0, count);
  }

  /**
   * Reads the import section.
   *
   * @param r A reader over the section's contents.
   */
  readImports(r: Reader): void {
    runSteps(this.readImportsSteps(r));
  }

  /**
   * {@linkcode ModuleInfo.readImports} in steps of about
   * {@linkcode READ_STEP_BYTES} of the section.
   *
   * @param r A reader over the section's contents.
   * @returns The steps.
   */
  *readImportsSteps(r: Reader): Steps<void> {
    let mark = r.pos;
    const count = r.count("import", 3);
    // What the rewrite adds is counted once it is known (`#checkLimits`).
    if (count > LIMITS.imports) {
      r.fail(`too many imports: ${count}`);
    }
    for (let i = 0; i < count; i++) {
      const module = r.name();
      this.importModules.add(module);
      const name = r.name();
      const at = r.pos;
      const code = r.u8("import kind");
      const kind = EXTERNAL_KINDS[code] ??
        r.fail(`unknown import kind 0x${code.toString(16)}`, at);
      const entry: ImportEntry = { module, name, kind };
      switch (code) {
        case 0:
          entry.type = this.readFunctionType(r);
          this.#addFunction(entry.type);
          this.importedFunctions++;
          break;
        case 1: {
          const typeAt = r.pos;
          entry.valueType = readRefType(r, this.typeCount);
          this.tableElementTypes.push(r.bytes.subarray(typeAt, r.pos));
          entry.limits = readTableLimits(r);
          this.tableIs64.push(entry.limits.is64);
          this.tableMaxima.push(-1);
          break;
        }
        case 2:
          entry.limits = readLimits(r);
          this.memoryIs64.push(entry.limits.is64);
          break;
        case 3:
          entry.valueType = readValType(r, this.typeCount);
          entry.mutable = readMutability(r);
          this.globalValues.push(NaN);
          this.globalCount++;
          break;
        case 4:
          entry.type = readTagType(r, this);
          this.tagTypes.push(entry.type);
          this.tagCount++;
          break;
      }
      this.imports.push(entry);
      if (r.pos - mark >= READ_STEP_BYTES) {
        mark = r.pos;
        yield;
      }
    }
  }

  /**
   * Reads the function section.
   *
   * @param r A reader over the section's contents.
   */
  readFunctions(r: Reader): void {
    runSteps(this.readFunctionsSteps(r));
  }

  /**
   * {@linkcode ModuleInfo.readFunctions} in steps of about
   * {@linkcode READ_STEP_BYTES} of the section.
   *
   * @param r A reader over the section's contents.
   * @returns The steps.
   */
  *readFunctionsSteps(r: Reader): Steps<void> {
    let mark = r.pos;
    const count = r.count("function");
    if (count > LIMITS.functions - 1) {
      r.fail(`too many functions: ${count}`);
    }
    for (let i = 0; i < count; i++) {
      this.#addFunction(this.readFunctionType(r));
      this.definedFunctions++;
      if (r.pos - mark >= READ_STEP_BYTES) {
        mark = r.pos;
        yield;
      }
    }
  }

  /**
   * Reads the table section.
   *
   * @param r A reader over the section's contents.
   * @param patches Where to record shifted function indices.
   */
  readTables(r: Reader, patches: Patches): void {
    const count = r.count("table", 2, LIMITS.tables);
    for (let i = 0; i < count; i++) {
      if (r.peek("table") === 0x40) {
        r.pos++;
        const at = r.pos;
        if (r.u8("table flags") !== 0) r.fail("expected 0x00 after 0x40", at);
        const typeAt = r.pos;
        readRefType(r, this.typeCount);
        this.tableElementTypes.push(r.bytes.subarray(typeAt, r.pos));
        const limits = readTableLimits(r);
        this.#addTable(limits);
        const init = r.pos;
        readConstExpr(r, this, this.globalCount, patches);
        // Every element set to the initializer's value as it instantiates.
        if (loneOperator(r.bytes, init, r.pos) !== 0xd0) {
          this.footprint.filledTableElements += limits.min;
        }
      } else {
        const typeAt = r.pos;
        readRefType(r, this.typeCount);
        this.tableElementTypes.push(r.bytes.subarray(typeAt, r.pos));
        this.#addTable(readTableLimits(r));
      }
    }
  }

  /**
   * Reads the memory section.
   *
   * @param r A reader over the section's contents.
   */
  readMemories(r: Reader): void {
    const count = r.count(
      "memory",
      2,
      Math.max(0, LIMITS.memories - this.memoryIs64.length),
    );
    for (let i = 0; i < count; i++) {
      const limits = readLimits(r);
      this.memoryIs64.push(limits.is64);
      this.footprint.memoryPages += limits.min;
    }
  }

  #addTable(limits: Limits): void {
    this.tableIs64.push(limits.is64);
    this.tableMaxima.push(Math.min(limits.max ?? Infinity, LIMITS.tableSize));
    this.footprint.tableElements += limits.min;
  }

  /**
   * Reads the tag section.
   *
   * @param r A reader over the section's contents.
   */
  readTags(r: Reader): void {
    const count = r.count("tag", 2, LIMITS.tags);
    for (let i = 0; i < count; i++) {
      this.tagTypes.push(readTagType(r, this));
      this.tagCount++;
    }
  }

  /**
   * Reads the global section.
   *
   * @param r A reader over the section's contents.
   * @param patches Where to record shifted function indices.
   */
  readGlobals(r: Reader, patches: Patches): void {
    runSteps(this.readGlobalsSteps(r, patches));
  }

  /**
   * {@linkcode ModuleInfo.readGlobals} in steps of about
   * {@linkcode READ_STEP_BYTES} of the section.
   *
   * @param r A reader over the section's contents.
   * @param patches Where to record shifted function indices.
   * @returns The steps.
   */
  *readGlobalsSteps(r: Reader, patches: Patches): Steps<void> {
    let mark = r.pos;
    const count = r.count("global", 3);
    if (this.globalCount + count > LIMITS.globals - 1) {
      r.fail(`too many globals: ${this.globalCount + count}`);
    }
    for (let i = 0; i < count; i++) {
      readValType(r, this.typeCount);
      readMutability(r);
      const at = r.pos;
      this.globalValues.push(
        readConstExpr(r, this, this.globalCount, patches),
      );
      const lone = loneOperator(r.bytes, at, r.pos);
      if (lone === 0x41 || lone === 0xd0) this.footprint.plainGlobals++;
      else if (lone === 0xd2) this.footprint.funcRefGlobals++;
      else this.footprint.evaluatedGlobals++;
      this.globalCount++;
      if (r.pos - mark >= READ_STEP_BYTES) {
        mark = r.pos;
        yield;
      }
    }
  }
}

/**
 * The operator of a constant expression from `start` to `end` that is one
 * operator with one LEB128 immediate (`i32.const`, `ref.null`,
 * `ref.func`) and its `end`, else -1.
 */
function loneOperator(bytes: Uint8Array, start: number, end: number): number {
  let at = start + 1;
  while (at < end && (bytes[at]! & 0x80) !== 0) at++;
  return at + 2 === end ? bytes[start]! : -1;
}

/**
 * The most distinct function signatures a type section's read shares
 * among identical types: real modules have a few hundred.
 */
const MAX_SHARED = 4096;

/**
 * The signatures read so far, by a hash of their encoding: each with where
 * its encoding starts and ends.
 */
type SharedSignatures = Map<number, [FunctionSignature, number, number][]>;

/** The value types of the function type being read, before it is kept. */
const scratch: ValueType[] = [];

/**
 * What `readSubType` read besides a function type's signature: a struct
 * type's field count (else -1), an array type's element type.
 */
const subType: { fields: number; element: Uint8Array | undefined } = {
  fields: -1,
  element: undefined,
};

/** `array` in a new array of `capacity` items, the rest `fill`. */
function grown(
  array: Int32Array,
  capacity: number,
  fill: number,
): Int32Array<ArrayBuffer> {
  const bigger = new Int32Array(capacity);
  bigger.set(array);
  if (fill !== 0) bigger.fill(fill, array.length);
  return bigger;
}

/**
 * The signature encoded as `[start, end)` if one encoded the same way was
 * read before, else a new one of the `paramCount` parameters and the
 * results in `scratch`, kept for the next ones (while fewer than
 * `MAX_SHARED` are). Type indices are absolute, so equal encodings are
 * equal signatures: a million identical types held a million pairs of
 * arrays.
 */
function sharedSignature(
  bytes: Uint8Array,
  start: number,
  end: number,
  shared: SharedSignatures,
  paramCount: number,
): FunctionSignature {
  let hash = 0x811c9dc5;
  for (let i = start; i < end; i++) {
    hash = Math.imul(hash ^ bytes[i]!, 0x01000193);
  }
  const bucket = shared.get(hash);
  if (bucket !== undefined) {
    for (const [signature, from, to] of bucket) {
      if (to - from !== end - start) continue;
      let same = true;
      for (let i = 0; i < end - start && same; i++) {
        same = bytes[from + i] === bytes[start + i];
      }
      if (same) return signature;
    }
  }
  const signature = {
    params: scratch.slice(0, paramCount),
    results: scratch.slice(paramCount),
  };
  if (shared.size < MAX_SHARED) {
    if (bucket === undefined) shared.set(hash, [[signature, start, end]]);
    else bucket.push([signature, start, end]);
  }
  return signature;
}

/** Reads a sub type; returns its signature if it is a function type. */
function readSubType(
  r: Reader,
  typeLimit: number,
  shared: SharedSignatures,
): FunctionSignature | undefined {
  subType.fields = -1;
  subType.element = undefined;
  const byte = r.peek("type");
  if (byte === 0x50 || byte === 0x4f) {
    r.pos++;
    const supers = r.count("supertype", 1, 1);
    for (let i = 0; i < supers; i++) {
      const at = r.pos;
      if (r.u32() >= typeLimit) r.fail("supertype index out of range", at);
    }
  }
  const at = r.pos;
  const form = r.u8("type form");
  switch (form) {
    case 0x60: {
      const start = r.pos;
      scratch.length = 0;
      const paramCount = r.count("parameter", 1, LIMITS.params);
      for (let i = 0; i < paramCount; i++) {
        scratch.push(readValType(r, typeLimit));
      }
      const resultCount = r.count("result", 1, LIMITS.params);
      for (let i = 0; i < resultCount; i++) {
        scratch.push(readValType(r, typeLimit));
      }
      return sharedSignature(r.bytes, start, r.pos, shared, paramCount);
    }
    case 0x5f: {
      const fields = r.count("field", 2, LIMITS.structFields);
      for (let i = 0; i < fields; i++) {
        readValType(r, typeLimit, true);
        readMutability(r);
      }
      subType.fields = fields;
      return undefined;
    }
    case 0x5e: {
      const elementAt = r.pos;
      readValType(r, typeLimit, true);
      subType.element = r.bytes.subarray(elementAt, r.pos);
      readMutability(r);
      return undefined;
    }
  }
  return r.fail(`unknown type form 0x${form.toString(16)}`, at);
}

function readMutability(r: Reader): boolean {
  const at = r.pos;
  const flag = r.u8("mutability");
  if (flag > 1) r.fail(`invalid mutability flag ${flag}`, at);
  return flag === 1;
}

function readTagType(r: Reader, info: ModuleInfo): number {
  const at = r.pos;
  // A u32 for the engine, so it may be written in more than one byte.
  const attribute = r.u32();
  if (attribute !== 0) {
    r.fail(
      `unknown tag attribute ${attribute}: only 0 (an exception) is known`,
      at,
    );
  }
  const typeAt = r.pos;
  const type = info.readFunctionType(r);
  // Stack switching (an engine flag) lets a tag's type have results, for
  // the values a suspension's resumption hands back: an exception's tag has
  // none, and a tag this reader does not model is refused.
  const results = info.typeSignatures[type]!.results.length;
  if (results > 0) {
    r.fail(
      `tag type ${type} has ${results} results: only exception tags, without results, are supported (stack switching's are not)`,
      typeAt,
    );
  }
  return type;
}
