/**
 * Runs WebAssembly spec-test scripts twice in lockstep, once with the
 * modules as written and once with every module passed through a rewriter
 * (the fuel meter), and checks that both runs observe the same results.
 *
 * Pieces, in order: the `spectest` host module, the assembler (wabt, with
 * binaryen as a fallback for text wabt cannot read), export signatures read
 * from the binary, a call harness for signatures JS cannot carry exactly
 * (v128, and floats whose NaN bits matter), outcome capture and comparison,
 * and the lockstep runner with its per-file report.
 *
 * @module
 */

import { WABT_ALL_FEATURES } from "../../guest/build.ts";
import { readSignatures, type ValueType } from "../../src/signatures.ts";
import {
  type Action,
  type Command,
  type Expected,
  type FloatPattern,
  type ModuleDef,
  type NumericValue,
  parseScript,
  type V128Shape,
  type Value,
} from "./wast.ts";

// ---------------------------------------------------------------------------
// Rewriters

/** What a rewriter hands back: the new bytes and the one import it added. */
export interface Rewritten {
  bytes: Uint8Array;
  importModule: string;
  importName: string;
}

/** Turns module bytes into metered module bytes. */
export type Rewriter = (bytes: Uint8Array) => Rewritten;

/**
 * A rewriter that changes nothing, for checking the harness itself: with it,
 * any disagreement between the two runs is the harness's fault.
 */
export const identityRewriter: Rewriter = (bytes) => ({
  bytes,
  importModule: "early-exit",
  importName: "out_of_fuel",
});

/** The fuel import's answer: a budget that no spec test can use up. */
const BOTTOMLESS = 1n << 62n;

// ---------------------------------------------------------------------------
// Host values

const hostRefs = new Map<number, object>();

/**
 * The JS value standing for `ref.extern N` / `ref.host N`. The same object
 * is used by both runs, so references can be compared by identity.
 */
function hostRef(id: number): object {
  let ref = hostRefs.get(id);
  if (ref === undefined) {
    ref = Object.freeze({ hostRef: id });
    hostRefs.set(id, ref);
  }
  return ref;
}

function hostRefId(value: unknown): number | undefined {
  for (const [id, ref] of hostRefs) if (ref === value) return id;
  return undefined;
}

interface Table64Descriptor {
  element: "anyfunc";
  initial: bigint;
  maximum: bigint;
  address: "i64";
}

/**
 * A fresh `spectest` module: each run gets its own, so one run's writes to
 * the shared memory or table cannot leak into the other's.
 */
function createSpectest(): WebAssembly.ModuleImports {
  const print = () => {};
  const table64 = new WebAssembly.Table(
    {
      element: "anyfunc",
      initial: 10n,
      maximum: 20n,
      address: "i64",
    } satisfies Table64Descriptor as unknown as WebAssembly.TableDescriptor,
  );
  return {
    print,
    print_i32: print,
    print_i64: print,
    print_f32: print,
    print_f64: print,
    print_i32_f32: print,
    print_f64_f64: print,
    global_i32: new WebAssembly.Global({ value: "i32" }, 666),
    global_i64: new WebAssembly.Global({ value: "i64" }, 666n),
    global_f32: new WebAssembly.Global({ value: "f32" }, 666.6),
    global_f64: new WebAssembly.Global({ value: "f64" }, 666.6),
    table: new WebAssembly.Table({
      element: "anyfunc",
      initial: 10,
      maximum: 20,
    }),
    table64,
    memory: new WebAssembly.Memory({ initial: 1, maximum: 2 }),
  };
}

// ---------------------------------------------------------------------------
// Assembling modules

type Wabt = Awaited<ReturnType<typeof import("wabt")>>;
type Binaryen = typeof import("binaryen").default;

/**
 * Binaryen features V8 does not ship (or ships behind flags), by name. Read
 * off the runtime object: the typings' bit values lag the library's, and
 * custom descriptors (bit 21) has no name at all.
 */
const binaryenFeaturesV8Lacks = [
  "Strings",
  "StackSwitching",
  "SharedEverything",
  "FP16",
  "CompactImports",
  "WideArithmetic",
  "RelaxedAtomics",
  "CustomPageSizes",
  "AcquireReleaseAtomics",
];
const BINARYEN_CUSTOM_DESCRIPTORS = 1 << 21;

/** Why something was not run: `reason` groups the summary, `detail` says more. */
export interface Skip {
  reason: string;
  detail: string;
}

type Assembled =
  | { bytes: Uint8Array; module: WebAssembly.Module; via: string }
  | { skip: Skip };

function errorText(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  if (typeof error === "object" && error !== null && "message" in error) {
    return String((error as { message: unknown }).message);
  }
  return String(error);
}

function firstLine(text: string): string {
  const line = text.split("\n").find((l) => l.trim() !== "") ?? text;
  return line.length > 160 ? `${line.slice(0, 157)}...` : line;
}

/**
 * Turns script modules into bytes V8 accepts. Text goes through wabt; when
 * wabt cannot read it (wabt lags on GC) or writes bytes V8 refuses (wabt
 * mis-encodes some multi-memory data segments), binaryen gets a second try.
 */
export class Assembler {
  readonly #wabt: Wabt;
  #binaryen: Binaryen | undefined;

  private constructor(wabt: Wabt) {
    this.#wabt = wabt;
  }

  /**
   * Loads wabt; binaryen is loaded on first need.
   *
   * @returns A ready assembler.
   */
  static async create(): Promise<Assembler> {
    const wabt = await (await import("wabt")).default();
    return new Assembler(wabt);
  }

  /**
   * Wat text to bytes with wabt, or throws wabt's error.
   *
   * @param text A whole `(module ...)`.
   * @returns The binary module.
   */
  wat2wasm(text: string): Uint8Array {
    const module = this.#wabt.parseWat("spec.wat", text, WABT_ALL_FEATURES);
    try {
      return module.toBinary({}).buffer;
    } finally {
      module.destroy();
    }
  }

  async #binaryenWat2wasm(text: string): Promise<Uint8Array> {
    this.#binaryen ??= (await import("binaryen")).default;
    const binaryen = this.#binaryen;
    // Keep binaryen to what V8 ships: by default it writes compact imports
    // and exact reference types, which V8 refuses. Features go in at parse
    // time (a parameter its typings omit): GC type checks happen there.
    const features = binaryen.Features as unknown as Record<string, number>;
    const lacking = binaryenFeaturesV8Lacks.reduce(
      (mask, name) => mask | (features[name] ?? 0),
      BINARYEN_CUSTOM_DESCRIPTORS,
    );
    const parseText = binaryen.parseText as unknown as (
      text: string,
      features: number,
    ) => ReturnType<typeof binaryen.parseText>;
    const module = parseText(asciiOnly(text), features.All & ~lacking);
    try {
      return module.emitBinary();
    } finally {
      module.dispose();
    }
  }

  /**
   * Bytes for a script module, compiled once by V8 to prove it is accepted.
   *
   * @param def The module as written in the script.
   * @returns The bytes and compiled module, or why there are none.
   */
  async assemble(def: ModuleDef): Promise<Assembled> {
    const source = def.source;
    if (source.kind === "binary") {
      return compileOrSkip(source.bytes, "binary");
    }
    let wabtProblem: string;
    try {
      const compiled = compileOrSkip(this.wat2wasm(source.text), "wabt");
      if (!("skip" in compiled)) return compiled;
      wabtProblem = compiled.skip.detail;
    } catch (error) {
      wabtProblem = `wabt: ${firstLine(wabtErrorText(error))}`;
    }
    let bytes: Uint8Array;
    try {
      bytes = await this.#binaryenWat2wasm(source.text);
    } catch (error) {
      return {
        skip: {
          reason: "module text not assembled (wabt and binaryen both failed)",
          detail: `${wabtProblem}; binaryen: ${firstLine(errorText(error))}`,
        },
      };
    }
    const compiled = compileOrSkip(bytes, "binaryen");
    if ("skip" in compiled) {
      compiled.skip.detail = `${wabtProblem}; ${compiled.skip.detail}`;
    }
    return compiled;
  }
}

/**
 * Binaryen copies text into its heap one char per byte, mangling anything
 * past ASCII. Legal wat has such characters only in strings (and comments),
 * where a `\xx` escape of each UTF-8 byte means the same.
 */
function asciiOnly(text: string): string {
  return text.replace(/[\u0080-\u{10ffff}]/gu, (char) =>
    Array.from(
      new TextEncoder().encode(char),
      (b) => `\\${b.toString(16).padStart(2, "0")}`,
    ).join(""));
}

/** The useful line of a wabt error: the first that says `error:`. */
function wabtErrorText(error: unknown): string {
  const text = errorText(error);
  return text.split("\n").find((line) => line.includes("error:"))?.trim() ??
    firstLine(text);
}

function compileOrSkip(bytes: Uint8Array, via: string): Assembled {
  try {
    return {
      bytes,
      module: new WebAssembly.Module(bytes as BufferSource),
      via,
    };
  } catch (error) {
    return {
      skip: {
        reason: "module rejected by V8",
        detail: `${via} bytes: ${firstLine(errorText(error))}`,
      },
    };
  }
}

// ---------------------------------------------------------------------------
// Export signatures

/** The numeric value types: these fit in the harness's memory slots. */
export type NumericKind = "i32" | "i64" | "f32" | "f64" | "v128";

/**
 * A value type, as far as crossing into JS goes. `exnref` is apart because
 * it cannot cross at all.
 */
export type ValKind = NumericKind | "ref" | "exnref";

/** An exported function's parameter and result types. */
export interface FuncSignature {
  params: ValKind[];
  results: ValKind[];
}

/** Reference types that cannot cross into JS, by their names in signatures. */
const EXN_TYPES = new Set([
  "exnref",
  "nullexnref",
  "(ref exn)",
  "(ref null exn)",
  "(ref noexn)",
  "(ref null noexn)",
]);

function valKind(type: ValueType): ValKind {
  switch (type) {
    case "i32":
    case "i64":
    case "f32":
    case "f64":
    case "v128":
      return type;
  }
  return EXN_TYPES.has(type) ? "exnref" : "ref";
}

/**
 * The signature of every exported function.
 *
 * @param bytes A module V8 accepts.
 * @returns Export name to signature.
 * @throws {InvalidModule} On an encoding the signature reader does not know.
 */
export function exportSignatures(
  bytes: Uint8Array,
): Map<string, FuncSignature> {
  const exports = new Map<string, FuncSignature>();
  for (const [name, { params, results }] of readSignatures(bytes).exports) {
    exports.set(name, {
      params: params.map(valKind),
      results: results.map(valKind),
    });
  }
  return exports;
}

// ---------------------------------------------------------------------------
// Calling exports

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

function f32Bits(x: number): number {
  bits.setFloat32(0, x, true);
  return bits.getUint32(0, true);
}

function f64Bits(x: number): bigint {
  bits.setFloat64(0, x, true);
  return bits.getBigUint64(0, true);
}

function toJs(value: Value): unknown {
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

function fromJs(value: unknown, type: ValKind | undefined): Result {
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

function outcomeOf(error: unknown): Outcome {
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

function needsHarness(signature: FuncSignature): boolean {
  return [...signature.params, ...signature.results].some((t) =>
    t === "v128" || t === "f32" || t === "f64"
  );
}

function canHarness(signature: FuncSignature): boolean {
  return [...signature.params, ...signature.results].every((t) => t in loadOp);
}

interface Harness {
  call: () => void;
  slots: WebAssembly.Memory;
}

/** Builds call harnesses, one module per signature, one instance per export. */
class HarnessFactory {
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

function writeSlot(view: DataView, index: number, value: Value): void {
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

function readSlot(view: DataView, index: number, type: ValKind): Result {
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

// ---------------------------------------------------------------------------
// Comparing outcomes

function refClass(value: unknown): string {
  if (value === null) return "null";
  const host = hostRefId(value);
  if (host !== undefined) return `host ${host}`;
  if (typeof value === "function") return "func";
  if (typeof value === "number") return `i31 ${value}`;
  if (typeof value === "object") return "object";
  return `${typeof value} ${String(value)}`;
}

function describeResult(result: Result): string {
  switch (result.type) {
    case "i32":
    case "i64":
      return `${result.type}:${result.value}`;
    case "f32":
      return `f32:0x${result.bits.toString(16)}`;
    case "f64":
      return `f64:0x${result.bits.toString(16)}`;
    case "v128":
      return `v128:${
        Array.from(result.bytes, (b) => b.toString(16).padStart(2, "0")).join(
          "",
        )
      }`;
    case "ref":
      return `ref:${refClass(result.value)}`;
    case "js":
      return typeof result.value === "number"
        ? `number:0x${f64Bits(result.value).toString(16)}`
        : `${typeof result.value}:${refClass(result.value)}`;
  }
}

/**
 * A stable text form of an outcome. Two outcomes are the same when their
 * descriptions are: values bit for bit (NaN payloads included), traps by
 * message, references by kind (functions from different instances count as
 * equal, host references by number).
 *
 * @param outcome What happened.
 * @returns One line.
 */
export function describeOutcome(outcome: Outcome): string {
  switch (outcome.kind) {
    case "return":
      return `return [${outcome.results.map(describeResult).join(", ")}]`;
    case "instance":
      return "instantiated";
    case "trap":
      return `trap "${outcome.message}"`;
    case "exhaustion":
      return `exhaustion "${outcome.message}"`;
    case "exception":
      return "wasm exception";
    case "error":
      return `${outcome.name} "${outcome.message}"`;
  }
}

const canonicalNan = { f32: 0x7fc00000n, f64: 0x7ff8000000000000n };
const signMask = { f32: 0x7fffffffn, f64: 0x7fffffffffffffffn };

function floatMatches(
  value: bigint,
  pattern: FloatPattern,
  format: "f32" | "f64",
): boolean {
  if ("bits" in pattern) return value === pattern.bits;
  const magnitude = value & signMask[format];
  if (pattern.nan === "canonical") return magnitude === canonicalNan[format];
  // Arithmetic NaN: any NaN with the quiet bit set.
  return (magnitude & canonicalNan[format]) === canonicalNan[format];
}

const laneWidth: Record<V128Shape, number> = {
  i8x16: 1,
  i16x8: 2,
  i32x4: 4,
  i64x2: 8,
  f32x4: 4,
  f64x2: 8,
};

function laneBits(bytes: Uint8Array, index: number, width: number): bigint {
  let value = 0n;
  for (let b = width - 1; b >= 0; b--) {
    value = (value << 8n) | BigInt(bytes[index * width + b]);
  }
  return value;
}

function resultMatches(result: Result, expected: Expected): boolean {
  if (expected.type === "either") {
    return expected.options.some((o) => resultMatches(result, o));
  }
  const value = result.type === "js" ? result.value : undefined;
  switch (expected.type) {
    case "i32":
      if (result.type === "i32") return result.value === expected.value;
      return typeof value === "number" && (value | 0) === expected.value;
    case "i64":
      if (result.type === "i64") return result.value === expected.value;
      return typeof value === "bigint" && value === expected.value;
    case "f32":
      if (result.type === "f32") {
        return floatMatches(BigInt(result.bits), expected.pattern, "f32");
      }
      return typeof value === "number" &&
        floatMatches(BigInt(f32Bits(value)), expected.pattern, "f32");
    case "f64":
      if (result.type === "f64") {
        return floatMatches(result.bits, expected.pattern, "f64");
      }
      return typeof value === "number" &&
        floatMatches(f64Bits(value), expected.pattern, "f64");
    case "v128": {
      if (result.type !== "v128") return false;
      const width = laneWidth[expected.shape];
      const format = expected.shape === "f32x4" ? "f32" : "f64";
      return expected.lanes.every((lane, i) => {
        const got = laneBits(result.bytes, i, width);
        return expected.shape.startsWith("f")
          ? floatMatches(got, lane, format)
          : "bits" in lane && got === lane.bits;
      });
    }
  }
  if (result.type !== "ref" && result.type !== "js") return false;
  const ref = result.value;
  if (expected.type === "ref.null") return ref === null;
  if (expected.id !== undefined) return ref === hostRef(expected.id);
  if (expected.heap === "func") return typeof ref === "function";
  if (expected.heap === "i31") return typeof ref === "number";
  return ref !== null && ref !== undefined;
}

/** Whether an outcome is what the script expected of the unmetered module. */
function meetsSpec(command: Command, outcome: Outcome): boolean {
  switch (command.type) {
    case "assert_return":
      return outcome.kind === "return" &&
        outcome.results.length === command.expected.length &&
        outcome.results.every((r, i) => resultMatches(r, command.expected[i]));
    case "assert_trap":
    case "assert_uninstantiable":
      return outcome.kind === "trap";
    case "assert_exhaustion":
      return outcome.kind === "exhaustion";
    case "assert_exception":
      return outcome.kind === "exception";
    case "assert_unlinkable":
      return outcome.kind === "error" &&
        (outcome.name === "LinkError" || outcome.name === "TypeError");
  }
  return true;
}

// ---------------------------------------------------------------------------
// The two runs

interface Loaded {
  instance: WebAssembly.Instance;
  signatures: Map<string, FuncSignature> | undefined;
}

interface Compiled {
  module: WebAssembly.Module;
  bytes: Uint8Array;
  /** The fuel import, on the metered run. */
  fuel?: { module: string; name: string };
}

/** One run's world: its spectest, registrations and named instances. */
class Run {
  readonly registry: Record<string, WebAssembly.ModuleImports> = {};
  readonly instances = new Map<string, Loaded>();
  readonly definitions = new Map<string, Compiled>();
  current: Loaded | undefined;
  readonly #onRefill: () => void;

  /** @param onRefill Called each time a metered guest asks for fuel. */
  constructor(onRefill: () => void = () => {}) {
    this.registry.spectest = createSpectest();
    this.#onRefill = onRefill;
  }

  importsFor(compiled: Compiled): WebAssembly.Imports {
    const imports: WebAssembly.Imports = { ...this.registry };
    if (compiled.fuel !== undefined) {
      const { module, name } = compiled.fuel;
      const refill = (): bigint => {
        this.#onRefill();
        return BOTTOMLESS;
      };
      imports[module] = { ...imports[module], [name]: refill };
    }
    return imports;
  }

  instantiate(compiled: Compiled, id: string | undefined): Outcome {
    let instance: WebAssembly.Instance;
    try {
      instance = new WebAssembly.Instance(
        compiled.module,
        this.importsFor(compiled),
      );
    } catch (error) {
      return outcomeOf(error);
    }
    let signatures: Map<string, FuncSignature> | undefined;
    try {
      signatures = exportSignatures(compiled.bytes);
    } catch {
      signatures = undefined;
    }
    this.current = { instance, signatures };
    if (id !== undefined) this.instances.set(id, this.current);
    return { kind: "instance" };
  }

  /** The instance an action names, or the latest one. */
  find(module: string | undefined): Loaded | undefined {
    return module === undefined ? this.current : this.instances.get(module);
  }
}

function unknownModule(module: string | undefined): Skip {
  return {
    reason: "action names a module never defined",
    detail: module ?? "(current)",
  };
}

/** How an invoke crosses into wasm, decided once for both runs. */
type CallPlan = "direct" | "harness";

function planCall(
  signature: FuncSignature | undefined,
  args: Value[],
): CallPlan | Skip {
  if (signature === undefined) {
    return args.some((a) => a.type === "v128")
      ? { reason: "v128 argument, signature unknown", detail: "" }
      : "direct";
  }
  const types = [...signature.params, ...signature.results];
  if (types.includes("exnref")) {
    return {
      reason: "exnref in the signature (cannot cross the JS boundary)",
      detail: "",
    };
  }
  if (!needsHarness(signature)) return "direct";
  if (canHarness(signature)) return "harness";
  if (types.includes("v128")) {
    return {
      reason:
        "v128 and reference types in one signature (no JS or harness path)",
      detail: "",
    };
  }
  return "direct";
}

function perform(
  loaded: Loaded,
  action: Action,
  plan: CallPlan,
  harnesses: HarnessFactory,
): Outcome {
  const exported = loaded.instance.exports[action.name];
  if (action.kind === "get") {
    if (!(exported instanceof WebAssembly.Global)) {
      return {
        kind: "error",
        name: "Missing",
        message: `no global "${action.name}"`,
      };
    }
    try {
      return { kind: "return", results: [fromJs(exported.value, undefined)] };
    } catch (error) {
      return outcomeOf(error);
    }
  }
  if (typeof exported !== "function") {
    return {
      kind: "error",
      name: "Missing",
      message: `no function "${action.name}"`,
    };
  }
  const signature = loaded.signatures?.get(action.name);
  try {
    const harness = plan === "harness" && signature !== undefined
      ? harnesses.for(exported, signature)
      : undefined;
    if (harness !== undefined && signature !== undefined) {
      const view = new DataView(harness.slots.buffer);
      action.args.forEach((arg, i) => writeSlot(view, i, arg));
      harness.call();
      return {
        kind: "return",
        results: signature.results.map((t, i) => readSlot(view, i, t)),
      };
    }
    const returned = (exported as (...args: unknown[]) => unknown)(
      ...action.args.map(toJs),
    );
    const count = signature?.results.length ?? (returned === undefined ? 0 : 1);
    const values = count > 1
      ? returned as unknown[]
      : count === 1
      ? [returned]
      : [];
    return {
      kind: "return",
      results: values.map((v, i) => fromJs(v, signature?.results[i])),
    };
  } catch (error) {
    return outcomeOf(error);
  }
}

// ---------------------------------------------------------------------------
// Per-file report

/** A place where the metered run differs from the plain one, or worse. */
export interface Failure {
  line: number;
  command: string;
  detail: string;
}

/** What happened to one script. */
export interface FileReport {
  file: string;
  /** Asserts where both runs were compared (assert_return/trap/exhaustion/exception). */
  assertsChecked: number;
  /** Of those, how many the metered run got the same as the plain run. */
  assertsAgreed: number;
  /** Module-level asserts compared (assert_unlinkable/uninstantiable). */
  moduleAssertsChecked: number;
  /** Bare `invoke`/`get` actions compared. */
  actionsChecked: number;
  /** Module instantiations compared. */
  instancesCompared: number;
  /**
   * Calls to the fuel import. The counter starts at 0, so each metered
   * instance that runs any code asks once: zero means nothing was metered.
   */
  fuelRefills: number;
  /** Asserts where the plain run did what the spec says. */
  plainMetSpec: number;
  /** Asserts where it did not (V8 vs the spec, or a harness limit). */
  plainMissedSpec: Failure[];
  modulesLoaded: number;
  modulesMetered: number;
  /** How the loaded modules were assembled: binary, wabt, binaryen. */
  assembledVia: Record<string, number>;
  modulesSkipped: Skip[];
  /** Assertions and actions not run, by reason. */
  skipped: Record<string, number>;
  /** Metered != plain, or an invalid metered module. */
  failures: Failure[];
  /** Modules V8 accepts that the rewriter threw on. */
  rewriterErrors: Failure[];
  /** Set when the script could not be read at all. */
  unreadable?: string;
}

function newReport(file: string): FileReport {
  return {
    file,
    assertsChecked: 0,
    assertsAgreed: 0,
    moduleAssertsChecked: 0,
    actionsChecked: 0,
    instancesCompared: 0,
    fuelRefills: 0,
    plainMetSpec: 0,
    plainMissedSpec: [],
    modulesLoaded: 0,
    modulesMetered: 0,
    assembledVia: {},
    modulesSkipped: [],
    skipped: {},
    failures: [],
    rewriterErrors: [],
  };
}

function commandText(command: Command): string {
  switch (command.type) {
    case "module":
      return `module${command.module.id ? ` ${command.module.id}` : ""}`;
    case "action":
      return `${command.action.kind} "${command.action.name}"`;
    case "assert_return":
    case "assert_trap":
    case "assert_exhaustion":
    case "assert_exception":
      return `${command.type} (${command.action.kind} "${command.action.name}")`;
    default:
      return command.type;
  }
}

// ---------------------------------------------------------------------------
// The lockstep runner

/** Options for {@linkcode SpecRunner}. */
export interface SpecRunnerOptions {
  /** The rewriter under test. */
  rewrite: Rewriter;
  /** Builds module bytes from script text. */
  assembler: Assembler;
}

/**
 * Runs scripts in lockstep: every command is done by a plain run and by a
 * metered run, and their outcomes are compared.
 */
export class SpecRunner {
  readonly #rewrite: Rewriter;
  readonly #assembler: Assembler;
  readonly #harnesses: HarnessFactory;

  /** @param options The rewriter and assembler to use. */
  constructor(options: SpecRunnerOptions) {
    this.#rewrite = options.rewrite;
    this.#assembler = options.assembler;
    this.#harnesses = new HarnessFactory(options.assembler);
  }

  /**
   * Runs one script.
   *
   * @param file A name for reports.
   * @param source The script text.
   * @returns What was checked, skipped and failed.
   */
  async runFile(file: string, source: string): Promise<FileReport> {
    return await new FileRun(
      file,
      this.#rewrite,
      this.#assembler,
      this.#harnesses,
    )
      .run(source);
  }
}

function increment(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

/** The state of one script's lockstep run. */
class FileRun {
  readonly report: FileReport;
  readonly #plain = new Run();
  readonly #metered = new Run(() => this.report.fuelRefills++);
  /** Modules, by `$id` or registered name, that are not there, and why. */
  readonly #missing = new Map<string, Skip>();
  #currentMissing: Skip | undefined = {
    reason: "no module defined yet",
    detail: "",
  };

  constructor(
    file: string,
    readonly rewrite: Rewriter,
    readonly assembler: Assembler,
    readonly harnesses: HarnessFactory,
  ) {
    this.report = newReport(file);
  }

  async run(source: string): Promise<FileReport> {
    let commands: Command[];
    try {
      commands = parseScript(source);
    } catch (error) {
      this.report.unreadable = errorText(error);
      return this.report;
    }
    for (const command of commands) await this.#step(command);
    return this.report;
  }

  #skip(skip: Skip): void {
    increment(this.report.skipped, skip.reason);
  }

  #fail(command: Command, detail: string): void {
    this.report.failures.push({
      line: command.line,
      command: commandText(command),
      detail,
    });
  }

  async #step(command: Command): Promise<void> {
    switch (command.type) {
      case "module": {
        const def = command.module;
        const compiled = await this.#compile(command, def);
        if ("skip" in compiled) {
          if (!def.definition) return this.#markMissing(def.id, compiled.skip);
          if (def.id !== undefined) this.#missing.set(def.id, compiled.skip);
          return;
        }
        if (def.definition) {
          if (def.id !== undefined) {
            this.#plain.definitions.set(def.id, compiled.plain);
            this.#metered.definitions.set(def.id, compiled.metered);
            this.#missing.delete(def.id);
          }
          return;
        }
        return this.#instantiate(
          command,
          def.id,
          compiled.plain,
          compiled.metered,
        );
      }
      case "module_instance": {
        const plain = command.definition === undefined
          ? undefined
          : this.#plain.definitions.get(command.definition);
        const metered = command.definition === undefined
          ? undefined
          : this.#metered.definitions.get(command.definition);
        if (plain === undefined || metered === undefined) {
          const why = this.#missing.get(command.definition ?? "") ??
            { reason: "module definition not available", detail: "" };
          return this.#markMissing(command.id, why);
        }
        return this.#instantiate(command, command.id, plain, metered);
      }
      case "register":
        return this.#register(command.as, command.module);
      case "action":
      case "assert_return":
      case "assert_trap":
      case "assert_exhaustion":
      case "assert_exception":
        return this.#act(command, command.action);
      case "assert_unlinkable":
      case "assert_uninstantiable":
        return await this.#moduleAssert(command, command.module);
      case "assert_invalid":
      case "assert_malformed":
        return this.#skip({
          reason:
            "assert_invalid/assert_malformed (rejected modules have nothing to meter)",
          detail: "",
        });
      case "unknown":
        return this.#skip({ reason: command.reason, detail: "" });
    }
  }

  /** Assembles, checks with V8, and meters one module. */
  async #compile(
    command: Command,
    def: ModuleDef,
  ): Promise<{ plain: Compiled; metered: Compiled } | { skip: Skip }> {
    const assembled = await this.assembler.assemble(def);
    if ("skip" in assembled) {
      this.report.modulesSkipped.push({
        reason: assembled.skip.reason,
        detail: `line ${def.line}: ${assembled.skip.detail}`,
      });
      return assembled;
    }
    increment(this.report.assembledVia, assembled.via);
    this.report.modulesLoaded++;
    const plain: Compiled = {
      module: assembled.module,
      bytes: assembled.bytes,
    };
    let rewritten: Rewritten;
    try {
      rewritten = this.rewrite(assembled.bytes);
    } catch (error) {
      this.report.rewriterErrors.push({
        line: command.line,
        command: commandText(command),
        detail: firstLine(errorText(error)),
      });
      return {
        skip: { reason: "instrument() threw on the module", detail: "" },
      };
    }
    let module: WebAssembly.Module;
    try {
      module = new WebAssembly.Module(rewritten.bytes as BufferSource);
    } catch (error) {
      this.#fail(
        command,
        `metered module fails validation: ${firstLine(errorText(error))}`,
      );
      return { skip: { reason: "metered module invalid", detail: "" } };
    }
    if (!WebAssembly.validate(rewritten.bytes as BufferSource)) {
      this.#fail(command, "metered module fails WebAssembly.validate");
      return { skip: { reason: "metered module invalid", detail: "" } };
    }
    this.report.modulesMetered++;
    return {
      plain,
      metered: {
        module,
        bytes: rewritten.bytes,
        fuel: { module: rewritten.importModule, name: rewritten.importName },
      },
    };
  }

  #missingImport(compiled: Compiled): Skip | undefined {
    for (const { module } of WebAssembly.Module.imports(compiled.module)) {
      const why = this.#missing.get(`"${module}"`);
      if (why !== undefined) return why;
    }
    return undefined;
  }

  #instantiate(
    command: Command,
    id: string | undefined,
    plain: Compiled,
    metered: Compiled,
  ): void {
    const upstream = this.#missingImport(plain);
    if (upstream !== undefined) return this.#markMissing(id, upstream);
    const plainOutcome = this.#plain.instantiate(plain, id);
    const meteredOutcome = this.#metered.instantiate(metered, id);
    this.report.instancesCompared++;
    const same =
      describeOutcome(plainOutcome) === describeOutcome(meteredOutcome);
    if (!same) {
      this.#fail(
        command,
        `instantiation: plain ${describeOutcome(plainOutcome)}, metered ${
          describeOutcome(meteredOutcome)
        }`,
      );
    }
    if (
      plainOutcome.kind !== "instance" || meteredOutcome.kind !== "instance"
    ) {
      return this.#markMissing(id, {
        reason: "module not instantiable",
        detail: describeOutcome(plainOutcome),
      });
    }
    this.#currentMissing = undefined;
    if (id !== undefined) this.#missing.delete(id);
  }

  #markMissing(id: string | undefined, why: Skip): void {
    this.#currentMissing = why;
    this.#plain.current = undefined;
    this.#metered.current = undefined;
    if (id !== undefined) {
      this.#missing.set(id, why);
      this.#plain.instances.delete(id);
      this.#metered.instances.delete(id);
    }
  }

  #register(as: string, module: string | undefined): void {
    const why = module === undefined
      ? this.#currentMissing
      : this.#missing.get(module);
    if (why !== undefined) {
      this.#missing.set(`"${as}"`, why);
      return;
    }
    const plain = this.#plain.find(module);
    const metered = this.#metered.find(module);
    if (plain === undefined || metered === undefined) {
      this.#missing.set(`"${as}"`, unknownModule(module));
      return;
    }
    this.#missing.delete(`"${as}"`);
    this.#plain.registry[as] = plain.instance.exports;
    this.#metered.registry[as] = metered.instance.exports;
  }

  #act(
    command: Extract<Command, { action: Action }>,
    action: Action,
  ): void {
    const why = action.module === undefined
      ? this.#currentMissing
      : this.#missing.get(action.module);
    if (why !== undefined) return this.#skip(why);
    const plainTarget = this.#plain.find(action.module);
    const meteredTarget = this.#metered.find(action.module);
    if (plainTarget === undefined || meteredTarget === undefined) {
      return this.#skip(unknownModule(action.module));
    }
    const plan = action.kind === "invoke"
      ? planCall(plainTarget.signatures?.get(action.name), action.args)
      : "direct";
    if (typeof plan === "object") return this.#skip(plan);
    const plain = perform(plainTarget, action, plan, this.harnesses);
    const metered = perform(meteredTarget, action, plan, this.harnesses);
    this.#compare(command, plain, metered);
  }

  async #moduleAssert(
    command: Extract<Command, { module: ModuleDef }>,
    def: ModuleDef,
  ): Promise<void> {
    const compiled = await this.#compile(command, def);
    if ("skip" in compiled) return this.#skip(compiled.skip);
    const upstream = this.#missingImport(compiled.plain);
    if (upstream !== undefined) return this.#skip(upstream);
    // Instantiate without touching `current`: a failing module replaces nothing.
    const plainCurrent = this.#plain.current;
    const meteredCurrent = this.#metered.current;
    const plain = this.#plain.instantiate(compiled.plain, undefined);
    const metered = this.#metered.instantiate(compiled.metered, undefined);
    this.#plain.current = plainCurrent;
    this.#metered.current = meteredCurrent;
    this.#compare(command, plain, metered);
  }

  #compare(command: Command, plain: Outcome, metered: Outcome): void {
    const report = this.report;
    const plainText = describeOutcome(plain);
    const meteredText = describeOutcome(metered);
    const isAssert = command.type !== "action";
    if (command.type === "action") report.actionsChecked++;
    else if (
      command.type === "assert_unlinkable" ||
      command.type === "assert_uninstantiable"
    ) {
      report.moduleAssertsChecked++;
    } else {
      report.assertsChecked++;
      if (plainText === meteredText) report.assertsAgreed++;
    }
    if (plainText !== meteredText) {
      this.#fail(command, `plain ${plainText}, metered ${meteredText}`);
    }
    if (!isAssert) return;
    if (meetsSpec(command, plain)) report.plainMetSpec++;
    else {
      report.plainMissedSpec.push({
        line: command.line,
        command: commandText(command),
        detail: `plain run: ${plainText}`,
      });
    }
  }
}

// ---------------------------------------------------------------------------
// Summary

function addCounts(
  into: Record<string, number>,
  from: Record<string, number>,
): void {
  for (const [key, n] of Object.entries(from)) into[key] = (into[key] ?? 0) + n;
}

function countLines(counts: Record<string, number>): string[] {
  return Object.entries(counts)
    .sort((a, b) => b[1] - a[1])
    .map(([reason, n]) => `    ${String(n).padStart(6)}  ${reason}`);
}

/**
 * Why a file had nothing compared, or `undefined` when something was.
 *
 * @param report One file's report.
 * @returns The reason, for the list of skipped files.
 */
export function fileSkipReason(report: FileReport): string | undefined {
  if (report.unreadable !== undefined) {
    return `unreadable: ${report.unreadable}`;
  }
  const compared = report.assertsChecked + report.moduleAssertsChecked +
    report.actionsChecked + report.instancesCompared;
  if (compared > 0) return undefined;
  const [top] = Object.entries(report.skipped).sort((a, b) => b[1] - a[1]);
  if (top === undefined) return "no assertions to compare";
  return `${top[0]} x${top[1]}`;
}

/**
 * The end-of-run summary: files run and skipped (by name, with reasons),
 * asserts checked and skipped (by reason), modules, and every failure.
 *
 * @param reports One report per file.
 * @param elapsedMs Wall time of the whole run.
 * @returns Printable text.
 */
export function formatSummary(
  reports: FileReport[],
  elapsedMs: number,
): string {
  const out: string[] = [];
  const skippedFiles = reports.flatMap((r) => {
    const why = fileSkipReason(r);
    return why === undefined ? [] : [`    ${r.file}: ${why}`];
  });
  const sum = (pick: (r: FileReport) => number) =>
    reports.reduce((n, r) => n + pick(r), 0);
  const skipped: Record<string, number> = {};
  const via: Record<string, number> = {};
  const moduleSkips: Record<string, number> = {};
  for (const r of reports) {
    addCounts(skipped, r.skipped);
    addCounts(via, r.assembledVia);
    for (const s of r.modulesSkipped) increment(moduleSkips, s.reason);
  }
  const checked = sum((r) => r.assertsChecked);
  const agreed = sum((r) => r.assertsAgreed);
  out.push(
    `spec suite summary (${(elapsedMs / 1000).toFixed(1)} s)`,
    `  files: ${
      reports.length - skippedFiles.length
    } run, ${skippedFiles.length} skipped`,
    ...skippedFiles,
    `  asserts checked (metered == unmetered): ${agreed} of ${checked}` +
      ` (assert_return/assert_trap/assert_exhaustion/assert_exception)`,
    `  module asserts checked (assert_unlinkable/assert_uninstantiable): ${
      sum((r) => r.moduleAssertsChecked)
    }`,
    `  bare actions compared: ${sum((r) => r.actionsChecked)}` +
      `, module instantiations compared: ${sum((r) => r.instancesCompared)}`,
    `  unmetered run vs the spec's expectation: ${
      sum((r) => r.plainMetSpec)
    } met, ${
      sum((r) => r.plainMissedSpec.length)
    } missed (V8 or harness, not the rewriter)`,
    ...reports.flatMap((r) =>
      r.plainMissedSpec.slice(0, 5).map((m) =>
        `    ${r.file}:${m.line} ${m.command}: ${m.detail}`
      )
    ),
    `  asserts/actions skipped: ${
      Object.values(skipped).reduce((a, b) => a + b, 0)
    }`,
    ...countLines(skipped),
    `  modules: ${sum((r) => r.modulesLoaded)} loaded (${
      Object.entries(via).map(([k, n]) => `${k} ${n}`).join(", ")
    }), ${sum((r) => r.modulesMetered)} metered, ${
      sum((r) => r.modulesSkipped.length)
    } skipped`,
    ...countLines(moduleSkips),
    ...reports.flatMap((r) =>
      r.modulesSkipped.map((s) => `    ${r.file}, ${s.detail}`)
    ),
  );
  const rewriterErrors = reports.flatMap((r) =>
    r.rewriterErrors.map((e) =>
      `    ${r.file}:${e.line} ${e.command}: ${e.detail}`
    )
  );
  out.push(
    `  fuel import calls (one per metered instance that ran code): ${
      sum((r) => r.fuelRefills)
    }`,
    `  instrument() threw on ${rewriterErrors.length} modules V8 accepts`,
  );
  out.push(...rewriterErrors);
  const failures = reports.flatMap((r) =>
    r.failures.map((f) => `    ${r.file}:${f.line} ${f.command}: ${f.detail}`)
  );
  out.push(`  failures (metered differs or is invalid): ${failures.length}`);
  out.push(...failures);
  return out.join("\n");
}
