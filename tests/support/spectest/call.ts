/**
 * Calling exports: captured results and outcomes, the conversions between
 * script values and JS, and a call harness for signatures JS cannot carry
 * exactly (v128, and floats whose NaN bits matter).
 *
 * @module
 */

import type { NumericValue, Value } from "../wast/mod.ts";
import type { Assembler } from "./assembler.ts";
import { hostRef } from "./host.ts";
import type { FuncSignature, NumericKind, ValKind } from "./signatures.ts";

/** A captured result. Floats are kept as bits so NaN payloads compare. */
export type Result =
  | NumericValue
  | { type: "ref"; value: unknown }
  /** A value whose wasm type is unknown (a global's value). */
  | { type: "js"; value: unknown };

/** What running an action, or instantiating a module, led to. */
export type Outcome =
  | { kind: "return"; results: Result[] }
  | { kind: "instance" }
  | { kind: "trap"; message: string }
  | { kind: "exhaustion"; message: string }
  | { kind: "exception" }
  | { kind: "error"; name: string; message: string };

const bits = new DataView(new ArrayBuffer(8));

function f32FromBits(b: number): number {
  bits.setUint32(0, b, true);
  return bits.getFloat32(0, true);
}

function f64FromBits(b: bigint): number {
  bits.setBigUint64(0, b, true);
  return bits.getFloat64(0, true);
}

export function f32Bits(x: number): number {
  bits.setFloat32(0, x, true);
  return bits.getUint32(0, true);
}

export function f64Bits(x: number): bigint {
  bits.setFloat64(0, x, true);
  return bits.getBigUint64(0, true);
}

export function toJs(value: Value): unknown {
  switch (value.type) {
    case "i32":
    case "i64":
      return value.value;
    case "f32":
      return f32FromBits(value.bits);
    case "f64":
      return f64FromBits(value.bits);
    case "ref.null":
      return null;
    case "ref.host":
      return hostRef(value.id);
    case "v128":
      throw new TypeError("a v128 cannot be passed from JS");
  }
}

export function fromJs(value: unknown, type: ValKind | undefined): Result {
  switch (type) {
    case "i32":
      return { type, value: value as number };
    case "i64":
      return { type, value: value as bigint };
    case "f32":
      return { type, bits: f32Bits(value as number) };
    case "f64":
      return { type, bits: f64Bits(value as number) };
    case "ref":
      return { type, value };
  }
  return { type: "js", value };
}

/** `WebAssembly.Exception`, which TypeScript's DOM typings lack. */
const WasmException = (WebAssembly as unknown as {
  Exception: abstract new (...args: never[]) => object;
}).Exception;

export function outcomeOf(error: unknown): Outcome {
  if (error instanceof WasmException) return { kind: "exception" };
  if (error instanceof WebAssembly.RuntimeError) {
    return { kind: "trap", message: error.message };
  }
  if (error instanceof RangeError && /call stack/i.test(error.message)) {
    return { kind: "exhaustion", message: error.message };
  }
  if (error instanceof Error) {
    return { kind: "error", name: error.name, message: error.message };
  }
  return { kind: "error", name: typeof error, message: String(error) };
}

const SLOT = 16;
const loadOp: Record<NumericKind, string> = {
  i32: "i32.load",
  i64: "i64.load",
  f32: "f32.load",
  f64: "f64.load",
  v128: "v128.load",
};

/**
 * A wasm module that calls an imported function with arguments read from
 * 16-byte slots of its memory and writes the results back to the slots.
 * It carries values JS cannot (v128) or cannot carry bit-exactly (a JS
 * number loses a float's signalling-NaN bit, depending on tier).
 */
function harnessText(signature: FuncSignature): string {
  const types = (list: ValKind[]) => list.join(" ");
  const loads = signature.params.map((t, i) =>
    `(${loadOp[t as NumericKind]} offset=${i * SLOT} (i32.const 0))`
  );
  const sets = signature.results.map((_, i) => `(local.set ${i})`).reverse();
  const stores = signature.results.map((t, i) =>
    `(${loadOp[t as NumericKind].replace("load", "store")} offset=${
      i * SLOT
    } (i32.const 0) (local.get ${i}))`
  );
  return `(module
  (import "target" "f" (func $f (param ${types(signature.params)}) (result ${
    types(signature.results)
  })))
  (memory (export "slots") 1)
  (func (export "call") (local ${types(signature.results)})
    ${loads.join(" ")}
    (call $f)
    ${sets.join(" ")}
    ${stores.join(" ")}))`;
}

export function needsHarness(signature: FuncSignature): boolean {
  return [...signature.params, ...signature.results].some((t) =>
    t === "v128" || t === "f32" || t === "f64"
  );
}

export function canHarness(signature: FuncSignature): boolean {
  return [...signature.params, ...signature.results].every((t) => t in loadOp);
}

interface Harness {
  call: () => void;
  slots: WebAssembly.Memory;
}

/** Builds call harnesses, one module per signature, one instance per export. */
export class HarnessFactory {
  readonly #assembler: Assembler;
  readonly #modules = new Map<string, WebAssembly.Module>();
  /** Per export; `null` when the export's type cannot be imported as written. */
  readonly #instances = new WeakMap<object, Harness | null>();

  constructor(assembler: Assembler) {
    this.#assembler = assembler;
  }

  /**
   * The harness for `fn`, or `undefined` when the harness cannot import it:
   * a function of a non-final or recursive type does not match the plain
   * function type the harness declares.
   */
  for(fn: object, signature: FuncSignature): Harness | undefined {
    let harness = this.#instances.get(fn);
    if (harness !== undefined) return harness ?? undefined;
    const key = `${signature.params}->${signature.results}`;
    let module = this.#modules.get(key);
    if (module === undefined) {
      const bytes = this.#assembler.wat2wasm(harnessText(signature));
      module = new WebAssembly.Module(bytes as BufferSource);
      this.#modules.set(key, module);
    }
    let exports: WebAssembly.Exports;
    try {
      ({ exports } = new WebAssembly.Instance(module, {
        target: { f: fn as WebAssembly.ImportValue },
      }));
    } catch (error) {
      if (!(error instanceof WebAssembly.LinkError)) throw error;
      this.#instances.set(fn, null);
      return undefined;
    }
    harness = {
      call: exports.call as () => void,
      slots: exports.slots as WebAssembly.Memory,
    };
    this.#instances.set(fn, harness);
    return harness;
  }
}

export function writeSlot(view: DataView, index: number, value: Value): void {
  const at = index * SLOT;
  switch (value.type) {
    case "i32":
      return view.setInt32(at, value.value, true);
    case "i64":
      return view.setBigInt64(at, value.value, true);
    case "f32":
      return view.setUint32(at, value.bits, true);
    case "f64":
      return view.setBigUint64(at, value.bits, true);
    case "v128":
      return new Uint8Array(view.buffer, at, 16).set(value.bytes);
  }
  throw new TypeError(`a ${value.type} cannot go through the harness`);
}

export function readSlot(view: DataView, index: number, type: ValKind): Result {
  const at = index * SLOT;
  switch (type) {
    case "i32":
      return { type, value: view.getInt32(at, true) };
    case "i64":
      return { type, value: view.getBigInt64(at, true) };
    case "f32":
      return { type, bits: view.getUint32(at, true) };
    case "f64":
      return { type, bits: view.getBigUint64(at, true) };
    case "v128":
      return { type, bytes: new Uint8Array(view.buffer.slice(at, at + 16)) };
  }
  throw new TypeError("a reference cannot come back through the harness");
}
