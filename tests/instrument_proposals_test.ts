/**
 * Every proposal V8 runs, metered: each module behaves as before.
 *
 * @module
 */

import assert from "./support/assert.ts";
import {
  assertSameBehaviour,
  cost,
  meter,
  wat,
  watBinaryen,
} from "./support/instrument.ts";

// ---------------------------------------------------------------------------
// (b) Each proposal's operators validate and behave the same

Deno.test("instrument() preserves multi-value, sign-extension and saturating conversions", async () => {
  const bytes = await wat(`(module
    (func (export "swap") (param i32 i32) (result i32 i32) local.get 1 local.get 0)
    (func (export "sum") (param i32 i32) (result i32)
      local.get 0 local.get 1
      (block (param i32 i32) (result i32) i32.add))
    (func (export "ext") (param i32) (result i32) local.get 0 i32.extend8_s)
    (func (export "ext64") (param i64) (result i64) local.get 0 i64.extend32_s)
    (func (export "sat") (param f64) (result i32) local.get 0 i32.trunc_sat_f64_s)
    (func (export "satu") (param f32) (result i64) local.get 0 i64.trunc_sat_f32_u))`);
  await assertSameBehaviour(bytes, [
    ["swap", 1, 2],
    ["sum", 3, 4],
    ["ext", 0xff],
    ["ext64", 0xffffffffn],
    ["sat", 1e20],
    ["sat", NaN],
    ["satu", -5],
  ]);
});

Deno.test("instrument() preserves bulk memory and reference types", async () => {
  const bytes = await wat(`(module
    (memory 1)
    (data $d "abcdef")
    (table $t 4 funcref)
    (table $ext 2 externref)
    (func $one (result i32) i32.const 1)
    (func $two (result i32) i32.const 2)
    (elem $e func $one $two)
    (type $r (func (result i32)))
    (func (export "bulk") (result i32)
      (memory.init $d (i32.const 10) (i32.const 1) (i32.const 4))
      (data.drop $d)
      (memory.copy (i32.const 20) (i32.const 10) (i32.const 4))
      (memory.fill (i32.const 22) (i32.const 0x7a) (i32.const 1))
      (i32.load (i32.const 20)))
    (func (export "tables") (param i32) (result i32)
      (table.init $t $e (i32.const 0) (i32.const 0) (i32.const 2))
      (elem.drop $e)
      (table.copy $t $t (i32.const 2) (i32.const 0) (i32.const 2))
      (drop (table.grow $t (ref.null func) (i32.const 1)))
      (i32.add
        (call_indirect $t (type $r) (local.get 0))
        (table.size $t)))
    (func (export "refs") (param externref) (result i32)
      (table.set $ext (i32.const 1) (local.get 0))
      (table.fill $ext (i32.const 0) (ref.null extern) (i32.const 1))
      (i32.add
        (ref.is_null (table.get $ext (i32.const 0)))
        (select (result i32) (i32.const 10) (i32.const 20)
          (ref.is_null (table.get $ext (i32.const 1))))))
    (func (export "func") (result i32)
      (ref.is_null (ref.func $one))))`);
  await assertSameBehaviour(bytes, [
    ["bulk"],
    ["tables", 3],
    ["tables", 9],
    ["refs", {}],
    ["refs", null],
    ["func"],
  ]);
});

Deno.test("instrument() preserves SIMD and relaxed SIMD", async () => {
  const bytes = await wat(`(module
    (memory 1)
    (func (export "simd") (param i32) (result i32)
      (v128.store (i32.const 0)
        (i32x4.add (i32x4.splat (local.get 0)) (v128.const i32x4 1 2 3 4)))
      (v128.store (i32.const 16)
        (i8x16.shuffle 3 2 1 0 7 6 5 4 11 10 9 8 15 14 13 12
          (v128.load (i32.const 0)) (v128.load (i32.const 0))))
      (i32.add
        (i32x4.extract_lane 3 (v128.load32_zero (i32.const 16)))
        (i32.add
          (i32x4.extract_lane 1 (v128.load (i32.const 16)))
          (i8x16.extract_lane_u 0
            (v128.load8_lane 0 (i32.const 0) (v128.const i64x2 0 0))))))
    (func (export "relaxed") (param f32) (result i32)
      (i32x4.extract_lane 0
        (i32x4.relaxed_trunc_f32x4_s
          (f32x4.relaxed_madd (f32x4.splat (local.get 0))
            (f32x4.splat (f32.const 2)) (f32x4.splat (f32.const 1))))))
    (func (export "swizzle") (result i32)
      (i8x16.extract_lane_s 0
        (i8x16.relaxed_swizzle (v128.const i8x16 9 8 7 6 5 4 3 2 1 0 1 2 3 4 5 6)
          (v128.const i8x16 2 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0)))))`);
  await assertSameBehaviour(bytes, [
    ["simd", 5],
    ["simd", -1],
    ["relaxed", 3.25],
    ["swizzle"],
  ]);
});

Deno.test("instrument() preserves tail calls", async () => {
  const bytes = await wat(`(module
    (type $t (func (param i32 i32) (result i32)))
    (table 1 funcref)
    (elem (i32.const 0) $count)
    (func $count (export "count") (param i32 i32) (result i32)
      (if (result i32) (i32.eqz (local.get 0))
        (then (local.get 1))
        (else
          (return_call $count
            (i32.sub (local.get 0) (i32.const 1))
            (i32.add (local.get 1) (i32.const 2))))))
    (func (export "indirect") (param i32) (result i32)
      (return_call_indirect (type $t) (local.get 0) (i32.const 0) (i32.const 0))))`);
  await assertSameBehaviour(bytes, [
    ["count", 1_000_000, 0],
    ["indirect", 10],
  ]);
});

Deno.test("instrument() preserves legacy exception handling", async () => {
  const bytes = await wat(`(module
    (import "env" "fail" (func $fail))
    (tag $e (param i32))
    (func $thrower (param i32) (local.get 0) (throw $e))
    (func (export "catch") (param i32) (result i32)
      try (result i32)
        (call $thrower (local.get 0))
        i32.const 0
      catch $e
        i32.const 100
        i32.add
      end)
    (func (export "catchall") (result i32)
      try (result i32)
        call $fail
        i32.const 0
      catch_all
        i32.const 7
      end)
    (func (export "delegate") (param i32) (result i32)
      try (result i32)
        try
          (call $thrower (local.get 0))
        delegate 0
        i32.const 0
      catch $e
      end)
    (func (export "rethrow") (param i32) (result i32)
      try (result i32)
        try
          (call $thrower (local.get 0))
        catch $e
          drop
          rethrow 0
        end
        i32.const 0
      catch $e
        i32.const 1
        i32.add
      end))`);
  await assertSameBehaviour(
    bytes,
    [["catch", 5], ["catchall"], ["delegate", 9], ["rethrow", 41]],
    () => ({ env: { fail: () => assert.fail("from JS") } }),
  );
});

Deno.test("instrument() preserves exnref exception handling", async () => {
  const bytes = await wat(`(module
    (tag $e (param i32))
    (func $thrower (param i32) (local.get 0) (throw $e))
    (func (export "catch") (param i32) (result i32)
      (block $h (result i32)
        (try_table (catch $e $h)
          (call $thrower (local.get 0)))
        i32.const 0))
    (func (export "catchref") (param i32) (result i32)
      (block $outer (result i32)
        (try_table (catch $e $outer)
          (block $h (result i32 exnref)
            (try_table (catch_ref $e $h)
              (call $thrower (local.get 0)))
            (return (i32.const 0)))
          throw_ref)
        i32.const -1))
    (func (export "catchall") (result i32)
      (block $h
        (try_table (catch_all $h)
          (call $thrower (i32.const 1)))
        (return (i32.const 0)))
      i32.const 2)
    (func (export "catchallref") (result i32)
      (block $h (result exnref)
        (try_table (catch_all_ref $h)
          (call $thrower (i32.const 1)))
        (return (i32.const 0)))
      drop
      i32.const 3))`);
  await assertSameBehaviour(bytes, [
    ["catch", 4],
    ["catchref", 8],
    ["catchall"],
    ["catchallref"],
  ]);
});

Deno.test("instrument() preserves threads and atomics", async () => {
  const bytes = await wat(`(module
    (memory 1 1 shared)
    (func (export "atomics") (param i32) (result i32)
      (i32.atomic.store (i32.const 0) (local.get 0))
      (drop (i32.atomic.rmw.add (i32.const 0) (i32.const 5)))
      (drop (i32.atomic.rmw.cmpxchg (i32.const 0) (i32.const 0) (i32.const 1)))
      (i64.atomic.store (i32.const 8) (i64.const 3))
      (drop (i64.atomic.rmw8.xchg_u (i32.const 8) (i64.const 4)))
      atomic.fence
      (i32.add
        (i32.add
          (i32.atomic.load (i32.const 0))
          (i32.wrap_i64 (i64.atomic.load (i32.const 8))))
        (i32.add
          (memory.atomic.notify (i32.const 0) (i32.const 1))
          (memory.atomic.wait32 (i32.const 0) (i32.const -1) (i64.const 0))))))`);
  await assertSameBehaviour(bytes, [["atomics", 10], ["atomics", 0]]);
});

Deno.test("instrument() preserves memory64, multi-memory and extended constants", async () => {
  const bytes = await wat(`(module
    (import "env" "base" (global $base i32))
    (global $offset i32 (i32.add (global.get $base) (i32.const 5)))
    (global $wide i64 (i64.mul (i64.const 3) (i64.const 7)))
    (memory $a i64 1)
    (memory $b 1)
    (func (export "wide") (param i64) (result i64)
      (i64.store offset=8 (local.get 0) (global.get $wide))
      (memory.copy $a $a (i64.const 100) (local.get 0) (i64.const 16))
      (drop (memory.grow $a (i64.const 1)))
      (i64.add (i64.load offset=8 (i64.const 100)) (memory.size $a)))
    (func (export "multi") (param i32) (result i32)
      (i32.store $b (global.get $offset) (local.get 0))
      (memory.fill $b (i32.const 100) (i32.const 1) (i32.const 4))
      (i32.add (i32.load $b (global.get $offset)) (i32.load8_u $b (i32.const 101)))))`);
  await assertSameBehaviour(
    bytes,
    [["wide", 0n], ["wide", 1000n], ["multi", 42]],
    () => ({ env: { base: 16 } }),
  );
});

Deno.test("instrument() preserves typed function references", async () => {
  const bytes = await watBinaryen(`(module
    (type $f (func (param i32) (result i32)))
    (func $double (type $f) (i32.mul (local.get 0) (i32.const 2)))
    (elem declare func $double)
    (func $ref (param $n i32) (result (ref null $f))
      (if (result (ref null $f)) (local.get $n)
        (then (ref.func $double))
        (else (ref.null $f))))
    (func (export "call") (param i32) (result i32)
      (call_ref $f (local.get 0) (ref.as_non_null (call $ref (i32.const 1)))))
    (func $tail (param i32) (result i32)
      (return_call_ref $f (local.get 0) (ref.func $double)))
    (func (export "tail") (param i32) (result i32) (call $tail (local.get 0)))
    (func (export "null") (param i32) (result i32)
      (block $none
        (return
          (call_ref $f (i32.const 5)
            (br_on_null $none (call $ref (local.get 0))))))
      (i32.const -1))
    (func (export "nonnull") (param i32) (result i32)
      (local $r (ref null $f))
      (local.set $r
        (block $some (result (ref $f))
          (br_on_non_null $some (call $ref (local.get 0)))
          (return (i32.const -2))))
      (call_ref $f (i32.const 21) (local.get $r))))`);
  await assertSameBehaviour(bytes, [
    ["call", 4],
    ["tail", 5],
    ["null", 0],
    ["null", 1],
    ["nonnull", 0],
  ]);
});

Deno.test("instrument() preserves GC operators", async () => {
  const bytes = await watBinaryen(`(module
    (type $point (struct (field $x (mut i32)) (field $y i32)))
    (type $bytes (array (mut i8)))
    (type $ints (array (mut i32)))
    (type $sub (sub (struct (field i32))))
    (type $subsub (sub $sub (struct (field i32) (field i64))))
    (data $d "\\01\\02\\03\\04")
    (func (export "structs") (param i32) (result i32)
      (local $p (ref $point))
      (local.set $p (struct.new $point (local.get 0) (i32.const 10)))
      (struct.set $point $x (local.get $p)
        (i32.add (struct.get $point $x (local.get $p)) (i32.const 1)))
      (i32.add (struct.get $point $x (local.get $p))
        (struct.get $point $y (struct.new_default $point))))
    (func (export "arrays") (param i32) (result i32)
      (local $a (ref $ints))
      (local $b (ref $bytes))
      (local.set $a (array.new $ints (i32.const 3) (local.get 0)))
      (array.fill $ints (local.get $a) (i32.const 1) (i32.const 9) (i32.const 2))
      (array.copy $ints $ints (local.get $a) (i32.const 0)
        (array.new_fixed $ints 2 (i32.const 5) (i32.const 6)) (i32.const 0)
        (i32.const 1))
      (local.set $b (array.new_data $bytes $d (i32.const 0) (i32.const 4)))
      (array.init_data $bytes $d (local.get $b) (i32.const 0) (i32.const 2) (i32.const 2))
      (i32.add
        (i32.add (array.get $ints (local.get $a) (i32.const 0))
          (array.get $ints (local.get $a) (i32.const 2)))
        (i32.add (array.len (local.get $a))
          (i32.add (array.get_u $bytes (local.get $b) (i32.const 0))
            (array.len (array.new_default $ints (local.get 0)))))))
    (func (export "casts") (param i32) (result i32)
      (local $r anyref)
      (local.set $r
        (if (result anyref) (local.get 0)
          (then (struct.new $subsub (i32.const 1) (i64.const 2)))
          (else (ref.i31 (i32.const -7)))))
      (i32.add
        (i32.add
          (ref.test (ref $sub) (local.get $r))
          (i32.mul (i32.const 10) (ref.test (ref i31) (local.get $r))))
        (struct.get $sub 0
          (block $is (result (ref $sub))
            (drop
              (block $not (result anyref)
                (br_on_cast $is anyref (ref $sub) (local.get $r))))
            (return (i31.get_s (ref.cast (ref i31) (local.get $r))))))))
    (func (export "castfail") (param i32) (result i32)
      (block $fail (result anyref)
        (return
          (i31.get_u
            (br_on_cast_fail $fail anyref (ref i31)
              (if (result anyref) (local.get 0)
                (then (ref.i31 (i32.const 5)))
                (else (struct.new $point (i32.const 0) (i32.const 0))))))))
      drop
      (i32.const -1))
    (func (export "extern") (param externref) (result externref)
      (extern.convert_any (any.convert_extern (local.get 0)))))`);
  await assertSameBehaviour(bytes, [
    ["structs", 41],
    ["arrays", 4],
    ["casts", 1],
    ["casts", 0],
    ["castfail", 1],
    ["castfail", 0],
    ["extern", "x"],
  ]);
  // GC array bulk operators are charged per element.
  const m = await meter(bytes, { costs: { perElement: 1000 } });
  assert.ok(cost(m, "arrays", 100) > 100_000n);
});
