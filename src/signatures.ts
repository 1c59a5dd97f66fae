/**
 * Reads the types of a module's imports and exports.
 *
 * V8 does not expose wasm types to JavaScript (type reflection is behind a
 * flag), yet good errors need them: "env.log is missing: expected function
 * (i32) -> nil" tells the user what to write. So this walks just the type,
 * import, function and export sections and skips the rest.
 *
 * @module
 */

import { Reader } from "./wasm/reader.ts";

/** A WebAssembly value type, written as in the text format. */
export type ValueType = string;

/** A function's parameter and result types. */
export interface FunctionSignature {
  /** Parameter types, e.g. `["i32", "i64"]`. */
  params: ValueType[];
  /** Result types. */
  results: ValueType[];
}

/** What an import or export is. */
export type ExternalKind = "function" | "table" | "memory" | "global" | "tag";

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

/** By the byte that encodes them in imports and exports. */
const EXTERNAL_KINDS: readonly ExternalKind[] = [
  "function",
  "table",
  "memory",
  "global",
  "tag",
];

/** One-byte value types, including the packed storage types. */
const SIMPLE_TYPES: Record<number, string> = {
  0x7f: "i32",
  0x7e: "i64",
  0x7d: "f32",
  0x7c: "f64",
  0x7b: "v128",
  0x78: "i8",
  0x77: "i16",
  0x74: "nullexnref",
  0x73: "nullfuncref",
  0x72: "nullexternref",
  0x71: "nullref",
  0x70: "funcref",
  0x6f: "externref",
  0x6e: "anyref",
  0x6d: "eqref",
  0x6c: "i31ref",
  0x6b: "structref",
  0x6a: "arrayref",
  0x69: "exnref",
};

/** The abstract heap types, by their one-byte encoding. */
const HEAP_TYPES: Record<number, string> = {
  0x74: "noexn",
  0x73: "nofunc",
  0x72: "noextern",
  0x71: "none",
  0x70: "func",
  0x6f: "extern",
  0x6e: "any",
  0x6d: "eq",
  0x6c: "i31",
  0x6b: "struct",
  0x6a: "array",
  0x69: "exn",
};

function heapType(r: Reader): string {
  const code = r.s33();
  if (code >= 0) return `${code}`;
  const byte = code & 0x7f;
  return HEAP_TYPES[byte] ?? `heap type 0x${byte.toString(16)}`;
}

function valueType(r: Reader): ValueType {
  const at = r.pos;
  const code = r.u8("value type");
  const simple = SIMPLE_TYPES[code];
  if (simple) return simple;
  if (code === 0x64) return `(ref ${heapType(r)})`;
  if (code === 0x63) return `(ref null ${heapType(r)})`;
  return r.fail(`unknown value type 0x${code.toString(16)}`, at);
}

function limits(r: Reader): string {
  const flags = r.u32();
  const is64 = (flags & 4) !== 0;
  const min = is64 ? r.u64() : r.u32();
  const max = flags & 1 ? (is64 ? r.u64() : r.u32()) : undefined;
  if (flags & 8) r.u32(); // custom page size
  const shared = flags & 2 ? " shared" : "";
  const index = is64 ? "i64 " : "";
  return `${index}${min}${max === undefined ? "" : ` ${max}`}${shared}`;
}

function valueTypes(r: Reader, what: string): ValueType[] {
  return Array.from({ length: r.count(what) }, () => valueType(r));
}

/** Reads one entry of the type section into `types` (undefined for GC types). */
function readSubtype(
  r: Reader,
  types: (FunctionSignature | undefined)[],
): void {
  let form = r.u8("type form");
  if (form === 0x50 || form === 0x4f) {
    const supertypes = r.count("supertype");
    for (let i = 0; i < supertypes; i++) r.u32();
    form = r.u8("type form");
  }
  if (form === 0x60) {
    const params = valueTypes(r, "parameter");
    const results = valueTypes(r, "result");
    types.push({ params, results });
  } else if (form === 0x5f) {
    const fields = r.count("field", 2);
    for (let i = 0; i < fields; i++) {
      valueType(r);
      r.u8("field mutability");
    }
    types.push(undefined);
  } else if (form === 0x5e) {
    valueType(r);
    r.u8("field mutability");
    types.push(undefined);
  } else {
    r.fail(`unknown type form 0x${form.toString(16)}`, r.pos - 1);
  }
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
 * @param bytes A binary module. It is not validated here.
 * @returns Its imports and exports, with function signatures.
 * @throws {InvalidModule} When the sections it reads are malformed.
 */
export function readSignatures(bytes: Uint8Array): ModuleSignatures {
  const module = new Reader(bytes, 8);
  const types: (FunctionSignature | undefined)[] = [];
  const functionTypes: number[] = [];
  const imports: ImportDescriptor[] = [];
  const exportList: ExportDescriptor[] = [];
  let hasStart = false;

  while (!module.atEnd()) {
    const id = module.u8("section id");
    const size = module.u32();
    if (size > bytes.length - module.pos) {
      module.fail(`section ${id} runs past the end of the module`);
    }
    const section = new Reader(bytes, module.pos, module.pos + size);
    if (id === 1) {
      const count = section.count("type");
      for (let i = 0; i < count; i++) {
        if (section.peek("type") === 0x4e) {
          section.pos++;
          const members = section.count("recursion group member");
          for (let j = 0; j < members; j++) readSubtype(section, types);
        } else {
          readSubtype(section, types);
        }
      }
    } else if (id === 2) {
      const count = section.count("import", 3);
      for (let i = 0; i < count; i++) {
        imports.push(readImport(section, types, functionTypes));
      }
    } else if (id === 3) {
      const count = section.count("function");
      for (let i = 0; i < count; i++) functionTypes.push(section.u32());
    } else if (id === 7) {
      const count = section.count("export", 3);
      for (let i = 0; i < count; i++) {
        const name = section.name();
        const kind = externalKind(section, "export");
        const index = section.u32();
        const signature = kind === "function"
          ? types[functionTypes[index]!]
          : undefined;
        exportList.push(
          signature ? { name, kind, index, signature } : { name, kind, index },
        );
      }
    } else if (id === 8) {
      hasStart = true;
    } else if (id === 10) {
      break; // nothing this reader needs comes after the code
    }
    module.pos = section.end;
  }
  const exports = new Map<string, FunctionSignature>();
  for (const { name, signature } of exportList) {
    if (signature) exports.set(name, signature);
  }
  return { imports, exports, exportList, hasStart };
}

function externalKind(r: Reader, what: string): ExternalKind {
  const at = r.pos;
  const byte = r.u8(`${what} kind`);
  return EXTERNAL_KINDS[byte] ??
    r.fail(`unknown ${what} kind 0x${byte.toString(16)}`, at);
}

/** Reads one import; a function import also takes the next function index. */
function readImport(
  r: Reader,
  types: (FunctionSignature | undefined)[],
  functionTypes: number[],
): ImportDescriptor {
  const module = r.name();
  const name = r.name();
  const kind = externalKind(r, "import");
  switch (kind) {
    case "function": {
      const typeIndex = r.u32();
      functionTypes.push(typeIndex);
      const signature = types[typeIndex];
      return {
        module,
        name,
        kind,
        signature,
        expected: signature ? describeSignature(signature) : "function",
      };
    }
    case "table": {
      const element = valueType(r);
      return { module, name, kind, expected: `table ${limits(r)} ${element}` };
    }
    case "memory":
      return { module, name, kind, expected: `memory ${limits(r)}` };
    case "global": {
      const type = valueType(r);
      const mutable = r.u8("global mutability") === 1;
      return {
        module,
        name,
        kind,
        global: { type, mutable },
        expected: mutable ? `global (mut ${type})` : `global ${type}`,
      };
    }
    case "tag": {
      r.u8("tag attribute");
      const signature = types[r.u32()];
      return {
        module,
        name,
        kind,
        signature,
        expected: signature ? `tag (${signature.params.join(", ")})` : "tag",
      };
    }
  }
}
