/**
 * Input `instrument()` must reject: indices that would reach what it adds,
 * truncations, overlong LEB128 integers, unknown opcodes, unbalanced
 * blocks, corrupted bytes, and modules the engine rejects.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { isInvalidModule } from "../src/errors.ts";
import { instrument } from "../src/wasm/instrument.ts";
import { assertInvalid, wat } from "./support/instrument.ts";
import {
  type Bytes,
  moduleOf,
  moduleWithBody,
  section,
} from "./support/module_bytes.ts";

// ---------------------------------------------------------------------------
// Safety: indices are checked against the original module

Deno.test("instrument() rejects indices that would reach the added items", () => {
  // global.get 0 without globals would read the fuel counter.
  assertInvalid(moduleWithBody([0x23, 0x00, 0x1a]), /global index 0/);
  // global.set 0 likewise.
  assertInvalid(moduleWithBody([0x41, 0x00, 0x24, 0x00]), /global index 0/);
  // call 1 (one function) would call the slow path or the import.
  assertInvalid(moduleWithBody([0x10, 0x01]), /function index 1/);
  // ref.func 2.
  assertInvalid(moduleWithBody([0xd2, 0x02, 0x1a]), /function index 2/);
  // A type index equal to the type count.
  assertInvalid(
    moduleWithBody([0x41, 0x00, 0x11, 0x01, 0x00], [
      section(4, [0x01, 0x70, 0x00, 0x01]),
    ]),
    /type index 1/,
  );
  // A local index past the function's locals would reach $f.
  assertInvalid(moduleWithBody([0x20, 0x00, 0x1a]), /local index 0/);
  // An export of global 0, a start function out of range.
  assertInvalid(
    moduleOf(section(7, [0x01, 0x01, 0x67, 0x03, 0x00])),
    /global index 0/,
  );
  assertInvalid(
    moduleOf(section(8, [0x00])),
    /function index 0/,
  );
  // A global initializer reading a later global.
  assertInvalid(
    moduleOf(section(6, [0x01, 0x7e, 0x00, 0x23, 0x00, 0x0b])),
    /global index 0/,
  );
});

// ---------------------------------------------------------------------------
// (f) Malformed input

Deno.test("instrument() rejects every truncation of a module with an offset", async () => {
  const bytes = await wat(`(module
    (import "env" "f" (func $f (param i32)))
    (memory 1)
    (global $g (mut i32) (i32.const 1000))
    (table 2 funcref)
    (elem (i32.const 0) $a $b)
    (func $a (export "a") (param i32) (result i32)
      (loop $l
        (br_if $l (i32.lt_u (local.tee 0 (i32.add (local.get 0) (i32.const 1)))
          (global.get $g))))
      (call $f (local.get 0))
      (memory.fill (i32.const 0) (i32.const 0) (local.get 0))
      (i64.const 0x123456789)
      drop
      local.get 0)
    (func $b (param i32) (result i32) (call $a (local.get 0)))
    (data (i32.const 0) "xyz"))`);
  for (let length = 0; length < bytes.length; length++) {
    const prefix = bytes.subarray(0, length);
    if (WebAssembly.validate(prefix)) {
      assert.ok(WebAssembly.validate(instrument(prefix).bytes));
    } else {
      assertInvalid(prefix);
    }
  }
});

Deno.test("instrument() rejects overlong and oversized LEB128 integers", () => {
  // A 6-byte u32 (local.get's index).
  assertInvalid(
    moduleWithBody([0x20, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]),
    /too long/,
  );
  // A 5-byte u32 with bits above 32.
  assertInvalid(
    moduleWithBody([0x10, 0x80, 0x80, 0x80, 0x80, 0x70]),
    /too large/,
  );
  // An s32 constant whose last byte does not sign-extend.
  assertInvalid(
    moduleWithBody([0x41, 0xff, 0xff, 0xff, 0xff, 0x4f, 0x1a]),
    /too large/,
  );
  // An s64 constant of 11 bytes.
  assertInvalid(
    moduleWithBody([0x42, ...new Array(10).fill(0x80), 0x00, 0x1a]),
    /too long/,
  );
  // A section size larger than the module.
  assertInvalid(
    moduleOf([1, 0x7f, 0]),
    /section size/,
  );
});

Deno.test("instrument() names unknown opcodes", () => {
  try {
    instrument(moduleWithBody([0xfc, 0x99, 0x01]));
    assert.fail("accepted");
  } catch (error) {
    assert.ok(isInvalidModule(error));
    assert.match(error.message, /unknown opcode 0xfc 0x99/);
    assert.equal(error.offset, 23); // header 8, types 6, functions 4, code 5
  }
  assertInvalid(moduleWithBody([0x27]), /unknown opcode 0x27/);
  assertInvalid(moduleWithBody([0xfd, 0x9a, 0x01]), /unknown opcode 0xfd 0x9a/);
  assertInvalid(moduleWithBody([0xff]), /unknown opcode 0xff/);
});

Deno.test("instrument() rejects unbalanced blocks and bad bodies", () => {
  assertInvalid(moduleWithBody([0x02, 0x40]), /does not end with end/);
  assertInvalid(moduleWithBody([0x0b, 0x01]), /after the function's final end/);
  assertInvalid(moduleWithBody([0x05]), /else without if/);
  assertInvalid(moduleWithBody([0x19]), /catch_all without try/);
  assertInvalid(moduleWithBody([0x0c, 0x01]), /label 1 out of range/);
  assertInvalid(new Uint8Array([0, 0x61, 0x73, 0x6d, 2, 0, 0, 0]), /version/);
  assertInvalid(new Uint8Array([1, 2, 3]), /magic/);
  // A function section without a code section.
  assertInvalid(
    moduleOf(section(1, [0x01, 0x60, 0x00, 0x00]), section(3, [0x01, 0x00])),
    /without a code section/,
  );
});

Deno.test("instrument() never throws anything but InvalidModule on corrupted input", async () => {
  const bytes = await wat(`(module
    (type $t (func (param i32) (result i32)))
    (import "env" "f" (func $f (type $t)))
    (memory 1)
    (table 1 funcref)
    (global $g (mut i64) (i64.const -5))
    (func $a (export "a") (type $t)
      (block (result i32)
        (br_table 0 0 (local.get 0) (i32.const 1)))
      (if (result i32) (then (call $f (i32.const 2))) (else (i32.const 3)))
      (call_indirect (type $t) (i32.const 0))
      (v128.const i32x4 1 2 3 4)
      i32x4.extract_lane 2
      i32.add)
    (elem (i32.const 0) $a)
    (data (i32.const 8) "data"))`);
  let seed = 12345;
  const random = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed;
  };
  for (let i = 0; i < 2000; i++) {
    const mutated = bytes.slice();
    for (let j = random() % 3; j >= 0; j--) {
      mutated[random() % mutated.length] = random() & 0xff;
    }
    const valid = WebAssembly.validate(mutated);
    let output: Bytes;
    try {
      output = instrument(mutated).bytes;
    } catch (error) {
      assert.ok(isInvalidModule(error), `unbranded error: ${error}`);
      assert.ok(!valid, `mutation ${i} is valid but was rejected: ${error}`);
      continue;
    }
    assert.ok(WebAssembly.validate(output), `mutation ${i} came out invalid`);
  }
});

Deno.test("instrument() rejects a well-formed but invalid module with the engine's reason", () => {
  // i32.add on an empty stack: well-formed, but not valid.
  const bytes = moduleWithBody([0x6a, 0x1a]);
  try {
    instrument(bytes);
    assert.fail("accepted");
  } catch (error) {
    assert.ok(isInvalidModule(error));
    assert.match(error.message, /^Invalid module: .*i32\.add/);
    assert.equal(error.offset, 23);
  }
  // Without validation the caller gets the output and compiles it itself.
  const unchecked = instrument(bytes, { validate: false });
  assert.equal(WebAssembly.validate(unchecked.bytes), false);
});
