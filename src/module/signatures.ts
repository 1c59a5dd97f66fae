/**
 * Reads the types of a module's imports and exports.
 *
 * V8 does not expose wasm types to JavaScript (type reflection is behind a
 * flag), yet good errors need them: "env.log is missing: expected function
 * (i32) -> nil" tells the user what to write. The rewriter's own module
 * reader reads the sections before the code; this describes what it found.
 *
 * @module
 */

import {
  type ExternalKind,
  type FunctionSignature,
  type ImportEntry,
  ModuleInfo,
} from "../wasm/module.ts";
import { readSection } from "../wasm/module_sections.ts";
import { Patches } from "../wasm/patches.ts";
import { Reader } from "../wasm/reader.ts";
import {
  expectSectionEnd,
  readSections,
  SECTION_RANK,
} from "../wasm/sections.ts";
import type { Limits, ValueType } from "../wasm/types.ts";

export type { ExternalKind, FunctionSignature, ValueType };

/** A global's value type and mutability. */
export interface GlobalType {
  /** Its value type. */
  type: ValueType;
  /** Whether it is `(mut …)`. */
  mutable: boolean;
}

/** One import of a module. */
export interface ImportDescriptor {
  /** The import's module name. */
  module: string;
  /** The import's field name. */
  name: string;
  /** What kind of thing it is. */
  kind: ExternalKind;
  /** The guest's expectation in words, e.g. `function (i32) -> nil`. */
  expected: string;
  /** For functions and tags: the signature. */
  signature?: FunctionSignature;
  /** For globals: the type. */
  global?: GlobalType;
}

/** One export of a module. */
export interface ExportDescriptor {
  /** The export's name. */
  name: string;
  /** What kind of thing it is. */
  kind: ExternalKind;
  /** Its index in the space of its kind (imports first). */
  index: number;
  /** For functions: the signature. */
  signature?: FunctionSignature;
}

/** What {@linkcode readSignatures} finds. */
export interface ModuleSignatures {
  /** Every import, in order. */
  imports: ImportDescriptor[];
  /** The signature of every exported function, by export name. */
  exports: Map<string, FunctionSignature>;
  /** Every export of every kind, in order. */
  exportList: ExportDescriptor[];
  /** Whether the module has a start function, which runs as it is instantiated. */
  hasStart: boolean;
}

function describeLimits(limits: Limits): string {
  const { is64, min, max, shared } = limits;
  return `${is64 ? "i64 " : ""}${min}${max === undefined ? "" : ` ${max}`}${
    shared ? " shared" : ""
  }`;
}

/**
 * Describes a signature as `function (i32, i64) -> f64`.
 *
 * @param signature The signature.
 * @returns Its description.
 */
export function describeSignature(signature: FunctionSignature): string {
  const results = signature.results.length === 0
    ? "nil"
    : signature.results.length === 1
    ? signature.results[0]
    : `(${signature.results.join(", ")})`;
  return `function (${signature.params.join(", ")}) -> ${results}`;
}

/**
 * Reads the types of a module's imports and exports.
 *
 * @param bytes A binary module, which the caller has compiled already.
 * @returns Its imports and exports, with function signatures.
 * @throws {InvalidModule} When the sections it reads are malformed.
 */
export function readSignatures(bytes: Uint8Array): ModuleSignatures {
  const info = new ModuleInfo();
  const patches = new Patches();
  for (const { id, rank, start, end } of readSections(bytes)) {
    if (id === 0) continue;
    // Nothing this reader needs comes after the start section.
    if (rank > SECTION_RANK[8]!) break;
    const section = new Reader(bytes, start, end);
    readSection(info, id, section, patches);
    expectSectionEnd(id, section);
  }
  return describeModule(info);
}

/**
 * The most bytes of type and import sections that
 * {@linkcode readImportsEarly} reads, in one go: two of the steps a load
 * reads such sections in (`READ_STEP_BYTES`), 0.4 to 1.1 ms at most (500
 * types), where 16 KiB held a fresh process 6 ms. The real guests' come to
 * 0.3 to 1 kB (esbuild's 713 bytes, QuickJS's 956, SQLite's 821, Lua's
 * 1,027, flite's 759).
 */
export const EARLY_IMPORT_BYTES = 2 * 1024;

/**
 * Reads a module's imports, with their types, from its first sections
 * alone, before anything else of it is read: a load names a missing import
 * at once, not after its rewrite and compile.
 *
 * @param bytes A binary module, not yet checked.
 * @returns Its imports, or `undefined` when its type and import sections
 *   come to more than {@linkcode EARLY_IMPORT_BYTES} or cannot be read
 *   (the load's own reading says what is wrong).
 */
export function readImportsEarly(
  bytes: Uint8Array,
): ImportDescriptor[] | undefined {
  const info = new ModuleInfo();
  const patches = new Patches();
  try {
    const sections = [];
    let size = 0;
    for (const section of readSections(bytes)) {
      if (section.id === 0) continue;
      if (section.rank > SECTION_RANK[2]!) break;
      size += section.end - section.start;
      if (size > EARLY_IMPORT_BYTES) return undefined;
      sections.push(section);
    }
    for (const { id, start, end } of sections) {
      const section = new Reader(bytes, start, end);
      readSection(info, id, section, patches);
      expectSectionEnd(id, section);
    }
  } catch {
    return undefined;
  }
  return describeModule({
    typeSignatures: info.typeSignatures,
    imports: info.imports,
    exports: [],
    functionTypes: new Uint32Array(0),
    hasStart: false,
  }).imports;
}

/**
 * Describes the imports and exports of a module the rewriter has read, so
 * that loading a metered guest reads its module once.
 *
 * @param info What the rewriter's walk read about the module.
 * @returns Its imports and exports, with function signatures.
 */
export function describeModule(
  info: Pick<
    ModuleInfo,
    "typeSignatures" | "imports" | "exports" | "functionTypes" | "hasStart"
  >,
): ModuleSignatures {
  const types = info.typeSignatures;
  // Imports share their types: each type is described once. A guest of
  // 10,000 imports of one 1,000-parameter type took 1.3 s to describe
  // import by import, in one step no stop of its load could cut short.
  const described = new Map<string, string>();
  const imports = info.imports.map((entry) =>
    describeImport(entry, types, described)
  );
  const exportList: ExportDescriptor[] = info.exports.map(
    ({ name, kind, index }) => {
      const signature = kind === "function"
        ? types[info.functionTypes[index]!]
        : undefined;
      return signature
        ? { name, kind, index, signature }
        : { name, kind, index };
    },
  );
  const exports = new Map<string, FunctionSignature>();
  for (const { name, signature } of exportList) {
    if (signature) exports.set(name, signature);
  }
  return { imports, exports, exportList, hasStart: info.hasStart };
}

function describeImport(
  entry: ImportEntry,
  types: readonly (FunctionSignature | undefined)[],
  described: Map<string, string>,
): ImportDescriptor {
  const { module, name, kind } = entry;
  switch (kind) {
    case "function":
    case "tag": {
      const signature = types[entry.type!];
      if (signature === undefined) {
        return { module, name, kind, signature, expected: kind };
      }
      const key = `${kind} ${entry.type}`;
      let expected = described.get(key);
      if (expected === undefined) {
        expected = kind === "function"
          ? describeSignature(signature)
          : `tag (${signature.params.join(", ")})`;
        described.set(key, expected);
      }
      return { module, name, kind, signature, expected };
    }
    case "table":
    case "memory": {
      const limits = describeLimits(entry.limits!);
      const expected = kind === "table"
        ? `table ${limits} ${entry.valueType}`
        : `memory ${limits}`;
      return { module, name, kind, expected };
    }
    case "global": {
      const type = entry.valueType!;
      const mutable = entry.mutable!;
      return {
        module,
        name,
        kind,
        global: { type, mutable },
        expected: mutable ? `global (mut ${type})` : `global ${type}`,
      };
    }
  }
}

/** The id of the start section. */
const START_SECTION = 8;

/**
 * Whether a module has a start function, from its section headers.
 *
 * @param bytes The module.
 * @returns `true` when it has a start section; `false` also for bytes that
 *   are no module, which whoever compiles them refuses.
 */
export function hasStartFunction(bytes: Uint8Array): boolean {
  try {
    for (const { id } of readSections(bytes)) {
      if (id === START_SECTION) return true;
    }
  } catch {
    // Not a module.
  }
  return false;
}

/**
 * The type in a signature that no JavaScript value can stand for (`v128`,
 * or an exception reference), if any: no call across the boundary between
 * JavaScript and WebAssembly with that signature can succeed, either way.
 */
export function unpassableType(
  signature: FunctionSignature,
): string | undefined {
  const types = [...signature.params, ...signature.results];
  return types.includes("v128")
    ? "v128"
    : types.find((type) => /exn/.test(type));
}
