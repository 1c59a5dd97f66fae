/**
 * The primer (`src/wasm/primer.ts`) is a module the rewriter rewrites once
 * per process before the first large input, only to warm V8 up. Its bytes
 * must be what its text below assembles to, the engine must accept them,
 * every option set must rewrite them without error (an error would be
 * swallowed, and the warm-up silently lost), and priming must never change
 * what a rewrite produces.
 */

import assert from "./support/assert.ts";
import { sha256Hex as sha256 } from "./support/sha256.ts";
import { instrument, type InstrumentOptions } from "../src/wasm/mod.ts";
import { primeOnce, primerBytes } from "../src/wasm/primer.ts";

/**
 * What the primer holds, and why: a self-recursive function with a register
 * copy that inlines itself, another with every kind of operator a copy
 * takes, one that uses the rest (long local indices and constants, long
 * and five-byte memory offsets, float constants, bulk memory, a saturating
 * truncation, SIMD, `br_table`, calls of an import, of a table and of
 * itself, a long segment), and a legacy `try`, which sends the scan back
 * to keep the fuel in the counter. The rarest operators come last, when V8
 * has begun to record what each function meets.
 */
const PRIMER_WAT = `(module
  (type $unary (func (param i32) (result i32)))
  (import "host" "f" (func $host (param i32) (result i32)))
  (memory 1)
  (table 3 funcref)
  (global $g (mut i32) (i32.const 0))
  (global $h (mut i64) (i64.const 0))
  (elem (i32.const 0) $fib $work $rec)
  (data (i32.const 16) "primer")
  (data $passive "xy")
  (func $fib (type $unary)
    (if (result i32) (i32.lt_s (local.get 0) (i32.const 2))
      (then (local.get 0))
      (else
        (i32.add
          (call $fib (i32.sub (local.get 0) (i32.const 1)))
          (call $fib (i32.sub (local.get 0) (i32.const 2)))))))
  (func $rec (type $unary)
    (local $x i64) (local $y f64)
    (if (i32.eqz (local.get 0)) (then (return (i32.const 0))))
    (local.set $x (i64.const 0x123456789))
    (local.set $y (f64.add (f64.const 1.5) (f64.promote_f32 (f32.const 2.5))))
    (global.set $g (i32.load offset=8 (i32.const 0)))
    (i32.store (i32.const 0) (global.get $g))
    (drop (i32.div_s (local.get 0) (i32.const 3)))
    (drop (i32.trunc_sat_f64_s (local.get $y)))
    (block $b
      (loop $l
        (br_if $b (i32.eqz (local.get 0)))
        (block $c (br_table $c $b (local.get 0)))
        (br $l)))
    (if (i32.lt_s (local.get 0) (i32.const 0)) (then (unreachable)))
    (drop (call $fib (local.get 0)))
    (i32.add
      (call $rec (i32.sub (local.get 0) (i32.const 1)))
      (select (i32.wrap_i64 (local.get $x))
        (call $rec (i32.sub (local.get 0) (i32.const 2)))
        (local.tee 0 (local.get 0)))))
  (func $work (export "work") (type $unary)
    (local $a i64) (local $b f32) (local $c f64)
    (local ${"i32 ".repeat(136).trim()})
    (local.set 139 (i32.const 0x12345678))
    (local.set $a (i64.const 0x123456789abcdef))
    (local.set $b (f32.const 1.5))
    (local.set $c (f64.const 2.5))
    (global.set $g (i32.add (global.get $g) (local.get 139)))
    (global.set $h (i64.extend_i32_u (global.get $g)))
    (i32.store offset=4 (i32.const 0) (i32.load offset=0x12345 (i32.const 0)))
    (i64.store8 (i32.const 8) (local.get $a))
    (drop (memory.grow (memory.size)))
    (memory.copy (i32.const 0) (i32.const 8) (i32.const 4))
    (memory.fill (i32.const 0) (i32.const 1) (i32.const 4))
    (memory.init $passive (i32.const 0) (i32.const 0) (i32.const 2))
    (data.drop $passive)
    (drop (i32.trunc_sat_f32_s (local.get $b)))
    (drop (i32x4.extract_lane 1 (v128.const i32x4 1 2 3 4)))
    (drop (i64.div_s (local.get $a) (i64.const 3)))
    (drop (select (local.get 0) (i32.const 1) (local.tee 0 (i32.extend8_s (local.get 0)))))
${"    (drop (local.get 0))\n".repeat(36)}    (block $out
      (loop $top
        (br_if $out (i32.eqz (local.get 0)))
        (block $a (block $b
          (br_table $a $b $out (local.get 0))))
        (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
        (br $top)))
    (if (i32.eqz (local.get 0)) (then (unreachable)) (else (nop)))
    (drop (call $host (local.get 0)))
    (drop (call_indirect (type $unary) (local.get 0) (i32.const 1)))
    (drop (call $work (call $fib (local.get 0))))
    (i32.store offset=0x10000000 (i32.const 0) (i32.const 0))
    (drop (i64.const 0x4000000000000000))
    (return (f64.lt (local.get $c) (f64.const 1))))
  (func $eh (type $unary)
    (try
      (do (drop (call $host (local.get 0))))
      (catch_all))
    (local.get 0)))`;

/** Every option set the loaders use, and a few more. */
const OPTION_SETS: InstrumentOptions[] = [
  {},
  { resumable: false, initialFuel: 1000n },
  { stopFlag: true },
  { stopFlag: true, stopFlagTraps: true },
  { stopFlag: true, fuel: false },
  { stopFlag: true, fuel: false, stopFlagTraps: true },
  { stopFlag: true, stopFlagTraps: true, deferStart: true },
  { exportStackPointer: true, stopFlag: true },
  { costs: { default: 3, perByte: 0, operators: { "local.get": 0 } } },
];

async function assemble(text: string): Promise<Uint8Array> {
  const wabt = await (await import("wabt")).default();
  const module = wabt.parseWat("primer.wat", text, {
    simd: true,
    bulk_memory: true,
    sat_float_to_int: true,
    sign_extension: true,
    reference_types: true,
    exceptions: true,
  });
  try {
    return module.toBinary({}).buffer;
  } finally {
    module.destroy();
  }
}

Deno.test("the primer's bytes are its text, assembled", async () => {
  assert.deepEqual([...primerBytes()], [...await assemble(PRIMER_WAT)]);
});

Deno.test("the engine accepts the primer", () => {
  assert.ok(WebAssembly.validate(primerBytes()));
});

Deno.test("every option set rewrites the primer into a valid module", () => {
  for (const options of OPTION_SETS) {
    const metered = instrument(primerBytes(), options);
    assert.ok(
      WebAssembly.validate(metered.bytes),
      `invalid rewrite with ${
        JSON.stringify(options, (_, v) => typeof v === "bigint" ? `${v}n` : v)
      }`,
    );
  }
});

Deno.test("primeOnce primes once per process, and only for a large input", () => {
  // Another test may have primed this process already: then nothing runs.
  let calls = 0;
  primeOnce(100, () => calls++);
  assert.equal(calls, 0, "a small input primed");
  primeOnce(1 << 20, () => calls++);
  // The primer is rewritten twice (see primer.ts), or not at all.
  assert.ok(calls === 0 || calls === 2, `the primer ran ${calls} times`);
  const after = calls;
  primeOnce(1 << 20, () => calls++);
  assert.equal(calls, after, "primed a second time");
});

/** A valid module of about 80 kB: one function of many short operators. */
async function largeModule(): Promise<Uint8Array> {
  const body = "    (local.set 0 (i32.add (local.get 0) (i32.const 1234567)))\n"
    .repeat(8000);
  return await assemble(
    `(module (memory 1) (func (export "f") (param i32) (result i32)\n${body}    (i32.load offset=70000 (local.get 0))))`,
  );
}

Deno.test("priming changes nothing a rewrite produces", async () => {
  const bytes = await largeModule();
  assert.ok(bytes.length > 64 * 1024);
  // The first large rewrite of a fresh process primes before it rewrites.
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `import { instrument } from ${
        JSON.stringify(new URL("../src/wasm/mod.ts", import.meta.url).href)
      };
      const input = new Uint8Array(await new Response(Deno.stdin.readable).arrayBuffer());
      const digest = await crypto.subtle.digest("SHA-256", instrument(input).bytes);
      console.log(JSON.stringify([Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("")]));`,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(bytes);
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  const fresh = JSON.parse(new TextDecoder().decode(stdout)) as string[];
  assert.equal(fresh.length, 1);
  // Here, primed or not, and again after priming for sure.
  const before = await sha256(instrument(bytes).bytes);
  primeOnce(bytes.length, (input) => instrument(input));
  const after = await sha256(instrument(bytes).bytes);
  assert.equal(fresh[0], before);
  assert.equal(before, after);
});

Deno.test("the rewriter's optimised code outlives a full GC between rewrites", async () => {
  // A body of many checked branches and calls: V8 optimises the scan and
  // the emitter within a few rewrites of it. Under 64 kB (the last small
  // input is kept) and over it (the primer is).
  const branches =
    "(if (local.get 0) (then (drop (call $f (i32.add (local.get 0) (i32.const 1)))))) "
      .repeat(100);
  const body = (functions: number) =>
    `(module (func $f (param i32) (result i32) (local.get 0)) ${
      Array.from(
        { length: functions },
        (_, i) =>
          `(func (export "run${i}") (param i32) (result i32) ${branches} (local.get 0))`,
      ).join("\n")
    })`;
  const small = await assemble(body(25));
  const large = await assemble(body(60));
  assert.ok(small.length < 64 * 1024 && large.length > 64 * 1024);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      "--v8-flags=--expose-gc,--trace-deopt",
      `import { instrument } from ${
        JSON.stringify(new URL("../src/wasm/mod.ts", import.meta.url).href)
      };
      const all = new Uint8Array(await new Response(Deno.stdin.readable).arrayBuffer());
      const split = ${small.length};
      for (const input of [all.subarray(0, split), all.subarray(split)]) {
        for (let i = 0; i < 7; i++) {
          instrument(input, { stopFlag: true });
          globalThis.gc();
        }
      }`,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(small);
  await writer.write(large);
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  // V8 throws optimised code away when an object it names (a hidden
  // class) is gone: each rewrite's own objects are by the next one.
  const cleared = new TextDecoder().decode(stdout).split("\n")
    .filter((line) => line.includes("embedded weak objects cleared"));
  assert.ok(cleared.length <= 2, cleared.join("\n"));
});
