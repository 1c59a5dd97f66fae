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
  Aborted,
  DeadlineExceeded,
  EarlyExitError,
  ExportError,
  FuelExhausted,
  fuelExhaustedMessage,
  GuestTrap,
  HostImportError,
  type InterruptDetails,
  Interrupted,
  interruptedBy,
  isEarlyExitError,
  unwoundError,
} from "./errors.ts";
import { type CallState, requestStop } from "./call_state.ts";
import { CallWatch, FIRST_SLICE } from "./deadline.ts";
import { FuelMeter, HAS_JSPI } from "./fuel.ts";
import type { StopSignal } from "./stop_signal.ts";
import {
  buildImports,
  describeImports,
  type HostFunction,
  type InterruptOptions,
  toImportError,
} from "./imports.ts";
import { compileBytes, type GuestSource, loadModule } from "./load.ts";
import {
  describeSignature,
  type FunctionSignature,
  type ImportDescriptor,
  readSignatures,
} from "./signatures.ts";
import { toGuestTrap } from "./traps.ts";
import type { CostTable } from "./wasm/instrument.ts";

/** What a host import may use to stop the guest that called it. */
export interface HostControls {
  /**
   * Stops the guest: records the stop and throws an {@linkcode Interrupted}
   * error naming `importName`. Call it from inside a host import as
   * `host.interrupt("quota.check", { reason: "over quota" })`.
   */
  interrupt(importName: string, details?: InterruptDetails): never;
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
  /**
   * Meters the guest with this much fuel: its binary is rewritten to count
   * its own work and it stops, with {@linkcode FuelExhausted}, when the
   * budget is spent. `Infinity` meters without a limit (every stop then
   * still ends in a trap the guest cannot catch). Needs the guest's bytes,
   * not a compiled module.
   */
  fuel?: number;
  /** The cost of each operator, for metering. See {@linkcode CostTable}. */
  costs?: CostTable;
  /**
   * The default timeout of every call, in milliseconds; meters the guest
   * (see {@linkcode CallOptions.timeout}).
   */
  timeout?: number;
  /**
   * Loads the guest for async calls ({@linkcode Guest.invokeAsync}), through
   * JSPI; meters the guest. Host imports that are `async` functions, or
   * are named in `asyncImports`, may then return promises.
   */
  async?: boolean;
  /** Host imports, as `module.name`, that return promises (async guests only). */
  asyncImports?: string[];
  /** The guest's name in messages. Default: its path or URL. */
  label?: string;
  /**
   * Whether calls may be given a `timeout`, and so hand the guest its fuel
   * in slices it must ask the host for. Implied by `timeout` and `async`.
   * Without it, a metered guest gets its whole budget at once and traps when
   * it is spent, which V8 runs markedly faster in tight loops.
   */
  interruptible?: boolean;
}

/** Options for one call. */
export interface CallOptions {
  /** Sets the guest's fuel to this before the call (metered guests only). */
  fuel?: number;
  /**
   * Stops the call after this many milliseconds, with
   * {@linkcode DeadlineExceeded}. Overrides the guest's default timeout.
   */
  timeout?: number;
  /**
   * Stops the call, with {@linkcode Aborted}, when another thread sets it:
   * the way to cancel a plain call, during which this thread runs nothing
   * else. Needs a guest loaded with `interruptible` (or `timeout`, `async`).
   */
  stop?: StopSignal;
}

/** What a refuel hook learns when an async call runs out of fuel. */
export interface RefuelRequest {
  /** The fuel the next block needs beyond what is left. */
  shortfall: number;
  /** The fuel this call has consumed so far. */
  consumed: number;
}

/** Options for one async call. */
export interface AsyncCallOptions extends CallOptions {
  /**
   * Stops the call when aborted, with {@linkcode Aborted} (whose `cause` is
   * `signal.reason`), or {@linkcode DeadlineExceeded} for a timed-out
   * signal. It works even while the guest waits in an async host import.
   */
  signal?: AbortSignal;
  /**
   * Runs when the fuel runs out: return more fuel (or a promise of it) and
   * the same call carries on where it stopped; return 0 to let it end with
   * {@linkcode FuelExhausted}.
   */
  refuel?: (request: RefuelRequest) => number | Promise<number>;
}

/** The bookkeeping of one call. */
interface CallInProgress {
  meter: FuelMeter | undefined;
  watch: CallWatch | undefined;
  /** Fuel remaining and consumed when the call started. */
  budget: number;
  consumed: number;
}

type PromisingFunction = (...args: unknown[]) => Promise<unknown>;

function makePromising(fn: HostFunction): PromisingFunction {
  const promising = (WebAssembly as unknown as {
    promising: (fn: HostFunction) => PromisingFunction;
  }).promising;
  return promising(fn);
}

/** Fuel used by a call of a metered guest. */
export interface FuelUsage {
  /** Fuel the call consumed, however it ended. */
  consumed: number;
  /** Fuel left after the call. */
  remaining: number;
}

/** What every outcome has. */
export interface OutcomeBase {
  /** The export that was called. */
  export: string;
  /** For a metered guest, the fuel the call used. */
  fuel?: FuelUsage;
}

/** How a call ended. `error` is always a branded early-exit error. */
export type CallOutcome =
  | OutcomeBase & { outcome: "returned"; value: unknown }
  | OutcomeBase & { outcome: "interrupted"; error: Interrupted }
  | OutcomeBase & { outcome: "fuel_exhausted"; error: FuelExhausted }
  | OutcomeBase & { outcome: "timeout"; error: DeadlineExceeded }
  | OutcomeBase & { outcome: "aborted"; error: Aborted }
  | OutcomeBase & { outcome: "trap"; error: GuestTrap }
  | OutcomeBase & { outcome: "error"; error: HostImportError };

const NO_ARGUMENTS: unknown[] = [];

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
  /** The compiled module (the metered one, for a metered guest). */
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
  readonly #promising = new WeakMap<HostFunction, PromisingFunction>();
  readonly #async: boolean;
  readonly #timeout: number | undefined;
  /** The slice size that watched calls have tuned so far. */
  #slice = FIRST_SLICE;
  /** The async call in progress, so that the next one waits for it. */
  #queue: Promise<unknown> = Promise.resolve();

  /** @internal Use {@linkcode loadGuest}. */
  constructor(
    module: WebAssembly.Module,
    label: string,
    instance: WebAssembly.Instance,
    imports: WebAssembly.Imports,
    signatures: Map<string, FunctionSignature>,
    state: CallState,
    needed: ImportDescriptor[],
    options: GuestOptions,
  ) {
    this.#async = options.async ?? false;
    this.#timeout = options.timeout;
    this.module = module;
    this.label = label;
    this.#instance = instance;
    this.#imports = imports;
    this.#signatures = signatures;
    this.#state = state;
    this.#needed = needed;
  }

  /** The live instance. It changes after {@linkcode Guest.reinstantiate}. */
  get instance(): WebAssembly.Instance {
    return this.#instance;
  }

  /**
   * The fuel meter of a metered guest: read `remaining` and `consumed`,
   * `addFuel` to top it up between calls, `setFuel` to set it.
   */
  get meter(): FuelMeter | undefined {
    return this.#state.meter;
  }

  /**
   * The signature of an exported function, when the guest's bytes were
   * available.
   *
   * @param name The export.
   * @returns Its parameter and result types.
   */
  signature(name: string): FunctionSignature | undefined {
    return this.#signatures.get(name);
  }

  /**
   * Replaces the instance with a fresh one of the same module: new memory,
   * tables and globals, as if just loaded. A meter keeps its fuel.
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
    if ([...signature.params, ...signature.results].includes("v128")) {
      throw new ExportError(
        `export "${name}" (${
          describeSignature(signature)
        }) uses v128, which JavaScript cannot pass or receive`,
      );
    }
  }

  /**
   * Calls an export and reports how the call ended. Guest-caused endings
   * (interrupt, running out of fuel, a deadline, a trap, a host import
   * throwing) come back as outcomes, never as exceptions.
   *
   * @param name The export to call.
   * @param args Its arguments: numbers, or bigints for `i64`.
   * @param options The fuel and deadline for this call.
   * @returns How the call ended.
   * @throws {ExportError} When there is no such function export, or the arguments do not fit.
   */
  invoke(
    name: string,
    args: unknown[] = NO_ARGUMENTS,
    options?: CallOptions,
  ): CallOutcome {
    if (this.#async) {
      throw new ExportError(
        `${this.label} was loaded for async calls: use invokeAsync("${name}")`,
      );
    }
    const fn = this.#function(name, args);
    const call = this.#begin(options, false);
    let outcome: CallOutcome;
    try {
      const value = Reflect.apply(fn, undefined, args);
      outcome = this.#returned(name, value);
    } catch (error) {
      outcome = this.#settle(name, error);
    }
    return this.#end(call, outcome);
  }

  /**
   * Calls an export of a guest loaded with `async: true`, through JSPI: the
   * guest yields to the event loop at every slice of fuel, so timers, I/O
   * and other guests run while it computes, async host imports may return
   * promises, and `signal` can stop it at any time, even while it waits in
   * an async host import. Calls on one guest run one at a time, in order.
   *
   * @param name The export to call.
   * @param args Its arguments: numbers, or bigints for `i64`.
   * @param options The fuel, deadline, abort signal and refuel hook for this call.
   * @returns How the call ended.
   * @throws {ExportError} When there is no such function export, or the arguments do not fit.
   */
  invokeAsync(
    name: string,
    args: unknown[] = NO_ARGUMENTS,
    options?: AsyncCallOptions,
  ): Promise<CallOutcome> {
    const run = this.#queue.then(() => this.#invokeAsync(name, args, options));
    this.#queue = run.then(() => undefined, () => undefined);
    return run;
  }

  async #invokeAsync(
    name: string,
    args: unknown[],
    options: AsyncCallOptions | undefined,
  ): Promise<CallOutcome> {
    if (!this.#async) {
      throw new ExportError(
        `${this.label} was loaded for plain calls: load it with async: true to use invokeAsync`,
      );
    }
    const fn = this.#function(name, args);
    let promising = this.#promising.get(fn);
    if (promising === undefined) {
      promising = makePromising(fn);
      this.#promising.set(fn, promising);
    }
    const call = this.#begin(options, true, options?.refuel);
    const signal = options?.signal;
    const onAbort = () => {
      if (call.watch?.check(performance.now())) this.#state.cancel?.();
    };
    signal?.addEventListener("abort", onAbort);
    // The deadline must also land while the guest waits in a host import.
    const timeout = options?.timeout ?? this.#timeout;
    const timer = timeout === undefined
      ? undefined
      : setTimeout(onAbort, timeout);
    let outcome: CallOutcome;
    try {
      if (signal?.aborted) onAbort();
      const value = this.#state.stop === undefined
        ? await Reflect.apply(promising, undefined, args)
        : undefined;
      outcome = this.#returned(name, value);
    } catch (error) {
      outcome = this.#settle(name, error);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    }
    return this.#end(call, outcome);
  }

  /** The export, checked once per name and argument count. */
  #function(name: string, args: unknown[]): HostFunction {
    let fn = this.#checked.get(name);
    if (fn === undefined || fn.length !== args.length) {
      fn = this.#exportedFunction(name);
      this.#checkArguments(name, args);
      this.#checked.set(name, fn);
    }
    return fn;
  }

  /** Resets the call state, and for a metered guest sets fuel and watch. */
  #begin(
    options: AsyncCallOptions | undefined,
    yields: boolean,
    refuel?: AsyncCallOptions["refuel"],
  ): CallInProgress {
    const state = this.#state;
    state.stop = undefined;
    state.thrown = undefined;
    state.thrownBy = undefined;
    const meter = state.meter;
    const timeout = options?.timeout ?? this.#timeout;
    if (meter === undefined) {
      if (options?.fuel !== undefined || timeout !== undefined) {
        throw new ExportError(
          `cannot give fuel or a timeout to a call of ${this.label}: the guest is not metered; load it with the fuel or timeout option`,
        );
      }
      return { meter: undefined, watch: undefined, budget: 0, consumed: 0 };
    }
    const watched = timeout !== undefined || yields ||
      options?.signal !== undefined || options?.stop !== undefined;
    if (watched && !meter.resumable) {
      throw new ExportError(
        `cannot give a timeout to a call of ${this.label}: it was loaded for fuel only, which runs fastest; load it with interruptible: true (or a default timeout) to give its calls deadlines`,
      );
    }
    if (options?.fuel !== undefined) meter.setFuel(options.fuel);
    const watch = watched
      ? new CallWatch(state, meter, {
        timeout,
        signal: options?.signal,
        stop: options?.stop,
        yields,
      })
      : undefined;
    state.poll = watch?.poll;
    state.refuel = refuel;
    // A watched call gets its fuel in slices, so that it checks in regularly.
    const slice = watch ? this.#slice : Infinity;
    if (meter.slice !== slice) {
      meter.slice = slice;
      meter.settle();
    }
    const { consumed, remaining } = meter.usage;
    return { meter, watch, budget: remaining, consumed };
  }

  /** Settles the fuel books and turns exhaustion into its outcome. */
  #end(call: CallInProgress, outcome: CallOutcome): CallOutcome {
    const { meter, watch } = call;
    if (meter === undefined) return outcome;
    const state = this.#state;
    state.poll = undefined;
    state.refuel = undefined;
    if (watch) this.#slice = meter.slice;
    const exhausted = meter.exhausted;
    meter.settle();
    const usage = meter.usage;
    const consumed = usage.consumed - call.consumed;
    const fuel = { consumed, remaining: usage.remaining };
    if (exhausted && outcome.outcome === "trap") {
      return {
        outcome: "fuel_exhausted",
        export: outcome.export,
        fuel,
        error: unwoundError(
          FuelExhausted,
          "FuelExhausted",
          fuelExhaustedMessage(call.budget, consumed),
          { budget: call.budget, consumed },
        ),
      };
    }
    outcome.fuel = fuel;
    return outcome;
  }

  #returned(name: string, value: unknown): CallOutcome {
    if (this.#state.stop !== undefined) return this.#settle(name, undefined);
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
   * @throws {FuelExhausted} When a metered guest ran out of fuel.
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
    if (outcome instanceof DeadlineExceeded) {
      return { outcome: "timeout", export: name, error: outcome };
    }
    if (outcome instanceof Aborted) {
      return { outcome: "aborted", export: name, error: outcome };
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
  let instance: WebAssembly.Instance;
  try {
    instance = await WebAssembly.instantiate(module, imports);
  } catch (error) {
    const stop = state.stop;
    state.stop = undefined;
    const meter = state.meter;
    if (meter?.exhausted) {
      const consumed = meter.consumed;
      meter.settle();
      throw new FuelExhausted(consumed + meter.remaining, consumed);
    }
    throw stop
      ? stop()
      : toImportError(error, needed) ?? classify(error, state);
  }
  state.meter?.attach(instance);
  return instance;
}

/**
 * Loads, compiles and instantiates a guest.
 *
 * @param source A path, a `file:`/`http:`/`https:` URL, bytes, or a compiled module.
 * @param options The guest's imports, the interrupt import's settings, and fuel.
 * @returns The guest, ready to call.
 * @throws {GuestLoadError} When the source cannot be read or fetched.
 * @throws {InvalidModule} When the bytes are not a valid module, or cannot be metered.
 * @throws {ImportError} When the guest needs an import that is missing or of the wrong kind.
 * @throws {FuelExhausted} When a metered guest's start function runs out of fuel.
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
 *
 * @example Metering
 * ```ts
 * import { loadGuest } from "../mod.ts";
 * import assert from "node:assert/strict";
 *
 * const guest = await loadGuest(new URL("../guest/compute.wasm", import.meta.url), { fuel: 1000 });
 * const result = guest.invoke("fib", [25]);
 * assert.equal(result.outcome, "fuel_exhausted");
 * assert.equal(result.fuel?.consumed, 1000 - (result.fuel?.remaining ?? 0));
 * guest.meter?.addFuel(10_000_000);
 * assert.equal(guest.call("fib", 20), 6765);
 * ```
 */
export async function loadGuest(
  source: GuestSource,
  options: GuestOptions = {},
): Promise<Guest> {
  const loaded = await loadModule(source);
  const { bytes } = loaded;
  const label = options.label ?? loaded.label;
  const metered = options.fuel !== undefined || options.costs !== undefined ||
    options.timeout !== undefined || options.async === true ||
    options.interruptible === true;
  if (options.async && !HAS_JSPI) {
    throw new TypeError(
      "async guests need JSPI (WebAssembly.Suspending), which Deno has from 2.4 on",
    );
  }
  const state: CallState = {
    stop: undefined,
    unwind: new Interrupted("(prepared)", { reason: "unwinding the guest" }),
    thrown: undefined,
    thrownBy: undefined,
    meter: undefined,
    poll: undefined,
    refuel: undefined,
    cancel: undefined,
  };
  let module = loaded.module;
  if (metered) {
    if (bytes === undefined) {
      throw new TypeError(
        "fuel metering rewrites the guest's bytes: pass bytes, a path or a URL rather than a compiled WebAssembly.Module",
      );
    }
    // A start function runs before the host can load the counter, so such a
    // guest must be able to ask for its fuel.
    const resumable = options.async === true ||
      options.timeout !== undefined || options.interruptible === true ||
      readSignatures(bytes).hasStart;
    state.meter = new FuelMeter(bytes, {
      fuel: options.fuel ?? Infinity,
      poll: () => state.poll?.() ?? false,
      refuel: (shortfall) =>
        state.refuel?.({ shortfall, consumed: state.meter!.consumed }) ?? 0,
      suspend: options.async,
      resumable,
    }, {
      costs: options.costs,
      // The guest's own bytes compiled already, so the rewrite is valid too;
      // compiling it below would catch a rewriter bug all the same.
      validate: false,
    });
    module = await compileBytes(state.meter.bytes, label);
  }
  const host: HostControls = {
    interrupt(importName: string, details?: InterruptDetails): never {
      return requestStop(state, () => interruptedBy(importName, details));
    },
  };
  const supplied = typeof options.imports === "function"
    ? options.imports(host)
    : options.imports ?? {};
  const needed = describeImports(loaded.module, bytes);
  const imports = {
    ...buildImports(needed, supplied, options.interrupt ?? {}, state, {
      async: options.async ?? false,
      asyncImports: options.asyncImports ?? [],
    }),
    ...state.meter?.imports,
  };
  const instance = await instantiate(module, imports, state, needed);
  const signatures = bytes === undefined
    ? new Map()
    : readSignatures(bytes).exports;
  return new Guest(
    module,
    label,
    instance,
    imports,
    signatures,
    state,
    needed,
    options,
  );
}
