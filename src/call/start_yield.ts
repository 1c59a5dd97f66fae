/**
 * The stop flag's callback for a guest loaded for plain calls whose start
 * function yields to the event loop (a load given a `signal`): that start
 * function runs through `WebAssembly.promising`, as an async call does, and
 * must be able to suspend at its flag checks; the guest's later calls are
 * plain, and V8 refuses any call of a suspending import outside
 * `promising`, even one that would not suspend. So the callback is a tiny
 * wasm function between the two: it asks a plain import, and calls the
 * suspending one only when that answer says to turn the event loop, which
 * it says only while the start function runs, and lets the engine's
 * refusal go where the host's frames are below (a call nested in the start
 * function's import).
 *
 * @module
 */

import { isSuspendError } from "./jspi.ts";

/**
 * The helper module: `answer` is given whether the start function's own
 * code is running (`on_start`, which the host sets as it calls the start
 * function) and gives 0 (go on), 1 (stop) or 2 (turn the event loop
 * first); on 2, `turn`, a suspending import, gives the answer after the
 * turn. While the start function is suspended there, `on_start` is 0: code
 * of the guest that runs meanwhile (a call made from the event loop, or
 * through a table) is on another stack, where nothing may suspend. Should
 * the engine refuse the turn all the same (its `SuspendError`, thrown
 * before anything is suspended: the host's frames are below, as when the
 * host calls the guest's own exports from an import of the start function,
 * or from a microtask queued as it ended), the callback catches it and
 * says go on, as a check that found no stop due; `refused` throws anything
 * else it catches on.
 *
 * ```wat
 * (module
 *   (import "h" "answer" (func $answer (param i32) (result i32)))
 *   (import "h" "turn" (func $turn (result i32)))
 *   (import "h" "refused" (func $refused (param externref)))
 *   (import "h" "js" (tag $js (param externref)))
 *   (global $onStart (export "on_start") (mut i32) (i32.const 0))
 *   (func (export "callback") (result i32)
 *     (local $answer i32)
 *     (if (result i32)
 *       (i32.eq
 *         (local.tee $answer (call $answer (global.get $onStart)))
 *         (i32.const 2))
 *       (then
 *         (global.set $onStart (i32.const 0))
 *         (local.set $answer (i32.const 0))
 *         (block $turned
 *           (call $refused
 *             (block $caught (result externref)
 *               (try_table (catch $js $caught)
 *                 (local.set $answer (call $turn)))
 *               (br $turned))))
 *         (global.set $onStart (i32.const 1))
 *         (local.get $answer))
 *       (else (local.get $answer)))))
 * ```
 */
// deno-fmt-ignore
export const START_YIELD_HELPER: readonly number[] = [
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  // types: (i32) -> i32, () -> i32, (externref) -> ()
  0x01, 0x0e, 0x03, 0x60, 0x01, 0x7f, 0x01, 0x7f, 0x60, 0x00, 0x01, 0x7f,
  0x60, 0x01, 0x6f, 0x00,
  // imports: h.answer, h.turn, h.refused, and the tag h.js
  0x02, 0x29, 0x04, 0x01, 0x68, 0x06, 0x61, 0x6e, 0x73, 0x77, 0x65, 0x72,
  0x00, 0x00, 0x01, 0x68, 0x04, 0x74, 0x75, 0x72, 0x6e, 0x00, 0x01, 0x01,
  0x68, 0x07, 0x72, 0x65, 0x66, 0x75, 0x73, 0x65, 0x64, 0x00, 0x02, 0x01,
  0x68, 0x02, 0x6a, 0x73, 0x04, 0x00, 0x02,
  // one function, of the second type; the global on_start
  0x03, 0x02, 0x01, 0x01, 0x06, 0x06, 0x01, 0x7f, 0x01, 0x41, 0x00, 0x0b,
  // exports: "on_start", "callback"
  0x07, 0x17, 0x02, 0x08, 0x6f, 0x6e, 0x5f, 0x73, 0x74, 0x61, 0x72, 0x74,
  0x03, 0x00, 0x08, 0x63, 0x61, 0x6c, 0x6c, 0x62, 0x61, 0x63, 0x6b, 0x00,
  0x03,
  // the callback's body
  0x0a, 0x38, 0x01, 0x36, 0x01, 0x01, 0x7f, 0x23, 0x00, 0x10, 0x00, 0x22,
  0x00, 0x41, 0x02, 0x46, 0x04, 0x7f, 0x41, 0x00, 0x24, 0x00, 0x41, 0x00,
  0x21, 0x00, 0x02, 0x40, 0x02, 0x6f, 0x1f, 0x40, 0x01, 0x00, 0x00, 0x00,
  0x10, 0x01, 0x21, 0x00, 0x0b, 0x0c, 0x01, 0x0b, 0x10, 0x02, 0x0b, 0x41,
  0x01, 0x24, 0x00, 0x20, 0x00, 0x05, 0x20, 0x00, 0x0b, 0x0b,
];

/** What `answer` returns to have the callback turn the event loop. */
export const TURN = 2;

let helper: WebAssembly.Module | undefined;

/** The callback, and the switch that says the start function's code runs. */
export interface StartYieldCallback {
  /** The function to import as the flag's callback. */
  callback: WebAssembly.ImportValue;
  /** 1 while the start function's own code runs, else 0. */
  onStart: WebAssembly.Global;
}

/**
 * The callback: a function of a fresh helper instance over `answer` and
 * `turn`.
 *
 * @param answer Answers at once, given whether the start function's own
 *   code runs: 0, 1, or {@linkcode TURN}.
 * @param turn A suspending import (see `jspi.ts`) that answers after a turn
 *   of the event loop; called only when `answer` gave {@linkcode TURN}.
 * @returns The callback, and the switch to set as the start function is
 *   called (and clear once it has ended).
 */
export function startYieldCallback(
  answer: (onStart: number) => number,
  turn: WebAssembly.ImportValue,
): StartYieldCallback {
  helper ??= new WebAssembly.Module(new Uint8Array(START_YIELD_HELPER));
  const instance = new WebAssembly.Instance(helper, {
    h: { answer, turn, refused: throwUnlessRefusal, js: JS_TAG },
  });
  return {
    callback: instance.exports.callback as WebAssembly.ImportValue,
    onStart: instance.exports.on_start as WebAssembly.Global,
  };
}

/**
 * What the callback calls with anything the turn threw: the engine's
 * refusal to suspend (`SuspendError`) is let go, the callback then saying
 * go on; anything else is thrown on.
 */
function throwUnlessRefusal(thrown: unknown): void {
  if (!isSuspendError(thrown)) throw thrown;
}

/**
 * The tag of JavaScript's own exceptions, which the lib types of Deno 2.9.6
 * lack. An engine without it gets a tag of the same type that nothing
 * throws: the helper still links, and a refused turn is thrown, as it was
 * before the helper caught it.
 */
const JS_TAG = (() => {
  const api = WebAssembly as unknown as {
    JSTag?: WebAssembly.ImportValue;
    Tag: new (type: { parameters: string[] }) => WebAssembly.ImportValue;
  };
  return api.JSTag ?? new api.Tag({ parameters: ["externref"] });
})();
