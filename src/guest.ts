/**
 * The host runner: instantiates a guest with the runner's own
 * `env.interrupt_execution` plus the user's imports, calls its exports, and
 * reports how each call ended.
 *
 * ## How an interrupt works, and why a guest cannot hide one
 *
 * The interrupt import records the {@linkcode Interrupted} error in the
 * call's state and then throws it. The throw unwinds the wasm stack back to
 * the caller. A guest built with exception handling (`catch_all`,
 * `try_table`, or a `catch` of `WebAssembly.JSTag`) can catch that throw and
 * carry on, so the recorded error, not the throw, decides the outcome: a call
 * during which the interrupt fired is reported as interrupted even when the
 * guest returns normally, and every later host import in that call throws
 * the same error again. (With fuel metering on, the rewritten guest also
 * traps at its next check, which no guest can catch.)
 *
 * ## The instance after a stop
 *
 * After an interrupt or a trap the instance stays usable: its memory, tables
 * and globals hold whatever the guest wrote before the stop, nothing after
 * it ran, and the next call starts afresh. A guest compiled from C or Rust
 * may have been cut in the middle of updating its own bookkeeping (its
 * shadow-stack pointer, its allocator), so for such guests call
 * {@linkcode Guest.reinstantiate} to get a fresh instance of the same module.
 *
 * @module
 */

import {
  EarlyExitError,
  ExportError,
  GuestTrap,
  HostImportError,
  ImportError,
  type InterruptDetails,
  Interrupted,
  interruptMessage,
  isEarlyExitError,
  unwoundError,
} from "./errors.ts";
import { type GuestSource, loadModule } from "./load.ts";
import {
  describeSignature,
  type FunctionSignature,
  type ImportDescriptor,
  readSignatures,
} from "./signatures.ts";
import { toGuestTrap } from "./traps.ts";

/** What a host import may use to stop the guest that called it. */
export interface HostControls {
  /**
   * Stops the guest: records the stop and throws an {@linkcode Interrupted}
   * error naming `importName`. Call it from inside a host import as
   * `host.interrupt("quota.check", { reason: "over quota" })`.
   */
  interrupt(importName: string, details?: InterruptDetails): never;
}

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

/** Options for {@linkcode loadGuest}. */
export interface GuestOptions {
  /**
   * The guest's imports, or a function that builds them given the controls
   * a host import can use to stop the guest.
   */
  imports?:
    | WebAssembly.Imports
    | ((host: HostControls) => WebAssembly.Imports);
  /**
   * The runner's interrupt import, or `false` to supply none. By default it
   * is `env.interrupt_execution`, and it is only added when the guest
   * imports it.
   */
  interrupt?: InterruptOptions | false;
}

/** How a call ended. `error` is always a branded early-exit error. */
export type CallOutcome =
  | { outcome: "returned"; export: string; value: unknown }
  | { outcome: "interrupted"; export: string; error: Interrupted }
  | { outcome: "trap"; export: string; error: GuestTrap }
  | { outcome: "error"; export: string; error: HostImportError };

/** Any function a guest can import or export. */
type HostFunction = (...args: never[]) => unknown;

const NO_ARGUMENTS: unknown[] = [];

/** The state of the call in progress, shared with the wrapped imports. */
interface CallState {
  /**
   * Set when the host stopped the guest; wins over whatever the call did.
   * It makes the branded error only once the call has unwound, so that the
   * throw through the guest stays as cheap as throwing a prepared error.
   */
  stop: (() => EarlyExitError) | undefined;
  /** The prepared error thrown through the guest to unwind it. */
  readonly unwind: Interrupted;
  /** The last value a host import threw, and which import threw it. */
  thrown: unknown;
  thrownBy: string | undefined;
}

/**
 * Records why the guest must stop (the first reason wins) and unwinds it by
 * throwing the prepared error.
 */
function requestStop(state: CallState, error: () => EarlyExitError): never {
  state.stop ??= error;
  throw state.unwind;
}

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

function describeImports(
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
function buildImports(
  needed: ImportDescriptor[],
  supplied: WebAssembly.Imports,
  interrupt: InterruptOptions | false,
  state: CallState,
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
        return requestStop(
          state,
          () =>
            unwoundError(
              Interrupted,
              "Interrupted",
              interruptMessage(label, details),
              {
                importName: label,
                reason: details?.reason,
                code: details?.code,
              },
            ),
        );
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
    namespace[entry.name] = entry.kind === "function"
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
function toImportError(
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

/**
 * A loaded guest: one compiled module and its live instance.
 *
 * @example Usage
 * ```ts
 * import { loadGuest, isInterrupted } from "../mod.ts";
 * import assert from "node:assert/strict";
 *
 * const guest = await loadGuest(new URL("../guest/early_exit_guest.wasm", import.meta.url));
 * const result = guest.invoke("exit_early");
 * assert.equal(result.outcome, "interrupted");
 * assert.ok(isInterrupted(result.outcome === "interrupted" && result.error));
 * ```
 */
export class Guest {
  /** The compiled module. */
  readonly module: WebAssembly.Module;
  /** A short name for where the guest came from. */
  readonly label: string;
  #instance: WebAssembly.Instance;
  readonly #imports: WebAssembly.Imports;
  readonly #signatures: Map<string, FunctionSignature>;
  readonly #state: CallState;
  readonly #needed: ImportDescriptor[];
  /** Exports already checked, so that repeated calls skip the checks. */
  readonly #checked = new Map<string, HostFunction>();

  /** @internal Use {@linkcode loadGuest}. */
  constructor(
    module: WebAssembly.Module,
    label: string,
    instance: WebAssembly.Instance,
    imports: WebAssembly.Imports,
    signatures: Map<string, FunctionSignature>,
    state: CallState,
    needed: ImportDescriptor[],
  ) {
    this.#needed = needed;
    this.module = module;
    this.label = label;
    this.#instance = instance;
    this.#imports = imports;
    this.#signatures = signatures;
    this.#state = state;
  }

  /** The live instance. It changes after {@linkcode Guest.reinstantiate}. */
  get instance(): WebAssembly.Instance {
    return this.#instance;
  }

  /** The signature of an exported function, when the guest's bytes were available. */
  signature(name: string): FunctionSignature | undefined {
    return this.#signatures.get(name);
  }

  /**
   * Replaces the instance with a fresh one of the same module: new memory,
   * tables and globals, as if just loaded.
   */
  async reinstantiate(): Promise<void> {
    this.#state.stop = undefined;
    this.#checked.clear();
    this.#instance = await instantiate(
      this.module,
      this.#imports,
      this.#state,
      this.#needed,
    );
  }

  #exportedFunction(name: string): HostFunction {
    const value = (this.#instance.exports as Record<string, unknown>)[name];
    if (typeof value === "function") return value as HostFunction;
    const functions = WebAssembly.Module.exports(this.module)
      .filter((entry) => entry.kind === "function")
      .map((entry) => entry.name);
    const known = functions.length ? functions.join(", ") : "none";
    if (value === undefined) {
      throw new ExportError(
        `${this.label} has no export named "${name}"; its function exports are: ${known}`,
      );
    }
    throw new ExportError(
      `export "${name}" of ${this.label} is a ${
        describeExport(value)
      }, not a function; its function exports are: ${known}`,
    );
  }

  #checkArguments(name: string, args: unknown[]): void {
    const signature = this.#signatures.get(name);
    if (signature === undefined) return;
    if (args.length !== signature.params.length) {
      throw new ExportError(
        `export "${name}" takes ${signature.params.length} argument(s) (${
          describeSignature(signature)
        }), got ${args.length}`,
      );
    }
    const unsupported = [...signature.params, ...signature.results].find((t) =>
      t === "v128"
    );
    if (unsupported) {
      throw new ExportError(
        `export "${name}" (${
          describeSignature(signature)
        }) uses v128, which JavaScript cannot pass or receive`,
      );
    }
  }

  /**
   * Calls an export and reports how the call ended. Guest-caused endings
   * (interrupt, trap, a host import throwing) come back as outcomes, never
   * as exceptions.
   *
   * @param name The export to call.
   * @param args Its arguments: numbers, or bigints for `i64`.
   * @returns How the call ended.
   * @throws {ExportError} When there is no such function export, or the arguments do not fit.
   */
  invoke(name: string, args: unknown[] = NO_ARGUMENTS): CallOutcome {
    let fn = this.#checked.get(name);
    if (fn === undefined || fn.length !== args.length) {
      fn = this.#exportedFunction(name);
      this.#checkArguments(name, args);
      this.#checked.set(name, fn);
    }
    const state = this.#state;
    state.stop = undefined;
    state.thrown = undefined;
    state.thrownBy = undefined;
    let value: unknown;
    try {
      value = Reflect.apply(fn, undefined, args);
    } catch (error) {
      return this.#settle(name, error);
    }
    if (state.stop !== undefined) return this.#settle(name, undefined);
    return { outcome: "returned", export: name, value };
  }

  /**
   * Calls an export and returns its value, throwing a branded error when the
   * call is stopped.
   *
   * @param name The export to call.
   * @param args Its arguments: numbers, or bigints for `i64`.
   * @returns What the export returned.
   * @throws {Interrupted} When the host stopped the guest.
   * @throws {GuestTrap} When the guest trapped.
   * @throws {HostImportError} When a host import threw; its `cause` is what was thrown.
   * @throws {ExportError} When there is no such function export, or the arguments do not fit.
   */
  call(name: string, ...args: unknown[]): unknown {
    const result = this.invoke(name, args);
    if (result.outcome === "returned") return result.value;
    throw result.error;
  }

  #settle(name: string, error: unknown): CallOutcome {
    const state = this.#state;
    const stop = state.stop;
    state.stop = undefined;
    const outcome = stop ? stop() : classify(error, state);
    if (outcome instanceof Interrupted) {
      return { outcome: "interrupted", export: name, error: outcome };
    }
    if (outcome instanceof GuestTrap) {
      return { outcome: "trap", export: name, error: outcome };
    }
    if (outcome instanceof HostImportError) {
      return { outcome: "error", export: name, error: outcome };
    }
    if (outcome instanceof TypeError && state.thrownBy === undefined) {
      // V8 rejects arguments it cannot convert (a number for an i64) before the guest runs.
      throw new ExportError(`cannot call export "${name}": ${outcome.message}`);
    }
    throw outcome;
  }
}

function describeExport(value: unknown): string {
  if (value instanceof WebAssembly.Memory) return "memory";
  if (value instanceof WebAssembly.Table) return "table";
  if (value instanceof WebAssembly.Global) return "global";
  return typeof value;
}

/**
 * Names what ended a call. Errors from another copy of early-exit keep
 * their own class; `instanceof` is only used on errors this copy made.
 */
function classify(error: unknown, state: CallState): unknown {
  if (isEarlyExitError(error)) {
    if (error instanceof EarlyExitError) return error;
    // Made by another copy of the module: re-brand it in this copy's classes.
    return new HostImportError(state.thrownBy ?? "(host)", error);
  }
  if (state.thrownBy !== undefined && error === state.thrown) {
    return new HostImportError(state.thrownBy, error);
  }
  return toGuestTrap(error) ?? error;
}

async function instantiate(
  module: WebAssembly.Module,
  imports: WebAssembly.Imports,
  state: CallState,
  needed: ImportDescriptor[],
): Promise<WebAssembly.Instance> {
  try {
    return await WebAssembly.instantiate(module, imports);
  } catch (error) {
    const stop = state.stop;
    state.stop = undefined;
    throw stop
      ? stop()
      : toImportError(error, needed) ?? classify(error, state);
  }
}

/**
 * Loads, compiles and instantiates a guest.
 *
 * @param source A path, a `file:`/`http:`/`https:` URL, bytes, or a compiled module.
 * @param options The guest's imports and the interrupt import's settings.
 * @returns The guest, ready to call.
 * @throws {GuestLoadError} When the source cannot be read or fetched.
 * @throws {InvalidModule} When the bytes are not a valid module.
 * @throws {ImportError} When the guest needs an import that is missing or of the wrong kind.
 *
 * @example Usage
 * ```ts
 * import { loadGuest } from "../mod.ts";
 * import assert from "node:assert/strict";
 *
 * const guest = await loadGuest(new URL("../guest/early_exit_guest.wasm", import.meta.url), {
 *   interrupt: { onCall: () => ({ reason: "stop here", code: 7 }) },
 * });
 * assert.throws(() => guest.call("exit_early"), /stop here/);
 * ```
 */
export async function loadGuest(
  source: GuestSource,
  options: GuestOptions = {},
): Promise<Guest> {
  const { module, bytes, label } = await loadModule(source);
  const state: CallState = {
    stop: undefined,
    unwind: new Interrupted("(prepared)", { reason: "unwinding the guest" }),
    thrown: undefined,
    thrownBy: undefined,
  };
  const host: HostControls = {
    interrupt(importName: string, details?: InterruptDetails): never {
      return requestStop(
        state,
        () =>
          unwoundError(
            Interrupted,
            "Interrupted",
            interruptMessage(importName, details),
            { importName, reason: details?.reason, code: details?.code },
          ),
      );
    },
  };
  const supplied = typeof options.imports === "function"
    ? options.imports(host)
    : options.imports ?? {};
  const needed = describeImports(module, bytes);
  const imports = buildImports(
    needed,
    supplied,
    options.interrupt ?? {},
    state,
  );
  const instance = await instantiate(module, imports, state, needed);
  const signatures = bytes === undefined
    ? new Map()
    : readSignatures(bytes).exports;
  return new Guest(module, label, instance, imports, signatures, state, needed);
}
