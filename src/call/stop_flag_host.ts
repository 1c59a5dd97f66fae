/**
 * The host side of a guest's stop flag: the memories a guest rewritten with
 * `stopFlag` imports, and its `on_stop_flag`, which the guest calls when it
 * finds the flag set.
 *
 * @module
 */

import { type CallState, recordStop, type Stop } from "./call_state.ts";
import { leaveUncounted } from "../module/mapped_regions.ts";
import { suspending } from "./jspi.ts";
import { heapCheck } from "./heap_limit.ts";
import { markIdle, outsideCalls } from "./outside_call.ts";
import {
  type StartYieldCallback,
  startYieldCallback,
  TURN,
} from "./start_yield.ts";
import type { InstrumentedModule } from "../wasm/mod.ts";
import type { BoundFlag } from "../watchdog/watchdog.ts";
import { turnUnlessDue } from "../watchdog/yield.ts";

/** The flag, and the imports that give it to an instance. */
export interface StopFlagHost {
  /** The flag word, over the shared flag memory. */
  flag: Int32Array;
  /**
   * The added imports for one instance: the memories the guest defined,
   * fresh each time, the flag memory and `on_stop_flag`.
   */
  imports(): Record<string, WebAssembly.ImportValue>;
}

/**
 * Makes the flag memory and the callback for a rewritten guest.
 *
 * @param stopFlag What the rewriter says the guest imports.
 * @param state The guest's call state, whose `check` decides.
 * @param async Whether calls yield: the callback then suspends the guest
 *   for one turn of the event loop before it answers, unless a stop is
 *   already due.
 * @param bound The flag memory (shared, one page, as the rewrite imports
 *   it) and its word, already bound to the watchdog's slots.
 * @param heapLimit `limits.heap`, if given.
 * @param startYields Whether the guest, loaded for plain calls, has a start
 *   function that yields as an async call does: the callback may then
 *   suspend it, but only there (`state.onStart`).
 * @returns The flag and the imports.
 */
export function stopFlagHost(
  stopFlag: NonNullable<InstrumentedModule["stopFlag"]>,
  state: CallState,
  async: boolean,
  bound: BoundFlag,
  heapLimit?: number,
  startYields = false,
): StopFlagHost {
  const { memory: shared, flag } = bound;
  // One page, shared by all of this guest's instances: none of its maps.
  leaveUncounted(shared);
  // No call is in progress yet: the guest's code refuses to run until one
  // is (`outside_call.ts`), also once instantiation has put its functions
  // in the host's tables, before the guest is made.
  markIdle(flag);
  const pastHeap = heapCheck(flag, heapLimit, (stop) => {
    recordStop(state, stop);
    Atomics.store(flag, 0, 1);
  });
  // Whether a stop of this guest's calls is due: asked by other guests'
  // yields while this one waits for its turn.
  const due = (): boolean => state.check?.() === true;
  const answer = (): number => {
    // Cleared first, so that a set that races with the check is not lost.
    Atomics.store(flag, 0, 0);
    if (state.check?.() !== true) return 0;
    // It stays set while the stop is pending: the frames below a nested
    // call trap at their next check too.
    Atomics.store(flag, 0, 1);
    return 1;
  };
  // Called with the flag clear, by a bulk operator between its chunks: a
  // poll, which never suspends and never clears the flag.
  const poll = (): number => {
    if (state.check?.() !== true) return 0;
    Atomics.store(flag, 0, 1);
    return 1;
  };
  // Code of the guest reached while none of its calls is in progress (from
  // another guest, or the host) stops at once, before it suspends or reads
  // the heap: the flag stays as it was, and the trap names the guest.
  const outside = (): boolean => outsideCalls(state);
  // Stops that need no answer from the host's turn come first: code reached
  // outside a call, then the heap; a clear flag is a bulk operator's poll.
  const stoppedAtOnce = (): boolean => outside() || pastHeap();
  // The answer that needs no turn of the event loop: 0 (go on), 1 (stop),
  // or `turn` when the flag was set for no stop and the call may yield.
  const atOnce = <T>(turn: T): number | T =>
    stoppedAtOnce()
      ? 1
      : Atomics.load(flag, 0) === 0
      ? poll()
      : answer() === 1
      ? 1
      : turn;
  // The guest's last call may have ended during the turn (this is another
  // guest's call, reaching its code): its flag is then held idle, and must
  // not be cleared.
  const afterTurn = () =>
    turnUnlessDue(due).then(() => outside() ? 1 : answer());
  // An async call's set flag is mostly the watchdog's tick, a turn of the
  // event loop due; but a stop already due is answered before that turn,
  // which could run other work and V8's pending tasks first (a collection's
  // pause among them).
  const callback = async
    ? suspending(() => atOnce(null) ?? afterTurn())
    : startYields
    // Turns the event loop only while the start function runs (its switch
    // is set): after it, the guest's calls are plain. Where the engine
    // refuses the turn (the host's frames below, as under an import that
    // calls the guest back), the helper goes on.
    ? startYieldOn(
      state,
      startYieldCallback(
        (onStart) => atOnce(onStart === 1 ? TURN : 0),
        suspending(afterTurn),
      ),
    )
    : () => atOnce(0);
  return {
    flag,
    imports() {
      const imports: Record<string, WebAssembly.ImportValue> = {
        [stopFlag.callback]: callback,
      };
      for (const { name, descriptor } of stopFlag.memories) {
        imports[name] = name === stopFlag.memory
          ? shared
          : new WebAssembly.Memory(
            descriptor as WebAssembly.MemoryDescriptor,
          );
      }
      return imports;
    },
  };
}

/** Gives the state the start function's switch; returns the callback. */
function startYieldOn(
  state: CallState,
  { callback, onStart }: StartYieldCallback,
): WebAssembly.ImportValue {
  state.onStart = onStart;
  return callback;
}

/**
 * After a call ended in an error: when the guest's flag is set, a stop may
 * be why (a guest whose flag checks trap stops without asking
 * `on_stop_flag`), so the calls in progress are asked, which records it.
 *
 * @param state The guest's call state.
 * @param trapped Whether the call ended in an error (a trap at the flag,
 *   as a rule), so that the guest cannot go on: a deadline the watchdog
 *   set the flag for ahead of this thread's clock is then waited for.
 * @param outerFlagSet Whether a flag that the calls' stops are armed on
 *   besides the guest's own is set (another guest's, whose call these are
 *   made inside of: its code they reach traps at its own flag).
 * @returns The stop recorded, if any.
 */
export function flagStop(
  state: CallState,
  trapped = false,
  outerFlagSet?: () => boolean,
): Stop | undefined {
  const flag = state.flag;
  if (
    (flag !== undefined && Atomics.load(flag, 0) !== 0) ||
    outerFlagSet?.() === true
  ) {
    state.check?.(trapped);
  }
  return state.stop;
}
