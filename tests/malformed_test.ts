/**
 * Malformed input: thousands of deterministic mutations of real modules
 * (bits flipped, bytes cut, inserted or deleted, LEB128 fields stretched into
 * runs of `0x80`, section sizes and vector counts changed, sections swapped)
 * must each make `instrument()` either return a module that
 * `WebAssembly.validate` accepts or throw a branded `InvalidModule`,
 * without the rewriter's own code failing underneath.
 *
 * The corpus: modules assembled from WAT that use most operators of every
 * proposal V8 runs, modules from binaryen's translate-to-fuzz, and the wasm
 * that the `hash-wasm` package embeds. The mutations run in two child
 * processes (this file, run with `--child`) under a watchdog, so a rewriter
 * that loops forever fails the test instead of hanging it.
 *
 * Reproduce one mutation, writing its input to a file:
 * `deno run --allow-read --allow-write --allow-run --allow-env
 * tests/malformed_test.ts --repro N [out.wasm]`
 *
 * @module
 */

import assert from "./support/assert.ts";
import { assembleWat } from "../guest/build.ts";
import { isInvalidModule } from "../src/errors.ts";
import { instrument } from "../src/wasm/instrument.ts";
import { findNpmFile } from "./support/npm.ts";
import {
  FuzzModuleMaker,
  internalError,
  seededRandom,
} from "./support/fuzz.ts";

/** Mutations in the test run. */
const MUTATIONS = 24000;
/** Child processes running them (the machine has 2 cores). */
const WORKERS = 2;
/**
 * A child that prints nothing for this long is taken to hang. It reports
 * progress every {@link PROGRESS_EVERY} inputs, which take well under a
 * second on a quiet machine: the margin is for a loaded one. How fast the
 * rewriter is belongs in `deno task bench`, not here.
 */
const WATCHDOG_MS = 120_000;
/** Inputs between two progress lines of a child. */
const PROGRESS_EVERY = 100;

// ---------------------------------------------------------------------------
// The corpus

/** A named module. */
interface CorpusEntry {
  name: string;
  bytes: Uint8Array;
}

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

const WAT_SOURCES: Record<string, string> = {
  core: CORE_WAT,
  simd: SIMD_WAT,
  threads: THREADS_WAT,
  exnref: EXNREF_WAT,
  "legacy-eh": LEGACY_EH_WAT,
  wide: WIDE_WAT,
};

/** wabt does not parse GC types: binaryen assembles these. */
const BINARYEN_WAT_SOURCES: Record<string, string> = {
  gc: GC_WAT,
};

/** The WAT modules, assembled (with a name section) and validated. */
async function watCorpus(): Promise<CorpusEntry[]> {
  const entries: CorpusEntry[] = [];
  for (const [name, source] of Object.entries(WAT_SOURCES)) {
    const bytes = await assembleWat(source, `${name}.wat`);
    entries.push({ name: `wat-${name}`, bytes });
  }
  const binaryen = (await import("binaryen")).default;
  for (const [name, source] of Object.entries(BINARYEN_WAT_SOURCES)) {
    const module = binaryen.parseText(source);
    try {
      module.setFeatures(binaryen.Features.All);
      if (!module.validate()) throw new Error(`${name}.wat does not validate`);
      entries.push({ name: `wat-${name}`, bytes: module.emitBinary() });
    } finally {
      module.dispose();
    }
  }
  return entries;
}

/** The modules `hash-wasm` embeds as base64 in its ES module build. */
async function hashWasmCorpus(): Promise<CorpusEntry[]> {
  const path = await findNpmFile("hash-wasm", "dist/index.esm.js");
  if (path === undefined) {
    throw new Error(
      "cannot find hash-wasm's dist/index.esm.js through deno info --json",
    );
  }
  const source = await Deno.readTextFile(path);
  const entries: CorpusEntry[] = [];
  // "AGFzbQ" is the base64 of the magic "\0asm".
  for (const match of source.matchAll(/"(AGFzbQ[A-Za-z0-9+/=]+)"/g)) {
    const binary = atob(match[1]);
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    entries.push({ name: `hash-wasm-${entries.length}`, bytes });
  }
  return entries;
}

/** A few translate-to-fuzz modules, one per profile at least. */
async function fuzzCorpus(): Promise<CorpusEntry[]> {
  const maker = await FuzzModuleMaker.create();
  try {
    const entries: CorpusEntry[] = [];
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
      const { profile, bytes } = await maker.make(seed);
      entries.push({ name: `fuzz-${seed}-${profile}`, bytes });
    }
    return entries;
  } finally {
    await maker.close();
  }
}

let corpusBuilt: Promise<CorpusEntry[]> | undefined;

/** The whole corpus, in a fixed order (built once per process). */
function buildCorpus(): Promise<CorpusEntry[]> {
  corpusBuilt ??= (async () => [
    ...await watCorpus(),
    ...await fuzzCorpus(),
    ...await hashWasmCorpus(),
  ])();
  return corpusBuilt;
}

// ---------------------------------------------------------------------------
// Mutations

/** Where the top-level sections of a module are. */
interface SectionSpan {
  id: number;
  /** The id byte. */
  start: number;
  /** The size field. */
  sizeAt: number;
  sizeLength: number;
  /** The contents. */
  contentAt: number;
  end: number;
}

function readLeb(bytes: Uint8Array, pos: number): [number, number] {
  let value = 0;
  let shift = 0;
  const start = pos;
  while (pos < bytes.length && shift < 35) {
    const b = bytes[pos++];
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if ((b & 0x80) === 0) break;
  }
  return [value, pos - start];
}

function sectionsOf(bytes: Uint8Array): SectionSpan[] {
  const spans: SectionSpan[] = [];
  let pos = 8;
  while (pos < bytes.length) {
    const start = pos;
    const id = bytes[pos++];
    const [size, sizeLength] = readLeb(bytes, pos);
    const contentAt = pos + sizeLength;
    const end = contentAt + size;
    if (end > bytes.length) break;
    spans.push({ id, start, sizeAt: pos, sizeLength, contentAt, end });
    pos = end;
  }
  return spans;
}

/** `value` as unsigned LEB128, padded to at least `minLength` bytes. */
function encodeLeb(value: number, minLength = 1): number[] {
  const out: number[] = [];
  do {
    out.push(value % 128);
    value = Math.floor(value / 128);
  } while (value > 0 || out.length < minLength);
  for (let i = 0; i < out.length - 1; i++) out[i] |= 0x80;
  return out;
}

function splice(
  bytes: Uint8Array,
  at: number,
  remove: number,
  insert: ArrayLike<number> = [],
): Uint8Array {
  at = Math.min(Math.max(at, 0), bytes.length);
  remove = Math.min(remove, bytes.length - at);
  const out = new Uint8Array(bytes.length - remove + insert.length);
  out.set(bytes.subarray(0, at), 0);
  out.set(insert, at);
  out.set(bytes.subarray(at + remove), at + insert.length);
  return out;
}

const SPECIAL_BYTES = [0x00, 0x01, 0x0b, 0x40, 0x7f, 0x80, 0xff, 0x41, 0xfd];
const SIZE_VALUES = [0, 1, 0x7f, 0x80, 0x3fff, 0xffff_ffff, 0x1_0000_0000];

/** One mutation: what it did, and the bytes after it. */
type Step = (bytes: Uint8Array, next: () => number) => [Uint8Array, string];

function pickPosition(bytes: Uint8Array, next: () => number): number {
  if (bytes.length === 0) return 0;
  // Half of the hits go to the code section, where most decoding is.
  const code = sectionsOf(bytes).find((s) => s.id === 10);
  if (code && next() % 2 === 0) {
    return code.contentAt + (next() % Math.max(1, code.end - code.contentAt));
  }
  return next() % bytes.length;
}

function newValue(old: number, next: () => number): number {
  switch (next() % 3) {
    case 0:
      return Math.max(0, old + (next() % 33) - 16);
    case 1:
      return SIZE_VALUES[next() % SIZE_VALUES.length];
    default:
      return next() % 4096;
  }
}

const STEPS: Step[] = [
  function flipBit(bytes, next) {
    const at = pickPosition(bytes, next);
    const bit = next() % 8;
    if (at < bytes.length) bytes = splice(bytes, at, 1, [bytes[at] ^ 1 << bit]);
    return [bytes, `flip bit ${bit} at ${at}`];
  },
  function setByte(bytes, next) {
    const at = pickPosition(bytes, next);
    const value = next() % 2 === 0
      ? SPECIAL_BYTES[next() % SPECIAL_BYTES.length]
      : next() & 0xff;
    return [splice(bytes, at, 1, [value]), `set byte ${at} to ${value}`];
  },
  function truncate(bytes, next) {
    const at = next() % 4 === 0
      ? next() % Math.min(16, bytes.length + 1)
      : pickPosition(bytes, next);
    return [bytes.slice(0, at), `truncate to ${at}`];
  },
  function insertBytes(bytes, next) {
    const at = pickPosition(bytes, next);
    const count = 1 + next() % 8;
    const inserted = Array.from(
      { length: count },
      () =>
        next() % 2 === 0
          ? SPECIAL_BYTES[next() % SPECIAL_BYTES.length]
          : next() & 0xff,
    );
    return [splice(bytes, at, 0, inserted), `insert ${inserted} at ${at}`];
  },
  function deleteBytes(bytes, next) {
    const at = pickPosition(bytes, next);
    const count = 1 + next() % 8;
    return [splice(bytes, at, count), `delete ${count} at ${at}`];
  },
  function lebRun(bytes, next) {
    const at = pickPosition(bytes, next);
    const count = 1 + next() % 12;
    const run = new Array(count).fill(0x80);
    const ending = next() % 3;
    if (ending === 1) run.push(0x00);
    if (ending === 2) run.push(0x7f);
    const insert = next() % 2 === 0;
    return [
      splice(bytes, at, insert ? 0 : run.length, run),
      `${insert ? "insert" : "overwrite with"} ${count}×0x80${
        ["", " 0x00", " 0x7f"][ending]
      } at ${at}`,
    ];
  },
  function sectionSize(bytes, next) {
    const spans = sectionsOf(bytes);
    if (spans.length === 0) return [bytes, "no section to resize"];
    const s = spans[next() % spans.length];
    const size = newValue(s.end - s.contentAt, next);
    const field = encodeLeb(size, next() % 2 === 0 ? s.sizeLength : 1);
    return [
      splice(bytes, s.sizeAt, s.sizeLength, field),
      `section ${s.id} at ${s.start}: size ${size}`,
    ];
  },
  function vectorCount(bytes, next) {
    const spans = sectionsOf(bytes).filter((s) => s.id !== 0 && s.id !== 8);
    if (spans.length === 0) return [bytes, "no vector to recount"];
    const s = spans[next() % spans.length];
    const [count, length] = readLeb(bytes, s.contentAt);
    const value = newValue(count, next);
    return [
      splice(bytes, s.contentAt, length, encodeLeb(value, length)),
      `section ${s.id} at ${s.start}: count ${value}`,
    ];
  },
  function copyChunk(bytes, next) {
    const from = pickPosition(bytes, next);
    const to = pickPosition(bytes, next);
    const count = 1 + next() % 32;
    const chunk = bytes.slice(from, from + count);
    return [
      splice(bytes, to, chunk.length, chunk),
      `copy ${chunk.length} from ${from} to ${to}`,
    ];
  },
  function swapSections(bytes, next) {
    const spans = sectionsOf(bytes);
    if (spans.length < 2) return [bytes, "no sections to swap"];
    const i = next() % (spans.length - 1);
    const [a, b] = [spans[i], spans[i + 1]];
    const swapped = new Uint8Array(bytes.length);
    swapped.set(bytes.subarray(0, a.start));
    swapped.set(bytes.subarray(b.start, b.end), a.start);
    swapped.set(bytes.subarray(a.start, a.end), a.start + b.end - b.start);
    swapped.set(bytes.subarray(b.end), b.end);
    return [swapped, `swap sections ${a.id} and ${b.id} at ${a.start}`];
  },
];

/** Mutation number `index` of the corpus: which module, what was done. */
function mutation(
  corpus: readonly CorpusEntry[],
  index: number,
): { entry: CorpusEntry; bytes: Uint8Array; steps: string[] } {
  const entry = corpus[index % corpus.length];
  const next = seededRandom(index * 7919 + 17);
  // Mostly one step; every eighth input stacks two or three.
  const count = next() % 8 === 0 ? 2 + next() % 2 : 1;
  let bytes = entry.bytes;
  const steps: string[] = [];
  for (let i = 0; i < count; i++) {
    const step = STEPS[next() % STEPS.length];
    const [after, what] = step(bytes, next);
    bytes = after;
    steps.push(`${step.name}: ${what}`);
  }
  return { entry, bytes, steps };
}

// ---------------------------------------------------------------------------
// Checking one input

/** The ways an input can break the contract. */
const FAILURE_KINDS = [
  "threw a non-branded error",
  "failed inside the rewriter (relabelled as InvalidModule)",
  "returned an invalid module for input V8 accepts",
  "returned an invalid module for input V8 rejects",
] as const;
type FailureKind = typeof FAILURE_KINDS[number];

/** What `instrument()` did with one input. */
interface Verdict {
  outcome: "accepted" | "rejected";
  ms: number;
  /** Set when the outcome breaks the contract. */
  failure?: { kind: FailureKind; detail: string };
  /** V8 accepts the input, yet the rewriter rejected it: why. */
  validButRejected?: string;
}

function check(input: Uint8Array): Verdict {
  const started = performance.now();
  let output: Uint8Array;
  try {
    output = instrument(input).bytes;
  } catch (error) {
    const ms = performance.now() - started;
    const message = error instanceof Error
      ? `${error.name}: ${error.message}`
      : `thrown ${typeof error}: ${String(error)}`;
    if (!isInvalidModule(error)) {
      return {
        outcome: "rejected",
        ms,
        failure: { kind: FAILURE_KINDS[0], detail: message },
      };
    }
    const internal = internalError(error);
    if (internal) {
      return {
        outcome: "rejected",
        ms,
        failure: { kind: FAILURE_KINDS[1], detail: `${internal} → ${message}` },
      };
    }
    return {
      outcome: "rejected",
      ms,
      validButRejected: WebAssembly.validate(input as BufferSource)
        ? message
        : undefined,
    };
  }
  const ms = performance.now() - started;
  try {
    new WebAssembly.Module(output as BufferSource);
  } catch (error) {
    const inputValid = WebAssembly.validate(input as BufferSource);
    return {
      outcome: "accepted",
      ms,
      failure: {
        kind: FAILURE_KINDS[inputValid ? 2 : 3],
        detail: (error as Error).message,
      },
    };
  }
  return { outcome: "accepted", ms };
}

// ---------------------------------------------------------------------------
// The child: runs a slice of the mutations

/** Examples of each failure kind a report keeps. */
const EXAMPLES = 12;

/** What a child reports at the end. */
interface ChildReport {
  from: number;
  to: number;
  accepted: number;
  rejected: number;
  maxMs: number;
  slowest: number;
  /** Per failure kind: how many, and the first few. */
  failures: Record<string, { count: number; examples: string[] }>;
  validButRejected: string[];
}

async function readCorpus(dir: string): Promise<CorpusEntry[]> {
  const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  return await Promise.all(names.map(async (file) => ({
    name: file.replace(/^\d+-/, "").replace(/\.wasm$/, ""),
    bytes: await Deno.readFile(`${dir}/${file}`),
  })));
}

async function childMain(dir: string, from: number, to: number) {
  const corpus = await readCorpus(dir);
  const report: ChildReport = {
    from,
    to,
    accepted: 0,
    rejected: 0,
    maxMs: 0,
    slowest: -1,
    failures: {},
    validButRejected: [],
  };
  const fail = (kind: FailureKind, text: string) => {
    const entry = report.failures[kind] ??= { count: 0, examples: [] };
    entry.count++;
    if (entry.examples.length < EXAMPLES) entry.examples.push(text);
  };
  const encoder = new TextEncoder();
  for (let index = from; index < to; index++) {
    if ((index - from) % PROGRESS_EVERY === 0) {
      Deno.stdout.writeSync(encoder.encode(`at ${index}\n`));
    }
    const { entry, bytes, steps } = mutation(corpus, index);
    const verdict = check(bytes);
    report[verdict.outcome]++;
    // The first calls include compiling the rewriter itself.
    if (verdict.ms > report.maxMs && index - from >= 20) {
      report.maxMs = verdict.ms;
      report.slowest = index;
    }
    const what = `mutation #${index} of ${entry.name} (${steps.join("; ")})`;
    if (verdict.failure) {
      fail(verdict.failure.kind, `${what}: ${verdict.failure.detail}`);
    }
    if (verdict.validButRejected) {
      report.validButRejected.push(`${what}: ${verdict.validButRejected}`);
    }
  }
  Deno.stdout.writeSync(encoder.encode(`report ${JSON.stringify(report)}\n`));
}

/** Runs mutations [from, to) in a child, killing it if it goes quiet. */
async function runChild(
  dir: string,
  from: number,
  to: number,
): Promise<ChildReport> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      `--allow-read=${dir}`,
      new URL(import.meta.url).pathname,
      "--child",
      dir,
      String(from),
      String(to),
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  let last = `${from} (not started)`;
  let report: ChildReport | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const watchdog = () => {
    clearTimeout(timer);
    timer = setTimeout(() => child.kill("SIGKILL"), WATCHDOG_MS);
  };
  watchdog();
  const lines = child.stdout.pipeThrough(new TextDecoderStream());
  let buffered = "";
  for await (const chunk of lines) {
    watchdog();
    buffered += chunk;
    let newline: number;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      if (line.startsWith("at ")) last = line.slice(3);
      if (line.startsWith("report ")) report = JSON.parse(line.slice(7));
    }
  }
  clearTimeout(timer);
  const status = await child.status;
  const errors = await stderr;
  if (status.signal === "SIGKILL") {
    assert.fail(
      `the rewriter hung: no progress for ${WATCHDOG_MS} ms in mutations ` +
        `${last}..${
          Math.min(to, Number(last) + PROGRESS_EVERY)
        } (run --repro on them)`,
    );
  }
  if (!report) {
    assert.fail(
      `the child for mutations ${from}..${to} died (${
        JSON.stringify(status)
      }) after ${last}:\n${errors}`,
    );
  }
  return report;
}

// ---------------------------------------------------------------------------
// The tests

Deno.test("the malformed-input corpus instruments cleanly", async () => {
  const corpus = await buildCorpus();
  assert.ok(corpus.length >= 30, `only ${corpus.length} corpus modules`);
  const problems: string[] = [];
  for (const entry of corpus) {
    assert.ok(
      WebAssembly.validate(entry.bytes as BufferSource),
      `${entry.name} is not valid to begin with`,
    );
    const verdict = check(entry.bytes);
    if (verdict.failure || verdict.outcome !== "accepted") {
      problems.push(
        `${entry.name}: ${
          verdict.failure ?? `rejected: ${verdict.validButRejected}`
        }`,
      );
    }
  }
  assert.deepEqual(problems, []);
});

Deno.test("mutated modules give a valid module or InvalidModule", async () => {
  const corpus = await buildCorpus();
  const dir = await Deno.makeTempDir({ prefix: "early-exit-malformed-" });
  try {
    await Promise.all(corpus.map((entry, i) =>
      Deno.writeFile(
        `${dir}/${String(i).padStart(3, "0")}-${
          entry.name.replace(/[^\w-]/g, "_")
        }.wasm`,
        entry.bytes,
      )
    ));
    const started = performance.now();
    const share = Math.ceil(MUTATIONS / WORKERS);
    const reports = await Promise.all(
      Array.from(
        { length: WORKERS },
        (_, w) =>
          runChild(dir, w * share, Math.min(MUTATIONS, (w + 1) * share)),
      ),
    );
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    const total = (key: "accepted" | "rejected") =>
      reports.reduce((n, r) => n + r[key], 0);
    const slowest = reports.reduce((a, b) => a.maxMs >= b.maxMs ? a : b);
    const failures = new Map<string, { count: number; examples: string[] }>();
    for (const report of reports) {
      for (
        const [kind, { count, examples }] of Object.entries(report.failures)
      ) {
        const total = failures.get(kind) ?? { count: 0, examples: [] };
        total.count += count;
        total.examples.push(...examples);
        failures.set(kind, total);
      }
    }
    const failed = [...failures.values()].reduce((n, f) => n + f.count, 0);
    const validButRejected = reports.flatMap((r) => r.validButRejected);
    console.log(
      `malformed: ${MUTATIONS} mutations of ${corpus.length} modules: ` +
        `${total("accepted")} gave a module, ${total("rejected")} ` +
        `InvalidModule (${validButRejected.length} of those V8 accepts); ` +
        `${failed} broke the contract; slowest ${
          slowest.maxMs.toFixed(1)
        } ms (#${slowest.slowest}); ${seconds} s`,
    );
    for (const note of validButRejected.slice(0, 10)) {
      console.log(`  rejected though V8 accepts it: ${note}`);
    }
    if (failed > 0) {
      assert.fail(
        `${failed} mutations broke the contract:\n` +
          [...failures].map(([kind, { count, examples }]) =>
            `${kind}: ${count}, for example\n  ${
              examples.slice(0, EXAMPLES).join("\n  ")
            }`
          ).join("\n"),
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------------------
// Command line: the child, and reproducing one mutation

if (Deno.args[0] === "--child") {
  await childMain(Deno.args[1], Number(Deno.args[2]), Number(Deno.args[3]));
} else if (Deno.args[0] === "--repro") {
  const index = Number(Deno.args[1]);
  const corpus = await buildCorpus();
  const { entry, bytes, steps } = mutation(corpus, index);
  console.log(`mutation #${index} of ${entry.name}: ${steps.join("; ")}`);
  console.log(
    `input: ${bytes.length} bytes, V8 ${
      WebAssembly.validate(bytes as BufferSource) ? "accepts" : "rejects"
    } it`,
  );
  if (Deno.args[2]) await Deno.writeFile(Deno.args[2], bytes);
  console.log(check(bytes));
  try {
    instrument(bytes);
  } catch (error) {
    console.log(error, (error as Error).cause);
  }
}
