/**
 * A crowd of async guests that spin while one more call waits its turn
 * behind them: how many of them ran before that call's stop landed.
 *
 * @module
 */

import { assembleWat } from "../../guest/build.ts";
import { type CallOutcome, loadGuest, StopSignal } from "../../mod.ts";
import { expectOutcome } from "./outcome.ts";

/** Spins, counting its turns of the loop in `turns`. */
export const COUNTING_SPIN: Uint8Array = await assembleWat(`(module
  (global $turns (export "turns") (mut i32) (i32.const 0))
  (func (export "spin") (loop $again
    (global.set $turns (i32.add (global.get $turns) (i32.const 1)))
    (br $again))))`);

/** How many async guests spin beside the stopped call. */
export const CROWD = 16;

/** What the stopped call is given: its StopSignal or its AbortSignal. */
export type CrowdStop = { stop: StopSignal } | { signal: AbortSignal };

/**
 * Starts `CROWD` spinning async guests, then (from a timer, so its turn
 * comes last in each round of theirs) the call `start` makes, stops it
 * while every guest waits for its turn, and returns how many of the crowd
 * ran a turn before the stopped call came back `aborted`.
 */
export async function othersRanFirst(
  start: (stop: CrowdStop) => Promise<CallOutcome>,
  stopBy: "StopSignal" | "abort",
): Promise<number> {
  const others = await Promise.all(
    Array.from(
      { length: CROWD },
      () => loadGuest(COUNTING_SPIN, { async: true }),
    ),
  );
  const end = new AbortController();
  const running = others.map((guest) =>
    guest.invokeAsync("spin", [], { signal: end.signal })
  );
  const turns = () =>
    others.map((guest) =>
      (guest.instance.exports.turns as WebAssembly.Global).value as number
    );
  try {
    const stop = new StopSignal();
    const abort = new AbortController();
    await new Promise((resolve) => setTimeout(resolve, 10));
    const call = start(
      stopBy === "StopSignal" ? { stop } : { signal: abort.signal },
    );
    await new Promise((resolve) => setTimeout(resolve, 10));
    const before = turns();
    if (stopBy === "StopSignal") stop.stop("enough");
    else abort.abort("enough");
    expectOutcome(await call, "aborted");
    return turns().filter((count, i) => count !== before[i]).length;
  } finally {
    end.abort();
    for (const result of await Promise.all(running)) {
      expectOutcome(result, "aborted");
    }
  }
}
