/**
 * Builds a guest's import object: the user's imports, each function
 * wrapped, plus the runner's interrupt import; and checks that every import
 * the guest needs is there and of the right kind.
 *
 * @module
 */

import { ImportError, type InterruptDetails, Interrupted } from "../errors.ts";
import { type CallState, recordStop } from "../call/call_state.ts";
import { suspending } from "../call/jspi.ts";
import {
  callsEntered,
  endCallsAbove,
  listedCalls,
} from "../call/cut_short_ends.ts";
import {
  type FunctionSignature,
  type ImportDescriptor,
  unpassableType,
} from "../module/signatures.ts";
import {
  describeThrown,
  isInstance,
  readSafely,
  settledUnwaited,
  thenOf,
} from "../thrown_values.ts";
import { describeValue } from "../option_checks.ts";
import { readOptions } from "../option_names.ts";
import {
  type ExportOwner,
  exportOwner,
  noteImportedGlobal,
} from "../module/handed_out.ts";
import { oneLineText } from "../early_exit_error.ts";

/**
 * How the runner's own interrupt import behaves.
 *
 * @example Usage
 * ```ts
 * import { type InterruptOptions, loadGuest } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * const interrupt: InterruptOptions = { onCall: () => ({ reason: "done", code: 2 }) };
 * const guest = await loadGuest(
 *   new URL("../../guest/early_exit_guest.wasm", import.meta.url),
 *   { interrupt },
 * );
 * const result = guest.invoke("exit_early");
 * assert.ok(result.outcome === "interrupted" && result.error.code === 2);
 * ```
 */
export interface InterruptOptions {
  /**
   * The import's module name.
   *
   * @default "env"
   */
  module?: string;
  /**
   * The import's field name.
   *
   * @default "interrupt_execution"
   */
  name?: string;
  /**
   * Runs when the guest calls the import, before the guest is stopped. It
   * gets the guest's arguments and may return a reason (a string) and code
   * (a string or a number) for the {@linkcode Interrupted} error; a value of
   * another shape is a `TypeError` of the import. If it throws, the call ends with the
   * `error` outcome, as when any other host import throws; and so if it
   * returns a promise (an async function), which the stop cannot wait for.
   */
  onCall?: (args: unknown[]) => InterruptDetails | void;
}

/** The fields of {@linkcode InterruptOptions}. */
const INTERRUPT_OPTION_NAMES: readonly (keyof InterruptOptions)[] = [
  "module",
  "name",
  "onCall",
];

/**
 * Reads `loadGuest`'s `interrupt` option once, checked: `false`, or an
 * object of `module` and `name` (strings) and `onCall` (a function). A
 * misspelt field would otherwise be dropped, a number taken for a module
 * name, and an `onCall` that is no function found only when the guest
 * calls it, reported as that call's `error`.
 *
 * @param value The option as given, or `undefined` when left out.
 * @returns The option to build the imports with (`{}` when left out).
 * @throws {TypeError} Naming the field and what it should be.
 *
 * @example Usage
 * ```ts
 * import { readInterruptOption } from "./imports.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(readInterruptOption({ name: "stop" }), { name: "stop" });
 * assert.throws(
 *   () => readInterruptOption({ nmae: "stop" }),
 *   /has no option "nmae" \(did you mean "name"\?\)/,
 * );
 * ```
 */
export function readInterruptOption(
  value: unknown,
): InterruptOptions | false {
  if (value === undefined) return {};
  if (value === false) return false;
  const what = "loadGuest's interrupt";
  if (typeof value !== "object" || value === null) {
    throw new TypeError(
      `${what} must be false (no interrupt import) or an object { module?, name?, onCall? }; got ${
        describeValue(value)
      }`,
    );
  }
  const read = readOptions(
    value as InterruptOptions,
    INTERRUPT_OPTION_NAMES,
    what,
  );
  for (const field of ["module", "name"] as const) {
    const given = read[field];
    if (given !== undefined && typeof given !== "string") {
      throw new TypeError(
        `${what}.${field} must be a string, the import's ${
          field === "module" ? "module" : "field"
        } name; got ${describeValue(given)}`,
      );
    }
  }
  if (read.onCall !== undefined && typeof read.onCall !== "function") {
    throw new TypeError(
      `${what}.onCall must be a function, called when the guest calls the import; got ${
        describeValue(read.onCall)
      }`,
    );
  }
  return { ...read };
}

/**
 * What `interrupt.onCall` returned, as the stop's details: nothing, or an
 * object of a `reason` (a string) and a `code` (a string or a number).
 * Anything else would be dropped or turned into another value without a
 * word (a reason of 5 became `"5"`).
 *
 * @throws {TypeError} Saying what it returned and what it may return.
 */
function interruptDetails(given: unknown): InterruptDetails | undefined {
  if (given == null) return undefined;
  if (typeof given !== "object") {
    throw new TypeError(
      `interrupt.onCall must return nothing or { reason?, code? }; it returned ${
        describeValue(given)
      }`,
    );
  }
  const { reason, code } = given as InterruptDetails;
  if (reason !== undefined && typeof reason !== "string") {
    throw new TypeError(
      `interrupt.onCall's reason must be a string; it returned ${
        describeValue(reason)
      }`,
    );
  }
  if (
    code !== undefined && typeof code !== "string" && typeof code !== "number"
  ) {
    throw new TypeError(
      `interrupt.onCall's code must be a string or a number; it returned ${
        describeValue(code)
      }`,
    );
  }
  return { reason, code };
}

/** Any function a guest can import or export. */
export type HostFunction = (...args: never[]) => unknown;

/**
 * How many calls of a guest's host imports pass between two looks at its
 * calls' deadlines and StopSignals, made on the calling thread. The guest's
 * checks read the stop flag that the watchdog's thread sets; a watchdog
 * that wakes late (a cold process on busy cores) leaves a loop of import
 * calls running until it does, and this look ends it by this thread's own
 * clock, as the runtime calls' polls do in the guest's code.
 */
export const HOST_CALLS_PER_POLL = 256;

/** The count of a guest's import calls since its last poll. */
interface HostCallCount {
  calls: number;
}

/**
 * After an import returned: at every {@linkcode HOST_CALLS_PER_POLL}th call,
 * and after an import that called a guest when the flag is set, whether a
 * stop of the guest's calls is due. If so it is recorded, the flag is set
 * (so that a guest catching the unwind traps at its next check) and the
 * prepared unwind is thrown.
 *
 * The second matters where the import's call of the guest (or of another)
 * was stopped by a stop of the calls it is nested in: the import then
 * returns into guest code whose fuel check, after the import, would trap
 * (a stop empties the counter), and V8 builds an error for each trap (2.5
 * µs), which calls nested 300 deep paid at every level of their unwinding.
 * A guest that counts no fuel has no check there: it returns, and its call
 * ends at once, more cheaply than by a throw. Other imports leave the set
 * flag to the guest's own next check, as before.
 *
 * @param calledGuest Whether the import called a guest (listed a call).
 */
function pollAfterHostCall(
  state: CallState,
  count: HostCallCount,
  calledGuest: boolean,
): void {
  const flag = state.flag;
  if (
    ++count.calls < HOST_CALLS_PER_POLL &&
    (!calledGuest || !state.fuelChecks || flag === undefined ||
      Atomics.load(flag, 0) === 0)
  ) {
    return;
  }
  count.calls = 0;
  if (state.check?.() !== true) return;
  if (flag !== undefined) Atomics.store(flag, 0, 1);
  throw state.unwind;
}

/** Why a sync guest's import may not return a promise, and what to do. */
function promiseInSyncGuest(importName: string, thenable = false): TypeError {
  return new TypeError(
    `${importName} returned a Promise${
      thenable ? " (a thenable)" : ""
    }, which a plain call cannot wait for; load the guest with \`async: true\` and call it with invokeAsync to await it`,
  );
}

/** Result types that carry a host value as it is, a promise included. */
const HOST_VALUE_TYPES = new Set([
  "externref",
  "anyref",
  "(ref extern)",
  "(ref null extern)",
  "(ref any)",
  "(ref null any)",
]);

/**
 * Converts what a host import returned to its one numeric result type, as
 * the engine would, but inside the import, so that a value the type cannot
 * take (a BigInt for an i32, a number for an i64, a Symbol, an object whose
 * `valueOf` throws) is the import's error rather than an error of the call.
 */
type ResultConversion = (value: unknown, importName: string) => unknown;

function toNumberResult(type: string): ResultConversion {
  return (value, importName) => {
    if (typeof value === "number") return value;
    try {
      return +(value as number);
    } catch (error) {
      throw unfitResult(importName, value, type, error);
    }
  };
}

const toI64Result: ResultConversion = (value, importName) => {
  if (typeof value === "bigint") return value;
  try {
    // ToBigInt, as the engine applies to an i64 result.
    return BigInt.asIntN(64, value as bigint);
  } catch (error) {
    throw unfitResult(importName, value, "i64", error);
  }
};

function unfitResult(
  importName: string,
  value: unknown,
  type: string,
  error: unknown,
): TypeError {
  const why = isInstance(error, Error)
    ? String(readSafely(error, "message"))
    : "it cannot be converted";
  return new TypeError(
    `${importName} returned ${
      describeValue(value)
    }, which its ${type} result cannot take (${why}): return ${
      type === "i64" ? "a BigInt" : "a number"
    }`,
  );
}

const NUMBER_RESULT: Record<string, ResultConversion> = {
  i32: toNumberResult("i32"),
  f32: toNumberResult("f32"),
  f64: toNumberResult("f64"),
  i64: toI64Result,
};

/** The conversion of the import's one numeric result, if it has one. */
function resultConversion(
  entry: ImportDescriptor,
): ResultConversion | undefined {
  const results = entry.signature?.results;
  if (results?.length !== 1) return undefined;
  return NUMBER_RESULT[results[0]!];
}

/**
 * Whether a promise is a value the guest can take from this import: only
 * as its one result, of a type that holds host values. Anywhere else it
 * would become `0`, or nothing, and the work it stands for would be lost.
 */
function takesPromiseAsValue(entry: ImportDescriptor): boolean {
  const results = entry.signature?.results;
  return results?.length === 1 && HOST_VALUE_TYPES.has(results[0]);
}

/**
 * Wraps a host function so that a throw from it can be told apart from a
 * guest trap, and so that a guest that caught an interrupt cannot call out
 * again. Every function is wrapped, whatever it is: a bound function, a
 * Proxy or another instance's export can run host code that throws (an
 * export may be a re-exported host function), and all of them must stay
 * shut after a stop.
 */
function wrapHostFunction(
  fn: HostFunction,
  importName: string,
  state: CallState,
  promiseIsValue: boolean,
  convert: ResultConversion | undefined,
  count: HostCallCount,
): HostFunction {
  return function (...args: unknown[]): unknown {
    if (state.stop !== undefined) throw state.unwind;
    const listed = listedCalls();
    const entered = callsEntered();
    let result: unknown;
    try {
      result = Reflect.apply(fn, undefined, args);
    } catch (error) {
      // First: ending a call of this guest puts back the state of the call
      // below it, which would overwrite what is recorded here.
      endCallsMadeIn(listed);
      state.thrown = error;
      state.thrownBy = importName;
      throw error;
    }
    endCallsMadeIn(listed);
    pollAfterHostCall(state, count, callsEntered() !== entered);
    // Nobody will wait for it: a later rejection must not go unhandled.
    if (!promiseIsValue && settledUnwaited(result)) {
      const error = promiseInSyncGuest(
        importName,
        !isInstance(result, Promise),
      );
      state.thrown = error;
      state.thrownBy = importName;
      throw error;
    }
    if (convert === undefined) return result;
    try {
      return convert(result, importName);
    } catch (error) {
      state.thrown = error;
      state.thrownBy = importName;
      throw error;
    }
  };
}

/**
 * Ends the calls a host import made whose own end a stack overflow cut
 * short (see `cut_short_ends.ts`): also those of an async guest's import,
 * whose call is not listed. Where the stack has no room for that either,
 * the call below the import ends them.
 *
 * @param listed What `listedCalls()` said as the import was called.
 */
function endCallsMadeIn(listed: number): void {
  try {
    endCallsAbove(listed - 1);
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
  }
}

/** Which imports may suspend the guest. */
export interface ImportMode {
  /**
   * Whether the guest is loaded for async calls: then every function import
   * may suspend it, and a promise one returns is awaited.
   */
  async: boolean;
  /**
   * Import modules the engine supplies itself, from the compile options
   * (`wasm:js-string` for the `js-string` builtins, the module named by
   * `importedStringConstants`): the guest's imports from them are not
   * looked up in the user's imports.
   */
  engineModules?: ReadonlySet<string>;
  /** The importing guest's name in messages. */
  guest?: string;
  /**
   * How to fix imports that supply the runner's interrupt import, where
   * the caller has no `interrupt` option (an isolated call).
   */
  interruptFix?: string;
}

/**
 * Wraps a host function so that the guest suspends (JSPI) until a promise it
 * returns settles. While it waits, an abort or deadline rejects the wait at
 * once with the prepared unwind error.
 */
function wrapAsyncHostFunction(
  fn: HostFunction,
  importName: string,
  state: CallState,
  convert: ResultConversion | undefined,
  count: HostCallCount,
): WebAssembly.ImportValue {
  const record = (error: unknown) => {
    state.thrown = error;
    state.thrownBy = importName;
  };
  return suspending((...args: unknown[]): unknown => {
    if (state.stop !== undefined) throw state.unwind;
    let result: unknown;
    let then: ((...args: unknown[]) => unknown) | undefined;
    try {
      result = Reflect.apply(fn, undefined, args);
      if (!(result instanceof Promise)) {
        // A thenable is waited for too: the engine would wait for it, where
        // no stop could end the wait (and a number result would be 0).
        then = thenOf(result);
        if (then === undefined) {
          pollAfterHostCall(state, count, false);
          return convert === undefined ? result : convert(result, importName);
        }
      }
    } catch (error) {
      record(error);
      throw error;
    }
    return new Promise((resolve, reject) => {
      state.cancel = () => reject(state.unwind);
      const settled = (value: unknown) => {
        try {
          resolve(convert === undefined ? value : convert(value, importName));
        } catch (error) {
          record(error);
          reject(error);
        }
      };
      const failed = (error: unknown) => {
        record(error);
        reject(error);
      };
      if (then === undefined) {
        try {
          Promise.prototype.then.call(result, settled, failed);
        } catch (error) {
          // A proxy of a promise, which no promise method takes.
          failed(error);
        }
        return;
      }
      // A thenable's value may be a thenable too: a promise adopts it.
      try {
        Reflect.apply(then, result, [(value: unknown) => {
          Promise.resolve(value).then(settled, failed);
        }, failed]);
      } catch (error) {
        failed(error);
      }
    }).finally(() => {
      state.cancel = undefined;
    });
  });
}

/**
 * Tells the runner's interrupt import, as `interrupt` names it (none when
 * it is `false`), from the guest's other imports.
 */
function interruptMatcher(
  interrupt: InterruptOptions | false,
): (entry: ImportDescriptor) => boolean {
  if (interrupt === false) return () => false;
  const module = interrupt.module ?? "env";
  const name = interrupt.name ?? "interrupt_execution";
  return (entry) =>
    entry.kind === "function" && entry.module === module &&
    entry.name === name;
}

/**
 * The first import that `supplied` plainly lacks, as the error
 * {@linkcode buildImports} would throw for it, looked for before a load's
 * rewrite and compile: a guest of 14 MB was refused 100 to 400 ms into its
 * load. The imports before it must be plainly right: functions, and
 * globals given as numbers or bigints, each a data property of a
 * namespace that is one too. Whenever the load's own checks could say
 * something else first (an import of another kind or given otherwise, of
 * a type JavaScript cannot pass, or another guest's export), the answer is
 * left to them, and so no getter runs twice: `undefined`.
 *
 * @param needed The guest's imports, read from its bytes.
 * @param supplied The imports option, an object.
 * @param interrupt The runner's interrupt import, which is no user's.
 * @param engineModules The modules the engine supplies itself.
 * @returns The error, or `undefined`.
 */
export function missingImport(
  needed: readonly ImportDescriptor[],
  supplied: WebAssembly.Imports,
  interrupt: InterruptOptions | false,
  engineModules: ReadonlySet<string>,
): ImportError | undefined {
  const isInterrupt = interruptMatcher(interrupt);
  const unpassable = new Map<FunctionSignature, boolean>();
  try {
    // The load looks at every namespace the guest names before any import.
    for (const { module } of needed) {
      const namespace = Object.getOwnPropertyDescriptor(supplied, module);
      if (
        namespace !== undefined &&
        (!("value" in namespace) || typeof namespace.value !== "object" ||
          namespace.value === null)
      ) {
        return undefined;
      }
    }
    for (const entry of needed) {
      if (engineModules.has(entry.module)) continue;
      const { kind, signature } = entry;
      if (kind === "function" && signature !== undefined) {
        if (!unpassable.has(signature)) {
          unpassable.set(signature, unpassableType(signature) !== undefined);
        }
        if (unpassable.get(signature)) return undefined;
      }
      if (isInterrupt(entry)) continue;
      if (kind !== "function" && kind !== "global") return undefined;
      const fields = Object.getOwnPropertyDescriptor(supplied, entry.module)
        ?.value as object | undefined;
      const field = fields === undefined
        ? undefined
        : Object.getOwnPropertyDescriptor(fields, entry.name);
      if (field === undefined) {
        return new ImportError(
          `${entry.module}.${entry.name}`,
          entry.expected,
          "missing",
        );
      }
      const value: unknown = field.value;
      const plain = kind === "function"
        ? typeof value === "function" && exportOwner(value) === undefined
        : typeof value === "number" || typeof value === "bigint";
      if (!("value" in field) || !plain) return undefined;
    }
  } catch {
    // A proxy's trap threw: the load's own checks name it.
  }
  return undefined;
}

/**
 * What the imports supply for `entry`, or `undefined`.
 *
 * @throws {ImportError} When looking it up throws (a revoked proxy, a trap
 *   or a getter that throws), naming the import.
 */
function lookUp(
  supplied: WebAssembly.Imports,
  entry: ImportDescriptor,
  label: string,
): unknown {
  try {
    return ownValue(ownValue(supplied, entry.module), entry.name);
  } catch (error) {
    throw new ImportError(
      label,
      entry.expected,
      `unreadable (looking it up threw ${describeThrown(error)})`,
      "supply it as a plain property of a plain object",
    );
  }
}

/**
 * The own property `key` of `object`, or `undefined`. Names come from the
 * guest: an inherited one (`constructor`, `__proto__`, `toString`) would
 * reach `Object`'s prototype and its methods.
 */
function ownValue(object: unknown, key: string): unknown {
  if (
    (typeof object !== "object" && typeof object !== "function") ||
    object === null || !Object.hasOwn(object, key)
  ) {
    return undefined;
  }
  return (object as Record<string, unknown>)[key];
}

/** The value types a global holds as a number or a bigint. */
const NUMERIC_TYPES: ReadonlySet<string> = new Set([
  "i32",
  "i64",
  "f32",
  "f64",
  "v128",
]);

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

/**
 * What a compiled module given without its bytes imports, as far as the
 * engine tells: names and kinds, without types.
 */
export function describeImports(
  module: WebAssembly.Module,
): ImportDescriptor[] {
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
  mode: ImportMode = { async: false },
): WebAssembly.Imports {
  const isInterrupt = interruptMatcher(interrupt);
  // Without a prototype, a guest's module or field name such as
  // `constructor` or `__proto__` is only ever an own property.
  const result: Record<string, Record<string, WebAssembly.ImportValue>> = Object
    .create(null);
  // Imports share their signatures: each is looked through once, not once
  // an import (10,000 imports of 1,000 parameters each).
  const seen = new Map<FunctionSignature, string | undefined>();
  const count: HostCallCount = { calls: 0 };
  const unpassableOnce = (signature: FunctionSignature) => {
    if (!seen.has(signature)) seen.set(signature, unpassableType(signature));
    return seen.get(signature);
  };
  for (const entry of needed) {
    if (mode.engineModules?.has(entry.module)) continue;
    const label = `${entry.module}.${entry.name}`;
    const namespace = (result[entry.module] ??= Object.create(null));
    // Every function, the runner's interrupt too, is JavaScript, which the
    // engine refuses to call with such a type: the guest's first call would
    // fail, maybe after the guest's other work. Named now, where the fault is.
    const unpassable = entry.kind === "function" && entry.signature
      ? unpassableOnce(entry.signature)
      : undefined;
    if (unpassable !== undefined) {
      throw new ImportError(
        label,
        entry.expected,
        `unusable (it uses ${unpassable}, which JavaScript cannot pass or receive)`,
        `give the guest an import without ${unpassable} (pass such values through memory)`,
      );
    }
    if (interrupt !== false && isInterrupt(entry)) {
      namespace[entry.name] = interruptImport(
        label,
        lookUp(supplied, entry, label) !== undefined,
        interrupt,
        state,
        mode,
      );
      continue;
    }
    const value = lookUp(supplied, entry, label);
    if (value === undefined) {
      throw new ImportError(label, entry.expected, "missing");
    }
    checkSuppliedValue(entry, label, value);
    // An instance attached to a meter after this load is refused if this
    // is one of its added globals.
    if (entry.kind === "global") {
      noteImportedGlobal(value, mode.guest ?? "another guest");
    }
    namespace[entry.name] = entry.kind !== "function"
      ? value as WebAssembly.ImportValue
      : mode.async
      ? wrapAsyncHostFunction(
        value as HostFunction,
        label,
        state,
        resultConversion(entry),
        count,
      )
      : wrapHostFunction(
        value as HostFunction,
        label,
        state,
        takesPromiseAsValue(entry),
        resultConversion(entry),
        count,
      ) as WebAssembly.ImportValue;
  }
  return result;
}

/**
 * The runner's interrupt import: it records the stop (`Interrupted`, with
 * what `onCall` says of it) and unwinds the guest at once.
 *
 * @param label The import's `module.name`.
 * @param supplied Whether the caller's imports supply that name too.
 */
function interruptImport(
  label: string,
  supplied: boolean,
  interrupt: InterruptOptions,
  state: CallState,
  mode: ImportMode,
): (...args: unknown[]) => never {
  if (supplied) {
    throw new TypeError(
      `the imports supply ${label}, which is the runner's interrupt import: ${
        mode.interruptFix ??
          "pass interrupt: false to use your own, interrupt: { onCall } to run code when the guest calls it, or interrupt: { module, name } to give the runner's another name"
      }`,
    );
  }
  const onCall = interrupt.onCall;
  // Without onCall every stop is the same: one closure serves them all.
  const plainStop = () => new Interrupted(label);
  return onCall === undefined
    ? (): never => {
      // Thrown here, not in a helper: one frame less to unwind, a third
      // of the round trip.
      recordStop(state, plainStop);
      throw state.unwind;
    }
    : (...args: unknown[]): never => {
      let details: InterruptDetails | undefined;
      try {
        const given = onCall(args);
        if (settledUnwaited(given)) {
          throw new TypeError(
            `interrupt.onCall returned a promise, which the interrupt cannot wait for (the guest stops at once): make onCall synchronous, and start any async work inside it without returning its promise`,
          );
        }
        // Read now, while a throwing getter is still onCall's throw.
        details = interruptDetails(given);
      } catch (error) {
        // onCall is the host's code: what it throws is that import's.
        state.thrown = error;
        state.thrownBy = label;
        throw error;
      }
      recordStop(state, () => new Interrupted(label, details));
      throw state.unwind;
    };
}

/**
 * Refuses a supplied import that is not of the kind the guest imports, or
 * that another guest's instance handed out: a function or table of its,
 * which this guest's stops do not reach, or a global or import early-exit
 * added to meter and stop it.
 */
function checkSuppliedValue(
  entry: ImportDescriptor,
  label: string,
  value: unknown,
): void {
  const [fits, problem] = KIND_CHECKS[entry.kind];
  // An immutable reference-typed global takes any value, as V8 allows.
  const anyValue = entry.kind === "global" && entry.global !== undefined &&
    !entry.global.mutable && !NUMERIC_TYPES.has(entry.global.type);
  let owner: ExportOwner | undefined;
  try {
    if (!anyValue && !fits(value)) {
      throw new ImportError(label, entry.expected, problem);
    }
    owner = exportOwner(value);
    // A memory is the guest's data, which guests may share: only the
    // stop flag's is refused.
    if (entry.kind === "memory" && owner?.added !== "import") {
      owner = undefined;
    }
  } catch (error) {
    if (error instanceof ImportError) throw error;
    // A proxy whose `getPrototypeOf` trap throws, which `instanceof` asks.
    throw new ImportError(
      label,
      entry.expected,
      `unreadable (checking what it is threw ${describeThrown(error)})`,
      "supply the value itself, not a proxy of it",
    );
  }
  if (owner?.added) {
    // The other guest's fuel counter, zone count or stack pointer: set
    // from here, it would run that guest unmetered, or put its stops off;
    // its meter's imports would move that meter's books.
    throw new ImportError(
      label,
      entry.expected,
      `the ${owner.added} "${oneLineText(owner.name, 200)}" that early-exit ${
        owner.added === "global" ? "added to" : "gives"
      } the guest ${
        oneLineText(owner.label, 200)
      } to meter and stop it, which no other guest may import`,
      owner.added === "global"
        ? "leave it out of this guest's imports (pass that guest's own exports by name, not its whole exports object)"
        : "leave it out of this guest's imports (pass a meter's imports to its own guest alone)",
    );
  }
  if (owner !== undefined) {
    // The other guest chose the export's name: it may be megabytes, or
    // hold control characters.
    const name = oneLineText(owner.name, 200);
    throw new ImportError(
      label,
      entry.expected,
      `the export "${name}" of the guest ${
        oneLineText(owner.label, 200)
      }, whose code this guest's deadline, signal, stop and fuel do not reach`,
      entry.kind === "function"
        ? `supply a function that calls it through that guest's call("${name}", ...) or invoke, which this guest's stops cover`
        : "supply a table of this guest's own, and call the other guest through an import",
    );
  }
}

/** Turns a `LinkError` into an {@linkcode ImportError} naming the import. */
export function toImportError(
  error: unknown,
  needed: ImportDescriptor[],
): ImportError | undefined {
  if (!(error instanceof WebAssembly.LinkError)) return undefined;
  // V8 names most imports "Import #N", and a table it refuses "table
  // import N" (too small, no maximum, one too large): N is the import's
  // index either way.
  const match = /Import #(\d+)|table import (\d+)/.exec(error.message);
  const entry = match ? needed[Number(match[1] ?? match[2])] : undefined;
  const label = entry ? `${entry.module}.${entry.name}` : "(unknown)";
  const detail = error.message.replace(/^WebAssembly\.\w+\(\): /, "");
  return new ImportError(
    label,
    entry?.expected ?? "a matching import",
    `unusable (${detail})`,
  );
}
