/**
 * Watches a call of a metered guest for its deadline, its `AbortSignal`
 * and its `StopSignal`, and makes the stop for each.
 *
 * ## Design
 *
 * A guest stuck in `loop br 0` never calls the host, and while it runs
 * synchronously nothing else on its thread can run either: no timer, no
 * `AbortSignal` event. So, as with Wasmtime's epochs, the guest is rewritten
 * to read a stop flag in shared memory at every function entry and loop
 * header (and between the chunks of a bulk operator), and another thread,
 * the watchdog, sets the flag at the deadline, or when the StopSignal is
 * set. In a plain call a set flag makes the guest trap at once (a trap it
 * cannot catch), and the host then asks the calls in progress which one
 * must stop (see `flagStop`); the flag is only ever set for a stop that is
 * due. In an async call the guest calls the host's `on_stop_flag`
 * instead, which asks the same question: if one must stop it records the
 * stop and the guest executes `unreachable`; if not it clears the flag and
 * the guest goes on. Time is never inferred from the guest's fuel, which a
 * guest can make cheap or dear at will.
 *
 * An async call (JSPI) also has the watchdog set its flag every
 * {@linkcode TICK_MS}; `on_stop_flag` then suspends the guest for one turn
 * of the event loop, so timers, I/O, other guests and the `AbortSignal`
 * get their turn. An abort sets the flag at once; an abort while the guest
 * waits inside an async host import rejects that import's promise, and the
 * guest, if it catches the rejection, traps at its next check.
 *
 * @module
 */

import { Aborted, DeadlineExceeded } from "../errors.ts";
import { isInstance, readSafely } from "../thrown_values.ts";
import type { CallState, Stop } from "./call_state.ts";
import { asyncWatches, InnermostLast } from "./calls_in_progress.ts";
import type { StopReason } from "./stop_reason.ts";
import type { StopSignal } from "../watchdog/stop_signal.ts";
import { arm, tick, watch, type WatchdogHandle } from "../watchdog/watchdog.ts";
import { addInner, innerEnded } from "./flags_in_calls.ts";
import {
  listenForAbort,
  signalAborted,
  signalReason,
  stopListeningForAbort,
} from "./abort_signal_reads.ts";

/** How often an async call yields to the event loop, in milliseconds. */
export const TICK_MS = 0.5;

/**
 * The stop for a deadline that passed.
 *
 * @param timeout The time the call was allowed, in milliseconds.
 * @param started When the call started, from `performance.now()`.
 * @param cause The abort reason, when an `AbortSignal` timed out.
 * @returns The stop, timed now.
 */
export function deadlineStop(
  timeout: number,
  started: number,
  cause?: unknown,
): Stop {
  const elapsed = performance.now() - started;
  const options = cause === undefined ? undefined : { cause };
  return () => new DeadlineExceeded(timeout, elapsed, options);
}

/** Whether an abort's reason is a timed-out signal's (`AbortSignal.timeout`). */
function timedOut(reason: unknown): boolean {
  return isInstance(reason, DOMException) &&
    readSafely(reason, "name") === "TimeoutError";
}

/**
 * The stop for an aborted signal. A timed-out signal is a deadline.
 *
 * @param signal The signal, already aborted.
 * @param started When the call started, from `performance.now()`.
 * @returns The stop.
 */
export function abortStop(signal: AbortSignal, started: number): Stop {
  const reason = signalReason(signal);
  if (timedOut(reason)) {
    return deadlineStop(performance.now() - started, started, reason);
  }
  return () => new Aborted(reason);
}

/**
 * The watches of the plain calls in progress on this thread, innermost
 * last: a plain call of another guest made from inside one of them (by a
 * host import) is stopped by theirs too, as it is by those of the async
 * calls it is made inside of.
 */
const plainCalls = new InnermostLast<CallWatch>();

/**
 * The watches of the plain calls in progress of guests other than the one
 * whose call state is `state`, for a call of it about to start.
 *
 * @param state The call state of the guest about to be called.
 * @returns The watches, outermost first.
 */
export function enclosingWatches(state: CallState): readonly CallWatch[] {
  const watches = asyncWatches();
  if (watches.length === 0 && plainCalls.items.length === 0) return NONE;
  for (const watch of plainCalls.items) watches.push(watch);
  return watches.filter((watch) => watch.state !== state);
}

/**
 * The watches of the calls the running code is inside of: the plain calls
 * in progress on this thread and the async calls whose context this is.
 *
 * @returns The watches.
 */
export function watchesInside(): ReadonlySet<CallWatch> {
  const inside = new Set<CallWatch>(plainCalls.items);
  for (const watch of asyncWatches()) inside.add(watch);
  return inside;
}

/**
 * The watches of the async calls of other guests that an async call is
 * made inside of (by a host import that awaits it), innermost last.
 *
 * @param state The call state of the guest making the call.
 * @returns The watches.
 */
export function enclosingAsyncWatches(
  state: CallState,
): readonly CallWatch[] {
  const watches = asyncWatches();
  if (watches.length === 0) return NONE;
  return watches.filter((watch) => watch.state !== state);
}

/** How many times a call's stops have been asked whether one is due. */
let stopsAsked = 0;

/**
 * How many times, in this thread, a call's stops (its deadline and
 * signals, or those of a call it is made inside of) have been asked
 * whether one is due: what the host's checks of nested calls cost, which
 * no check of the guest's bounds while the host makes them.
 *
 * @returns The count since the thread started.
 */
export function stopsAskedCount(): number {
  return stopsAsked;
}

/** No enclosing calls' watches, for a call made inside none. */
const NONE_ENCLOSING: readonly { watch: CallWatch; handle?: WatchdogHandle }[] =
  [];

/** No StopSignals watched. */
const NO_STOPS: ReadonlySet<SharedArrayBuffer> = new Set();

/** No flags of enclosing calls. */
const NO_FLAGS: readonly Int32Array[] = [];

/** No watches: what nearly every call gets, made once. */
const NONE: readonly CallWatch[] = Object.freeze([]);

/**
 * Marks a plain call's watch as in progress until `leavePlainCall`.
 *
 * @param watch The call's watch.
 * @returns Where it entered, for {@linkcode leavePlainCall}.
 */
export function enterPlainCall(watch: CallWatch): number {
  return plainCalls.enter(watch);
}

/**
 * Ends what {@linkcode enterPlainCall} began (and what calls nested in it
 * left behind: see `InnermostLast`).
 *
 * @param at What {@linkcode enterPlainCall} returned.
 */
export function leavePlainCall(at: number): void {
  plainCalls.leave(at);
}

/**
 * A call's own stops armed on the flag of a call it is made inside of:
 * what to disarm when either call ends.
 */
interface OuterArming {
  /** The enclosing call's guest's flag. */
  flag: Int32Array;
  /** The watchdog's handles on that flag. */
  handles: WatchdogHandle[];
  /** The handle on the call's deadline, among them. */
  deadline: WatchdogHandle | undefined;
  /** Sets that flag: the listener of the call's `AbortSignal`. */
  raise: () => void;
  /** Whether `raise` has set the flag. */
  raised: boolean;
}

/** A stop that is due, and the reason the meter gives for it. */
interface Due {
  reason: StopReason;
  stop: Stop;
}

/**
 * How far ahead of this thread's clock the watchdog's may find a deadline
 * passed and still be believed: a guest it stopped sooner goes on.
 */
const MAX_CLOCK_SKEW_MS = 2;

/** Holds this thread until `performance.now()` reaches `at`. */
function waitUntil(at: number): void {
  for (;;) {
    const left = at - performance.now();
    if (left <= 0) return;
    // Asleep for all but the last millisecond, which is spun.
    if (left > 1) Atomics.wait(SLEEP, 0, 0, left - 1);
  }
}

/** A word nobody notifies, to sleep on. */
const SLEEP = new Int32Array(new SharedArrayBuffer(4));

/** What a watched call is watched for. */
export interface WatchOptions {
  /** Milliseconds from the start of the call. */
  timeout?: number;
  /** Aborts the call. */
  signal?: AbortSignal;
  /** Stops the call when another thread sets it. */
  stop?: StopSignal;
  /** For async calls: yield to the event loop every {@linkcode TICK_MS}. */
  yields?: boolean;
  /**
   * The watches of calls of other guests this call is made inside of (from
   * a host import): their deadlines and signals stop this call too.
   */
  enclosing?: readonly CallWatch[];
  /**
   * The flags of the guests of those calls (`enclosingFlags`): this call's
   * own stops are armed on them too.
   */
  outerFlags?: readonly Int32Array[];
  /**
   * When the call was made, from `performance.now()`, which the deadline
   * counts from: earlier than now for an async call that waited for its
   * turn. Default: now.
   */
  started?: number;
  /**
   * Given the watch before anything is armed: what ends the call when a
   * stack overflow cut its start short (`cut_short_ends.ts`) disposes it.
   */
  holder?: { watch?: CallWatch };
  /**
   * The watch of the innermost call of the same guest this call is nested
   * in, if any: what it arms on the flag holds while this call runs, and
   * is not armed again.
   */
  covering?: CallWatch;
}

/**
 * Watches one call of a metered guest: sets its stop flag when it must
 * look, and says whether it must stop. {@linkcode CallWatch.dispose} it
 * when the call ends.
 */
export class CallWatch {
  readonly #state: CallState;
  readonly #started: number;
  readonly #deadline: number;
  readonly #timeout: number | undefined;
  readonly #signal: AbortSignal | undefined;
  readonly #stop: StopSignal | undefined;
  readonly #flag: Int32Array | undefined;
  readonly #handles: WatchdogHandle[] = [];
  /** The watchdog's handle on the deadline, while armed. */
  #deadlineHandle: WatchdogHandle | undefined;
  /** The enclosing calls' watches, with the handles on their deadlines. */
  readonly #enclosing:
    | { watch: CallWatch; handle?: WatchdogHandle }[]
    | undefined;
  /**
   * The enclosing calls' AbortSignals (each once, none this call's own)
   * listened to on this call's flag.
   */
  readonly #outerSignals: AbortSignal[] = [];
  /**
   * Those a check asks: the one whose deadline comes first, if before this
   * call's, and the first with each StopSignal and AbortSignal that is not
   * this call's. The others can come due only after one of these.
   */
  readonly #asked:
    | { watch: CallWatch; handle?: WatchdogHandle }[]
    | undefined;
  /**
   * The flags of the enclosing calls' guests this call's own stops are
   * armed on (see `flags_in_calls.ts`).
   */
  readonly #armedOn: OuterArming[] = [];
  /**
   * The earliest deadline armed on this call's flag by this call or the
   * calls of its guest it is nested in (see `WatchOptions.covering`).
   */
  #flagDeadline = Infinity;
  /** The StopSignals (their buffers) watched on the flag, so too. */
  #flagStops: ReadonlySet<SharedArrayBuffer> = NO_STOPS;

  /**
   * Starts watching.
   *
   * @param state The call's state, where stops are recorded.
   * @param flag The guest's stop flag, if it has one.
   * @param options The deadline, signals, and whether the call yields.
   */
  constructor(
    state: CallState,
    flag: Int32Array | undefined,
    options: WatchOptions,
  ) {
    this.#state = state;
    this.#flag = flag;
    this.#started = options.started ?? performance.now();
    this.#timeout = options.timeout;
    this.#deadline = options.timeout === undefined
      ? Infinity
      : this.#started + options.timeout;
    this.#signal = options.signal;
    this.#stop = options.stop;
    if (options.holder !== undefined) options.holder.watch = this;
    // What the calls of this guest this one is nested in arm on its flag
    // holds while it runs: a call nested 400 deep in one guest had armed
    // its own deadline and StopSignal again at every level, past the
    // watchdog's slots, and each end then waited for the thread to
    // receive its disarms.
    const outer = options.covering;
    const covering = flag !== undefined && outer !== undefined &&
        outer.#flag === flag
      ? outer
      : undefined;
    // Made only where a call may read it: most calls have no StopSignal
    // and are nested in none.
    const watched = covering !== undefined || this.#stop !== undefined ||
        (options.enclosing?.length ?? 0) > 0
      ? new Set(covering === undefined ? NO_STOPS : covering.#flagStops)
      : undefined;
    this.#flagStops = watched ?? NO_STOPS;
    this.#flagDeadline = covering === undefined
      ? Infinity
      : covering.#flagDeadline;
    try {
      if (flag !== undefined) {
        this.#arm(flag, options.yields ?? false, watched);
      }
      const enclosing = options.enclosing;
      if (enclosing !== undefined && enclosing.length > 0) {
        // Of the deadlines, only the first can stop this call first, and
        // the watchdog's slots are few: a call nested a hundred deep had
        // armed thousands, by message, and its own deadline landed late.
        let first: CallWatch | undefined;
        let firstDeadline = this.#deadline;
        for (const outer of enclosing) {
          if (outer.#deadline < firstDeadline) {
            first = outer;
            firstDeadline = outer.#deadline;
          }
        }
        // Armed unless the flag has an earlier deadline armed already.
        const armFirst = flag !== undefined &&
          firstDeadline < this.#flagDeadline;
        // Each StopSignal is watched once on the flag, as the deadline is:
        // nested calls of two guests calling each other, all given one
        // StopSignal, each armed a watch of it per enclosing call, and the
        // calls went quadratic in their depth.
        const stops = new Set<SharedArrayBuffer>();
        if (this.#stop !== undefined) stops.add(this.#stop.buffer);
        const signals = new Set<AbortSignal>();
        if (this.#signal !== undefined) signals.add(this.#signal);
        this.#enclosing = [];
        this.#asked = [];
        for (const outer of enclosing) {
          const stop = outer.#stop?.buffer;
          const signal = outer.#signal;
          const asked = outer === first ||
            (stop !== undefined && !stops.has(stop)) ||
            (signal !== undefined && !signals.has(signal));
          if (stop !== undefined) stops.add(stop);
          if (signal !== undefined && !signals.has(signal)) {
            signals.add(signal);
            // Listened to on the flag below, once: its end stops listening.
            if (flag !== undefined) this.#outerSignals.push(signal);
          }
          const entry = {
            watch: outer,
            handle: flag === undefined
              ? undefined
              : this.#armFor(flag, outer, undefined, undefined, undefined, {
                deadline: armFirst && outer === first,
                watched,
              }),
          };
          this.#enclosing.push(entry);
          if (asked) this.#asked.push(entry);
        }
        if (armFirst) this.#flagDeadline = firstDeadline;
      }
      const outerFlags = options.outerFlags ?? NO_FLAGS;
      if (outerFlags.length > 0 && this.#ownStops()) {
        const onFlag = this.#enclosingByFlag();
        for (const outerFlag of outerFlags) {
          this.#armOnOuter(outerFlag, onFlag.get(outerFlag) ?? NONE);
        }
      }
    } catch (error) {
      // Nothing armed may outlive a watch that was never made: it would
      // set the flag in a later call.
      this.dispose();
      throw error;
    }
  }

  /** The call state the watch records stops in. */
  get state(): CallState {
    return this.#state;
  }

  /** When the call started, from `performance.now()`. */
  get started(): number {
    return this.#started;
  }

  /**
   * Records the stop if the deadline passed or the signal aborted, or one
   * of an enclosing call's did.
   *
   * @param now The time, from `performance.now()`.
   * @param trapped Whether the guest trapped at the set flag, and so
   *   cannot go on: a deadline the watchdog set it for is then waited for
   *   by this thread's clock, however far off it is, rather than let go.
   * @param enclosing Whether the enclosing calls' stops are asked too:
   *   not when the guest's flag is clear, which any of theirs that is due
   *   sets (see `CallStack.pop`).
   * @returns Whether the call must stop (a stop is recorded in its state).
   */
  check(now: number, trapped = false, enclosing = true): boolean {
    if (this.#state.stop !== undefined) return true;
    let due = this.#due(now, trapped, undefined, true);
    const outers = enclosing ? this.#asked ?? NONE_ENCLOSING : [];
    for (const { watch: outer, handle } of outers) {
      if (due !== undefined) break;
      due = outer.#due(now, trapped, handle);
    }
    if (due === undefined) return false;
    // Recorded first: the meter's stop must find the call's reason there.
    this.#state.stop ??= due.stop;
    this.#state.meter?.stop(due.reason);
    return true;
  }

  /**
   * {@linkcode CallWatch.check}, if the running code is inside this call
   * (a plain call in progress on this thread, or an async call whose
   * context this is): asked by the guest of an enclosing call whose code
   * found its flag set, which may be running inside another call of its
   * own inner ones (two async calls made in its import, both reaching its
   * code), whose stop is not this one's.
   *
   * @param now The time, from `performance.now()`.
   * @param trapped As for {@linkcode CallWatch.check}.
   * @param inside The watches of the calls the running code is inside of
   *   ({@linkcode watchesInside}), when the caller has them.
   * @returns Whether the running code must stop for this call.
   */
  checkIfInside(
    now: number,
    trapped = false,
    inside: ReadonlySet<CallWatch> = watchesInside(),
  ): boolean {
    return inside.has(this) && this.check(now, trapped);
  }

  /**
   * Whether the flag of a call this one is made inside of, which this
   * call's stops are armed on, is set: the guest of that call may have
   * trapped at it inside this call.
   */
  outerFlagSet(): boolean {
    for (const { flag } of this.#armedOn) {
      if (Atomics.load(flag, 0) !== 0) return true;
    }
    return false;
  }

  /** Whether the watchdog fired for this call's deadline, on any flag. */
  #deadlineFired(): boolean {
    if (this.#deadlineHandle?.fired() === true) return true;
    for (const { deadline } of this.#armedOn) {
      if (deadline?.fired() === true) return true;
    }
    return false;
  }

  /**
   * This watch's stop, if one is due: its deadline passed (or the
   * watchdog fired for it: on `handle`, or on any of its own handles when
   * `own`), or a signal of its is set.
   */
  #due(
    now: number,
    trapped: boolean,
    handle: WatchdogHandle | undefined,
    own = false,
  ): Due | undefined {
    stopsAsked++;
    // The watchdog's clock may run a fraction of a millisecond ahead of
    // this thread's: a deadline it found passed is passed once this
    // thread's clock agrees, so that a stop never reports less than its
    // timeout. A flag it set further ahead of this thread's clock (its
    // clock was off, or its time came from elsewhere) is no stop: a guest
    // that can go on does, and is asked again at its next check; one that
    // trapped at it (a guest whose flag checks trap cannot be asked again)
    // is stopped once the deadline has passed by this thread's clock.
    // Whether the watchdog fired is asked last, only where it matters: a
    // call armed on the flags of a hundred enclosing calls has as many
    // handles, and a check asked them all.
    if (
      now >= this.#deadline ||
      ((trapped || this.#deadline - now <= MAX_CLOCK_SKEW_MS) &&
        (own ? this.#deadlineFired() : handle?.fired() === true))
    ) {
      waitUntil(this.#deadline);
      return {
        reason: "deadline",
        stop: deadlineStop(this.#timeout!, this.#started),
      };
    }
    if (this.#signal !== undefined && signalAborted(this.#signal)) {
      return {
        reason: timedOut(signalReason(this.#signal)) ? "deadline" : "abort",
        stop: abortStop(this.#signal, this.#started),
      };
    }
    if (this.#stop?.stopped) {
      const reason = this.#stop.reason;
      return { reason: "stop", stop: () => new Aborted(reason) };
    }
    return undefined;
  }

  /**
   * The meter's `poll` during the call: a guest without a stop flag is
   * looked in on only when it asks for fuel.
   */
  readonly poll = (): boolean => this.check(performance.now());

  /** Stops setting the flag. Calling it twice does nothing. */
  dispose(): void {
    if (this.#signal !== undefined) {
      stopListeningForAbort(this.#signal, this.#raise);
    }
    // Only the enclosing calls' distinct signals: going through every
    // enclosing call made the unwinding of two guests calling each other
    // 1,000 deep quadratic in the depth.
    for (const signal of this.#outerSignals) {
      stopListeningForAbort(signal, this.#raise);
    }
    // Read once: a deadline that passes after it can have set a flag only
    // through a handle armed there, whose firing is asked after its disarm.
    const now = this.#armedOn.length > 0 ? performance.now() : 0;
    while (this.#armedOn.length > 0) {
      const arming = this.#armedOn[this.#armedOn.length - 1];
      this.disarmOn(arming.flag);
      // Asked once disarmed, so that a setting before the disarm is seen.
      innerEnded(arming.flag, this, this.#setFlag(arming, now));
    }
    const handles = this.#handles;
    if (handles.length === 0) return;
    for (const handle of handles) handle.disarm();
    handles.length = 0;
  }

  /** Whether this call has a stop of its own to arm on enclosing flags. */
  #ownStops(): boolean {
    return this.#deadline !== Infinity || this.#stop !== undefined ||
      this.#signal !== undefined;
  }

  /**
   * The enclosing calls by their guests' flags: looked up once per flag,
   * where a search of them all for each flag made a call made inside a
   * chain of async calls of many guests quadratic in its depth.
   */
  #enclosingByFlag(): Map<Int32Array | undefined, CallWatch[]> {
    const byFlag = new Map<Int32Array | undefined, CallWatch[]>();
    for (const { watch: outer } of this.#enclosing ?? NONE_ENCLOSING) {
      const same = byFlag.get(outer.#flag);
      if (same === undefined) byFlag.set(outer.#flag, [outer]);
      else same.push(outer);
    }
    return byFlag;
  }

  /**
   * Whether this call's stops may have set the flag of an enclosing call's
   * guest it was armed on: its abort or an arming that found a stop due
   * raised it, or the watchdog fired one of its handles there (its
   * deadline, or its StopSignal, which may have been reset since: a guest
   * whose flag checks trap must not find the flag set for it). A flag set
   * otherwise was set by another call's stop or an async guest's tick, and
   * is left as it is.
   *
   * @param arming The arming on that flag, disarmed.
   * @param now `performance.now()`, read before the flags were disarmed.
   */
  #setFlag(arming: OuterArming, now: number): boolean {
    if (arming.raised || now >= this.#deadline) return true;
    for (const handle of arming.handles) if (handle.fired()) return true;
    return false;
  }

  /**
   * Arms this call's own stops on the flag of a call it is made inside of:
   * code of that call's guest this call reaches reads that flag, not this
   * call's.
   *
   * @param flag The enclosing call's guest's flag.
   * @param outers The enclosing calls whose guest's flag it is.
   */
  #armOnOuter(flag: Int32Array, outers: readonly CallWatch[]): void {
    if (flag === this.#flag || !addInner(flag, this)) return;
    const arming: OuterArming = {
      flag,
      handles: [],
      deadline: undefined,
      raise: () => {
        arming.raised = true;
        Atomics.store(flag, 0, 1);
      },
      raised: false,
    };
    this.#armedOn.push(arming);
    // What an enclosing call of that guest holds armed on it already (see
    // `#flagDeadline`), a deadline no later than this call's and the same
    // StopSignal, is not armed again: the watchdog's slots ran out 100
    // deep between two guests, and each call's end then waited for the
    // thread to receive its disarms (400 deep unwound in 35 to 63 ms after
    // a stop).
    let deadline = true;
    const watched = new Set<SharedArrayBuffer>();
    for (const outer of outers) {
      if (outer.#flagDeadline <= this.#deadline) deadline = false;
      for (const stop of outer.#flagStops) watched.add(stop);
    }
    arming.deadline = this.#armFor(
      flag,
      this,
      this.#started,
      arming.handles,
      arming.raise,
      { deadline, watched },
    );
  }

  /**
   * Disarms this call's stops on an enclosing call's flag: that call has
   * ended (or this one has).
   *
   * @param flag The enclosing call's guest's flag.
   */
  disarmOn(flag: Int32Array): void {
    const at = this.#armedOn.findIndex((arming) => arming.flag === flag);
    if (at === -1) return;
    const { handles, raise } = this.#armedOn[at];
    if (this.#signal !== undefined) stopListeningForAbort(this.#signal, raise);
    // Taken off the list once disarmed: a dispose cut short by a stack
    // overflow is run again (see `cut_short_ends.ts`).
    for (const handle of handles) handle.disarm();
    this.#armedOn.splice(at, 1);
  }

  readonly #raise = (): void => {
    if (this.#flag !== undefined) Atomics.store(this.#flag, 0, 1);
  };

  /** Has the watchdog (or an abort) set the flag when the call must look. */
  #arm(
    flag: Int32Array,
    yields: boolean,
    watched: Set<SharedArrayBuffer> | undefined,
  ): void {
    this.#deadlineHandle = this.#armFor(
      flag,
      this,
      this.#started,
      undefined,
      undefined,
      { deadline: this.#deadline < this.#flagDeadline, watched },
    );
    this.#flagDeadline = Math.min(this.#flagDeadline, this.#deadline);
    if (yields) tick(flag, TICK_MS, this.#handles);
  }

  /**
   * Has the watchdog (or an abort) set `flag` for the stops of `source`:
   * this call's own, or an enclosing call's, on this call's flag or an
   * enclosing call's.
   *
   * @param flag The flag to set.
   * @param source The watch whose deadline and signals stop this call.
   * @param now The time a deadline at or before which has passed already.
   * @param handles Where the watchdog's handles go, to disarm.
   * @param raise Sets `flag`: an abort's listener.
   * @param arming Whether `source`'s deadline is armed (if it has not
   *   passed): not when another comes first; and the StopSignals (their
   *   buffers) watched on `flag` already, whose watch is not armed again.
   * @returns The handle on `source`'s deadline, when armed.
   */
  #armFor(
    flag: Int32Array,
    source: CallWatch,
    now = performance.now(),
    handles = this.#handles,
    raise = this.#raise,
    arming: { deadline: boolean; watched?: Set<SharedArrayBuffer> } = {
      deadline: true,
    },
  ): WatchdogHandle | undefined {
    let handle: WatchdogHandle | undefined;
    if (source.#deadline <= now) raise();
    else if (arming.deadline && source.#deadline !== Infinity) {
      // Into `handles` before the watchdog has it (see `armSlot`).
      handle = arm(flag, source.#deadline, handles);
    }
    const stop = source.#stop;
    if (stop !== undefined) {
      if (stop.stopped) raise();
      if (arming.watched?.has(stop.buffer) !== true) {
        arming.watched?.add(stop.buffer);
        watch(stop, flag, handles);
      }
    }
    if (source.#signal !== undefined) {
      if (signalAborted(source.#signal)) raise();
      else listenForAbort(source.#signal, raise);
    }
    return handle;
  }
}
