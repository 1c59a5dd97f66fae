/**
 * The state of the call in progress, shared by the runner, the wrapped
 * imports and the fuel meter.
 *
 * @module
 */

import { type EarlyExitError, Interrupted, withoutStack } from "../errors.ts";
import type { FuelMeter } from "../meter/fuel.ts";
import { describeValue } from "../option_checks.ts";

/**
 * Why the host stopped the guest. It makes the branded error, with the
 * error class's own constructor, only once the call has unwound (in
 * {@linkcode withoutStack}), so that the throw through the guest stays as
 * cheap as throwing a prepared error.
 */
export type Stop = () => EarlyExitError;

/** The state of the call in progress, shared with the wrapped imports. */
export interface CallState {
  /** Set when the host stopped the guest; wins over whatever the call did. */
  stop: Stop | undefined;
  /** The prepared error thrown through the guest to unwind it. */
  readonly unwind: Interrupted;
  /** The last value a host import threw, and which import threw it. */
  thrown: unknown;
  thrownBy: string | undefined;
  /** The fuel meter, when the guest is metered. */
  meter: FuelMeter | undefined;
  /**
   * Whether the guest's rewrite checks its fuel after each call of an
   * import: a stop empties the counter, so that check then traps.
   */
  fuelChecks: boolean;
  /**
   * The current call's check, run each time a metered guest asks for fuel:
   * it records a stop (a deadline passed, an abort) and says whether to stop,
   * or in an async call returns a promise to yield to the event loop first.
   */
  poll: (() => boolean | Promise<boolean>) | undefined;
  /** The current async call's refuel hook. */
  refuel:
    | ((request: { shortfall: number; consumed: number }) =>
      | number
      | Promise<number>)
    | undefined;
  /**
   * Set while an async call waits in a host import: rejects that wait, so
   * that an abort lands at once.
   */
  cancel: (() => void) | undefined;
  /**
   * The guest's stop flag (`stopFlag` in the rewriter), when it has one:
   * calls have it set when they must look at their deadline and signals.
   */
  flag: Int32Array | undefined;
  /**
   * Whether any call in progress must stop (recording the stop), asked
   * when the guest finds its stop flag set; `trapped` when it trapped at
   * it and cannot go on.
   */
  check: ((trapped?: boolean) => boolean) | undefined;
  /**
   * Whether a call of the guest is in progress: its code reached outside
   * any of its calls is refused.
   */
  calling: (() => boolean) | undefined;
  /**
   * For a guest loaded for plain calls whose start function yields to the
   * event loop (where the load's `signal` fires): the switch that says its
   * start function's own code runs (`start_yield.ts`), set as that
   * function is called.
   */
  onStart: WebAssembly.Global | undefined;
}

/**
 * What `thrownBy` says when the call's `refuel` hook threw: host code the
 * guest reached through its fuel import, whose throw is the `error` outcome
 * as an import's is.
 */
export const REFUEL_HOOK = "refuel";

/**
 * Runs the call's refuel hook, recording what it throws or rejects with as
 * thrown by {@linkcode REFUEL_HOOK}. While the guest waits on its promise,
 * the call's stops end the wait (`state.cancel`).
 *
 * @param state The guest's call state.
 * @param shortfall The fuel the next block needs beyond what is left.
 * @returns The hook's answer; 0 without a hook.
 */
export function callRefuel(
  state: CallState,
  shortfall: number,
): number | Promise<number> {
  const record = (error: unknown) => {
    state.thrown = error;
    state.thrownBy = REFUEL_HOOK;
  };
  let more: unknown;
  try {
    more = state.refuel?.({ shortfall, consumed: state.meter!.consumed });
  } catch (error) {
    record(error);
    throw error;
  }
  // What the hook gives is checked here, where a wrong one is the hook's
  // error, the call's `error` outcome; the meter would throw it out of the
  // call.
  const checked = (given: unknown): number => {
    const fuel = given ?? 0;
    if (
      fuel === Infinity ||
      (typeof fuel === "number" && Number.isSafeInteger(fuel) && fuel >= 0)
    ) {
      return fuel;
    }
    const error = new TypeError(
      `invokeAsync's refuel must give the fuel to add: a whole number, 0 or more, or Infinity (or a promise of one); got ${
        describeValue(given)
      }`,
    );
    record(error);
    throw error;
  };
  if (!(more instanceof Promise)) return checked(more);
  // While the guest waits on it, the call's stops end the wait, as they
  // end an async host import's.
  const answer = more;
  return new Promise<number>((resolve, reject) => {
    state.cancel = () => reject(state.unwind);
    Promise.prototype.then.call(answer, (value: unknown) => {
      try {
        resolve(checked(value));
      } catch (error) {
        reject(error);
      }
    }, (error) => {
      record(error);
      reject(error);
    });
  }).finally(() => {
    state.cancel = undefined;
  });
}

/**
 * Records why the guest must stop (the first reason wins) and unwinds it by
 * throwing that stop's own error (made without a stack); later imports of
 * the call throw the prepared `unwind` instead.
 */
export function requestStop(state: CallState, stop: Stop): never {
  recordStop(state, stop);
  // The stop's own error, naming the import: what it throws is seen by
  // the host's code it unwinds through, and by another guest's call.
  throw withoutStack(stop);
}

/**
 * Records why the guest must stop, without throwing. A metered guest then
 * traps at its next check, even if it catches whatever unwinds it.
 */
export function recordStop(state: CallState, stop: Stop): void {
  state.stop ??= stop;
  state.meter?.stop();
}

/**
 * The host's own `meter.stop()` of a guest: the call in progress ends as
 * `interrupted`, also when it waits in a host import's promise. Between
 * calls it is forgotten: the next call clears the state and the flag.
 *
 * @param state The guest's call state.
 */
export function stoppedByHost(state: CallState): void {
  state.stop ??= () =>
    new Interrupted("FuelMeter.stop", {
      reason: `stopped (${state.meter?.stopReason ?? "host"})`,
    });
  // A loop the cost table makes free, and a deadline-only guest, check
  // only the flag.
  if (state.flag !== undefined) Atomics.store(state.flag, 0, 1);
  state.cancel?.();
}

/** Each call state's prepared unwind, to the state it unwinds. */
const unwinding = new WeakMap<object, CallState>();

/**
 * The stop behind `error` when it is the prepared unwind of a guest's call
 * (another guest's, stopped by its `host.interrupt` from inside this one):
 * that call's recorded stop, which names the real interrupt.
 *
 * @param error What a call threw.
 * @returns The stop, or `undefined`.
 */
export function stopOfUnwind(error: unknown): Stop | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  return unwinding.get(error)?.stop;
}

/**
 * Whether `error` is the prepared unwind of a guest's call. Once that call
 * has ended, its stop is forgotten: a guest that caught the unwind (with
 * `catch_all_ref`) and throws it again later throws its own exception, which
 * is no stop.
 *
 * @param error What a call threw.
 * @returns Whether it is a call state's prepared unwind.
 */
export function isUnwind(error: unknown): boolean {
  return typeof error === "object" && error !== null && unwinding.has(error);
}

/**
 * A fresh call state, with nothing in progress.
 *
 * @param meter The fuel meter, when the guest is metered.
 * @param unwind The prepared error thrown through the guest to unwind it.
 */
export function newCallState(
  meter?: FuelMeter,
  unwind: Interrupted = new Interrupted("(prepared)", {
    reason: "unwinding the guest",
  }),
): CallState {
  const state: CallState = {
    stop: undefined,
    unwind,
    thrown: undefined,
    thrownBy: undefined,
    meter,
    fuelChecks: false,
    poll: undefined,
    refuel: undefined,
    cancel: undefined,
    flag: undefined,
    check: undefined,
    calling: undefined,
    onStart: undefined,
  };
  unwinding.set(unwind, state);
  return state;
}
