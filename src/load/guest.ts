/**
 * `Guest`, a loaded guest: its calls (`invoke`, `call`, `invokeAsync`, the
 * start function), each turned into one outcome, and `reinstantiate`.
 * Loading it, imports and instantiation included, is `load_guest.ts`'s.
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
 * again (a prepared error, which costs no stack). (With fuel metering on,
 * the rewritten guest also traps at its next check, which no guest can
 * catch.)
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

import { CallStack, type Frame } from "../call/call_stack.ts";
import { oneLineText } from "../early_exit_error.ts";
import {
  attachedMemories,
  checkStopOutsideGuest,
  importedMemories,
} from "../call/stop_in_guest_memory.ts";
import { waitForTurn } from "../call/call_queue.ts";
import {
  enclosingAsyncWatches,
  enclosingWatches,
  enterPlainCall,
  leavePlainCall,
} from "../call/call_watch.ts";
import {
  asyncFlags,
  insideCallOf,
  runCallOf,
} from "../call/calls_in_progress.ts";
import { endCallsAbove, enterCall, leaveCall } from "../call/cut_short_ends.ts";
import {
  enclosingFlags,
  enterPlainFlag,
  leavePlainFlag,
} from "../call/flags_in_calls.ts";
import { type CallState, type Stop, stopOfUnwind } from "../call/call_state.ts";
import {
  type EarlyExitError,
  ExportError,
  OutOfMemory,
  withoutStack,
} from "../errors.ts";
import {
  giveCallStack,
  takeCallStack,
  takeCallStackSoon,
} from "../module/mapped_regions.ts";
import type { FuelMeter } from "../meter/fuel.ts";
import type { GuestOptions } from "./guest_options.ts";
import type { AsyncCallOptions, CallOptions } from "../call/call_options.ts";
import type { HostFunction } from "./imports.ts";
import {
  checkArguments,
  checkArgumentValues,
  checkExportName,
  exportedFunction,
  readArgumentList,
} from "./exported_function.ts";
import { instantiate } from "./instantiate.ts";
import { promising, type PromisingFunction } from "../call/jspi.ts";
import { watchOnEventLoop } from "../call/event_loop_stops.ts";
import {
  beginMeteredCall,
  endBooksFrom,
  endMeteredCall,
} from "../meter/metered_call.ts";
import {
  type CallOutcome,
  classifyThrown,
  givenError,
  givenOutcome,
  ownStopOutcome,
  stoppedOutcome,
} from "../call/outcome.ts";
import { checkFuelAndTimeout } from "../option_checks.ts";
import { readOptions } from "../option_names.ts";
import type {
  FunctionSignature,
  ImportDescriptor,
} from "../module/signatures.ts";
import { flagStop } from "../call/stop_flag_host.ts";
import { isInstance, readSafely } from "../thrown_values.ts";
import { withHostStop } from "../watchdog/caller_stop_signal.ts";

/** What a guest is made of; {@linkcode loadGuest} gathers it. */
export interface GuestParts {
  /**
   * The compiled module (the metered one, for a metered guest). A load that
   * watched a stop may have written its first memory's data itself: the
   * module's segments for it are then empty, and `reinstantiate` writes it.
   */
  module: WebAssembly.Module;
  /** A short name for where the guest came from. */
  label: string;
  /** The first instance of `module`. */
  instance: WebAssembly.Instance;
  /** The import object `instance` was made with. */
  imports: WebAssembly.Imports;
  /**
   * How many memories `module` defines (see `mapped_regions.ts`), or
   * `undefined` where none are counted.
   */
  definedMemories: number | undefined;
  /** The signatures of the exported functions, when the bytes were known. */
  signatures: Map<string, FunctionSignature>;
  /** The state its calls share with its imports and meter. */
  state: CallState;
  /** The imports the module needs. */
  needed: ImportDescriptor[];
  /** The options it was loaded with. */
  options: GuestOptions;
  /**
   * Makes the import object of a fresh instance, when it cannot reuse
   * `imports` (a guest with a stop flag gets fresh memories).
   */
  freshImports?: () => WebAssembly.Imports;
  /**
   * The export that runs the start function, for a guest whose start
   * function runs as a call after instantiation.
   */
  startExport?: string;
  /**
   * The function exports the rewrite added (the start function's, the
   * one that compiles dear functions ahead): not the guest's, so no call
   * may name them.
   */
  addedExports?: ReadonlySet<string>;
}

let makeGuest: (parts: GuestParts) => Guest;
let startGuest: (guest: Guest) => Promise<void>;

/**
 * Makes a guest from its parts.
 *
 * @param parts What {@linkcode loadGuest} gathered.
 * @returns The guest.
 */
export function assembleGuest(parts: GuestParts): Guest {
  return makeGuest(parts);
}

/**
 * Runs a guest's start function, when it has one to run after
 * instantiation, as a call under the guest options' `timeout`, `signal` and
 * `stop` (its fuel is the guest's tank).
 *
 * @param guest The guest, just assembled or reinstantiated.
 * @throws {FuelExhausted} When the start function runs out of fuel.
 * @throws {DeadlineExceeded} When it runs past the timeout.
 * @throws {Aborted} When the signal aborts or the StopSignal is set.
 */
export function runStart(guest: Guest): Promise<void> {
  return startGuest(guest);
}

const NO_ARGUMENTS: unknown[] = [];

/** The options of a plain call ({@linkcode Guest.invoke}). */
const CALL_OPTION_NAMES: readonly (keyof CallOptions)[] = [
  "fuel",
  "timeout",
  "stop",
];

/** The options only `invokeAsync` takes, with what to do instead. */
const ASYNC_ONLY_OPTIONS: Readonly<Record<string, string>> = Object.freeze({
  refuel: "it is invokeAsync's: load the guest with async: true",
});

/** The options of an async call ({@linkcode Guest.invokeAsync}). */
const ASYNC_CALL_OPTION_NAMES: readonly (keyof AsyncCallOptions)[] = [
  ...CALL_OPTION_NAMES,
  "signal",
  "refuel",
];

/** A call that ended in an error that is no outcome, to throw once it has ended. */
class Unsettled {
  constructor(readonly error: unknown) {}
}

/**
 * A loaded guest: one compiled module and its live instance.
 *
 * @example Usage
 * ```ts
 * import { loadGuest, isInterrupted } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * const guest = await loadGuest(new URL("../../guest/early_exit_guest.wasm", import.meta.url));
 * const result = guest.invoke("exit_early");
 * assert.equal(result.outcome, "interrupted");
 * assert.ok(isInterrupted(result.outcome === "interrupted" && result.error));
 * ```
 */
export class Guest {
  /**
   * The compiled module (the metered one, for a metered guest). A load that
   * watched a stop may have written its first memory's data itself: the
   * module's segments for it are then empty, and `reinstantiate` writes it.
   */
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
  readonly #options: GuestOptions;
  readonly #freshImports: (() => WebAssembly.Imports) | undefined;
  readonly #definedMemories: number | undefined;
  readonly #startExport: string | undefined;
  readonly #addedExports: ReadonlySet<string> | undefined;
  /** The start function's export, as its call begins (see `#start`). */
  #startCall: string | undefined;
  /** The async call in progress, so that the next one waits for it. */
  #queue: Promise<unknown> = Promise.resolve();
  /** Async calls made whose turn has not yet ended. */
  #waiting = 0;
  /** The calls in progress: a host import may call back into the guest. */
  readonly #calls: CallStack;
  /** The memories among its imports, once a call is given a StopSignal. */
  #importedMemories: ReturnType<typeof importedMemories> | undefined;

  // The constructor is private, so that its parts stay out of the public
  // API; this hands assembleGuest, and so loadGuest, the one way to call it.
  static {
    makeGuest = (parts) => new Guest(parts);
    startGuest = (guest) => guest.#start();
  }

  /** @ignore Guests are made by {@linkcode loadGuest}. */
  private constructor(parts: GuestParts) {
    this.module = parts.module;
    this.label = parts.label;
    this.#instance = parts.instance;
    this.#imports = parts.imports;
    this.#signatures = parts.signatures;
    this.#state = parts.state;
    this.#needed = parts.needed;
    this.#async = parts.options.async ?? false;
    this.#timeout = parts.options.timeout;
    this.#options = parts.options;
    this.#freshImports = parts.freshImports;
    this.#definedMemories = parts.definedMemories;
    this.#startExport = parts.startExport;
    this.#addedExports = parts.addedExports;
    this.#calls = new CallStack(parts.state);
    parts.state.check = (trapped) => this.#calls.check(undefined, trapped);
    // Its code refuses to run while this says no (`outside_call.ts`).
    parts.state.calling = () => this.#calls.active;
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
   * @returns Its parameter and result types, a copy of those the argument
   *   checks use (exports of one type share them).
   */
  signature(name: string): FunctionSignature | undefined {
    const signature = this.#signatures.get(name);
    if (signature === undefined) return undefined;
    return { params: [...signature.params], results: [...signature.results] };
  }

  /**
   * Replaces the instance with a fresh one of the same module: new memory,
   * tables and globals, as if just loaded, its start function run again
   * under the guest's options. A meter keeps its fuel.
   *
   * A call runs to its end on the instance it started on. On a guest loaded
   * with `async: true`, the fresh instance takes its place in the queue of
   * calls: after the calls made before, and before those made after. On a
   * guest loaded for plain calls, a call made before this resolves may run
   * on the fresh instance before its start function has ended (which yields
   * to the event loop when the guest was loaded with a `signal`).
   *
   * @throws {FuelExhausted} When the start function runs out of fuel.
   * @throws {DeadlineExceeded} When the start function runs past the guest's `timeout`.
   * @throws {Aborted} When the guest's `signal` aborted or its `stop` is set.
   * @throws {ExportError} At once, not as a rejection, when called from inside one of the async guest's own calls (a host import), which it would have to wait for: the import then throws it, and the call ends with outcome `error`, whose `HostImportError` has it as its `cause`, as with `invokeAsync` from there.
   */
  reinstantiate(): Promise<void> {
    if (!this.#async) return this.#reinstantiate();
    if (insideCallOf(this)) {
      // Thrown, not a rejection: an import that does not await it would
      // leave the rejection unhandled, which ends the process.
      throw new ExportError(
        `cannot reinstantiate ${this.label} from inside its own async call: the call runs to its end on its instance, and the fresh one would wait for it; call reinstantiate() after that call returns`,
      );
    }
    // In the queue of calls: the call in progress keeps its instance (and
    // the meter counts its fuel) until it ends.
    const run = this.#queue.then(() => this.#reinstantiate());
    this.#waiting++;
    const settled = () => void this.#waiting--;
    this.#queue = run.then(settled, settled);
    return run;
  }

  async #reinstantiate(): Promise<void> {
    this.#state.stop = undefined;
    this.#checked.clear();
    try {
      this.#instance = await instantiate(
        this.module,
        this.#freshImports?.() ?? this.#imports,
        this.#state,
        this.#needed,
        this.label,
        this.#definedMemories,
      );
      await this.#start();
    } catch (error) {
      throw givenError(error);
    }
  }

  /** Runs the start function as a call, and throws the error of its stop. */
  async #start(): Promise<void> {
    const name = this.#startExport;
    if (name === undefined) return;
    const { timeout, signal, stop } = this.#options;
    const options = { timeout, signal, stop };
    // Read (and cleared) as the call looks its export up, before the guest
    // runs: a host import calling back with this name gets no such export.
    this.#startCall = name;
    let outcome: CallOutcome;
    try {
      if (this.#async) {
        outcome = await this.#invokeAsync(name, [], options, performance.now());
      } else if (this.#state.onStart !== undefined) {
        // A plain guest loaded with a signal: its start function yields
        // (`start_yield.ts`). The switch is set before the call, which runs
        // the start function at once until it first yields; the helper
        // clears it for each yield.
        const onStart = this.#state.onStart;
        onStart.value = 1;
        try {
          outcome = await this.#callYielding(
            name,
            [],
            options,
            performance.now(),
          );
        } finally {
          onStart.value = 0;
        }
      } else {
        outcome = this.#invokeSync(name, [], options);
      }
    } finally {
      this.#startCall = undefined;
    }
    if (outcome.outcome !== "returned") throw outcome.error;
  }

  /**
   * Calls an export and reports how the call ended. Guest-caused endings
   * (interrupt, running out of fuel, a deadline, a trap, a host import
   * throwing) come back as outcomes, never as exceptions.
   *
   * @param name The export to call.
   * @param args Its arguments: numbers, or bigints for `i64`.
   * @param options The fuel, deadline and StopSignal for this call.
   * @returns How the call ended.
   * @throws {ExportError} When the name is not a string, there is no such function export, or the arguments do not fit; or the guest was loaded with `async: true`, or the call is given what the guest cannot check (a `signal`; a `timeout`, `fuel` or `stop` for a guest not metered).
   * @throws {TypeError} When an option is not of its type, or `stop` is a StopSignal over a shared memory the guest imports or exports.
   */
  invoke(
    name: string,
    args: unknown[] = NO_ARGUMENTS,
    options?: CallOptions,
  ): CallOutcome {
    checkExportName(name);
    if (args !== NO_ARGUMENTS) args = readArgumentList(name, args);
    if (this.#async) {
      // A name the guest does not export is the first thing to fix.
      this.#function(name, args);
      throw new ExportError(
        `${this.label} was loaded for async calls: use invokeAsync("${
          oneLineText(name, 60)
        }")`,
      );
    }
    // Most calls give no options: nothing to read (a stop's round trip).
    if (options !== undefined) {
      if (readSafely(options, "signal") !== undefined) {
        throw new ExportError(
          `cannot give an AbortSignal to a plain call of ${this.label}: it could not fire while the call holds the thread; give the call a timeout or a StopSignal (stop), or load the guest with async: true and use invokeAsync`,
        );
      }
      options = withHostStop(
        readOptions(options, CALL_OPTION_NAMES, "invoke", ASYNC_ONLY_OPTIONS),
        "invoke",
      );
    }
    return this.#invokeSync(name, args, options);
  }

  #invokeSync(
    name: string,
    args: unknown[],
    options: AsyncCallOptions | undefined,
  ): CallOutcome {
    const fn = this.#function(name, args);
    const call = this.#begin(options, false, undefined, true);
    const watch = call.call?.watch;
    const watchAt = watch === undefined ? -1 : enterPlainCall(watch);
    const flag = this.#state.flag;
    const flagAt = flag === undefined ? -1 : enterPlainFlag(flag);
    let outcome: CallOutcome | Unsettled;
    try {
      try {
        const value = args.length === 0
          ? fn()
          : Reflect.apply(fn, undefined, args);
        // Calls nested in this one whose end a stack overflow cut short
        // are ended first, so that this call's state is its own again (an
        // unlisted call's imports have ended those it made).
        if (call.at !== -1) endCallsAbove(call.at);
        outcome = this.#returned(name, value);
      } catch (error) {
        if (call.at !== -1) endCallsAbove(call.at);
        outcome = this.#settleOrKeep(name, error);
      }
    } finally {
      // Also when the call ended in an error that is not an outcome.
      if (flagAt !== -1) leavePlainFlag(flagAt);
      if (watchAt !== -1) leavePlainCall(watchAt);
      watch?.dispose();
    }
    return this.#endOrThrow(call, name, outcome);
  }

  /**
   * Calls an export of a guest loaded with `async: true`, through JSPI: the
   * guest yields to the event loop about every half millisecond, so timers, I/O
   * and other guests run while it computes, async host imports may return
   * promises, and `signal` can stop it at any time, even while it waits in
   * an async host import. Calls on one guest run one at a time, in order;
   * a call that waits for its turn is still stopped by its own `timeout`
   * (counted from when it was made), `signal` or `stop` while it waits,
   * with no fuel consumed.
   * A host import of this guest cannot call it back through `invokeAsync`
   * while the call that called the import is in progress: that nested call
   * would wait for the outer one for ever, so it is refused.
   *
   * @param name The export to call.
   * @param args Its arguments: numbers, or bigints for `i64`.
   * @param options The fuel, deadline, abort signal and refuel hook for this call.
   * @returns How the call ended.
   * @throws {ExportError} When the name is not a string, there is no such function export, or the arguments do not fit, or a host import of this guest calls it back.
   */
  invokeAsync(
    name: string,
    args: unknown[] = NO_ARGUMENTS,
    options?: AsyncCallOptions,
  ): Promise<CallOutcome> {
    try {
      checkExportName(name);
      if (args !== NO_ARGUMENTS) {
        args = readArgumentList(name, args, "invokeAsync");
      }
    } catch (error) {
      return Promise.reject(error);
    }
    if (insideCallOf(this)) {
      return Promise.reject(
        new ExportError(
          `cannot call ${this.label}'s "${name}" from inside its own async call: calls on one async guest run one at a time, so it would wait for the call it is part of; call it after that call returns, or load the guest without async to nest plain calls`,
        ),
      );
    }
    try {
      options = withHostStop(
        readOptions(options, ASYNC_CALL_OPTION_NAMES, "invokeAsync"),
        "invokeAsync",
      );
    } catch (error) {
      return Promise.reject(error);
    }
    const invoked = performance.now();
    const previous = this.#queue;
    let run: Promise<CallOutcome>;
    if (this.#waiting === 0) {
      run = previous.then(() =>
        this.#invokeAsync(name, args, options, invoked)
      );
    } else {
      // Queued behind another call: its stops land while it waits.
      try {
        this.#checkAsync(name, args);
        checkFuelAndTimeout(options, "invokeAsync");
        this.#function(name, args);
      } catch (error) {
        return Promise.reject(error);
      }
      const stops = {
        timeout: options?.timeout ?? this.#timeout,
        signal: options?.signal,
        stop: options?.stop,
      };
      run = waitForTurn(previous, stops, invoked).then((stop) =>
        stop === undefined
          ? this.#invokeAsync(name, args, options, invoked)
          : this.#stoppedInQueue(name, stop)
      );
    }
    this.#waiting++;
    const settled = () => void this.#waiting--;
    // The next call waits for this one's turn to come and for it to end,
    // even when it was stopped while it waited.
    this.#queue = previous.then(() => run).then(settled, settled);
    return run;
  }

  #checkAsync(name: string, args: unknown[]): void {
    if (!this.#async) {
      // A name the guest does not export is the first thing to fix.
      this.#function(name, args);
      throw new ExportError(
        `${this.label} was loaded for plain calls: load it with async: true to use invokeAsync`,
      );
    }
  }

  /**
   * The outcome of a call that could not start: the regions of memory its
   * stack would take are at the most the process may hold.
   */
  #notStarted(name: string): CallOutcome {
    const outcome: CallOutcome = {
      outcome: "out_of_memory",
      export: name,
      error: new OutOfMemory(undefined, undefined, "regions"),
    };
    const meter = this.#state.meter;
    if (meter !== undefined && this.#options.fuel !== false) {
      outcome.fuel = { consumed: 0, remaining: meter.remaining };
    }
    return givenOutcome(outcome);
  }

  /** The outcome of a call stopped while it waited for its turn. */
  #stoppedInQueue(name: string, stop: Stop): CallOutcome {
    const outcome = stoppedOutcome(name, withoutStack(stop))!;
    const meter = this.#state.meter;
    if (meter !== undefined && this.#options.fuel !== false) {
      outcome.fuel = { consumed: 0, remaining: meter.remaining };
    }
    return givenOutcome(outcome);
  }

  #invokeAsync(
    name: string,
    args: unknown[],
    options: AsyncCallOptions | undefined,
    invoked: number,
  ): Promise<CallOutcome> {
    this.#checkAsync(name, args);
    return this.#callYielding(name, args, options, invoked);
  }

  /**
   * Calls an export through JSPI, yielding to the event loop at the ticks
   * of its flag: every call of an async guest, and the start function of a
   * plain one loaded with a signal.
   */
  async #callYielding(
    name: string,
    args: unknown[],
    options: AsyncCallOptions | undefined,
    invoked: number,
  ): Promise<CallOutcome> {
    const fn = this.#function(name, args);
    let start = this.#promising.get(fn);
    if (start === undefined) {
      start = promising(fn);
      this.#promising.set(fn, start);
    }
    // The engine keeps a stack for the call while it runs and waits (see
    // `mapped_regions.ts`).
    if (!takeCallStack() && !await takeCallStackSoon()) {
      return this.#notStarted(name);
    }
    let call: Frame;
    try {
      call = this.#begin(options, true, invoked);
    } catch (error) {
      // Options the call refuses as it begins: it never starts.
      giveCallStack();
      throw error;
    }
    // While the guest waits in a host import, no check reads the flag: the
    // event loop tells the watch of the call's stops, and a stop it takes
    // ends the wait.
    const disposeStops = watchOnEventLoop(
      {
        timeout: options?.timeout ?? this.#timeout,
        signal: options?.signal,
        stop: options?.stop,
      },
      invoked,
      () => {
        if (call.call?.watch?.check(performance.now()) !== true) return false;
        this.#state.cancel?.();
        return true;
      },
    );
    let outcome: CallOutcome | Unsettled;
    try {
      const value = this.#state.stop === undefined
        ? await runCallOf(
          this,
          () => Reflect.apply(start, undefined, args),
          call.call?.watch,
          this.#state.flag,
        )
        : undefined;
      outcome = this.#returned(name, value);
    } catch (error) {
      outcome = this.#settleOrKeep(name, error);
    } finally {
      giveCallStack();
      disposeStops();
      call.call?.watch?.dispose();
    }
    return this.#endOrThrow(call, name, outcome);
  }

  /** The export, checked once per name and argument count. */
  #function(name: string, args: unknown[]): HostFunction {
    // Only the runner's own call of the start function names its export.
    const hidden = this.#startCall === name ? undefined : this.#addedExports;
    this.#startCall = undefined;
    let fn = hidden?.has(name) ? undefined : this.#checked.get(name);
    if (fn === undefined || fn.length !== args.length) {
      fn = exportedFunction(
        this.#instance,
        this.module,
        this.label,
        name,
        hidden,
      );
      checkArguments(this.#signatures.get(name), name, args);
      this.#checked.set(name, fn);
    }
    checkArgumentValues(this.#signatures.get(name), name, args);
    return fn;
  }

  /**
   * Starts a call on top of any in progress: clears the call state, and for
   * a metered guest sets fuel and watch.
   */
  #begin(
    options: AsyncCallOptions | undefined,
    yields: boolean,
    started?: number,
    plain = false,
  ): Frame {
    checkFuelAndTimeout(options, yields ? "invokeAsync" : "invoke");
    const state = this.#state;
    const meter = state.meter;
    const timeout = options?.timeout ?? this.#timeout;
    if (meter === undefined) {
      // Built only when something is refused: most calls give nothing.
      let refused: string[] | undefined;
      if (options?.fuel !== undefined) (refused ??= []).push("fuel");
      if (timeout !== undefined) (refused ??= []).push("a timeout");
      if (options?.stop !== undefined) (refused ??= []).push("a StopSignal");
      if (refused !== undefined) {
        throw new ExportError(
          `cannot give ${
            refused.join(" or ")
          } to a call of ${this.label}: the guest is not metered, so nothing in it could check; load it with interruptible: true (or the fuel or timeout option)`,
        );
      }
      // Not listed (see `cut_short_ends.ts`): without a meter, a frame
      // whose end was cut short holds nothing a later call would see, and
      // the pop of a call below it takes it off the stack.
      const frame: Frame = {
        call: undefined,
        saved: this.#calls.save(undefined),
        at: -1,
        endCutShort: this.#endCutShort,
      };
      this.#calls.push(frame);
      return frame;
    }
    if (options?.stop !== undefined) {
      // The meter is attached to the current instance, reinstantiated or not.
      checkStopOutsideGuest(
        options.stop,
        `${yields ? "invokeAsync" : "invoke"}'s stop`,
        this.label,
        attachedMemories(meter),
        this.#importedMemories ??= importedMemories(this.#imports),
      );
    }
    const outerFuel = this.#calls.outerFuel(options?.fuel);
    const saved = this.#calls.save(outerFuel);
    const frame: Frame = {
      call: undefined,
      saved,
      at: -1,
      endCutShort: this.#endCutShort,
    };
    // Listed before its books begin, so that a call below can end them.
    if (plain) frame.at = enterCall(frame);
    try {
      frame.call = beginMeteredCall(state, meter, {
        label: this.label,
        options: outerFuel === undefined
          ? options
          : { ...options, fuel: Math.min(options!.fuel!, outerFuel) },
        timeout,
        yields,
        countsFuel: this.#options.fuel !== false,
        started,
        nested: this.#calls.active,
        holder: frame,
        // A call made from a host import of another guest's call is
        // stopped by that call's stops too: a plain one by those of the
        // plain and async calls it is made inside of, an async one by
        // those of the async calls whose import awaits it.
        enclosing: plain
          ? enclosingWatches(state)
          : enclosingAsyncWatches(state),
        // Code of those calls' guests that this call reaches reads their
        // flags: this call's own stops are armed on them too.
        outerFlags: enclosingFlags(state.flag, plain, asyncFlags()),
        // What the guest's calls this one is nested in arm on its flag
        // holds while it runs.
        covering: plain ? this.#calls.innermostWatch : undefined,
      });
    } catch (error) {
      // The books may have begun before what threw (a stack overflow).
      if (frame.level !== undefined) endBooksFrom(meter, frame.level);
      this.#calls.restore(saved);
      if (plain) leaveCall(frame, frame.at);
      throw error;
    }
    this.#calls.push(frame);
    return frame;
  }

  /**
   * Ends the innermost call: for a metered guest settles the fuel books;
   * then gives the call below its state back.
   */
  #end(frame: Frame, outcome: CallOutcome): CallOutcome {
    const { call } = frame;
    if (call !== undefined) {
      outcome = endMeteredCall(this.#state, call, outcome);
    }
    this.#calls.pop(frame, outcome);
    if (frame.at !== -1) leaveCall(frame, frame.at);
    return givenOutcome(outcome);
  }

  /**
   * Ends a plain call of this guest whose own end a stack overflow cut
   * short, from the call it was nested in (see `cut_short_ends.ts`); each
   * step finds its work done or does it, so it may run more than once.
   */
  readonly #endCutShort = (frame: Frame): void => {
    const meter = this.#state.meter;
    if (frame.call === undefined && frame.level !== undefined) {
      endBooksFrom(meter!, frame.level);
    }
    frame.watch?.dispose();
    this.#end(frame, { outcome: "returned", export: "", value: undefined });
  };

  /**
   * Ends the call, and throws what ended it when that is no outcome (a
   * misuse V8 reported, or an error of the runner's own): the books, the
   * call's cap and its watch are settled first, so that the guest's next
   * call is not taken for one nested in this one.
   */
  #endOrThrow(
    frame: Frame,
    name: string,
    outcome: CallOutcome | Unsettled,
  ): CallOutcome {
    if (!(outcome instanceof Unsettled)) return this.#end(frame, outcome);
    this.#end(frame, { outcome: "returned", export: name, value: undefined });
    throw outcome.error;
  }

  /** {@linkcode Guest.#settle}, keeping what it throws for after the call's end. */
  #settleOrKeep(name: string, error: unknown): CallOutcome | Unsettled {
    try {
      return this.#settle(name, error);
    } catch (thrown) {
      return new Unsettled(thrown);
    }
  }

  #returned(name: string, value: unknown): CallOutcome {
    // A stop the flag made the guest trap at, which a host import caught
    // (calling a function reference the guest gave it) before the guest
    // returned, is still the call's end.
    const state = this.#state;
    if (
      (state.stop ?? flagStop(state, false, this.#calls.outerFlagSet)) !==
        undefined
    ) {
      return this.#settle(name, undefined);
    }
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
   * @throws {DeadlineExceeded} When the guest's `timeout` passed.
   * @throws {OutOfMemory} When the guest's GC objects would fill the host's heap (`limits.heap`).
   * @throws {GuestTrap} When the guest trapped.
   * @throws {HostImportError} When a host import threw; its `cause` is what was thrown.
   * @throws {ExportError} When the name is not a string, there is no such function export, or the arguments do not fit, or the guest was loaded with `async: true` (use `invokeAsync`).
   */
  call(name: string, ...args: unknown[]): unknown {
    const result = this.invoke(name, args);
    if (result.outcome === "returned") return result.value;
    throw result.error;
  }

  #settle(name: string, error: unknown): CallOutcome {
    const state = this.#state;
    // A guest whose flag checks trap stopped without asking: find out why.
    // Another guest's unwind names its own stop: the call that made this
    // one was interrupted from inside it.
    const stop = state.stop ??
      flagStop(state, true, this.#calls.outerFlagSet) ??
      stopOfUnwind(error);
    state.stop = undefined;
    const ended = stop ? withoutStack(stop) : classifyThrown(error, state);
    const outcome = stop
      ? ownStopOutcome(name, ended as EarlyExitError)
      : stoppedOutcome(name, ended);
    if (outcome !== undefined) return outcome;
    if (isInstance(ended, TypeError) && state.thrownBy === undefined) {
      // V8 rejects arguments it cannot convert (a number for an i64) before the guest runs.
      throw new ExportError(
        `cannot call export "${name}": ${(ended as TypeError).message}`,
      );
    }
    throw ended;
  }
}
