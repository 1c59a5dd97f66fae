/**
 * One call into a library's guest under a {@linkcode FuelMeter}: whatever
 * JavaScript the caller runs (`() => vm.evalCode(src)`, `() => db.exec(sql)`),
 * watched for fuel, a deadline and stop signals, and reported as the same
 * {@linkcode CallOutcome} a `Guest` call gives.
 *
 * A library's glue stands between the guest and the caller: when the guest
 * traps, the glue may rethrow the trap, wrap it, turn it into its own abort,
 * or swallow it. So the outcome is decided by what the meter saw (why it
 * stopped the guest), not by what reached the caller; only a call the meter
 * did not stop is judged by what it threw: a trap, or any other throw (the
 * library's own error, such as SQLite's syntax error), which becomes an
 * `error` outcome whose `HostImportError` keeps it as `cause`.
 *
 * The deadline and the `StopSignal` reach the guest through its stop flag,
 * which the watchdog sets (see `call_watch.ts`), and through the fuel
 * slices it asks for: in a fresh instance's first calls, a backstop for a
 * watchdog that wakes late (`COLD_SLICE`).
 *
 * After a stop the glue usually calls back into the guest to clean up
 * (emscripten's `stackRestore`, wasm-bindgen's stack adjustment, sql.js's
 * `stmt.free()`). Those calls run on a *grace* allowance, booked nowhere;
 * then the guest's shadow stack pointer, when it can be found, is put back
 * where it was before the call (by the guest's own accessors, which a stop
 * from the watchdog ends after 100 ms, as it ends the cleanup), and the
 * meter is settled for the next call.
 *
 * @module
 */

import {
  attachedMemories,
  checkStopOutsideGuest,
} from "../call/stop_in_guest_memory.ts";
import { meterHeapStops } from "../call/heap_limit.ts";
import { stopsInZone } from "./zone_wait.ts";
import {
  checkBooleanValue,
  checkFuelAndTimeout,
  checkFuelValue,
  checkFunctionValue,
  checkLabelValue,
} from "../option_checks.ts";
import { readOptions } from "../option_names.ts";
import { checkDeadlineOnlyRun } from "./meter_deadline_only.ts";
import { newCallState } from "../call/call_state.ts";
import {
  CallWatch,
  enclosingAsyncWatches,
  enclosingWatches,
  enterPlainCall,
  leavePlainCall,
} from "../call/call_watch.ts";
import { watchdogCaughtUp } from "../watchdog/watchdog.ts";
import { backstopSlice } from "./meter_tank.ts";
import { watchOnEventLoop } from "../call/event_loop_stops.ts";
import { asyncFlags, runCallOf } from "../call/calls_in_progress.ts";
import {
  endCallsAbove,
  enterCall,
  leaveCall,
  type ListedCall,
} from "../call/cut_short_ends.ts";
import {
  enclosingFlags,
  enterPlainFlag,
  flagUse,
  leavePlainFlag,
} from "../call/flags_in_calls.ts";
import { nextTurn } from "../watchdog/yield.ts";
import {
  FuelExhausted,
  HostImportError,
  Interrupted,
  withoutStack,
} from "../errors.ts";
import type { FuelMeter } from "./fuel.ts";
import type { MeterCalls } from "./meter_calls.ts";
import {
  type CallOutcome,
  givenOutcome,
  stoppedOutcome,
} from "../call/outcome.ts";
import type { StackPointer } from "./stack_pointer.ts";
import type { StopSignal } from "../watchdog/stop_signal.ts";
import { toGuestTrap } from "../call/traps.ts";
import { readSafely, settledUnwaited } from "../thrown_values.ts";
import type { GuestTrap } from "../errors.ts";
import { withHostStop } from "../watchdog/caller_stop_signal.ts";

/**
 * Grace fuel after a stop, about half a millisecond of work: sql.js needs
 * under 10,000 to finalize the statement it was running. A soft stop of
 * QuickJS needs far more: the fuel to reach its interrupt check and to free
 * what the script built (see docs/other-loaders.md).
 *
 * @example Giving a library more room to clean up
 * ```ts
 * import { DEFAULT_GRACE, type MeterRunOptions } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * const options: MeterRunOptions = { timeout: 100, grace: 4 * DEFAULT_GRACE };
 * assert.equal(options.grace, 4_000_000);
 * ```
 */
export const DEFAULT_GRACE = 1_000_000;

/**
 * Options for {@linkcode FuelMeter.run}.
 *
 * Memory and table limits are the meter's, not a run's
 * (`new FuelMeter(bytes, { limits })`): they are written into the module as
 * its maximums, since a memory never shrinks, and hold in every run.
 *
 * @example A call stopped from another thread
 * ```ts
 * import { FuelMeter, StopSignal } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * const bytes = await Deno.readFile(new URL("../../guest/runaway.wasm", import.meta.url));
 * const meter = new FuelMeter(bytes);
 * const { instance } = await WebAssembly.instantiate(meter.bytes, meter.imports);
 * meter.attach(instance);
 * const spin = instance.exports.spin as () => void;
 *
 * const stop = new StopSignal();
 * stop.stop(); // a Worker would do this, given stop.buffer
 * const result = meter.run(spin, { stop, timeout: 1_000, label: "spin" });
 * assert.equal(result.outcome, "aborted");
 * assert.equal(meter.stopReason, "stop");
 * ```
 */
export interface MeterRunOptions {
  /** The most fuel the call may draw from the meter's tank. */
  fuel?: number;
  /** Stops the call after this many milliseconds (`timeout` outcome). */
  timeout?: number;
  /** Stops the call when another thread sets it (`aborted` outcome). */
  stop?: StopSignal;
  /**
   * Stops the call when aborted (`aborted`, or `timeout` for a timed-out
   * signal). In `run` the call keeps the thread busy, so no abort event
   * or timer runs while it does: the signal can stop it only if it was
   * aborted before the call, or by code the guest calls (an import); use
   * `timeout` for a deadline and a `StopSignal` to stop from another
   * thread. `runAsync` lets the event loop run, so the signal works there.
   */
  signal?: AbortSignal;
  /**
   * Fuel the library's own cleanup may spend after a stop, booked nowhere,
   * for 100 ms at most after a hard stop (fuel is not time: a hostile
   * cleanup faulting in fresh pages spent the default in 4.6 s), counted
   * by the clock and in the guest's thread's CPU time, so that a thread
   * the machine keeps off its core meanwhile still gets its time (1 s by
   * the clock at most).
   * A stop that waits for the guest to leave a no-stop zone (see
   * `FuelMeterOptions.stopsWaitFor`) draws on it first, 1,000,000 at most. Default
   * {@linkcode DEFAULT_GRACE}; 0 makes every call after a stop trap, and
   * every stop land at once.
   */
  grace?: number;
  /**
   * Lets the guest run on after a stop, on its grace fuel, so that a library
   * polling {@linkcode FuelMeter.stopping} from its own interrupt hook
   * unwinds by itself and stays whole (QuickJS:
   * `runtime.setInterruptHandler(() => meter.stopping)`, with
   * {@linkcode MeterRunOptions.onStopping} to make it look soon); it traps
   * once the grace is spent. A library hears of the stop by reading
   * `meter.stopping`: one that has not 100 ms after the stop (counted as
   * `grace`'s time is; a guest
   * inside one long built-in that asks no interrupt hook until it returns)
   * traps then, as a hard stop would, with no cleanup after it; the
   * watchdog keeps that time (it runs once the meter is made). Once heard,
   * the grace is counted in fuel only, so a soft stop does not end a loop
   * that a cost table of zeros makes free, and holds the call as long as
   * the guest takes to spend it: give a guest you do not trust a hard
   * stop. Default `false`: the guest traps at the stop.
   */
  soft?: boolean;
  /**
   * Called once, the moment this call's stop begins (when
   * {@linkcode FuelMeter.stopping} turns true), from inside the guest's
   * check, with the guest paused. In a soft stop it can make the library's
   * own interrupt check come sooner: QuickJS asks its interrupt handler only
   * once every 10,000 jumps and calls, which an allocating loop takes tens
   * of millions of fuel to reach, so a hook that sets the running context's
   * interrupt counter to 1 makes it unwind at its next jump (see
   * docs/other-loaders.md). It must not call into the guest. If it throws,
   * the error unwinds the guest as a hard stop would. A promise it returns
   * is not waited for, and its rejection is dropped.
   */
  onStopping?: () => void;
  /** The name the outcome gives as `export`. Default `"run"`. */
  label?: string;
}

/**
 * The fuel a watched run hands the guest at a time: the guest then calls the
 * host, which reads the clock and the signals, at least this often. Fixed,
 * never tuned from how fast the guest seemed to spend it. A guest can still
 * make a slice slow (a loop the cost table makes free, one gibibyte
 * `memory.fill`): the stop flag, which the watchdog sets whatever the guest
 * does, is what bounds the deadline; slices keep it for a guest rewritten
 * without the flag, and while the watchdog's thread starts.
 */
const RUN_SLICE = 50_000;

/** Looks for an engine trap in what was thrown and what it wraps. */
function findTrap(error: unknown): GuestTrap | undefined {
  for (let depth = 0; depth < 4 && error != null; depth++) {
    const trap = toGuestTrap(error);
    if (trap !== undefined) return trap;
    error = readSafely(error, "cause");
  }
  return undefined;
}

function readStackPointer(
  meter: FuelMeter,
  calls: MeterCalls,
  stack: StackPointer,
): number | bigint | undefined {
  try {
    return calls.offBooks(meter, stack.get);
  } catch {
    return undefined; // then there is nothing to put back
  }
}

/** A run in progress: what its end needs. */
interface Run {
  /** `FuelMeter.run` or `FuelMeter.runAsync`, for messages. */
  what: string;
  meter: FuelMeter;
  calls: MeterCalls;
  stack: StackPointer | undefined;
  label: string;
  state: ReturnType<typeof newCallState>;
  watch: CallWatch | undefined;
  userSlice: number;
  /** The slice the run set out with: one the host sets meanwhile stays. */
  runSlice: number;
  consumedBefore: number;
  budget: number;
  saved: number | bigint | undefined;
  /**
   * The meter's flag while the run is in progress, for calls of other
   * guests made inside it (`flags_in_calls.ts`).
   */
  flagInUse: Int32Array | undefined;
  /** The meter's level for the run (`MeterCalls.level`). */
  level: number;
}

/**
 * A plain run as listed among the calls in progress on the thread
 * (`cut_short_ends.ts`), from before it starts.
 */
interface ListedRun extends ListedCall {
  meter: FuelMeter;
  calls: MeterCalls;
  /** The meter's level for the run. */
  level: number;
  /** The run, once started. */
  run: Run | undefined;
  /** Set once the run has ended by itself. */
  ended: boolean;
  /** The run's watch, from before it arms anything. */
  watch?: CallWatch;
}

/**
 * Ends a plain run whose own end a stack overflow cut short (see
 * `cut_short_ends.ts`): its watch, its books and its hold on the meter,
 * each as far as it was not yet.
 */
function endRunCutShort(listed: ListedRun): void {
  if (listed.ended) return;
  const { meter, calls, level, run } = listed;
  listed.watch?.dispose();
  if (run !== undefined) {
    if (run.flagInUse !== undefined) flagUse(run.flagInUse).leave();
    if (meter.slice === run.runSlice) meter.slice = run.userSlice;
  }
  calls.end(meter, level);
  // Only a run that started holds the meter (a refused one may be nested
  // in a run that does).
  if (run !== undefined) running.delete(meter);
  listed.ended = true;
}

/**
 * Meters with an async run in flight, which no other run may start on:
 * settles when it ends.
 */
const inFlight = new WeakMap<FuelMeter, Promise<void>>();

/**
 * Meters whose last async run was stopped while its call waited on a
 * promise that is not the meter's, and whose call still waits: settles
 * once it has (see {@linkcode meterIdle}).
 */
const stranded = new WeakMap<FuelMeter, Promise<void>>();

/**
 * Resolves once the meter takes a new run: at once, unless a `runAsync` is
 * in flight, or its last `runAsync` was stopped while the call waited on a promise that is not
 * the meter's (a library's own async import, or the caller's JavaScript
 * between calls into the guest), and that call still waits.
 *
 * @param meter The meter.
 * @returns Settles when the meter is idle.
 */
export function meterIdle(meter: FuelMeter): Promise<void> {
  // A run in flight first: it may end with its call left waiting.
  const running = inFlight.get(meter);
  if (running !== undefined) return running.then(() => meterIdle(meter));
  return stranded.get(meter) ?? Promise.resolve();
}

/**
 * Meters with a plain run in progress: a run started inside it (by `fn`,
 * or by a host import the guest called) would take the meter's books and
 * watch over, and the outer run's deadline and StopSignal would be lost
 * once it ended, so it is refused.
 */
const running = new WeakSet<FuelMeter>();

/** Every option of {@linkcode FuelMeter.run} and `runAsync`. */
const METER_RUN_OPTION_NAMES: readonly (keyof MeterRunOptions)[] = [
  "fuel",
  "timeout",
  "stop",
  "signal",
  "grace",
  "soft",
  "onStopping",
  "label",
];

/**
 * Reads and checks a run's options, as `run` and `runAsync` do before the
 * books change: a refused option leaves the meter as it was.
 *
 * @param meter The meter.
 * @param options The options as given.
 * @param what The API, for messages.
 * @returns The options, read once.
 */
export function checkMeterRunOptions(
  meter: FuelMeter,
  options: MeterRunOptions,
  what: string,
): MeterRunOptions {
  options = withHostStop(
    readOptions(options, METER_RUN_OPTION_NAMES, what),
    what,
  );
  checkFuelAndTimeout(options, what);
  checkFuelValue(options.grace, `${what}'s grace`);
  checkLabelValue(options.label, `${what}'s label`);
  checkBooleanValue(options.soft, `${what}'s soft`);
  checkStopOutsideGuest(
    options.stop,
    `${what}'s stop`,
    "the instance attached to the meter",
    attachedMemories(meter),
  );
  if (!meter.countsFuel) checkDeadlineOnlyRun(options, what);
  checkFunctionValue(
    options.onStopping,
    `${what}'s onStopping`,
    "when the stop begins",
  );
  const watched = options.timeout !== undefined ||
    options.stop !== undefined || options.signal !== undefined;
  if (watched && !meter.resumable) {
    throw new TypeError(
      "this meter's guest traps as soon as its fuel is spent and never calls the host, so it cannot be given a timeout or a signal: make the meter with resumable: true",
    );
  }
  return options;
}

/**
 * Whether a run of `meter` is in progress: a plain one, or a `runAsync`
 * in flight.
 *
 * @param meter The meter.
 * @returns True inside a run.
 */
export function meterRunning(meter: FuelMeter): boolean {
  return running.has(meter) || inFlight.has(meter);
}

/**
 * Why a meter made with `suspend: true` takes no plain call under a run:
 * its checks call imports that may suspend, and V8 refuses any call of
 * such an import outside `WebAssembly.promising`, so the first check that
 * called one ended the run with a `SuspendError` rather than its stop.
 *
 * @param what The method refused.
 * @returns Its line.
 */
export function plainCallsRefused(what: string): string {
  return `${what} calls the guest plainly, but this meter was made with suspend: true, whose checks call imports that V8 refuses to call outside WebAssembly.promising (the first check that called one would end the run with a SuspendError, not its stop): use meter.runAsync with the guest's exports through WebAssembly.promising, or make the meter without suspend: true`;
}

function startRun(
  meter: FuelMeter,
  calls: MeterCalls,
  stack: StackPointer | undefined,
  options: MeterRunOptions,
  what: string,
  yields: boolean,
  started: number,
  holder?: { watch?: CallWatch },
): Run {
  options = checkMeterRunOptions(meter, options, what);
  if (stranded.has(meter)) {
    throw new TypeError(
      `${what}: this meter's last runAsync call was stopped while it waited on a promise that is not the meter's (a library's own async import, or the caller's JavaScript), and it is still waiting; it traps as soon as that promise settles: await meter.idle() before the next call`,
    );
  }
  if (inFlight.has(meter)) {
    throw new TypeError(
      `${what}: this meter's runAsync call has not ended yet; await it before the next call`,
    );
  }
  if (running.has(meter)) {
    throw new TypeError(
      `${what} was called inside a FuelMeter.run of the same meter (from its function, or from a host import the guest called): runs do not nest, since the inner run would take over the outer one's fuel cap, deadline and signals; call the guest directly there, under the outer run's stops`,
    );
  }
  if (!yields && calls.suspends(meter)) {
    throw new TypeError(plainCallsRefused(what));
  }
  const label = options.label ?? "run";
  const { timeout, stop, signal } = options;
  const watched = timeout !== undefined || stop !== undefined ||
    signal !== undefined;
  // Without a stack: a run's prepared unwind is made for every run, and an
  // Error's stack cost 2 to 4 µs of a run's 10 to 14 here.
  const state = newCallState(
    meter,
    withoutStack(() => new Interrupted(what)),
  );
  meterHeapStops.delete(meter);
  stopsInZone.delete(meter);
  const flag = calls.flag(meter);
  // A deadline-only guest traps at a set flag: whatever set it before this
  // run (a stop between runs) is forgotten, as the fuel's books are, before
  // the watch may set it for this run.
  if (!meter.countsFuel) Atomics.store(flag!, 0, 0);
  // A run made from inside a call of another guest or meter (by a host
  // import) is stopped by that call's stops too: a plain run by those of
  // the plain and async calls it is made inside of, an async one by those
  // of the async calls whose import awaits it.
  const enclosing = !meter.resumable
    ? []
    : yields
    ? enclosingAsyncWatches(state)
    : enclosingWatches(state);
  const watch = watched || yields || enclosing.length > 0
    ? new CallWatch(state, flag, {
      timeout,
      stop,
      signal,
      yields,
      enclosing,
      // Code of those calls' guests that this run reaches reads their
      // flags: its own stops are armed on them too.
      outerFlags: meter.resumable
        ? enclosingFlags(flag, !yields, asyncFlags())
        : undefined,
      // The deadline counts from the call of `run`, as a Guest call's
      // from its own: the checks above are part of the call.
      started,
      holder,
    })
    : undefined;
  const userSlice = meter.slice;
  // Slices keep the deadline of a guest without a flag, and a first one
  // while the watchdog's thread starts or has yet to receive the flag's
  // binding; an async run yields to the event loop at each. Otherwise the
  // flag alone keeps it, and the guest runs without asking every 50,000
  // units (QuickJS ran 1.53 times plain with slices, about 1.38 without);
  // but for a fresh instance's first calls, whose watchdog may wake late,
  // which get a large slice as a backstop (see COLD_SLICE).
  const flagKeepsDeadline = flag !== undefined && watchdogCaughtUp();
  if (meter.countsFuel) {
    if (watch && !flagKeepsDeadline || yields) meter.slice = RUN_SLICE;
    else if (watch) {
      const slice = backstopSlice(userSlice, calls.callsSinceAttach(meter));
      if (slice !== userSlice) meter.slice = slice;
    }
  }
  const level = calls.level(meter);
  const booksBefore = calls.begin(meter, options.fuel);
  calls.watch(meter, watch ? () => watch.poll() === true : undefined, yields);
  calls.grace(
    meter,
    options.grace ?? (meter.countsFuel ? DEFAULT_GRACE : 0),
    options.soft ?? false,
    options.onStopping,
  );
  // The books as begun: the watch and the grace move no fuel.
  const { consumed: consumedBefore, remaining: budget } = booksBefore;
  const saved = stack && readStackPointer(meter, calls, stack);
  const flagInUse = flag !== undefined && meter.resumable ? flag : undefined;
  if (flagInUse !== undefined) {
    // Calls of other guests made inside this run may arm their stops on
    // its flag (`flags_in_calls.ts`); one that ends clears the flag unless
    // a stop of this run is due.
    flagUse(flagInUse).enter(
      () =>
        meter.stopReason !== undefined ||
        watch?.check(performance.now()) === true,
    );
  }
  return {
    what,
    meter,
    calls,
    stack,
    label,
    state,
    watch,
    userSlice,
    runSlice: meter.slice,
    consumedBefore,
    budget,
    saved,
    flagInUse,
    level,
  };
}

/**
 * Runs `fn` under the meter; see {@linkcode FuelMeter.run}.
 *
 * @param meter The meter of the instance `fn` calls into.
 * @param calls The meter's call hooks.
 * @param stack The guest's stack pointer, when known.
 * @param fn What to run.
 * @param options Fuel, deadline, signals and grace.
 * @param what The API, for messages.
 * @returns How the call ended.
 */
export function runMetered(
  meter: FuelMeter,
  calls: MeterCalls,
  stack: StackPointer | undefined,
  fn: () => unknown,
  options: MeterRunOptions = {},
  what = "FuelMeter.run",
): CallOutcome {
  const started = performance.now();
  const listed: ListedRun = {
    meter,
    calls,
    level: calls.level(meter),
    run: undefined,
    ended: false,
    endCutShort: endRunCutShort,
  };
  // Listed before its books begin, so that a call below can end them.
  const at = enterCall(listed);
  let run: Run;
  try {
    run = startRun(
      meter,
      calls,
      stack,
      options,
      what,
      false,
      started,
      listed,
    );
  } catch (error) {
    // The books may have begun before what threw (a stack overflow).
    calls.end(meter, listed.level);
    leaveCall(listed, at);
    throw error;
  }
  listed.run = run;
  let value: unknown;
  let threw = false;
  running.add(meter);
  const watchAt = run.watch === undefined ? -1 : enterPlainCall(run.watch);
  const flag = run.flagInUse;
  const flagAt = flag === undefined ? -1 : enterPlainFlag(flag);
  try {
    value = fn();
    // Calls nested in the run whose end a stack overflow cut short.
    endCallsAbove(at);
  } catch (error) {
    endCallsAbove(at);
    value = error;
    threw = true;
  } finally {
    if (flagAt !== -1) leavePlainFlag(flagAt);
    if (watchAt !== -1) leavePlainCall(watchAt);
    running.delete(meter);
  }
  const ended = endRun(run, threw, value);
  listed.ended = true;
  leaveCall(listed, at);
  // The work after the function's first await would run after the run,
  // where no cap, deadline or stop reaches it, and be reported as done.
  if (!threw && settledUnwaited(value)) {
    throw new TypeError(
      "FuelMeter.run's function returned a promise: what it does after its first await runs outside the run, where no fuel cap, deadline or stop reaches it; make the function synchronous (run each of the library's own calls into the guest through meter.run), or use meter.runAsync with a meter made with suspend: true",
    );
  }
  return ended;
}

/**
 * Runs `fn` under the meter and awaits what it returns, letting the event
 * loop run at every slice of fuel; see {@linkcode FuelMeter.runAsync}.
 *
 * @param meter The meter of the instance `fn` calls into.
 * @param calls The meter's call hooks.
 * @param stack The guest's stack pointer, when known.
 * @param fn What to run; it calls the guest through `WebAssembly.promising`.
 * @param options Fuel, deadline, signals and grace.
 * @returns How the call ended.
 */
export async function runMeteredAsync(
  meter: FuelMeter,
  calls: MeterCalls,
  stack: StackPointer | undefined,
  fn: () => unknown,
  options: MeterRunOptions = {},
): Promise<CallOutcome> {
  const invoked = performance.now();
  const run = startRun(
    meter,
    calls,
    stack,
    options,
    "FuelMeter.runAsync",
    true,
    invoked,
  );
  let ended!: () => void;
  inFlight.set(meter, new Promise<void>((resolve) => (ended = resolve)));
  // While the call waits on a promise, no check reads the flag: the event
  // loop tells the run's watch of its stops.
  let stoppedAt: (() => void) | undefined;
  const stopped = new Promise<void>((resolve) => (stoppedAt = resolve));
  const disposeStops = watchOnEventLoop(options, invoked, () => {
    if (run.watch?.check(performance.now()) !== true) return false;
    stoppedAt!();
    return true;
  });
  // And so does the host's own `meter.stop()`.
  const outerOnStop = calls.onStop(meter, stoppedAt);
  // In progress as an async call: a plain call made from the guest's
  // imports (another guest's invoke, another meter's run) is part of it,
  // and its stops stop that call too.
  const call = settled(() =>
    runCallOf(meter, async () => await fn(), run.watch, run.flagInUse)
  );
  let settledCall: Settled | undefined;
  try {
    settledCall = await Promise.race([
      call,
      stopped.then(() => settledSoon(call)),
    ]);
  } finally {
    disposeStops();
    calls.onStop(meter, outerOnStop);
    inFlight.delete(meter);
    // Those awaiting idle() look again once the run has ended below.
    ended();
  }
  if (settledCall !== undefined) {
    return endRun(run, settledCall.threw, settledCall.value);
  }
  // Stopped while the call waits on a promise that is not the meter's (a
  // suspended guest resumes from one at its next check): the run ends now,
  // the books settled, and the meter stays stopped so that the call traps
  // as soon as it resumes. Its stack pointer is put back once it has.
  // A call left inside a no-stop zone (its allocator awaiting a host
  // promise, or a stop's wait for the zone spanning the turns given it)
  // resumes there, and its trap cuts the zone: the outcome says so now,
  // as the run's only word on it.
  if (calls.insideZone(meter)) stopsInZone.add(meter);
  const outcome = endRun(run, true, undefined, false);
  meter.stop(meter.stopReason ?? "host");
  calls.strand(meter, true);
  stranded.set(
    meter,
    call.then(() => {
      stranded.delete(meter);
      calls.strand(meter, false);
      if (run.saved !== undefined) {
        try {
          calls.offBooks(meter, () => stack!.set(run.saved!), true);
        } catch {
          // As in endRun: the next call traps the same way.
        }
      }
    }),
  );
  return outcome;
}

/** How a call ended: its value, or what it threw. */
interface Settled {
  threw: boolean;
  value: unknown;
}

/** Runs `fn` and awaits it; never rejects. */
async function settled(fn: () => unknown): Promise<Settled> {
  try {
    return { threw: false, value: await fn() };
  } catch (error) {
    return { threw: true, value: error };
  }
}

/**
 * How the call ended, if it does within two turns of the event loop: a
 * guest that yielded at a slice resumes within one and traps at its
 * stopped check, and the library's glue then rejects in microtasks.
 */
async function settledSoon(
  call: Promise<Settled>,
): Promise<Settled | undefined> {
  for (let turn = 0; turn < 2; turn++) {
    const ended = await Promise.race([call, nextTurn()]);
    if (ended !== undefined) return ended;
  }
  return undefined;
}

/** Ends a run: puts back the stack pointer, settles, and says how it ended. */
function endRun(
  run: Run,
  threw: boolean,
  valueOrError: unknown,
  restoreStack = true,
): CallOutcome {
  const { meter, calls, stack, saved, state, label } = run;
  const value = threw ? undefined : valueOrError;
  const thrown = threw ? valueOrError : undefined;
  const flag = calls.flag(meter);
  if (
    !meter.countsFuel &&
    (Atomics.load(flag!, 0) !== 0 || run.watch?.outerFlagSet() === true)
  ) {
    // A deadline-only guest trapped at its flag without telling the host:
    // the watch records which stop was due (the flag is only set for one).
    // Also when the run returned: the library's glue (or the run's own
    // function) may have caught the trap and carried on.
    run.watch?.poll();
  }
  // Before the host's own calls into the guest: once disposed, the watch
  // sets no flag that would make them trap.
  run.watch?.dispose();
  if (run.flagInUse !== undefined) flagUse(run.flagInUse).leave();
  // A guest that cannot resume never tells the meter: its counter does.
  const reason = meter.stopReason ??
    (!meter.resumable && meter.exhausted ? "fuel" : undefined);
  // Only a run nothing stopped is judged by its trap: telling an
  // `unreachable` of another guest's code apart reads the error's stack,
  // which V8 then formats, frame by frame (0.1 to 0.25 ms at the median
  // after a stop of QuickJS or SQLite, and 1 to 6 ms at times in a fresh
  // instance's first stops), and a stopped run's outcome is its stop's.
  const trap = threw && reason === undefined ? findTrap(thrown) : undefined;
  if (
    restoreStack && saved !== undefined &&
    (reason !== undefined || trap !== undefined)
  ) {
    try {
      calls.offBooks(meter, () => stack!.set(saved), true);
    } catch {
      // A guest too broken to move its stack pointer: the outcome says so
      // already, and the next call will trap in the same way.
    }
  }
  if (meter.slice === run.runSlice) meter.slice = run.userSlice;
  const usage = calls.end(meter, run.level);
  const fuel = {
    consumed: usage.consumed - run.consumedBefore,
    remaining: usage.remaining,
  };
  let ended: CallOutcome | undefined;
  const heapStop = meterHeapStops.get(meter);
  meterHeapStops.delete(meter);
  if (state.stop !== undefined) {
    ended = stoppedOutcome(label, withoutStack(state.stop));
  } else if (heapStop !== undefined) {
    ended = stoppedOutcome(label, withoutStack(heapStop));
  } else if (reason === "fuel") {
    const error = withoutStack(() =>
      new FuelExhausted(run.budget, fuel.consumed)
    );
    ended = stoppedOutcome(label, error);
  } else if (reason !== undefined) {
    const error = withoutStack(() =>
      new Interrupted("FuelMeter.stop", { reason: `stopped (${reason})` })
    );
    ended = stoppedOutcome(label, error);
  } else if (trap !== undefined) {
    ended = { outcome: "trap", export: label, error: trap };
  } else if (threw) {
    const error = withoutStack(() =>
      new HostImportError(run.what, thrown, `${run.what}: the function`)
    );
    ended = { outcome: "error", export: label, error };
  } else {
    ended = { outcome: "returned", export: label, value };
  }
  const outcome: CallOutcome = meter.countsFuel ? { ...ended!, fuel } : ended!;
  if (stopsInZone.delete(meter) && outcome.outcome !== "returned") {
    outcome.stoppedInZone = true;
  }
  return givenOutcome(outcome);
}
