/**
 * The stop flag's check in a deadline-only rewrite (`fuel: false`): every
 * check at a function entry or loop header reads the flag's byte with one
 * `i32.atomic.load8_u` (atomic, so that the engine cannot hoist it out of a
 * loop; one byte, so that V8 tests no alignment), and guests that call
 * without looping are stopped: a chain of functions each calling the next
 * twice (2^30 calls, no loop, no cycle) and a cycle of tail calls. Hang
 * guards only; no timing is asserted.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { attachedMeter } from "./support/attached_meter.ts";
import { assembleWat } from "../guest/build.ts";
import { isDeadlineExceeded } from "../mod.ts";
import { expectOutcome } from "./support/outcome.ts";
import { BYTE_READ, flagReads, WORD_READ } from "./support/flag_reads.ts";

/** `depth` functions, each calling the next twice; the last adds. */
function chain(depth: number): string {
  const funcs: string[] = [];
  for (let k = 0; k < depth - 1; k++) {
    funcs.push(
      `(func $f${k} (export "f${k}") (param i32) (result i32)
        (i32.add (call $f${k + 1} (local.get 0))
                 (call $f${k + 1} (i32.add (local.get 0) (i32.const 1)))))`,
    );
  }
  funcs.push(
    `(func $f${depth - 1} (param i32) (result i32)
      (i32.xor (i32.mul (local.get 0) (i32.const 31)) (i32.const 7)))`,
  );
  return `(module (memory 1) ${funcs.join("\n")})`;
}

Deno.test("deadline-only flag: every entry check and loop header reads the flag's byte atomically", async () => {
  const bytes = await assembleWat(`(module
    (memory 1)
    (func $leaf (param i32) (result i32) (i32.mul (local.get 0) (i32.const 3)))
    (func (export "run") (param $n i32) (result i32) (local $s i32)
      (loop $again
        (local.set $s (i32.add (local.get $s) (call $leaf (local.get $n))))
        (br_if $again (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
      (local.get $s)))`);
  // run's entry and its loop header: $leaf, which only run calls and which
  // runs a few operators, has no check of its own (see
  // deadline_only_entry_checks_test.ts).
  assert.equal(flagReads(bytes, BYTE_READ), 2);
  assert.equal(flagReads(bytes, WORD_READ), 0);
});

Deno.test("deadline-only flag: a chain of functions each calling the next twice is stopped, and a short call returns what it returns plain", async () => {
  const bytes = await assembleWat(chain(30));
  const { meter, exports } = await attachedMeter(bytes, { fuel: false });
  const f0 = exports.f0 as (n: number) => number;
  const result = expectOutcome(
    meter.run(() => f0(1), { timeout: 30 }),
    "timeout",
  );
  assert.ok(isDeadlineExceeded(result.error));
  const plain = new WebAssembly.Instance(
    new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>),
  );
  const f20 = plain.exports.f20 as (n: number) => number;
  const ran = meter.run(() => (exports.f20 as (n: number) => number)(5));
  assert.equal(ran.outcome, "returned");
  assert.equal(ran.value, f20(5));
});

Deno.test("deadline-only flag: a cycle of tail calls without a loop is stopped", async () => {
  const bytes = await assembleWat(`(module
    (memory 1)
    (func $ping (export "ping") (param i32) (result i32)
      (return_call $pong (i32.add (local.get 0) (i32.const 1))))
    (func $pong (param i32) (result i32)
      (return_call $ping (i32.xor (local.get 0) (i32.const 5)))))`);
  const { meter, exports } = await attachedMeter(bytes, { fuel: false });
  const result = expectOutcome(
    meter.run(() => (exports.ping as (n: number) => number)(0), {
      timeout: 30,
    }),
    "timeout",
  );
  assert.ok(isDeadlineExceeded(result.error));
});
