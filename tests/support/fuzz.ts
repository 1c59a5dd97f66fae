/**
 * Differential fuzzing of the fuel meter.
 *
 * Random valid modules come from binaryen's translate-to-fuzz (`wasm-opt
 * -ttf`), run in this process from the `binaryen` npm package: its
 * `bin/wasm-opt` is an Emscripten build (JavaScript with the wasm embedded),
 * which {@linkcode WasmOpt} evaluates once and then instantiates afresh for
 * every command.
 *
 * Each module runs twice, unmetered and metered, under a deterministic host
 * ({@linkcode FuzzHost}) that implements binaryen's `fuzzing-support`
 * imports and records every call the guest makes into it. Every exported
 * function is called with fixed arguments; the return value or thrown error,
 * the host-call log and the exported state (globals, memory checksums, table
 * sizes) after each call must come out the same on both sides
 * ({@linkcode compareRuns}).
 *
 * @module
 */

import { findNpmFile } from "../../bench/npm.ts";
import { isEarlyExitError, isInvalidModule } from "../../src/errors.ts";
import {
  type ExportDescriptor,
  type FunctionSignature,
  type ImportDescriptor,
  type ModuleSignatures,
  readSignatures,
  type ValueType,
} from "../../src/signatures.ts";

// ---------------------------------------------------------------------------
// Randomness

/**
 * A deterministic 32-bit generator (a counter passed through the murmur3
 * finaliser): the same seed gives the same sequence on every machine.
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}

// ---------------------------------------------------------------------------
// wasm-opt, in process

/** What one `wasm-opt` command did. */
export interface WasmOptResult {
  /** The exit status (0 on success). */
  status: number;
  /** Everything it wrote to stdout and stderr. */
  output: string;
}

type EmscriptenFactory = (
  module: Record<string, unknown>,
  require: (name: string) => unknown,
  process: Record<string, unknown>,
  filename: string,
  dirname: string,
  moduleObject: undefined,
  webAssembly: typeof WebAssembly,
) => Promise<void>;

/** The statement that ends the Emscripten glue and starts `main`. */
const GLUE_TAIL = "createWasm().then(()=>run());";

/**
 * binaryen's `wasm-opt`, run in this process.
 *
 * The Emscripten glue is evaluated with its own `Module`, `require` and
 * `process`, so it reads and writes real files (NODERAWFS) but its output and
 * exit status are captured, not sent to this process. The wasm is compiled
 * once; every {@linkcode WasmOpt.run} gets a fresh instance, so no state
 * carries over between commands.
 */
export class WasmOpt {
  readonly #factory: EmscriptenFactory;
  readonly #path: string;
  #compiled: WebAssembly.Module | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  readonly #nodeModules: Record<string, unknown>;

  private constructor(
    factory: EmscriptenFactory,
    path: string,
    nodeModules: Record<string, unknown>,
  ) {
    this.#factory = factory;
    this.#path = path;
    this.#nodeModules = nodeModules;
  }

  /** Finds and evaluates the package's `wasm-opt`. */
  static async load(): Promise<WasmOpt> {
    const found = await findNpmFile("binaryen", "bin/wasm-opt");
    if (found === undefined) {
      throw new Error(
        "cannot find binaryen's bin/wasm-opt: deno info --json binaryen (which needs --allow-run) gave no package directory",
      );
    }
    const path = found.pathname;
    let source = await Deno.readTextFile(path);
    const at = source.lastIndexOf(GLUE_TAIL);
    if (at < 0) {
      throw new Error(
        `${path} does not end with "${GLUE_TAIL}": not the Emscripten glue this harness knows`,
      );
    }
    // Returning the start-up promise lets a failed run reject to our caller
    // instead of becoming an unhandled rejection.
    source = source.slice(0, at) + "return " + source.slice(at);
    source = source.replace(/^#!.*\n/, "");
    // deno-lint-ignore no-explicit-any
    const AsyncFunction = (async () => {}).constructor as any;
    const factory = new AsyncFunction(
      "Module",
      "require",
      "process",
      "__filename",
      "__dirname",
      "module",
      "WebAssembly",
      source,
    ) as EmscriptenFactory;
    const [fs, path_, tty, crypto] = await Promise.all([
      import("node:fs"),
      import("node:path"),
      import("node:tty"),
      import("node:crypto"),
    ]);
    return new WasmOpt(factory, path, {
      "node:fs": fs.default,
      "node:path": path_.default,
      "node:tty": tty.default,
      "node:crypto": crypto.default,
    });
  }

  /**
   * Runs `wasm-opt` with `args` (file paths must be absolute). Commands run
   * one at a time.
   */
  run(args: readonly string[]): Promise<WasmOptResult> {
    const next = this.#queue.then(() => this.#runNow(args));
    this.#queue = next.catch(() => {});
    return next;
  }

  async #runNow(args: readonly string[]): Promise<WasmOptResult> {
    const chunks: string[] = [];
    const decoder = new TextDecoder();
    const realFs = this.#nodeModules["node:fs"] as typeof import("node:fs");
    // Output to fd 1 and 2 is kept, not printed.
    const fs = Object.create(realFs, {
      writeSync: {
        value: (fd: number, data: Uint8Array, ...rest: number[]) => {
          if (fd !== 1 && fd !== 2) {
            // deno-lint-ignore no-explicit-any
            return (realFs.writeSync as any)(fd, data, ...rest);
          }
          const offset = rest[0] ?? 0;
          const length = rest[1] ?? data.length - offset;
          chunks.push(decoder.decode(data.subarray(offset, offset + length)));
          return length;
        },
      },
    });
    const modules = { ...this.#nodeModules, "node:fs": fs };
    const proc: Record<string, unknown> = {
      argv: ["node", "wasm-opt"],
      versions: { node: "22.0.0" },
      platform: "linux",
      env: {},
      exitCode: undefined,
      stdin: { fd: 0 },
      cwd: () => Deno.cwd(),
      chdir: () => {
        throw new Error("wasm-opt may not change directory here");
      },
      binding: (name: string) =>
        name === "constants" ? { fs: realFs.constants } : {},
    };
    const module: Record<string, unknown> = {
      arguments: [...args],
      thisProgram: "wasm-opt",
      print: (line: string) => chunks.push(line + "\n"),
      printErr: (line: string) => chunks.push(line + "\n"),
    };
    const compiled = this.#compiled;
    if (compiled) {
      module.instantiateWasm = (
        imports: WebAssembly.Imports,
        done: (instance: WebAssembly.Instance) => void,
      ) => {
        done(new WebAssembly.Instance(compiled, imports));
        return {};
      };
    }
    // The first run compiles the embedded wasm; keep the compiled module.
    const webAssembly = Object.create(WebAssembly, {
      instantiate: {
        value: async (bytes: BufferSource, imports: WebAssembly.Imports) => {
          const result = await WebAssembly.instantiate(bytes, imports);
          this.#compiled = result.module;
          return result;
        },
      },
    });
    try {
      await this.#factory(
        module,
        (name) => {
          if (!(name in modules)) throw new Error(`wasm-opt wants ${name}`);
          return modules[name as keyof typeof modules];
        },
        proc,
        this.#path,
        this.#path.replace(/\/[^/]*$/, ""),
        undefined,
        webAssembly,
      );
    } catch (error) {
      chunks.push(String(error));
      return { status: 1, output: chunks.join("") };
    }
    return { status: Number(proc.exitCode ?? 0), output: chunks.join("") };
  }
}

// ---------------------------------------------------------------------------
// Generating modules

/**
 * `wasm-opt` feature flags for the proposals V8 in Deno 2.9.6 runs by
 * default. `--emit-exnref` is needed because translate-to-fuzz mixes legacy
 * `try` with `try_table`, and V8 rejects a module that uses both.
 */
export const PROFILES: Readonly<Record<string, readonly string[]>> = {
  /** Everything V8 accepts, GC and exceptions included. */
  all: [
    "--enable-sign-ext",
    "--enable-mutable-globals",
    "--enable-nontrapping-float-to-int",
    "--enable-bulk-memory",
    "--enable-bulk-memory-opt",
    "--enable-call-indirect-overlong",
    "--enable-multivalue",
    "--enable-reference-types",
    "--enable-simd",
    "--enable-relaxed-simd",
    "--enable-threads",
    "--enable-tail-call",
    "--enable-exception-handling",
    "--enable-gc",
    "--enable-memory64",
    "--enable-multimemory",
    "--enable-extended-const",
    "--emit-exnref",
  ],
  /** Numbers, memory and tables: more straight-line arithmetic per module. */
  numeric: [
    "--enable-sign-ext",
    "--enable-mutable-globals",
    "--enable-nontrapping-float-to-int",
    "--enable-bulk-memory",
    "--enable-bulk-memory-opt",
    "--enable-multivalue",
    "--enable-simd",
    "--enable-threads",
    "--enable-tail-call",
    "--enable-memory64",
    "--enable-multimemory",
    "--enable-extended-const",
  ],
  /** The 1.0 instruction set only. */
  mvp: ["--mvp-features"],
};

/** The profile a seed uses: mostly `all`, some of the others. */
export function profileOf(seed: number): string {
  const pick = seed % 5;
  return pick === 3 ? "numeric" : pick === 4 ? "mvp" : "all";
}

/** A module made by translate-to-fuzz, and how. */
export interface FuzzModule {
  seed: number;
  profile: string;
  bytes: Uint8Array;
}

/**
 * Makes random valid modules from seeds: the seed drives a
 * {@linkcode seededRandom} stream that becomes `-ttf`'s input bytes.
 */
export class FuzzModuleMaker {
  readonly #wasmOpt: WasmOpt;
  readonly #dir: string;
  #count = 0;

  private constructor(wasmOpt: WasmOpt, dir: string) {
    this.#wasmOpt = wasmOpt;
    this.#dir = dir;
  }

  /** Loads `wasm-opt` and makes a scratch directory. */
  static async create(): Promise<FuzzModuleMaker> {
    const wasmOpt = await WasmOpt.load();
    const dir = await Deno.makeTempDir({ prefix: "early-exit-fuzz-" });
    return new FuzzModuleMaker(wasmOpt, dir);
  }

  /** The module for `seed` (same seed, same bytes). */
  async make(seed: number, profile = profileOf(seed)): Promise<FuzzModule> {
    const flags = PROFILES[profile];
    if (!flags) throw new Error(`no fuzz profile named ${profile}`);
    const next = seededRandom(seed);
    // Input size drives module size: 1–12 KiB.
    const input = new Uint8Array(1024 + (next() % 11264));
    for (let i = 0; i < input.length; i += 4) {
      const word = next();
      for (let j = 0; j < 4 && i + j < input.length; j++) {
        input[i + j] = word >>> (8 * j);
      }
    }
    const n = this.#count++;
    const inPath = `${this.#dir}/in-${n}.dat`;
    const outPath = `${this.#dir}/out-${n}.wasm`;
    await Deno.writeFile(inPath, input);
    try {
      const result = await this.#wasmOpt.run([
        inPath,
        "-ttf",
        "-o",
        outPath,
        ...flags,
      ]);
      if (result.status !== 0) {
        throw new Error(
          `wasm-opt -ttf failed for seed ${seed} (${profile}): ${result.output}`,
        );
      }
      return { seed, profile, bytes: await Deno.readFile(outPath) };
    } finally {
      await Deno.remove(inPath).catch(() => {});
      await Deno.remove(outPath).catch(() => {});
    }
  }

  /** Removes the scratch directory. */
  async close(): Promise<void> {
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }
}

// ---------------------------------------------------------------------------
// The host

/** How a value crossing the boundary is written down in a log. */
export function describeValue(value: unknown): string {
  switch (typeof value) {
    case "number":
      return Object.is(value, -0) ? "-0" : String(value);
    case "bigint":
      return `${value}n`;
    case "string":
      return JSON.stringify(value);
    case "undefined":
    case "boolean":
      return String(value);
    case "function":
    case "symbol":
      return typeof value;
    default:
      if (value === null) return "null";
      if (Array.isArray(value)) {
        return `[${value.map(describeValue).join(", ")}]`;
      }
      // A reference: its identity differs between instances; its kind not.
      return "object";
  }
}

/**
 * Errors the engine raises for its own limits, not the guest's semantics:
 * where they hit depends on frame sizes, so metered and unmetered runs may
 * legitimately differ from there on.
 */
const HOST_LIMITS = [
  "Maximum call stack size exceeded",
  "out of memory",
  "Out of memory",
  "requested new array is too large",
  "Array buffer allocation failed",
];

function isHostLimit(error: unknown): boolean {
  const text = error instanceof Error ? error.message : String(error);
  return HOST_LIMITS.some((limit) => text.includes(limit));
}

/** Fixed arguments by parameter type; `slot` picks among them. */
function argumentFor(type: ValueType, slot: number): unknown {
  switch (type) {
    case "i32":
      return [0, 1, -1, 42, 0x7fffffff, -0x80000000, 65536][slot % 7];
    case "i64":
      return [0n, 1n, -1n, 42n, 1n << 40n, -(1n << 63n)][slot % 6];
    case "f32":
    case "f64":
      return [0, -0, 1.5, -1e10, NaN, Infinity, 3][slot % 7];
    case "v128":
      return undefined; // JS cannot pass one: the call throws a TypeError
    case "externref":
    case "(ref null extern)":
      return slot % 2 === 0 ? null : { fuzz: slot };
    default:
      return null;
  }
}

/** A value for an imported global of `type`. */
function globalValueFor(type: ValueType): unknown {
  switch (type) {
    case "i32":
      return 7;
    case "i64":
      return 7n;
    case "f32":
    case "f64":
      return 0.5;
    case "externref":
    case "(ref null extern)":
    case "(ref extern)":
      return "extern value";
    default:
      return null;
  }
}

/** The exception-handling part of the JS API, which the DOM typings lack. */
interface WasmException {
  is(tag: WasmTag): boolean;
  getArg(tag: WasmTag, index: number): unknown;
}
type WasmTag = { readonly brand?: "tag" };
const EH = WebAssembly as unknown as {
  Tag: new (type: { parameters: string[] }) => WasmTag;
  Exception: new (tag: WasmTag, payload: unknown[]) => WasmException;
  JSTag: WasmTag;
};

/** The fuel a metered export starts with, by call number: 0 as at start-up. */
const START_FUEL = [0n, 40n, 1000n, 1n];

/**
 * What `out_of_fuel` grants, refill after refill: small grants (0 and 1
 * included) make the guest ask again within a few segments, so the refill
 * path runs often; large ones keep long loops affordable.
 */
const GRANTS = [5000n, 0n, 1n, 250n, 100_000n, 20_000n, 3n];

/** Fuel one export may use before its run counts as too long. */
const DEFAULT_BUDGET = 30_000_000n;

/**
 * The deterministic host of one instance: binaryen's `fuzzing-support`
 * imports (logging, throwing, table access, calling exports back), with
 * every call recorded in {@linkcode FuzzHost.events}.
 */
export class FuzzHost {
  /** Every host call and export call, in order. */
  events: string[] = [];
  /** Set once the engine hits one of its own limits (stack, memory). */
  hostLimit = false;
  /** The exports callable by index, as `call-export` sees them. */
  exportList: Array<{ value: unknown; signature?: FunctionSignature }> = [];
  exports: WebAssembly.Exports = {};
  readonly wasmTag = new EH.Tag({ parameters: ["i32"] });

  /** Metering state: refills and fuel granted, and whether it ran out. */
  refills = 0;
  granted = 0n;
  budget = DEFAULT_BUDGET;
  fuelExhausted = false;
  /** Breaches of the `out_of_fuel` contract seen. */
  contractErrors: string[] = [];

  /** The import object for a module with `imports`. */
  importObject(imports: readonly ImportDescriptor[]): WebAssembly.Imports {
    const object: Record<string, Record<string, WebAssembly.ImportValue>> = {};
    for (const entry of imports) {
      (object[entry.module] ??= {})[entry.name] = this.#provide(
        entry,
      ) as WebAssembly.ImportValue;
    }
    return object;
  }

  #provide(entry: ImportDescriptor): unknown {
    const where = `${entry.module}.${entry.name}`;
    if (entry.kind === "global") {
      const value = globalValueFor(entry.global?.type ?? "");
      if (!entry.global?.mutable) return value;
      return new WebAssembly.Global(
        // deno-lint-ignore no-explicit-any
        { value: entry.global.type as any, mutable: true },
        value,
      );
    }
    if (entry.kind === "tag") {
      if (entry.name === "jstag") return EH.JSTag;
      if (entry.name === "wasmtag") return this.wasmTag;
      throw new Error(`the fuzz host has no tag ${where}`);
    }
    if (entry.kind !== "function") {
      throw new Error(`the fuzz host has no ${entry.kind} ${where}`);
    }
    const impl = this.#functions[entry.name];
    if (entry.module !== "fuzzing-support" || !impl) {
      throw new Error(`the fuzz host has no function ${where}`);
    }
    return (...args: unknown[]) => {
      this.events.push(`${entry.name}(${args.map(describeValue).join(", ")})`);
      try {
        return impl(...args);
      } catch (error) {
        if (isHostLimit(error)) this.hostLimit = true;
        throw error;
      }
    };
  }

  /** The `fuzzing-support` functions, by name. Logging is the recording. */
  readonly #functions: Record<string, (...args: unknown[]) => unknown> = {
    "log-i32": () => {},
    "log-i64": () => {},
    "log-f32": () => {},
    "log-f64": () => {},
    "log-v128": () => {},
    "log-anyref": () => {},
    "log-funcref": () => {},
    "log-externref": () => {},
    "log-branch": () => {},
    "throw": (which) => {
      if (!which) throw new Error("js exception");
      throw new EH.Exception(this.wasmTag, [which]);
    },
    "table-get": (index) => this.#table().get(this.#tableIndex(index)),
    "table-set": (index, value) =>
      // deno-lint-ignore no-explicit-any
      this.#table().set(this.#tableIndex(index), value as any),
    "call-export": (index) => {
      this.callExport(index as number);
    },
    "call-export-catch": (index) =>
      this.#tryCall(() => this.callExport(index as number)),
    "call-ref": (ref) => {
      this.#callRef(ref);
    },
    "call-ref-catch": (ref) => this.#tryCall(() => this.#callRef(ref)),
    "sleep": (_ms, id) => id,
  };

  #table(): WebAssembly.Table {
    const table = this.exports.table;
    if (!(table instanceof WebAssembly.Table)) {
      throw new TypeError("the module exports no table");
    }
    return table;
  }

  #tableIndex(index: unknown): number {
    const unsigned = (index as number) >>> 0;
    // A table64 wants a BigInt index.
    // deno-lint-ignore no-explicit-any
    return (typeof (this.#table() as any).length === "bigint"
      ? BigInt(unsigned)
      : unsigned) as number;
  }

  /** Calls export number `index` (as the list is ordered in the module). */
  callExport(index: number): unknown {
    const entry = this.exportList[index >>> 0];
    if (!entry) throw new TypeError(`there is no export #${index >>> 0}`);
    if (typeof entry.value !== "function") {
      throw new TypeError(`export #${index >>> 0} is not a function`);
    }
    const params = entry.signature?.params ?? [];
    return entry.value(
      ...params.map((type, i) => argumentFor(type, index + i)),
    );
  }

  #callRef(ref: unknown): unknown {
    if (typeof ref !== "function") throw new TypeError("not a function");
    return ref(...new Array(ref.length).fill(null));
  }

  /** 1 if `run` threw an exception (not a trap, not a host limit), else 0. */
  #tryCall(run: () => unknown): number {
    try {
      run();
      return 0;
    } catch (error) {
      if (error instanceof WebAssembly.RuntimeError || isHostLimit(error)) {
        throw error;
      }
      return 1;
    }
  }

  /**
   * The `out_of_fuel` import: grants the next of {@linkcode GRANTS} until
   * the export has used its budget, then refuses, which makes the guest
   * trap.
   */
  outOfFuel = (counter: unknown, cost: unknown): bigint => {
    if (typeof counter !== "bigint" || counter >= 0n) {
      this.contractErrors.push(
        `out_of_fuel got counter ${
          describeValue(counter)
        }, expected a negative BigInt`,
      );
    }
    if (typeof cost !== "bigint" || cost <= 0n) {
      this.contractErrors.push(
        `out_of_fuel got cost ${
          describeValue(cost)
        }, expected a positive BigInt`,
      );
    }
    if (this.granted >= this.budget) {
      this.fuelExhausted = true;
      return -1n;
    }
    const grant = GRANTS[this.refills++ % GRANTS.length];
    this.granted += grant;
    return grant;
  };

  /** How an error thrown to the host looks in the log. */
  describeError(error: unknown): string {
    if (error instanceof EH.Exception) {
      if (error.is(this.wasmTag)) {
        return `wasm exception (wasmtag ${
          describeValue(error.getArg(this.wasmTag, 0))
        })`;
      }
      return "wasm exception (other tag)";
    }
    if (error instanceof Error) return `${error.name}: ${error.message}`;
    return `thrown ${describeValue(error)}`;
  }
}

// ---------------------------------------------------------------------------
// Running a module

/** What a module did, export by export. */
export interface RunRecord {
  /** `ok`, or how instantiation failed. */
  instantiation: string;
  /** The log of each export called, in order. */
  calls: Array<{ name: string; events: string[] }>;
  /**
   * Where the run stopped early, if it did: the index in `calls` of the
   * export that hit a limit (its log is not comparable) and why.
   */
  stop?: { at: number; reason: "fuel" | "host limit" };
  /** `out_of_fuel` refills granted in total. */
  refills: number;
  /** Breaches of the `out_of_fuel` contract. */
  contractErrors: string[];
}

/** The metering side of a run: what {@linkcode instrument} returned. */
export interface MeterInfo {
  importModule: string;
  importName: string;
  fuelExport: string;
}

/** Options for {@linkcode runModule}. */
export interface RunOptions {
  /** Set for the metered module. */
  meter?: MeterInfo;
  /** Fuel one export may use before its run is stopped (metered only). */
  budget?: bigint;
  /** Call at most this many exports. */
  maxCalls?: number;
}

const CHECKSUM_LIMIT = 1 << 26;

/** A checksum of a memory's bytes (FNV-style over 32-bit words). */
function memoryChecksum(memory: WebAssembly.Memory): string {
  const buffer = memory.buffer;
  if (buffer.byteLength > CHECKSUM_LIMIT) return `${buffer.byteLength} bytes`;
  const words = new Int32Array(buffer, 0, buffer.byteLength >>> 2);
  let hash = 0x811c9dc5;
  for (let i = 0; i < words.length; i++) {
    hash = Math.imul(hash ^ words[i], 0x01000193);
  }
  return `${buffer.byteLength}:${(hash >>> 0).toString(16)}`;
}

/** The exported state a guest's host can see, as one line. */
function snapshot(
  host: FuzzHost,
  exports: readonly ExportDescriptor[],
  instance: WebAssembly.Instance,
): string {
  const parts: string[] = [];
  for (const entry of exports) {
    const value = instance.exports[entry.name];
    let text: string;
    try {
      if (value instanceof WebAssembly.Global) {
        text = describeValue(value.value);
      } else if (value instanceof WebAssembly.Memory) {
        text = memoryChecksum(value);
      } else if (value instanceof WebAssembly.Table) {
        text = `table[${value.length}]`;
      } else {
        continue;
      }
    } catch (error) {
      text = host.describeError(error);
    }
    parts.push(`${entry.name}=${text}`);
  }
  return `state ${parts.join("; ")}`;
}

/**
 * Instantiates `bytes` under a fresh {@linkcode FuzzHost} and calls every
 * exported function once, in export order, recording what happens.
 *
 * @param bytes The module (metered or not).
 * @param iface The interface of the *original* module: the metered one has
 *   one import and one export more, which the guest's host must not see.
 */
export function runModule(
  bytes: Uint8Array,
  iface: ModuleSignatures,
  options: RunOptions = {},
): RunRecord {
  const host = new FuzzHost();
  host.budget = options.budget ?? DEFAULT_BUDGET;
  const record: RunRecord = {
    instantiation: "ok",
    calls: [],
    refills: 0,
    contractErrors: host.contractErrors,
  };
  const importObject = host.importObject(iface.imports);
  const meter = options.meter;
  if (meter) {
    (importObject[meter.importModule] ??= {})[meter.importName] =
      host.outOfFuel;
  }
  let instance: WebAssembly.Instance;
  try {
    instance = new WebAssembly.Instance(
      new WebAssembly.Module(bytes as BufferSource),
      importObject,
    );
  } catch (error) {
    record.instantiation = host.describeError(error);
    return record;
  }
  host.exports = instance.exports;
  host.exportList = iface.exportList.map((entry) => ({
    value: instance.exports[entry.name],
    signature: entry.signature,
  }));
  const fuel = meter
    ? instance.exports[meter.fuelExport] as WebAssembly.Global
    : undefined;
  const maxCalls = options.maxCalls ?? Infinity;
  for (let index = 0; index < iface.exportList.length; index++) {
    const entry = iface.exportList[index];
    if (entry.kind !== "function") continue;
    if (record.calls.length >= maxCalls) break;
    host.events = [];
    const refillsBefore = host.refills;
    host.granted = 0n;
    if (fuel) fuel.value = START_FUEL[record.calls.length % START_FUEL.length];
    try {
      const result = host.callExport(index);
      host.events.push(`return ${describeValue(result)}`);
    } catch (error) {
      if (isHostLimit(error)) host.hostLimit = true;
      host.events.push(`throw ${host.describeError(error)}`);
    }
    host.events.push(snapshot(host, iface.exportList, instance));
    record.calls.push({ name: entry.name, events: host.events });
    record.refills += host.refills - refillsBefore;
    if (host.fuelExhausted || host.hostLimit) {
      record.stop = {
        at: record.calls.length - 1,
        reason: host.fuelExhausted ? "fuel" : "host limit",
      };
      break;
    }
  }
  return record;
}

// ---------------------------------------------------------------------------
// Comparing

function clip(event: string): string {
  return event.length > 200 ? `${event.slice(0, 200)}…` : event;
}

/** For two differing `state` events, the entries that differ. */
function stateDifference(a = "", b = ""): string {
  if (!a.startsWith("state ") || !b.startsWith("state ")) return "";
  const left = a.slice(6).split("; ");
  const right = new Set(b.slice(6).split("; "));
  const differ = left.filter((entry) => !right.has(entry));
  return `\n  unmetered state differs in: ${differ.map(clip).join("; ")}`;
}

/** The first difference between two runs, explained. */
export function compareRuns(
  original: RunRecord,
  metered: RunRecord,
): { compared: number; mismatch?: string } {
  if (original.instantiation !== metered.instantiation) {
    return {
      compared: 0,
      mismatch: `instantiation: unmetered ${original.instantiation}, ` +
        `metered ${metered.instantiation}`,
    };
  }
  const limit = Math.min(
    original.stop?.at ?? original.calls.length,
    metered.stop?.at ?? metered.calls.length,
  );
  for (let i = 0; i < limit; i++) {
    const a = original.calls[i];
    const b = metered.calls[i];
    if (!b || a.name !== b.name) {
      return {
        compared: i,
        mismatch: `call #${i}: unmetered called ${a.name}, metered ${b?.name}`,
      };
    }
    const length = Math.max(a.events.length, b.events.length);
    for (let j = 0; j < length; j++) {
      if (a.events[j] === b.events[j]) continue;
      const from = Math.max(0, j - 3);
      const show = (events: string[]) =>
        events.slice(from, j + 2).map(clip).join(" | ") || "(nothing)";
      return {
        compared: i,
        mismatch: `export ${a.name} (call #${i}), event #${j}:\n` +
          `  unmetered: ${show(a.events)}\n` +
          `  metered:   ${show(b.events)}` +
          stateDifference(a.events[j], b.events[j]),
      };
    }
  }
  return { compared: limit };
}

// ---------------------------------------------------------------------------
// One seed, end to end

/**
 * When `error` is an `InvalidModule` that wraps a plain JavaScript error
 * (`TypeError`, `RangeError`…), the rewriter's own code failed and the
 * wrapper only relabelled it: returns that cause as text.
 */
export function internalError(error: unknown): string | undefined {
  if (!isInvalidModule(error)) return undefined;
  const cause = error.cause;
  if (cause === undefined || isEarlyExitError(cause)) return undefined;
  if (cause instanceof Error) {
    const frame = cause.stack?.split("\n").find((line) =>
      line.includes("/src/")
    )?.trim();
    return `${cause.name}: ${cause.message}${frame ? ` ${frame}` : ""}`;
  }
  return `thrown ${describeValue(cause)}`;
}

/** A rewriter under test: `instrument` or a stand-in. */
export type Transform = (bytes: Uint8Array) => MeterInfo & {
  bytes: Uint8Array;
};

/** What became of one seed. */
export interface SeedOutcome {
  seed: number;
  profile: string;
  /** The module's size in bytes. */
  size: number;
  /** Exported functions whose behaviour was compared. */
  compared: number;
  /** Exported functions in the module. */
  functions: number;
  /** `ok`, or how instantiating trapped or threw (the same on both sides). */
  instantiation: string;
  /** Why the comparison ended before the last export, if it did. */
  cut?: string;
  /** Fuel refills granted on the metered side. */
  refills: number;
  /** What went wrong, if anything: a failure of the rewriter. */
  failure?: string;
}

/**
 * How much a fuzz run must compare to count as a test: on average at least
 * this many exports a seed, and at least this share of the exports it was
 * offered. Seeds 1 to 500 compare 6,416 of 6,619 exports (12.8 a seed, 97%);
 * a harness or generator that silently stopped comparing would fall far
 * below. Runs of fewer than {@link MIN_SEEDS_FOR_COVERAGE} seeds are too
 * small to judge.
 */
export const MIN_COVERAGE = { perSeed: 10, share: 0.9 } as const;
/** The smallest run {@link coverageProblem} judges. */
export const MIN_SEEDS_FOR_COVERAGE = 100;

/**
 * Why a run of `outcomes` compared too few exports to count, or `undefined`
 * when it compared enough (or was too small to judge).
 */
export function coverageProblem(
  outcomes: readonly Pick<SeedOutcome, "compared" | "functions">[],
): string | undefined {
  if (outcomes.length < MIN_SEEDS_FOR_COVERAGE) return undefined;
  const compared = outcomes.reduce((n, o) => n + o.compared, 0);
  const functions = outcomes.reduce((n, o) => n + o.functions, 0);
  const perSeed = compared / outcomes.length;
  const share = functions === 0 ? 0 : compared / functions;
  if (perSeed >= MIN_COVERAGE.perSeed && share >= MIN_COVERAGE.share) {
    return undefined;
  }
  return `only ${compared} of ${functions} exports compared over ` +
    `${outcomes.length} seeds (${perSeed.toFixed(1)} a seed, ` +
    `${(share * 100).toFixed(0)}%): at least ${MIN_COVERAGE.perSeed} a ` +
    `seed and ${MIN_COVERAGE.share * 100}% are expected`;
}

/** Options for {@linkcode fuzzSeed}. */
export interface FuzzSeedOptions {
  /** Fuel per export before the metered run counts as too long. */
  budget?: bigint;
}

/**
 * Generates the module for `seed`, meters it with `transform`, runs both and
 * compares them. The metered side runs first: its fuel bounds the work, so
 * the unmetered side only runs the exports that finished within budget.
 */
export async function fuzzSeed(
  maker: FuzzModuleMaker,
  transform: Transform,
  seed: number,
  options: FuzzSeedOptions = {},
): Promise<SeedOutcome> {
  const { profile, bytes } = await maker.make(seed);
  const iface = readSignatures(bytes);
  const functions =
    iface.exportList.filter((e) => e.kind === "function").length;
  const outcome: SeedOutcome = {
    seed,
    profile,
    size: bytes.length,
    compared: 0,
    functions,
    instantiation: "ok",
    refills: 0,
  };
  let metered: ReturnType<Transform>;
  try {
    metered = transform(bytes);
  } catch (error) {
    const internal = internalError(error);
    outcome.failure = internal
      ? `the rewriter crashed on a valid module: ${error} (cause: ${internal})`
      : isInvalidModule(error)
      ? `the rewriter rejected a valid module: ${error}`
      : `the rewriter threw a non-branded error on a valid module: ${error}`;
    return outcome;
  }
  try {
    new WebAssembly.Module(metered.bytes as BufferSource);
  } catch (error) {
    outcome.failure = `the metered module is invalid: ${error}`;
    return outcome;
  }
  const meteredIface = readSignatures(metered.bytes);
  const interfaceProblem = checkAddedInterface(iface, meteredIface, metered);
  if (interfaceProblem) {
    outcome.failure = interfaceProblem;
    return outcome;
  }
  let meteredRun: RunRecord;
  let originalRun: RunRecord;
  try {
    meteredRun = runModule(metered.bytes, iface, {
      meter: metered,
      budget: options.budget,
    });
    outcome.refills = meteredRun.refills;
    if (meteredRun.contractErrors.length > 0) {
      outcome.failure = meteredRun.contractErrors.slice(0, 3).join("; ");
      return outcome;
    }
    const maxCalls = meteredRun.stop?.at ?? meteredRun.calls.length;
    originalRun = runModule(bytes, iface, { maxCalls });
  } catch (error) {
    // Not the rewriter's fault: an import this host lacks, say.
    outcome.failure = `the fuzz harness failed: ${error}`;
    return outcome;
  }
  const { compared, mismatch } = compareRuns(originalRun, meteredRun);
  outcome.compared = compared;
  outcome.instantiation = originalRun.instantiation;
  if (mismatch) {
    outcome.failure = `behaviour differs: ${mismatch}`;
    return outcome;
  }
  const stop = originalRun.stop ?? meteredRun.stop;
  if (stop && stop.at < functions) {
    const side = originalRun.stop ? "unmetered" : "metered";
    outcome.cut = `${stop.reason} (${side}) at call #${stop.at}`;
  }
  return outcome;
}

/**
 * The metered module must import and export exactly what the original does,
 * plus the one function import and the one fuel global export it reports.
 */
function checkAddedInterface(
  original: ModuleSignatures,
  metered: ModuleSignatures,
  meter: MeterInfo,
): string | undefined {
  const key = (e: { module?: string; name: string; kind: string }) =>
    `${e.module ?? ""}.${e.name}:${e.kind}`;
  const importsBefore = original.imports.map(key).sort().join("\n");
  const addedImport = metered.imports.filter((e) =>
    e.module === meter.importModule && e.name === meter.importName
  );
  const importsAfter = metered.imports.filter((e) => !addedImport.includes(e))
    .map(key).sort().join("\n");
  if (addedImport.length !== 1 || addedImport[0].kind !== "function") {
    return `the metered module does not import one function ${meter.importModule}.${meter.importName}`;
  }
  const sig = addedImport[0].signature;
  if (
    sig?.params.join() !== "i64,i64" || sig?.results.join() !== "i64"
  ) {
    return `out_of_fuel has type (${sig?.params}) -> (${sig?.results}), expected (i64, i64) -> i64`;
  }
  if (importsBefore !== importsAfter) {
    return "the metered module's other imports differ from the original's";
  }
  const exportsBefore = original.exportList.map(key).join("\n");
  const fuel = metered.exportList.filter((e) => e.name === meter.fuelExport);
  const exportsAfter = metered.exportList.filter((e) => !fuel.includes(e)).map(
    key,
  ).join("\n");
  if (fuel.length !== 1 || fuel[0].kind !== "global") {
    return `the metered module does not export one global ${meter.fuelExport}`;
  }
  if (exportsBefore !== exportsAfter) {
    return "the metered module's other exports differ from the original's";
  }
  return undefined;
}
