/**
 * The fuzz host: a deterministic implementation of binaryen's
 * `fuzzing-support` imports that records every call the guest makes into it,
 * and grants fuel on the metered side.
 *
 * @module
 */

import type {
  FunctionSignature,
  ImportDescriptor,
  ValueType,
} from "../../../src/module/signatures.ts";

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

export function isHostLimit(error: unknown): boolean {
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
export const START_FUEL = [0n, 40n, 1000n, 1n];

/**
 * What `out_of_fuel` grants, refill after refill: small grants (0 and 1
 * included) make the guest ask again within a few segments, so the refill
 * path runs often; large ones keep long loops affordable.
 */
const GRANTS = [5000n, 0n, 1n, 250n, 100_000n, 20_000n, 3n];

/** Fuel one export may use before its run counts as too long. */
export const DEFAULT_BUDGET = 30_000_000n;

/**
 * The deterministic host of one instance: binaryen's `fuzzing-support`
 * imports (logging, throwing, table access, calling exports back), with
 * every call recorded in {@linkcode FuzzHost.events}.
 */
export class FuzzHost {
  /** Every host call and export call, in order. */
  events: string[] = [];
  /**
   * On the metered side, the fuel counter as each import was called, by
   * its place in `events` (an import call's event is its first).
   */
  counters = new Map<number, bigint>();
  /** Reads the metered side's fuel counter; unset on the other side. */
  readCounter?: () => bigint;
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
      const counter = this.readCounter?.();
      if (counter !== undefined) this.counters.set(this.events.length, counter);
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
