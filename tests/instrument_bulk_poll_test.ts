/**
 * `instrument()` with `stopFlag`: a bulk operator of one chunk at most
 * runs at once, but above 8 KiB (512 table elements) it is counted, a unit
 * per 8 KiB, with the runtime calls, and the host is asked
 * (`on_stop_flag`, with the flag clear) each time the count passes a
 * multiple of 256: about every two megabytes. A body of such operators then
 * meets the host's clock however late the thread that sets the flag wakes
 * (200 fills of 64 KiB, looped, landed 4 ms past a deadline on the flag
 * alone). Smaller ones, a library's memcpy of a few bytes, are not counted.
 * Counted here in calls of the callback.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { wat } from "./support/instrument.ts";
import { instantiateWithFlag } from "./support/stop_flag.ts";

/**
 * `fill(length, count)`, `copy(length, count)` and `elements(length,
 * count)` run `count` operators of `length` bytes or elements (a
 * `memory.fill` of 7 at 0, a `memory.copy` from 0 to 64 KiB, a
 * `table.fill`); `filled()` says how many fills ran.
 */
const BULK = await wat(`(module
  (memory 4)
  (table 20000 funcref)
  (global $filled (mut i32) (i32.const 0))
  (func (export "fill") (param $length i32) (param $left i32)
    (loop $again
      (memory.fill (i32.const 0) (i32.const 7) (local.get $length))
      (global.set $filled (i32.add (global.get $filled) (i32.const 1)))
      (br_if $again
        (local.tee $left (i32.sub (local.get $left) (i32.const 1))))))
  (func (export "copy") (param $length i32) (param $left i32)
    (loop $again
      (memory.copy (i32.const 65536) (i32.const 0) (local.get $length))
      (br_if $again
        (local.tee $left (i32.sub (local.get $left) (i32.const 1))))))
  (func (export "elements") (param $length i32) (param $left i32)
    (loop $again
      (table.fill (i32.const 0) (ref.null func) (local.get $length))
      (br_if $again
        (local.tee $left (i32.sub (local.get $left) (i32.const 1))))))
  (func (export "filled") (result i32) (global.get $filled)))`);

const flagged = (answer: (flag: Int32Array) => number) =>
  instantiateWithFlag(BULK, answer);

Deno.test("stopFlag: bulk operators of one chunk over 8 KiB poll the host about every two megabytes, smaller ones never", async () => {
  const { e, calls } = await flagged(() => 0);
  e.fill!(8192, 1000);
  e.copy!(8192, 1000);
  e.elements!(512, 1000);
  assert.equal(calls(), 0);
  // 8 units each: a poll every 32.
  e.fill!(65536, 256);
  assert.equal(calls(), 8);
  // 2 units each: 128 units, then 256.
  e.copy!(16384, 64);
  assert.equal(calls(), 8);
  e.copy!(16384, 64);
  assert.equal(calls(), 9);
  // 16,384 elements, 32 units each: a poll every 8.
  e.elements!(16384, 16);
  assert.equal(calls(), 11);
  assert.equal(e.filled!(), 1256);
});

Deno.test("stopFlag: a host that answers a bulk operator's poll with a stop traps before it runs", async () => {
  let polls = 0;
  const { e, flag } = await flagged((f) => {
    // Asked with the flag clear: the host reads its own clock, and the
    // deadline has passed at the second poll.
    assert.equal(Atomics.load(f, 0), 0);
    return ++polls === 2 ? 1 : 0;
  });
  assert.throws(() => e.fill!(65536, 1000), WebAssembly.RuntimeError);
  assert.equal(polls, 2);
  // The 64th fill passed the count's second multiple of 256.
  assert.equal(e.filled!(), 63);
  assert.equal(Atomics.load(flag, 0), 0);
});
