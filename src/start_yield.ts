/**
 * The stop flag's callback for a guest loaded for plain calls whose start
 * function yields to the event loop (a load given a `signal`): that start
 * function runs through `WebAssembly.promising`, as an async call does, and
 * must be able to suspend at its flag checks; the guest's later calls are
 * plain, and V8 refuses any call of a suspending import outside
 * `promising`, even one that would not suspend. So the callback is a tiny
 * wasm function between the two: it asks a plain import, and calls the
 * suspending one only when that answer says to turn the event loop, which
 * it says only on the start function's own stack.
 *
 * @module
 */

/**
 * The helper module: `answer` gives 0 (go on), 1 (stop) or 2 (turn the
 * event loop first); on 2, `turn`, a suspending import, gives the answer
 * after the turn.
 *
 * ```wat
 * (module
 *   (import "h" "answer" (func $answer (result i32)))
 *   (import "h" "turn" (func $turn (result i32)))
 *   (func (export "callback") (result i32)
 *     (local $answer i32)
 *     (if (result i32)
 *       (i32.eq (local.tee $answer (call $answer)) (i32.const 2))
 *       (then (call $turn))
 *       (else (local.get $answer)))))
 * ```
 */
// deno-fmt-ignore
export const START_YIELD_HELPER: readonly number[] = [
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  // type: () -> i32
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f,
  // imports: h.answer, h.turn
  0x02, 0x15, 0x02,
  0x01, 0x68, 0x06, 0x61, 0x6e, 0x73, 0x77, 0x65, 0x72, 0x00, 0x00,
  0x01, 0x68, 0x04, 0x74, 0x75, 0x72, 0x6e, 0x00, 0x00,
  // one function of that type, exported as "callback"
  0x03, 0x02, 0x01, 0x00,
  0x07, 0x0c, 0x01, 0x08, 0x63, 0x61, 0x6c, 0x6c, 0x62, 0x61, 0x63, 0x6b,
  0x00, 0x02,
  // its body
  0x0a, 0x15, 0x01, 0x13, 0x01, 0x01, 0x7f,
  0x10, 0x00, 0x22, 0x00, 0x41, 0x02, 0x46,
  0x04, 0x7f, 0x10, 0x01, 0x05, 0x20, 0x00, 0x0b, 0x0b,
];

/** What `answer` returns to have the callback turn the event loop. */
export const TURN = 2;

let helper: WebAssembly.Module | undefined;

/**
 * The callback: a function of a fresh helper instance over `answer` and
 * `turn`.
 *
 * @param answer Answers at once: 0, 1, or {@linkcode TURN}.
 * @param turn A suspending import (see `jspi.ts`) that answers after a turn
 *   of the event loop; called only when `answer` gave {@linkcode TURN}.
 * @returns The function to import as the flag's callback.
 */
export function startYieldCallback(
  answer: () => number,
  turn: WebAssembly.ImportValue,
): WebAssembly.ImportValue {
  helper ??= new WebAssembly.Module(new Uint8Array(START_YIELD_HELPER));
  const instance = new WebAssembly.Instance(helper, { h: { answer, turn } });
  return instance.exports.callback as WebAssembly.ImportValue;
}
