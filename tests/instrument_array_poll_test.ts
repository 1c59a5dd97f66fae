/**
 * `instrument()` with `stopFlag`: a GC array allocated by length that V8
 * makes in its large-object space (over 128 KiB with its 16-byte header),
 * on fresh pages, asks the host (`on_stop_flag`, with the flag clear)
 * before it is made, so a host that reads its own clock stops the guest
 * there even when the thread that sets the flag wakes late; a smaller one
 * does not.
 * Counted in calls of the callback, with the arrays small enough in all
 * that the heap's count (every 4 MiB) never asks.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { watBinaryen } from "./support/instrument.ts";
import { instantiateWithFlag } from "./support/stop_flag.ts";

/**
 * `ints(length, count)` and `bytes(length, count)` make `count` arrays of
 * `length` elements, `i32` or `i8`, with no loop check between the last
 * array and the count; `made()` says how many were made.
 */
const MAKER = await watBinaryen(`(module
  (type $ints (array (mut i32)))
  (type $bytes (array (mut i8)))
  (global $made (mut i32) (i32.const 0))
  (global $kept (mut anyref) (ref.null any))
  (func (export "ints") (param $length i32) (param $left i32)
    (loop $again
      (global.set $kept (array.new_default $ints (local.get $length)))
      (global.set $made (i32.add (global.get $made) (i32.const 1)))
      (br_if $again
        (local.tee $left (i32.sub (local.get $left) (i32.const 1))))))
  (func (export "bytes") (param $length i32) (param $left i32)
    (loop $again
      (global.set $kept
        (array.new $bytes (i32.const 7) (local.get $length)))
      (global.set $made (i32.add (global.get $made) (i32.const 1)))
      (br_if $again
        (local.tee $left (i32.sub (local.get $left) (i32.const 1))))))
  (func (export "made") (result i32) (global.get $made)))`);

const ARRAYS = 6;

const flagged = (answer: (flag: Int32Array) => number) =>
  instantiateWithFlag(MAKER, answer);

Deno.test("stopFlag: each array over 128 KiB with its header asks the host first, a smaller one does not", async () => {
  const { e, calls } = await flagged(() => 0);
  e.ints!(32_764, ARRAYS); // 131,056 bytes and the header: 128 KiB
  e.bytes!(131_056, ARRAYS);
  assert.equal(calls(), 0);
  e.ints!(32_765, ARRAYS);
  assert.equal(calls(), ARRAYS);
  e.bytes!(131_057, ARRAYS);
  assert.equal(calls(), 2 * ARRAYS);
  assert.equal(e.made!(), 4 * ARRAYS);
});

Deno.test("stopFlag: a host that answers the array's poll with a stop traps before the array is made", async () => {
  let polls = 0;
  const { e, flag } = await flagged((f) => {
    // Asked with the flag clear: the host reads its own clock, and the
    // deadline has passed at the third array.
    assert.equal(Atomics.load(f, 0), 0);
    return ++polls === 3 ? 1 : 0;
  });
  assert.throws(() => e.ints!(65_536, ARRAYS), WebAssembly.RuntimeError);
  assert.equal(polls, 3);
  assert.equal(e.made!(), 2);
  assert.equal(Atomics.load(flag, 0), 0);
});
