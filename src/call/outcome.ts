/**
 * How a call ends. {@linkcode STOP_OUTCOMES} is the one table that says
 * which stop error ends a call with which outcome: the runner, isolation's
 * wire format and the command line all read it.
 *
 * @module
 */

import { type CallState, isUnwind, REFUEL_HOOK } from "./call_state.ts";
import {
  type Aborted,
  type DeadlineExceeded,
  EarlyExitError,
  type EarlyExitErrorKind,
  errorClassOf,
  type FuelExhausted,
  GuestTrap,
  HostImportError,
  type Interrupted,
  isEarlyExitError,
  type OutOfMemory,
} from "../errors.ts";
import { toGuestTrap } from "./traps.ts";
import { describeThrown, isInstance } from "../thrown_values.ts";
import { isSuspendError } from "./jspi.ts";

/**
 * Fuel used by a call of a metered guest.
 *
 * @example Usage
 * ```ts
 * import { type FuelUsage, loadGuest } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * const guest = await loadGuest(new URL("../../guest/compute.wasm", import.meta.url), {
 *   fuel: 1_000,
 * });
 * const used: FuelUsage | undefined = guest.invoke("fib", [25]).fuel;
 * assert.deepEqual(used && used.consumed + used.remaining, 1_000);
 * ```
 */
export interface FuelUsage {
  /** Fuel the call consumed, however it ended. */
  consumed: number;
  /** Fuel left after the call. */
  remaining: number;
}

/**
 * What every outcome has.
 *
 * @example Usage
 * ```ts
 * import type { OutcomeBase } from "@early-exit/early-exit";
 *
 * // What every outcome has, whichever way the call ended.
 * const describe = ({ export: name, fuel }: OutcomeBase) =>
 *   fuel === undefined ? name : `${name} (${fuel.consumed} fuel)`;
 * console.log(describe({ export: "fib", fuel: { consumed: 12, remaining: 0 } }));
 * ```
 */
export interface OutcomeBase {
  /** The export that was called. */
  export: string;
  /** For a metered guest, the fuel the call used. */
  fuel?: FuelUsage;
  /**
   * Set on a `FuelMeter` run whose stop landed inside a no-stop zone (see
   * `FuelMeterOptions.stopsWaitFor`) because its wait for the guest to
   * leave was spent, or the call's `grace` was 0, or whose cleanup after
   * the stop ran out of grace inside one, or whose `runAsync` ended while
   * its call, waiting on a promise, was still inside one (it resumes there
   * and traps at its first check): the allocator, or the update the
   * zone guards, may be half done, and the library's heap past repair even
   * where the next calls seem to work. Instantiate the module again and
   * `attach` the new instance to the same meter.
   */
  stoppedInZone?: true;
}

/**
 * How a call ended. `error` is always a branded early-exit error.
 *
 * @example Usage
 * ```ts
 * import { type CallOutcome, loadGuest } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * const guest = await loadGuest(new URL("../../guest/compute.wasm", import.meta.url));
 * const result: CallOutcome = guest.invoke("fib", [10]);
 * // The outcome narrows the type: only "returned" has a value.
 * assert.ok(result.outcome === "returned" && result.value === 55);
 * ```
 */
export type CallOutcome =
  | OutcomeBase & { outcome: "returned"; value: unknown }
  | OutcomeBase & { outcome: "interrupted"; error: Interrupted }
  | OutcomeBase & { outcome: "fuel_exhausted"; error: FuelExhausted }
  | OutcomeBase & { outcome: "timeout"; error: DeadlineExceeded }
  | OutcomeBase & { outcome: "aborted"; error: Aborted }
  | OutcomeBase & { outcome: "trap"; error: GuestTrap }
  | OutcomeBase & { outcome: "error"; error: HostImportError }
  | OutcomeBase & { outcome: "out_of_memory"; error: OutOfMemory };

/**
 * What an outcome names a guest's start function, which is no export, when
 * it was stopped while the guest loaded (the command line and isolation
 * report it as a call).
 */
export const START_FUNCTION = "(start)";

/** An outcome of a call that did not return. */
export type StoppedOutcome = Exclude<CallOutcome, { outcome: "returned" }>;

/** The outcome each kind of stop error ends a call with. */
export const STOP_OUTCOMES = {
  Interrupted: "interrupted",
  FuelExhausted: "fuel_exhausted",
  DeadlineExceeded: "timeout",
  GuestTrap: "trap",
  HostImportError: "error",
  Aborted: "aborted",
  OutOfMemory: "out_of_memory",
} as const satisfies Partial<
  Record<EarlyExitErrorKind, StoppedOutcome["outcome"]>
>;

/** A kind of error that ends a call with an outcome. */
export type StopKind = keyof typeof STOP_OUTCOMES;

// Every outcome of CallOutcome has its row in the table.
const everyOutcomeHasARow: Exclude<
  StoppedOutcome["outcome"],
  (typeof STOP_OUTCOMES)[StopKind]
> extends never ? true : never = true;
void everyOutcomeHasARow;

/** Every outcome's name, `returned` first, then the table's order. */
export const OUTCOMES: readonly CallOutcome["outcome"][] = [
  "returned",
  ...Object.values(STOP_OUTCOMES),
];

/** The table by kind, with each kind's class, for the runner's hot path. */
const STOPS_BY_KIND = new Map(
  Object.entries(STOP_OUTCOMES).map(([kind, outcome]) => [
    kind,
    { outcome, type: errorClassOf(kind)! },
  ]),
);

/**
 * The outcome a stop error ends a call of `name` with, or `undefined` when
 * `error` is not a stop error made by this copy of early-exit.
 *
 * @param name The export that was called.
 * @param error What ended the call.
 * @returns The outcome, without its fuel.
 */
export function stoppedOutcome(
  name: string,
  error: unknown,
): StoppedOutcome | undefined {
  if (!isInstance(error, EarlyExitError)) return undefined;
  const stop = STOPS_BY_KIND.get((error as EarlyExitError).kind);
  // A subclass of the base made elsewhere may carry a stop's brand.
  if (stop === undefined || !isInstance(error, stop.type)) return undefined;
  return { outcome: stop.outcome, export: name, error } as StoppedOutcome;
}

/**
 * {@linkcode stoppedOutcome} of a load that a stop ended (in the start
 * function, or before it). A metered start function that ran out carries
 * its count in the error, so the outcome carries it as fuel, as a call's
 * does: `invokeIsolated` and the CLI then report what `loadGuest`'s
 * `FuelExhausted` says.
 *
 * @param name The export named for the stop (`(start)` for the start function).
 * @param error What ended the load.
 * @returns The outcome, with its fuel when the load ran out of it.
 */
export function loadStopOutcome(
  name: string,
  error: unknown,
): StoppedOutcome | undefined {
  const stopped = stoppedOutcome(name, error);
  if (stopped === undefined || stopped.outcome !== "fuel_exhausted") {
    return stopped;
  }
  const { budget, consumed } = stopped.error;
  return { ...stopped, fuel: { consumed, remaining: budget - consumed } };
}

/**
 * {@linkcode stoppedOutcome} of an error the runner made itself from a
 * call's recorded stop: no host value, so no guard against one (a stop's
 * round trip is a few hundred nanoseconds; the guards were a tenth of it).
 *
 * @param name The export that was called.
 * @param error The stop's error.
 * @returns The outcome, without its fuel.
 */
export function ownStopOutcome(
  name: string,
  error: EarlyExitError,
): StoppedOutcome | undefined {
  const stop = STOPS_BY_KIND.get(error.kind);
  if (stop === undefined || !(error instanceof stop.type)) return undefined;
  return { outcome: stop.outcome, export: name, error } as StoppedOutcome;
}

/**
 * Marks the errors of outcomes given so far, which `call` and hosts
 * rethrow. A property, not a `WeakSet`: a stop makes one such error, and a
 * weak set's entry cost a tenth of a stop.
 */
const GIVEN = Symbol("an outcome's error");

/**
 * Marks an outcome's error as one: thrown again (by `Guest#call`, or by a
 * host rethrowing it), it is that call's ending, not the stop of the call
 * it is thrown into.
 *
 * @param outcome The outcome, about to be given.
 * @returns The outcome.
 */
export function givenOutcome<T extends CallOutcome>(outcome: T): T {
  if ("error" in outcome) {
    (outcome.error as unknown as Record<symbol, boolean>)[GIVEN] = true;
  }
  return outcome;
}

/**
 * Marks an error an operation other than a call rejects with (a load, a
 * reinstantiation) as given, as {@linkcode givenOutcome} marks a call's:
 * a host import that throws it again ends its own call with outcome
 * `error`, not with that other operation's stop.
 *
 * @param error What the operation rejects with.
 * @returns The same error.
 */
export function givenError(error: unknown): unknown {
  if (isEarlyExitError(error)) {
    try {
      (error as unknown as Record<symbol, boolean>)[GIVEN] = true;
    } catch {
      // Frozen, or made by another copy of the module: classified as such.
    }
  }
  return error;
}

function isOutcomeError(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  try {
    return (error as Record<symbol, unknown>)[GIVEN] === true;
  } catch {
    return false; // a hostile proxy's trap
  }
}

/**
 * Names what a call threw: a host import's throw becomes a
 * {@linkcode HostImportError}, an engine trap a {@linkcode GuestTrap}.
 * Errors from another copy of early-exit keep their own class; `instanceof`
 * is only used on errors this copy made.
 *
 * @param error What the call threw.
 * @param state The call's state, which knows what the host imports threw.
 * @returns The branded error, or `error` itself when it is none of these.
 */
export function classifyThrown(error: unknown, state: CallState): unknown {
  if (isEarlyExitError(error)) {
    // What a host import threw is that import's error when it ended
    // something else (another call's outcome, another load's rejection) or
    // is no stop at all (an `ExportError` from a nested `invoke` the import
    // got wrong). A stop the import throws for this call is this call's
    // (WASI's sleep, `host.interrupt`).
    if (
      state.thrownBy !== undefined && error === state.thrown &&
      (isOutcomeError(error) ||
        !STOPS_BY_KIND.has((error as EarlyExitError).kind))
    ) {
      return new HostImportError(state.thrownBy, error);
    }
    // An error that already ended something (an earlier call's outcome, a
    // load's rejection), or the prepared unwind of a call that has ended,
    // thrown again by a guest that caught it (`catch_all_ref` and
    // `throw_ref`, or `WebAssembly.JSTag`): the guest's own exception, not
    // a stop of this call.
    if (error !== state.thrown && (isOutcomeError(error) || isUnwind(error))) {
      return rethrownByGuest(error);
    }
    if (isInstance(error, EarlyExitError)) return error;
    // Made by another copy of the module: re-brand it in this copy's classes.
    return new HostImportError(state.thrownBy ?? "(host)", error);
  }
  if (state.thrownBy !== undefined && error === state.thrown) {
    const thrower = state.thrownBy === REFUEL_HOOK
      ? "the call's refuel hook"
      : undefined;
    return new HostImportError(
      state.thrownBy,
      error,
      thrower,
      isSuspendError(error) ? REENTERED : undefined,
    );
  }
  const trap = toGuestTrap(error);
  if (trap !== undefined) return trap;
  // V8's refusals of the call itself (arguments it cannot convert, before
  // the guest runs; a suspension it cannot make) are the caller's to see.
  if (
    (isInstance(error, TypeError) && state.thrownBy === undefined) ||
    isSuspendError(error)
  ) {
    return error;
  }
  return rethrownByGuest(error);
}

/**
 * A JavaScript value the guest threw and nothing caught: one thrown with an
 * imported `WebAssembly.JSTag`, or a host import's earlier throw that the
 * guest caught and threw again in a later call. The call ends as a trap
 * (`uncaught_exception`), never by throwing the value itself at the caller
 * (`null`, a host object), which would look like a bug of the host's.
 */
function rethrownByGuest(error: unknown): GuestTrap {
  return new GuestTrap(
    "uncaught_exception",
    `the guest threw a JavaScript value that nothing caught (${
      describeThrown(error)
    })`,
    { cause: error },
  );
}

/**
 * What a host import of an async guest that called back into the guest
 * gets: the guest, run under the import's JavaScript frame, reached a check
 * that yields to the event loop, and JSPI cannot suspend through that frame.
 */
const REENTERED =
  "it called back into the guest, which cannot pause for the event loop inside a host function's call: load the guest without async: true (its plain calls may re-enter it, and keep their deadlines), or do not call into the guest from its imports";
