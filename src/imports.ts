/**
 * Builds a guest's import object: the user's imports, each function
 * wrapped, plus the runner's interrupt import; and checks that every import
 * the guest needs is there and of the right kind.
 *
 * @module
 */

import { ImportError, type InterruptDetails, Interrupted } from "./errors.ts";
import { type CallState, requestStop } from "./call_state.ts";
import { suspending } from "./fuel.ts";
import { type ImportDescriptor, readSignatures } from "./signatures.ts";

/** How the runner's own interrupt import behaves. */
export interface InterruptOptions {
  /** The import's module name. Default `"env"`. */
  module?: string;
  /** The import's field name. Default `"interrupt_execution"`. */
  name?: string;
  /**
   * Runs when the guest calls the import, before the guest is stopped. It
   * gets the guest's arguments and may return a reason and code for the
   * {@linkcode Interrupted} error.
   */
  onCall?: (args: unknown[]) => InterruptDetails | void;
}

/** Any function a guest can import or export. */
export type HostFunction = (...args: never[]) => unknown;

function isNativeFunction(fn: HostFunction): boolean {
  return /\{\s*\[native code\]\s*\}\s*$/.test(
    Function.prototype.toString.call(fn),
  );
}

/**
 * Wraps a host function so that a throw from it can be told apart from a
 * guest trap, and so that a guest that caught an interrupt cannot call out
 * again. Native functions (other instances' exports, built-ins) are passed
 * through: wrapping them would cost the fast wasm-to-wasm path.
 */
function wrapHostFunction(
  fn: HostFunction,
  importName: string,
  state: CallState,
): HostFunction {
  if (isNativeFunction(fn)) return fn;
  return function (...args: unknown[]): unknown {
    if (state.stop !== undefined) throw state.unwind;
    try {
      return Reflect.apply(fn, undefined, args);
    } catch (error) {
      state.thrown = error;
      state.thrownBy = importName;
      throw error;
    }
  };
}

/** Which imports may suspend the guest. */
export interface ImportMode {
  /** Whether the guest is loaded for async calls. */
  async: boolean;
  /** Imports, as `module.name`, that return promises. */
  asyncImports: string[];
}

function isAsyncFunction(value: unknown): boolean {
  return typeof value === "function" &&
    value.constructor?.name === "AsyncFunction";
}

/**
 * Wraps a host function that returns a promise so that the guest suspends
 * (JSPI) until it settles. While it waits, an abort or deadline rejects the
 * wait at once with the prepared unwind error.
 */
function wrapAsyncHostFunction(
  fn: HostFunction,
  importName: string,
  state: CallState,
): WebAssembly.ImportValue {
  state.asyncImports.push(importName);
  const record = (error: unknown) => {
    state.thrown = error;
    state.thrownBy = importName;
  };
  return suspending((...args: unknown[]): unknown => {
    if (state.stop !== undefined) throw state.unwind;
    let result: unknown;
    try {
      result = Reflect.apply(fn, undefined, args);
    } catch (error) {
      record(error);
      throw error;
    }
    if (!(result instanceof Promise)) return result;
    return new Promise((resolve, reject) => {
      state.cancel = () => reject(state.unwind);
      result.then(resolve, (error) => {
        record(error);
        reject(error);
      });
    }).finally(() => {
      state.cancel = undefined;
    });
  });
}

const KIND_CHECKS: Record<
  ImportDescriptor["kind"],
  [(value: unknown) => boolean, string]
> = {
  function: [(v) => typeof v === "function", "not a function"],
  table: [(v) => v instanceof WebAssembly.Table, "not a WebAssembly.Table"],
  memory: [(v) => v instanceof WebAssembly.Memory, "not a WebAssembly.Memory"],
  global: [
    (v) =>
      v instanceof WebAssembly.Global || typeof v === "number" ||
      typeof v === "bigint",
    "not a WebAssembly.Global, number or bigint",
  ],
  tag: [
    (v) => typeof v === "object" && v !== null,
    "not a WebAssembly.Tag",
  ],
};

export function describeImports(
  module: WebAssembly.Module,
  bytes: Uint8Array | undefined,
): ImportDescriptor[] {
  if (bytes !== undefined) return readSignatures(bytes).imports;
  return WebAssembly.Module.imports(module).map((entry) => ({
    module: entry.module,
    name: entry.name,
    kind: entry.kind,
    expected: entry.kind,
  }));
}

/**
 * Builds the import object: the user's imports, each function wrapped, plus
 * the runner's interrupt import; and checks that every import the guest
 * needs is there and of the right kind.
 */
export function buildImports(
  needed: ImportDescriptor[],
  supplied: WebAssembly.Imports,
  interrupt: InterruptOptions | false,
  state: CallState,
  mode: ImportMode = { async: false, asyncImports: [] },
): WebAssembly.Imports {
  const interruptModule = interrupt === false
    ? undefined
    : interrupt.module ?? "env";
  const interruptName = interrupt === false
    ? undefined
    : interrupt.name ?? "interrupt_execution";
  const result: Record<string, Record<string, WebAssembly.ImportValue>> = {};
  for (const entry of needed) {
    const label = `${entry.module}.${entry.name}`;
    const namespace = (result[entry.module] ??= {});
    if (
      interrupt !== false && entry.module === interruptModule &&
      entry.name === interruptName && entry.kind === "function"
    ) {
      const onCall = interrupt.onCall;
      namespace[entry.name] = (...args: unknown[]): never => {
        const details = onCall?.(args) ?? undefined;
        return requestStop(state, () => new Interrupted(label, details));
      };
      continue;
    }
    const value =
      (supplied[entry.module] as Record<string, unknown> | undefined)
        ?.[entry.name];
    if (value === undefined) {
      throw new ImportError(label, entry.expected, "missing");
    }
    const [fits, problem] = KIND_CHECKS[entry.kind];
    if (!fits(value)) throw new ImportError(label, entry.expected, problem);
    const isAsync = mode.async &&
      (isAsyncFunction(value) || mode.asyncImports.includes(label));
    namespace[entry.name] = isAsync
      ? wrapAsyncHostFunction(value as HostFunction, label, state)
      : entry.kind === "function"
      ? wrapHostFunction(
        value as HostFunction,
        label,
        state,
      ) as WebAssembly.ImportValue
      : value as WebAssembly.ImportValue;
  }
  return result;
}

/** Turns a `LinkError` into an {@linkcode ImportError} naming the import. */
export function toImportError(
  error: unknown,
  needed: ImportDescriptor[],
): ImportError | undefined {
  if (!(error instanceof WebAssembly.LinkError)) return undefined;
  const match = /Import #(\d+)/.exec(error.message);
  const entry = match ? needed[Number(match[1])] : undefined;
  const label = entry ? `${entry.module}.${entry.name}` : "(unknown)";
  const detail = error.message.replace(/^WebAssembly\.\w+\(\): /, "");
  return new ImportError(
    label,
    entry?.expected ?? "a matching import",
    `unusable (${detail})`,
  );
}
