/**
 * The calls of one guest in progress: a host import may call back into the
 * guest that called it, so calls nest.
 *
 * Each call's options apply to it alone, and every call below it keeps its
 * own: while a nested call runs, the watches of the calls it is nested in
 * are checked whenever the guest finds its stop flag set (every call's
 * watch sets the one flag), and when it ends their state (the stop they
 * recorded, what their imports threw and their fuel) is put back and their
 * watches checked again. A deadline or StopSignal of an
 * outer call that arrives during a nested call stops the nested call with
 * that stop, and the outer call at its next check.
 *
 * Fuel is one tank: work in a nested call counts against the outer call's
 * budget too. A nested call given its own `fuel` gets at most what the
 * outer call has left, and afterwards the outer call has what it had less
 * what the nested call consumed.
 *
 * @module
 */

import type { CallState } from "./call_state.ts";
import type { MeteredCall } from "../meter/metered_call.ts";
import type { CallOutcome } from "./outcome.ts";
import { markIdle } from "./outside_call.ts";
import { settleWatchdog } from "../watchdog/watchdog.ts";
import { type FlagUse, flagUse, innerStopDue } from "./flags_in_calls.ts";
import type { ListedCall } from "./cut_short_ends.ts";
import { cutFrom } from "./calls_in_progress.ts";
import type { CallWatch } from "./call_watch.ts";

/** What a nested call puts back when it ends. */
interface Saved {
  stop: CallState["stop"];
  thrown: unknown;
  thrownBy: string | undefined;
  refuel: CallState["refuel"];
  /** The fuel the outer call had when the nested call was given its own. */
  outerFuel: number | undefined;
}

/** One call in progress. */
export interface Frame extends ListedCall {
  /** The metered side of the call, for a metered guest. */
  call: MeteredCall | undefined;
  /** The state of the call below it, to put back. */
  saved: Saved;
  /**
   * Where a plain call is listed among the calls in progress on the
   * thread (`cut_short_ends.ts`); -1 for an async call.
   */
  at: number;
  /**
   * The meter's level for the call, for a guest that counts fuel: set
   * (by `beginMeteredCall`) before its books begin.
   */
  level?: number;
  /** The call's watch, from before it arms anything. */
  watch?: CallWatch;
}

/** The calls of one guest in progress, innermost last. */
export class CallStack {
  readonly #state: CallState;
  readonly #frames: Frame[] = [];
  /** The use of the guest's flag, once a call has needed it. */
  #use: FlagUse | undefined;

  /** @param state The guest's call state, which all its calls share. */
  constructor(state: CallState) {
    this.#state = state;
  }

  /** The use of the guest's flag, if it has one (`flags_in_calls.ts`). */
  #flagUse(): FlagUse | undefined {
    const flag = this.#state.flag;
    if (flag === undefined) return undefined;
    if (this.#use?.flag !== flag) this.#use = flagUse(flag);
    return this.#use;
  }

  /** Whether a call is in progress. */
  get active(): boolean {
    return this.#frames.length > 0;
  }

  /**
   * The watch of the innermost call in progress that has one: what it arms
   * on the guest's flag holds for as long as a call nested in it runs.
   */
  get innermostWatch(): CallWatch | undefined {
    const frames = this.#frames;
    for (let at = frames.length - 1; at >= 0; at--) {
      const watch = frames[at].call?.watch;
      if (watch !== undefined) return watch;
    }
    return undefined;
  }

  /** Whether a call in progress is watched for a deadline or a signal. */
  get watched(): boolean {
    return this.#frames.some((frame) => frame.call?.watch !== undefined);
  }

  /** Fuel left to the calls in progress, when a nested call gets its own. */
  outerFuel(fuel: number | undefined): number | undefined {
    if (fuel === undefined || !this.active) return undefined;
    return this.#state.meter?.remaining;
  }

  /**
   * Saves the state of the call in progress and clears it for a new one.
   *
   * @param outerFuel What {@linkcode CallStack.outerFuel} said.
   * @returns What {@linkcode CallStack.push} or {@linkcode CallStack.restore} takes.
   */
  save(outerFuel: number | undefined): Saved {
    const state = this.#state;
    // A first call starts with its flag clear: whatever set it was for a
    // call that has ended.
    if (!this.active) this.#clearFlag();
    const saved: Saved = {
      stop: state.stop,
      thrown: state.thrown,
      thrownBy: state.thrownBy,
      refuel: state.refuel,
      outerFuel,
    };
    state.stop = undefined;
    state.thrown = undefined;
    state.thrownBy = undefined;
    return saved;
  }

  /** Puts back the state of the call below, when a call could not start. */
  restore(saved: Saved): void {
    const state = this.#state;
    if (!this.active) this.idle();
    state.stop = saved.stop;
    state.thrown = saved.thrown;
    state.thrownBy = saved.thrownBy;
    state.refuel = saved.refuel;
  }

  /**
   * Starts a call: it becomes the innermost, and every watch in progress is
   * checked when it asks for fuel.
   */
  push(frame: Frame): void {
    if (!this.active) this.#flagUse()?.enter(this.#checkAll);
    this.#frames.push(frame);
    this.#pollAll();
  }

  /**
   * Ends the innermost call, whose outcome has been settled. The call below
   * gets its state back, and when its deadline passed or a signal of its
   * came meanwhile, the stop is recorded for it. The frame comes off the
   * stack last, so that a pop cut short by a stack overflow can be run
   * again (see `cut_short_ends.ts`); a frame no longer on it has ended.
   *
   * @param frame The innermost call.
   * @param outcome How it ended, with its fuel.
   */
  pop(frame: Frame, outcome: CallOutcome): void {
    const frames = this.#frames;
    const at = frames[frames.length - 1] === frame
      ? frames.length - 1
      : frames.lastIndexOf(frame);
    if (at === -1) return;
    if (at === 0) {
      this.#flagUse()?.leave();
      this.idle();
      cutFrom(this.#frames, 0);
      return;
    }
    const { saved } = frame;
    const meter = this.#state.meter;
    if (saved.outerFuel !== undefined && meter !== undefined) {
      const consumed = outcome.fuel?.consumed ?? 0;
      meter.setFuel(Math.max(0, saved.outerFuel - consumed));
    }
    this.restore(saved);
    cutFrom(frames, at);
    this.#pollAll();
    // The flag may have been set for the nested call alone; a guest whose
    // flag checks trap would stop on it. The calls of other guests this
    // one's are made inside of, and those made inside this one's, are
    // asked only when the flag is set, which their due stops set: asked at
    // every return, calls nested between two guests had gone cubic in
    // their depth. This guest's own calls are asked each time, so that a
    // stop set before the nested call returned holds the call it returns
    // to even if that call makes no check before it returns.
    const flag = this.#state.flag;
    if (flag === undefined) {
      this.check();
      return;
    }
    settleWatchdog();
    if (Atomics.load(flag, 0) !== 0) {
      if (!this.check()) flag[0] = 0;
      return;
    }
    const now = performance.now();
    for (const frame of frames) frame.call?.watch?.check(now, false, false);
  }

  /**
   * Sets the stop flag for no call in progress (`outside_call.ts`): the
   * guest's code, reached from elsewhere, traps at its first check.
   */
  idle(): void {
    const flag = this.#state.flag;
    if (flag !== undefined) markIdle(flag);
  }

  /**
   * Clears the stop flag once the watchdog has nothing pending from calls
   * that have ended; anything still armed sets it again when due.
   */
  #clearFlag(): void {
    const flag = this.#state.flag;
    if (flag === undefined) return;
    settleWatchdog();
    // A plain store, which every first call now makes (the flag is idle
    // between calls; an atomic one cost a call about 15 ns): it comes
    // before the call's watches are armed, by atomic stores the watchdog
    // reads, so any setting of theirs comes after it.
    if (Atomics.load(flag, 0) !== 0) flag[0] = 0;
  }

  /**
   * Whether any call in progress must stop: records the stop when one's
   * deadline passed or a signal of its is set (or, for a call of another
   * guest made inside one, that call's: see `flags_in_calls.ts`). A check
   * (such as a stop flag's) that any frame may have caused asks this.
   *
   * @param now `performance.now()`.
   * @param trapped Whether the guest trapped at its set flag (see
   *   `CallWatch.check`).
   * @returns Whether a stop is recorded.
   */
  check(now: number = performance.now(), trapped = false): boolean {
    if (this.#state.stop !== undefined) return true;
    // The first stop found is recorded in the guest's state, which every
    // frame's watch shares, and the others' checks would only find it
    // there: 300 calls deep, asking them all took a stop's unwinding 2 µs
    // a level.
    for (const frame of this.#frames) {
      if (frame.call?.watch?.check(now, trapped)) return true;
    }
    return innerStopDue(this.#state.flag, now, trapped);
  }

  /**
   * Whether the flag of another guest, whose call a call in progress is
   * made inside of, is set: that guest's code, reached from this guest's
   * call, may have trapped at it for this call's stop.
   */
  readonly outerFlagSet = (): boolean => {
    for (const frame of this.#frames) {
      if (frame.call?.watch?.outerFlagSet()) return true;
    }
    return false;
  };

  readonly #checkAll = (): boolean => this.check();

  /** Points the meter's poll at a check of every call in progress. */
  #pollAll(): void {
    this.#state.poll = this.watched ? this.#checkAll : undefined;
  }
}
