/**
 * Reads the function signatures of a module's imports and exports.
 *
 * V8 does not expose wasm types to JavaScript (type reflection is behind a
 * flag), yet good errors need them: "env.log is missing: expected function
 * (i32) -> nil" tells the user what to write. So this walks just the type,
 * import, function and export sections and skips the rest.
 *
 * @module
 */

import { InvalidModule } from "./errors.ts";

/** A WebAssembly value type, written as in the text format. */
export type ValueType = string;

/** A function's parameter and result types. */
export interface FunctionSignature {
  /** Parameter types, e.g. `["i32", "i64"]`. */
  params: ValueType[];
  /** Result types. */
  results: ValueType[];
}

/** One import of a module. */
export interface ImportDescriptor {
  /** The import's module name. */
  module: string;
  /** The import's field name. */
  name: string;
  /** What kind of thing it is. */
  kind: "function" | "table" | "memory" | "global" | "tag";
  /** The guest's expectation in words, e.g. `function (i32) -> nil`. */
  expected: string;
  /** For functions and tags: the signature. */
  signature?: FunctionSignature;
}

/** What {@linkcode readSignatures} finds. */
export interface ModuleSignatures {
  /** Every import, in order. */
  imports: ImportDescriptor[];
  /** The signature of every exported function, by export name. */
  exports: Map<string, FunctionSignature>;
}

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

class Cursor {
  offset = 0;
  constructor(readonly bytes: Uint8Array, readonly end = bytes.length) {}

  byte(): number {
    if (this.offset >= this.end) {
      throw new InvalidModule("unexpected end of module", {
        offset: this.offset,
      });
    }
    return this.bytes[this.offset++];
  }

  /** An unsigned LEB128 of up to 64 bits, returned as a number. */
  u32(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      const b = this.byte();
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return result;
      scale *= 128;
    }
    throw new InvalidModule("integer too long", { offset: this.offset });
  }

  /** A signed LEB128 (s33 heap types, s64 limits); only its value sign matters here. */
  s33(): number {
    let result = 0;
    let shift = 0;
    let b: number;
    do {
      b = this.byte();
      result |= (b & 0x7f) << shift;
      shift += 7;
    } while (b & 0x80 && shift < 35);
    if (b & 0x80) {
      throw new InvalidModule("integer too long", { offset: this.offset });
    }
    return shift < 32 && b & 0x40 ? result | (-1 << shift) : result;
  }

  name(): string {
    const length = this.u32();
    const start = this.offset;
    this.offset += length;
    if (this.offset > this.end) {
      throw new InvalidModule("name runs past its section", { offset: start });
    }
    return new TextDecoder().decode(this.bytes.subarray(start, this.offset));
  }
}

function heapType(cursor: Cursor): string {
  const code = cursor.s33();
  if (code >= 0) return `${code}`;
  return HEAP_TYPES[code & 0x7f] ?? `heap type 0x${(code & 0x7f).toString(16)}`;
}

function valueType(cursor: Cursor): ValueType {
  const at = cursor.offset;
  const code = cursor.byte();
  const simple = SIMPLE_TYPES[code];
  if (simple) return simple;
  if (code === 0x64) return `(ref ${heapType(cursor)})`;
  if (code === 0x63) return `(ref null ${heapType(cursor)})`;
  throw new InvalidModule(`unknown value type 0x${code.toString(16)}`, {
    offset: at,
  });
}

function limits(cursor: Cursor): string {
  const flags = cursor.u32();
  const min = cursor.u32();
  const max = flags & 1 ? cursor.u32() : undefined;
  if (flags & 8) cursor.u32(); // custom page size
  const shared = flags & 2 ? " shared" : "";
  const index = flags & 4 ? "i64 " : "";
  return `${index}${min}${max === undefined ? "" : ` ${max}`}${shared}`;
}

/** Reads one entry of the type section into `types` (undefined for GC types). */
function readSubtype(
  cursor: Cursor,
  types: (FunctionSignature | undefined)[],
): void {
  let form = cursor.byte();
  if (form === 0x50 || form === 0x4f) {
    const supers = cursor.u32();
    for (let i = 0; i < supers; i++) cursor.u32();
    form = cursor.byte();
  }
  if (form === 0x60) {
    const params = Array.from(
      { length: cursor.u32() },
      () => valueType(cursor),
    );
    const results = Array.from(
      { length: cursor.u32() },
      () => valueType(cursor),
    );
    types.push({ params, results });
  } else if (form === 0x5f) {
    const fields = cursor.u32();
    for (let i = 0; i < fields; i++) {
      valueType(cursor);
      cursor.byte();
    }
    types.push(undefined);
  } else if (form === 0x5e) {
    valueType(cursor);
    cursor.byte();
    types.push(undefined);
  } else {
    throw new InvalidModule(`unknown type form 0x${form.toString(16)}`, {
      offset: cursor.offset - 1,
    });
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
 * Reads the signatures of a module's imports and exported functions.
 *
 * @param bytes A binary module. It is not validated here.
 * @returns Its imports and exported function signatures.
 * @throws {InvalidModule} When the sections it reads are malformed.
 */
export function readSignatures(bytes: Uint8Array): ModuleSignatures {
  const cursor = new Cursor(bytes);
  cursor.offset = 8;
  const types: (FunctionSignature | undefined)[] = [];
  const functionTypes: number[] = [];
  const imports: ImportDescriptor[] = [];
  const exports = new Map<string, FunctionSignature>();
  const signatureOf = (index: number) => types[index];

  while (cursor.offset < bytes.length) {
    const id = cursor.byte();
    const size = cursor.u32();
    const end = cursor.offset + size;
    if (end > bytes.length) {
      throw new InvalidModule(`section ${id} runs past the end of the module`, {
        offset: cursor.offset,
      });
    }
    const section = new Cursor(bytes, end);
    section.offset = cursor.offset;
    if (id === 1) {
      const count = section.u32();
      for (let i = 0; i < count; i++) {
        if (bytes[section.offset] === 0x4e) {
          section.offset++;
          const members = section.u32();
          for (let j = 0; j < members; j++) readSubtype(section, types);
        } else {
          readSubtype(section, types);
        }
      }
    } else if (id === 2) {
      const count = section.u32();
      for (let i = 0; i < count; i++) {
        const module = section.name();
        const name = section.name();
        const kind = section.byte();
        if (kind === 0x00) {
          const typeIndex = section.u32();
          functionTypes.push(typeIndex);
          const signature = signatureOf(typeIndex);
          imports.push({
            module,
            name,
            kind: "function",
            signature,
            expected: signature ? describeSignature(signature) : "function",
          });
        } else if (kind === 0x01) {
          const element = valueType(section);
          imports.push({
            module,
            name,
            kind: "table",
            expected: `table ${limits(section)} ${element}`,
          });
        } else if (kind === 0x02) {
          imports.push({
            module,
            name,
            kind: "memory",
            expected: `memory ${limits(section)}`,
          });
        } else if (kind === 0x03) {
          const type = valueType(section);
          const mutable = section.byte() === 1;
          imports.push({
            module,
            name,
            kind: "global",
            expected: mutable ? `global (mut ${type})` : `global ${type}`,
          });
        } else if (kind === 0x04) {
          section.byte();
          const signature = signatureOf(section.u32());
          imports.push({
            module,
            name,
            kind: "tag",
            signature,
            expected: signature
              ? `tag (${signature.params.join(", ")})`
              : "tag",
          });
        } else {
          throw new InvalidModule(
            `unknown import kind 0x${kind.toString(16)}`,
            { offset: section.offset - 1 },
          );
        }
      }
    } else if (id === 3) {
      const count = section.u32();
      for (let i = 0; i < count; i++) functionTypes.push(section.u32());
    } else if (id === 7) {
      const count = section.u32();
      for (let i = 0; i < count; i++) {
        const name = section.name();
        const kind = section.byte();
        const index = section.u32();
        const signature = kind === 0
          ? signatureOf(functionTypes[index])
          : undefined;
        if (signature) exports.set(name, signature);
      }
    } else if (id === 10) {
      break; // nothing this reader needs comes after the code
    }
    cursor.offset = end;
  }
  return { imports, exports };
}
