/**
 * The fuel side of one call of a metered guest: before it, set the fuel and
 * start watching for the deadline and signals; after it, settle the books
 * and tell running out of fuel from any other trap.
 *
 * @module
 */

import type { CallState } from "../call/call_state.ts";
import { CallWatch } from "../call/call_watch.ts";
import { ExportError, FuelExhausted, withoutStack } from "../errors.ts";
import { type FuelMeter, meterCalls } from "./fuel.ts";
import type { AsyncCallOptions } from "../call/call_options.ts";
import { backstopSlice } from "./meter_tank.ts";
import { type CallOutcome, stoppedOutcome } from "../call/outcome.ts";

/** The bookkeeping of one metered call. */
export interface MeteredCall {
  meter: FuelMeter;
  /** Set when the call is watched for a deadline, a signal or yields. */
  watch: CallWatch | undefined;
  /** Fuel remaining and consumed when the call started. */
  budget: number;
  consumed: number;
  /** False for a guest loaded with `fuel: false`: no books to keep. */
  countsFuel: boolean;
  /** The meter's level for this call (`meterCalls.level`), when it counts fuel. */
  level?: number;
  /**
   * When the call runs on a backstop slice (see `backstopSlice`): the
   * meter's own slice, put back as the call ends, and the call's.
   */
  backstop?: { slice: number; ownSlice: number };
}

/** What a metered call is given. */
export interface MeteredCallSetup {
  /** The guest's name, for messages. */
  label: string;
  /** The call's options. */
  options: AsyncCallOptions | undefined;
  /** The call's timeout, or the guest's default one. */
  timeout: number | undefined;
  /** Whether the call yields to the event loop (async calls). */
  yields: boolean;
  /** False for a guest loaded with `fuel: false`, which counts no fuel. */
  countsFuel?: boolean;
  /** When the call was made, which its deadline counts from. Default: now. */
  started?: number;
  /**
   * The watches of the calls of other guests this call is made inside of
   * (from a host import): their stops stop this call too.
   */
  enclosing?: readonly CallWatch[];
  /** The flags of those calls' guests (see `CallWatch`'s `outerFlags`). */
  outerFlags?: readonly Int32Array[];
  /** The innermost watch of the guest's calls in progress (see `CallWatch`'s `covering`). */
  covering?: CallWatch;
  /** Whether the call is made inside another call of the same guest. */
  nested?: boolean;
  /**
   * Given the meter's level for the call before its books begin, and the
   * call's watch as soon as it is made (see `WatchOptions`): what ends the
   * call when a stack overflow cut its start short finds both there.
   */
  holder?: { watch?: CallWatch; level?: number };
}

/**
 * Sets the fuel for a call, and starts watching it when it has a deadline,
 * a signal, or yields.
 *
 * @param state The guest's call state.
 * @param meter The guest's meter.
 * @param setup The call's options.
 * @returns The call's bookkeeping, for {@linkcode endMeteredCall}.
 * @throws {ExportError} When a guest loaded for fuel only is given a deadline.
 */
export function beginMeteredCall(
  state: CallState,
  meter: FuelMeter,
  setup: MeteredCallSetup,
): MeteredCall {
  const { options, timeout, yields } = setup;
  const countsFuel = setup.countsFuel ?? true;
  if (!countsFuel && options?.fuel !== undefined) {
    throw new ExportError(
      `cannot give fuel to a call of ${setup.label}: it was loaded with fuel: false, which counts none; load it with a fuel budget (fuel: Infinity for none) to give its calls fuel`,
    );
  }
  const watched = timeout !== undefined || yields ||
    options?.signal !== undefined || options?.stop !== undefined;
  // A guest with a stop flag is watched through it, whatever its fuel does.
  const checks = meter.resumable || state.flag !== undefined;
  if (watched && !checks) {
    throw new ExportError(
      `cannot give a timeout, signal or StopSignal to a call of ${setup.label}: it was loaded for fuel only, which runs fastest but cannot check; load it with interruptible: true (or a default timeout) to give its calls deadlines and stops`,
    );
  }
  if (options?.refuel !== undefined && !meter.resumable) {
    throw new ExportError(
      `cannot give a refuel hook to a call of ${setup.label}: its fuel checks trap when the budget is spent, so it cannot ask for more`,
    );
  }
  // A fresh instance's first plain calls under a deadline or a StopSignal,
  // when the guest asks for fuel, get a backstop slice, whose end reads
  // them by this thread's clock: right after a load the watchdog's thread
  // can wake late (see `backstopSlice`). A guest whose fuel checks trap
  // asks for none; an async call's ticks come through the flag.
  let backstop: MeteredCall["backstop"];
  const stops = timeout !== undefined || options?.signal !== undefined ||
    options?.stop !== undefined;
  if (countsFuel && meter.resumable && stops && !yields) {
    const ownSlice = meter.slice;
    const slice = backstopSlice(ownSlice, meterCalls.callsSinceAttach(meter));
    if (slice !== ownSlice) {
      meter.slice = slice;
      backstop = { slice, ownSlice };
    }
  }
  // A call's fuel caps what it may draw from the tank; it never replaces it.
  const level = countsFuel ? meterCalls.level(meter) : undefined;
  if (setup.holder !== undefined) setup.holder.level = level;
  const books = countsFuel ? meterCalls.begin(meter, options?.fuel) : undefined;
  // A guest that counts no fuel has no books, but its meter keeps the
  // last call's stop, which would make it ignore the next stop().
  if (!countsFuel && !setup.nested) meterCalls.forgetStop(meter);
  const enclosing = checks ? setup.enclosing ?? [] : [];
  let watch: CallWatch | undefined;
  try {
    watch = watched || enclosing.length > 0
      ? new CallWatch(state, state.flag, {
        timeout,
        signal: options?.signal,
        stop: options?.stop,
        yields,
        started: setup.started,
        enclosing,
        outerFlags: checks ? setup.outerFlags : undefined,
        holder: setup.holder,
        covering: setup.covering,
      })
      : undefined;
  } catch (error) {
    // No call is made: the books the call began are closed again.
    if (countsFuel) {
      restoreSlice(meter, backstop);
      meterCalls.end(meter, level);
    }
    throw error;
  }
  state.poll = watch?.poll;
  state.refuel = options?.refuel;
  if (!countsFuel) {
    return { meter, watch, budget: Infinity, consumed: 0, countsFuel };
  }
  // A stop the watch found already due (a StopSignal set before the call)
  // may have moved the books since they began.
  const { consumed, remaining } = meterCalls.stoppedSinceBegin(meter)
    ? meter.usage
    : books!;
  return {
    meter,
    watch,
    budget: remaining,
    consumed,
    countsFuel,
    backstop,
    level,
  };
}

/** Puts back the meter's own slice, unless the host set another meanwhile. */
function restoreSlice(
  meter: FuelMeter,
  backstop: MeteredCall["backstop"],
): void {
  if (backstop !== undefined && meter.slice === backstop.slice) {
    meter.slice = backstop.ownSlice;
  }
}

/**
 * Settles the fuel books after a call, adds its fuel to the outcome, and
 * turns a trap for want of fuel into the `fuel_exhausted` outcome.
 *
 * @param state The guest's call state.
 * @param call What {@linkcode beginMeteredCall} returned.
 * @param outcome How the call ended.
 * @returns The outcome with its fuel.
 */
export function endMeteredCall(
  state: CallState,
  call: MeteredCall,
  outcome: CallOutcome,
): CallOutcome {
  const { meter } = call;
  call.watch?.dispose();
  state.poll = undefined;
  state.refuel = undefined;
  if (!call.countsFuel) return outcome;
  // Putting the backstop's slice back may move the counter: whether the
  // fuel ran out is read before it.
  const exhaustedBefore = call.backstop === undefined
    ? undefined
    : meter.exhausted;
  // Fuel that ran out in a host import's charge ends the call, whatever
  // the guest did with what unwound it.
  const ranOutInImport = ranOutInImports.delete(meter);
  restoreSlice(meter, call.backstop);
  const books = meterCalls.end(meter, call.level);
  const exhausted = exhaustedBefore ?? books.exhausted;
  const consumed = books.consumed - call.consumed;
  const fuel = { consumed, remaining: books.remaining };
  if (exhausted && (outcome.outcome === "trap" || ranOutInImport)) {
    const error = withoutStack(() => new FuelExhausted(call.budget, consumed));
    return { ...stoppedOutcome(outcome.export, error)!, fuel };
  }
  outcome.fuel = fuel;
  return outcome;
}

/**
 * Ends the books of a call whose start a stack overflow cut short after
 * they began, before {@linkcode beginMeteredCall} returned them (see
 * `cut_short_ends.ts`); does nothing when they never began or have ended.
 *
 * @param meter The guest's meter.
 * @param level The meter's level for the call, as its setup's `holder`
 *   was given it.
 */
export function endBooksFrom(meter: FuelMeter, level: number): void {
  meterCalls.end(meter, level);
}

/** Meters whose call ran out of fuel paying for a host import's work. */
const ranOutInImports = new WeakSet<FuelMeter>();

/**
 * Charges a metered guest for work a host import does on its behalf (the
 * bytes a WASI call moves), as `meterCalls.charge` does; when the budget
 * cannot pay, the budget counts as spent and this throws, so that the call
 * ends at once with `FuelExhausted` (its figures are the call's, set when
 * the call ends).
 *
 * @param meter The guest's meter, or `undefined` for a guest without one.
 * @param fuel What the work costs.
 * @throws {FuelExhausted} When the budget cannot pay for it.
 */
export function payForImport(meter: FuelMeter | undefined, fuel: number): void {
  if (meter === undefined || meterCalls.charge(meter, fuel)) return;
  ranOutInImports.add(meter);
  const consumed = meter.consumed;
  throw withoutStack(() => new FuelExhausted(consumed, consumed));
}
