/**
 * The WAT half of the malformed-input corpus: modules that between them use
 * most operators of every proposal V8 runs, each operator once, written as
 * "result op param…" lines turned into calls on locals.
 *
 * @module
 */

/** `(drop (op args…))` for each "result op param…" line, using locals. */
function operatorCalls(lines: string): string {
  const local: Record<string, string> = {
    i32: "(local.get $i)",
    i64: "(local.get $j)",
    f32: "(local.get $f)",
    f64: "(local.get $d)",
    v128: "(local.get $v)",
  };
  return lines.trim().split("\n").map((line) => {
    const [result, op, ...params] = line.trim().split(/\s+/);
    const call = `(${op} ${params.map((p) => local[p] ?? p).join(" ")})`;
    return result === "-" ? call : `(drop ${call})`;
  }).join("\n    ");
}

const LOCALS =
  "(local $i i32) (local $j i64) (local $f f32) (local $d f64) (local $v v128)";

/** The value type of an operand of `type`'s operators (lanes are v128). */
function operand(type: string): string {
  return type.includes("x") || type === "v128" ? "v128" : type;
}

function binaryOps(type: string, names: string, result = type): string {
  const p = operand(type);
  return names.trim().split(/\s+/).map((n) =>
    `${operand(result)} ${type}.${n} ${p} ${p}`
  ).join("\n");
}

function unaryOps(type: string, names: string, result = type): string {
  return names.trim().split(/\s+/).map((n) =>
    `${operand(result)} ${type}.${n} ${operand(type)}`
  ).join("\n");
}

const NUMERIC_OPS = [
  binaryOps(
    "i32",
    "add sub mul div_s div_u rem_s rem_u and or xor shl shr_s shr_u rotl rotr",
  ),
  binaryOps(
    "i32",
    "eq ne lt_s lt_u gt_s gt_u le_s le_u ge_s ge_u",
  ),
  unaryOps("i32", "clz ctz popcnt eqz extend8_s extend16_s"),
  binaryOps(
    "i64",
    "add sub mul div_s div_u rem_s rem_u and or xor shl shr_s shr_u rotl rotr",
  ),
  binaryOps("i64", "eq ne lt_s lt_u gt_s gt_u le_s le_u ge_s ge_u", "i32"),
  unaryOps("i64", "clz ctz popcnt extend8_s extend16_s extend32_s"),
  "i32 i64.eqz i64",
  binaryOps("f32", "add sub mul div min max copysign"),
  binaryOps("f32", "eq ne lt gt le ge", "i32"),
  unaryOps("f32", "abs neg ceil floor trunc nearest sqrt"),
  binaryOps("f64", "add sub mul div min max copysign"),
  binaryOps("f64", "eq ne lt gt le ge", "i32"),
  unaryOps("f64", "abs neg ceil floor trunc nearest sqrt"),
  `i32 i32.wrap_i64 i64
   i32 i32.trunc_f32_s f32
   i32 i32.trunc_f32_u f32
   i32 i32.trunc_f64_s f64
   i32 i32.trunc_f64_u f64
   i64 i64.extend_i32_s i32
   i64 i64.extend_i32_u i32
   i64 i64.trunc_f32_s f32
   i64 i64.trunc_f32_u f32
   i64 i64.trunc_f64_s f64
   i64 i64.trunc_f64_u f64
   f32 f32.convert_i32_s i32
   f32 f32.convert_i32_u i32
   f32 f32.convert_i64_s i64
   f32 f32.convert_i64_u i64
   f32 f32.demote_f64 f64
   f64 f64.convert_i32_s i32
   f64 f64.convert_i32_u i32
   f64 f64.convert_i64_s i64
   f64 f64.convert_i64_u i64
   f64 f64.promote_f32 f32
   i32 i32.reinterpret_f32 f32
   i64 i64.reinterpret_f64 f64
   f32 f32.reinterpret_i32 i32
   f64 f64.reinterpret_i64 i64
   i32 i32.trunc_sat_f32_s f32
   i32 i32.trunc_sat_f32_u f32
   i32 i32.trunc_sat_f64_s f64
   i32 i32.trunc_sat_f64_u f64
   i64 i64.trunc_sat_f32_s f32
   i64 i64.trunc_sat_f32_u f32
   i64 i64.trunc_sat_f64_s f64
   i64 i64.trunc_sat_f64_u f64`,
  `i32 i32.load offset=4 i32
   i64 i64.load align=4 i32
   f32 f32.load i32
   f64 f64.load offset=65536 i32
   i32 i32.load8_s i32
   i32 i32.load8_u i32
   i32 i32.load16_s i32
   i32 i32.load16_u i32
   i64 i64.load8_s i32
   i64 i64.load8_u i32
   i64 i64.load16_s i32
   i64 i64.load16_u i32
   i64 i64.load32_s i32
   i64 i64.load32_u i32
   - i32.store i32 i32
   - i64.store offset=3 i32 i64
   - f32.store i32 f32
   - f64.store i32 f64
   - i32.store8 i32 i32
   - i32.store16 i32 i32
   - i64.store8 i32 i64
   - i64.store16 i32 i64
   - i64.store32 i32 i64
   i32 memory.size
   i32 memory.grow i32
   - memory.fill i32 i32 i32
   - memory.copy i32 i32 i32
   - memory.init $passive i32 i32 i32
   - data.drop $passive
   i32 select i32 i32 i32
   f64 select f64 f64 i32
   i32 table.size $t
   i32 table.grow $t (ref.null func) i32
   - table.fill $t i32 (ref.null func) i32
   - table.copy $t $t i32 i32 i32
   - table.init $t $pelem i32 i32 i32
   - elem.drop $pelem
   - table.set $t i32 (ref.func $add)
   i32 ref.is_null (table.get $t (local.get $i))
   i32 ref.is_null (ref.func $add)`,
].join("\n");

const CORE_WAT = `(module
  (type $bin (func (param i32 i32) (result i32)))
  (import "env" "imp" (func $imp (param i32) (result i32)))
  (import "env" "g" (global $ig i32))
  (memory 1 4)
  (table $t 8 funcref)
  (global $g (mut i32) (i32.const 0))
  (global $g64 (mut i64) (i64.const 7))
  (elem (i32.const 0) $add $sub)
  (elem $pelem func $add $sub)
  (elem declare func $ops)
  (data (i32.const 16) "hello")
  (data $passive "passive bytes")
  (start $init)
  (func $init (global.set $g (global.get $ig)))
  (func $add (type $bin) (i32.add (local.get 0) (local.get 1)))
  (func $sub (type $bin) (i32.sub (local.get 0) (local.get 1)))
  (func $ops (export "ops") (param $i i32) (param $j i64) (param $f f32) (param $d f64)
    ${NUMERIC_OPS.includes("v128") ? "" : ""}
    ${operatorCalls(NUMERIC_OPS)})
  (func $control (export "control") (param $n i32) (result i32 i64) (local $acc i32)
    (block $done
      (loop $again
        (br_if $done (i32.eqz (local.get $n)))
        (block $a (block $b (block $c
          (br_table $a $b $c (i32.rem_u (local.get $n) (i32.const 3))))
          (local.set $acc (call $add (local.get $acc) (i32.const 1)))
          (br $b))
          (local.set $acc (call_indirect (type $bin) (local.get $acc) (i32.const 2) (i32.const 1))))
        (if (i32.gt_u (local.get $acc) (i32.const 1000))
          (then (return (local.get $acc) (i64.const 1)))
          (else (nop)))
        (local.set $acc (call $imp (local.get $acc)))
        (global.set $g64 (i64.add (global.get $g64) (i64.const 1)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $again)))
    (block (result i32 i64) (local.get $acc) (global.get $g64))
    (if (result i32 i64) (local.get $n) (then (unreachable)) (else (i32.const 0) (i64.const 0)))
    (drop) (drop))
  (export "memory" (memory 0))
  (export "table" (table $t))
  (export "g" (global $g)))`;

const SIMD_OPS = [
  binaryOps(
    "i8x16",
    "add sub add_sat_s add_sat_u sub_sat_s sub_sat_u min_s min_u max_s max_u avgr_u eq ne lt_s lt_u gt_s gt_u le_s le_u ge_s ge_u swizzle narrow_i16x8_s narrow_i16x8_u",
    "v128",
  ),
  binaryOps(
    "i16x8",
    "add sub mul add_sat_s add_sat_u sub_sat_s sub_sat_u min_s max_u avgr_u q15mulr_sat_s eq ne lt_s ge_u narrow_i32x4_s extmul_low_i8x16_s extmul_high_i8x16_u",
    "v128",
  ),
  binaryOps(
    "i32x4",
    "add sub mul min_s max_u eq ne lt_s gt_u dot_i16x8_s extmul_low_i16x8_u",
    "v128",
  ),
  binaryOps("i64x2", "add sub mul eq ne lt_s ge_s extmul_high_i32x4_s", "v128"),
  binaryOps(
    "f32x4",
    "add sub mul div min max pmin pmax eq ne lt gt le ge",
    "v128",
  ),
  binaryOps(
    "f64x2",
    "add sub mul div min max pmin pmax eq ne lt gt le ge",
    "v128",
  ),
  binaryOps("v128", "and andnot or xor"),
  unaryOps(
    "i8x16",
    "abs neg popcnt",
    "v128",
  ),
  unaryOps(
    "i16x8",
    "abs neg extend_low_i8x16_s extend_high_i8x16_u extadd_pairwise_i8x16_s",
    "v128",
  ),
  unaryOps(
    "i32x4",
    "abs neg extend_low_i16x8_u trunc_sat_f32x4_s trunc_sat_f64x2_u_zero extadd_pairwise_i16x8_u",
    "v128",
  ),
  unaryOps("i64x2", "abs neg extend_low_i32x4_s", "v128"),
  unaryOps(
    "f32x4",
    "abs neg sqrt ceil floor trunc nearest convert_i32x4_s demote_f64x2_zero",
    "v128",
  ),
  unaryOps(
    "f64x2",
    "abs neg sqrt ceil floor trunc nearest convert_low_i32x4_u promote_low_f32x4",
    "v128",
  ),
  unaryOps("v128", "not"),
  `i32 v128.any_true v128
   i32 i8x16.all_true v128
   i32 i8x16.bitmask v128
   i32 i16x8.all_true v128
   i32 i32x4.bitmask v128
   i32 i64x2.all_true v128
   v128 i8x16.shl v128 i32
   v128 i16x8.shr_s v128 i32
   v128 i32x4.shr_u v128 i32
   v128 i64x2.shl v128 i32
   v128 v128.bitselect v128 v128 v128
   v128 i8x16.splat i32
   v128 i16x8.splat i32
   v128 i32x4.splat i32
   v128 i64x2.splat i64
   v128 f32x4.splat f32
   v128 f64x2.splat f64
   i32 i8x16.extract_lane_s 15 v128
   i32 i8x16.extract_lane_u 0 v128
   i32 i16x8.extract_lane_s 7 v128
   i32 i32x4.extract_lane 3 v128
   i64 i64x2.extract_lane 1 v128
   f32 f32x4.extract_lane 2 v128
   f64 f64x2.extract_lane 0 v128
   v128 i8x16.replace_lane 3 v128 i32
   v128 i64x2.replace_lane 1 v128 i64
   v128 f64x2.replace_lane 1 v128 f64
   v128 i8x16.shuffle 0 17 2 19 4 21 6 23 8 25 10 27 12 29 14 31 v128 v128
   v128 v128.load i32
   v128 v128.load8x8_s offset=8 i32
   v128 v128.load16x4_u i32
   v128 v128.load32x2_s i32
   v128 v128.load8_splat i32
   v128 v128.load64_splat i32
   v128 v128.load32_zero i32
   v128 v128.load64_zero i32
   v128 v128.load8_lane 5 i32 v128
   v128 v128.load64_lane align=4 1 i32 v128
   - v128.store offset=16 i32 v128
   - v128.store16_lane 2 i32 v128
   v128 v128.const i32x4 1 2 3 4
   v128 v128.const f64x2 nan -inf
   v128 i8x16.relaxed_swizzle v128 v128
   v128 i32x4.relaxed_trunc_f32x4_s v128
   v128 f32x4.relaxed_madd v128 v128 v128
   v128 f64x2.relaxed_nmadd v128 v128 v128
   v128 i8x16.relaxed_laneselect v128 v128 v128
   v128 f32x4.relaxed_min v128 v128
   v128 i16x8.relaxed_q15mulr_s v128 v128
   v128 i16x8.relaxed_dot_i8x16_i7x16_s v128 v128
   v128 i32x4.relaxed_dot_i8x16_i7x16_add_s v128 v128 v128`,
].join("\n");

const SIMD_WAT = `(module
  (memory 1)
  (global $gv (mut v128) (v128.const i64x2 1 2))
  (func (export "simd") (result v128) ${LOCALS}
    ${operatorCalls(SIMD_OPS)}
    (global.get $gv)))`;

const THREADS_WAT = `(module
  (memory (export "m") 1 2 shared)
  (func (export "atomics") (param $i i32) (param $j i64) (result i32) ${
  LOCALS.replace("(local $i i32) (local $j i64) ", "")
}
    ${
  operatorCalls(`i32 i32.atomic.load i32
    i64 i64.atomic.load32_u i32
    - i32.atomic.store8 i32 i32
    - i64.atomic.store i32 i64
    i32 i32.atomic.rmw.add i32 i32
    i64 i64.atomic.rmw.sub i32 i64
    i32 i32.atomic.rmw8.and_u i32 i32
    i64 i64.atomic.rmw16.or_u i32 i64
    i32 i32.atomic.rmw.xor i32 i32
    i64 i64.atomic.rmw32.xchg_u i32 i64
    i32 i32.atomic.rmw.cmpxchg i32 i32 i32
    i64 i64.atomic.rmw8.cmpxchg_u i32 i64 i64
    i32 memory.atomic.notify i32 i32
    i32 memory.atomic.wait32 i32 i32 i64
    i32 memory.atomic.wait64 i32 i64 i64`)
}
    (atomic.fence)
    (i32.const 0)))`;

const EXNREF_WAT = `(module
  (import "env" "jstag" (tag $js (param externref)))
  (tag $e (param i32))
  (tag $e0)
  (func $thrower (param i32) (if (local.get 0) (then (throw $e (local.get 0)))) (throw $e0))
  (func (export "eh") (param $x i32) (result i32)
    (block $h (result i32)
      (block $h0
        (block $hall (result exnref)
          (try_table (catch $e $h) (catch $e0 $h0) (catch_all_ref $hall)
            (call $thrower (local.get $x)))
          (return (i32.const -1)))
        (throw_ref))
      (i32.const -2)))
  (func (export "rethrow") (param $x i32)
    (block $c (result externref exnref)
      (try_table (catch_ref $js $c) (call $thrower (local.get $x)))
      (return))
    (throw_ref) (drop)))`;

const LEGACY_EH_WAT = `(module
  (tag $e (param i32))
  (func $thrower (param i32) (throw $e (local.get 0)))
  (func (export "legacy") (param $x i32) (result i32)
    (try (result i32)
      (do
        (try
          (do (call $thrower (local.get $x)))
          (delegate 0))
        (i32.const 0))
      (catch $e
        (i32.add (i32.const 1)))
      (catch_all (i32.const 2))))
  (func (export "rethrow") (param $x i32)
    (try
      (do (call $thrower (local.get $x)))
      (catch_all (rethrow 0)))))`;

const WIDE_WAT = `(module
  (type $f (func (param i64) (result i64)))
  (memory $m0 i64 1)
  (memory $m1 1 2)
  (table $tt 2 funcref)
  (global $base i64 (i64.add (i64.const 8) (i64.mul (i64.const 2) (i64.const 4))))
  (elem (table $tt) (i32.const 0) func $down)
  (data (i64.add (i64.const 1) (i64.const 2)) "xyz")
  (func $down (type $f)
    (if (result i64) (i64.eqz (local.get 0))
      (then (i64.load $m0 (global.get $base)))
      (else (return_call $down (i64.sub (local.get 0) (i64.const 1))))))
  (func (export "wide") (param i64) (result i64)
    (i64.store $m0 offset=4294967296 (i64.const 0) (local.get 0))
    (memory.copy $m0 $m0 (i64.const 0) (i64.const 8) (i64.const 8))
    (drop (memory.grow $m0 (i64.const 1)))
    (drop (memory.size $m1))
    (i32.store8 $m1 (i32.const 0) (i32.load8_u $m1 (i32.const 3)))
    (return_call_indirect $tt (type $f) (local.get 0) (i32.const 0))))`;

const GC_WAT = `(module
  (type $f (func (param i32) (result i32)))
  (type $pair (struct (field $a (mut i32)) (field $b i64)))
  (type $arr (array (mut i32)))
  (elem declare func $inc)
  (func $inc (type $f) (i32.add (local.get 0) (i32.const 1)))
  (func (export "refs") (param $x i32) (result i32) (local $r (ref null $f)) (local $p (ref null $pair))
    (local.set $r (ref.func $inc))
    (local.set $p (struct.new $pair (local.get $x) (i64.const 2)))
    (struct.set $pair $a (local.get $p) (i32.const 5))
    (drop (array.len (array.new $arr (i32.const 1) (i32.const 3))))
    (drop (ref.test (ref $pair) (local.get $p)))
    (drop (ref.i31 (local.get $x)))
    (block $null
      (drop (br_on_null $null (local.get $r)))
      (drop (call_ref $f (local.get $x) (ref.as_non_null (local.get $r)))))
    (block $cast (result (ref $pair))
      (drop (br_on_cast $cast anyref (ref $pair) (local.get $p)))
      (unreachable))
    (drop)
    (return_call_ref $f (struct.get $pair $a (local.get $p)) (local.get $r))))`;

export const WAT_SOURCES: Record<string, string> = {
  core: CORE_WAT,
  simd: SIMD_WAT,
  threads: THREADS_WAT,
  exnref: EXNREF_WAT,
  "legacy-eh": LEGACY_EH_WAT,
  wide: WIDE_WAT,
};

/** wabt does not parse GC types: binaryen assembles these. */
export const BINARYEN_WAT_SOURCES: Record<string, string> = {
  gc: GC_WAT,
};
