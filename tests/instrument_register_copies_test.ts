/**
 * Register copies: a function that calls itself gets a copy of its body
 * that keeps the fuel counter in a local; it must count exactly like the
 * same code split over two functions (which gets none).
 *
 * @module
 */

import assert from "./support/assert.ts";
import { instrument } from "../src/wasm/instrument.ts";
import {
  disassemble,
  type Fn,
  meter,
  rewrittenOnce,
  wat,
  watBinaryen,
} from "./support/instrument.ts";
import type { Bytes } from "./support/module_bytes.ts";

function recursive(self: boolean): string {
  const body = (name: string, callee: string) => `
    (func ${name} (param $n i32) (param $k i32) (result i32 i64)
      (local $i i32) (local $acc i64)
      (global.set $depth (i32.add (global.get $depth) (i32.const 1)))
      (block $done
        (loop $again
          (br_if $done (i32.ge_u (local.get $i) (local.get $k)))
          (local.set $acc
            (i64.add (local.get $acc) (i64.extend_i32_u (local.get $i))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $again)))
      (if (i32.eqz (local.get $n))
        (then (return (i32.const 0) (local.get $acc))))
      (local.set $acc (i64.add (local.get $acc)
        (i64.load32_u (i32.shl (global.get $depth) (i32.const 12)))))
      (drop (i32.div_u (i32.const 1) (i32.sub (local.get $k) (i32.const 7))))
      (if (i32.eq (local.get $n) (i32.const 1))
        (then (br 1 (i32.const 1) (local.get $acc))))
      (call ${callee} (i32.sub (local.get $n) (i32.const 1))
        (i32.rem_u (call $helper (local.get $k)) (i32.const 6)))
      local.get $acc
      i64.add)`;
  return `(module
    (memory 1)
    (global $depth (export "depth") (mut i32) (i32.const 0))
    (func $helper (param i32) (result i32)
      (i32.add (i32.mul (local.get 0) (i32.const 3)) (i32.const 1)))
    ${body('$f (export "f")', self ? "$f" : "$g")}
    ${self ? "" : body("$g", "$f")})`;
}

/**
 * Asserts that a module whose `f` recurses directly (so it gets a register
 * copy) counts like its twin (which does not): for every case, every budget
 * up to the whole cost ends alike with trapping checks, and resumable checks
 * make the same requests.
 */
async function assertCountsLikeTwin(
  self: Bytes,
  twin: Bytes,
  cases: Array<[number, number]>,
): Promise<void> {
  // Each budget set on the fuel global of a fresh instance of one rewrite.
  const trapping = [self, twin].map((bytes) => rewrittenOnce(bytes, false));
  for (const [n, k] of cases) {
    let budget = 0n;
    for (;; budget += 3n) {
      const results = trapping.map(({ metered, module }) => {
        const { exports } = new WebAssembly.Instance(module, {
          [metered.importModule]: { [metered.importName]: () => 0n },
        });
        const fuel = exports[metered.fuelExport] as WebAssembly.Global;
        fuel.value = budget;
        let outcome: unknown;
        try {
          outcome = (exports.f as Fn)(n, k);
        } catch (error) {
          outcome = (error as Error).message;
        }
        return { outcome, fuel: fuel.value, depth: exports.depth };
      });
      assert.deepEqual(results[0], results[1], `f(${n}, ${k}), ${budget}`);
      if ((results[0]!.fuel as bigint) >= 0n) break;
    }
    assert.ok(budget > 0n);
  }
  for (const [n, k] of cases) {
    const runs = await Promise.all(
      [self, twin].map(async (bytes) => {
        const m = await meter(bytes, { grant: 5n });
        let outcome: unknown;
        try {
          outcome = (m.exports.f as Fn)(n, k);
        } catch (error) {
          outcome = (error as Error).message;
        }
        return { outcome, used: m.used(), calls: m.calls };
      }),
    );
    assert.deepEqual(runs[0], runs[1], `f(${n}, ${k}) resumable`);
  }
}

Deno.test("instrument() counts a self-recursive function like its mutual twin", async () => {
  await assertCountsLikeTwin(
    await wat(recursive(true)),
    await wat(recursive(false)),
    [
      [0, 3],
      [1, 2],
      [6, 4],
      [9, 5],
      [20, 2], // traps on the load at depth 16
      [3, 7], // traps on the division at once
    ],
  );
});

/**
 * A function that calls itself twice, so its copy inlines it twice and
 * runs the inlined body more than once per frame; its locals of every
 * number type must start at zero each time.
 */
function branching(self: boolean): string {
  const body = (name: string, callee: string) => `
    (func ${name} (param $n i32) (param $k i32) (result i32)
      (local $i i32) (local $a i64) (local $b f32) (local $c f64)
      (global.set $depth (i32.add (global.get $depth) (i32.const 1)))
      (loop $again
        (local.set $a (i64.add (local.get $a) (i64.extend_i32_u (local.get $k))))
        (local.set $b (f32.add (local.get $b) (f32.const 0.5)))
        (local.set $c (f64.add (local.get $c) (f64.const 0.25)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $again (i32.lt_u (local.get $i) (i32.const 3))))
      (local.set $i (i32.add (i32.wrap_i64 (local.get $a))
        (i32.add (i32.trunc_f32_u (local.get $b)) (i32.trunc_f64_u (local.get $c)))))
      (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
        (then (local.get $i))
        (else
          (i32.add (local.get $i)
            (i32.add
              (call ${callee} (i32.sub (local.get $n) (i32.const 1)) (local.get $k))
              (call ${callee} (i32.sub (local.get $n) (i32.const 2))
                (i32.add (local.get $k) (i32.const 1))))))))`;
  return `(module
    (global $depth (export "depth") (mut i32) (i32.const 0))
    ${body('$f (export "f")', self ? "$f" : "$g")}
    ${self ? "" : body("$g", "$f")})`;
}

Deno.test("instrument() counts a function inlined into its own copy like its twin", async () => {
  const self = await wat(branching(true));
  const twin = await wat(branching(false));
  const plain = new WebAssembly.Instance(new WebAssembly.Module(self)).exports;
  const m = await meter(self);
  for (const [n, k] of [[0, 1], [5, 2], [12, 3]]) {
    assert.equal((m.exports.f as Fn)(n, k), (plain.f as Fn)(n, k));
  }
  // Both calls were inlined, each as a block typed like the function.
  const text = await disassemble(instrument(self).bytes as Bytes);
  assert.equal(
    text.match(/ block \(param i32 i32\) \(result i32\)/g)?.length,
    2,
    text,
  );
  await assertCountsLikeTwin(self, twin, [[0, 1], [1, 2], [4, 3], [7, 1]]);
});

/**
 * A function that calls itself after a `br_table` dispatch whose cases the
 * table pays for in advance; the odd case loads from `k << 14`, which
 * traps once `k` reaches 4.
 */
function dispatching(self: boolean): string {
  const body = (name: string, callee: string) => `
    (func ${name} (param $n i32) (param $k i32) (result i32)
      (local $a i32)
      (global.set $depth (i32.add (global.get $depth) (i32.const 1)))
      (if (i32.eqz (local.get $n)) (then (return (local.get $k))))
      (block $joined
        (block $odd
          (block $even
            (br_table $even $odd (i32.and (local.get $n) (i32.const 1))))
          (local.set $a (i32.mul (i32.add (local.get $k) (i32.const 5))
            (i32.const 7)))
          (br $joined))
        (local.set $a (i32.load (i32.shl (local.get $k) (i32.const 14)))))
      (i32.add (local.get $a)
        (call ${callee} (i32.sub (local.get $n) (i32.const 1))
          (i32.add (local.get $k) (i32.const 1)))))`;
  return `(module
    (memory 1)
    (global $depth (export "depth") (mut i32) (i32.const 0))
    ${body('$f (export "f")', self ? "$f" : "$g")}
    ${self ? "" : body("$g", "$f")})`;
}

Deno.test("instrument() counts a self-recursive dispatch like its mutual twin", async () => {
  await assertCountsLikeTwin(
    await wat(dispatching(true)),
    await wat(dispatching(false)),
    [
      [0, 1],
      [3, 0],
      [8, 0], // traps on the load at depth 6
      [9, 3], // traps on the load at depth 3
    ],
  );
});

Deno.test("instrument() copies a self-recursive body whose blocks have reference types", async () => {
  // `(ref null $t)` and `(ref $t)` block types take two bytes each. (The
  // branches keep binaryen from dropping the blocks.)
  const bytes = await watBinaryen(`(module
    (type $t (func (result i32)))
    (func $seven (type $t) (i32.const 7))
    (global $maybe (ref null $t) (ref.null $t))
    (global $some (ref $t) (ref.func $seven))
    (func $f (export "f") (param $n i32) (result i32)
      (if (result i32) (local.get $n)
        (then
          (drop (block $a (result (ref null $t))
            (br $a (global.get $maybe))))
          (drop (block $b (result (ref $t)) (br $b (global.get $some))))
          (i32.add (local.get $n)
            (call $f (i32.sub (local.get $n) (i32.const 1)))))
        (else (i32.const 1)))))`);
  const m = await meter(bytes);
  assert.equal((m.exports.f as Fn)(5), 16);
});

Deno.test("instrument() counts every frame of a recursion that overflows the stack", async () => {
  const bytes = await wat(`(module
    (global $depth (export "depth") (mut i32) (i32.const 0))
    (func $down (export "down") (param $n i32)
      (global.set $depth (i32.add (global.get $depth) (i32.const 1)))
      (if (local.get $n)
        (then (call $down (i32.sub (local.get $n) (i32.const 1)))))))`);
  for (const resumable of [true, false]) {
    const m = await meter(bytes, { resumable, initialFuel: 1n << 40n });
    const used = () => (1n << 40n) - (m.fuel.value as bigint) + m.used();
    const depth = m.exports.depth as WebAssembly.Global;
    const base = used();
    (m.exports.down as Fn)(0);
    const leaf = used() - base;
    (m.exports.down as Fn)(1);
    // down(1) pays one frame that calls, and a leaf.
    const frame = used() - base - 2n * leaf;
    depth.value = 0;
    const before = used();
    assert.throws(() => (m.exports.down as Fn)(1e9), RangeError);
    // Every frame that ran paid its entry and its call; the frame the
    // stack had no room for paid nothing.
    assert.ok(depth.value > 1000);
    assert.equal(used() - before, BigInt(depth.value) * frame);
  }
});

Deno.test("instrument() gives a register copy only to a body of at most 128 bytes of code", async () => {
  // The same recursion, padded with arithmetic to either side of the line.
  const guest = (steps: number) =>
    wat(`(module
      (func $f (export "f") (param $n i32) (result i32)
        (local $a i32)
        ${"(local.set $a (i32.add (local.get $a) (i32.const 1)))".repeat(steps)}
        (if (result i32) (i32.eqz (local.get $n))
          (then (local.get $a))
          (else (i32.add (local.get $a)
            (call $f (i32.sub (local.get $n) (i32.const 1))))))))`);
  const copyType = /\(func \(param i32 i64\) \(result i32 i64\)\)/;
  const small = await guest(10); // 95 bytes of code
  const large = await guest(20); // 165
  assert.match(await disassemble(instrument(small).bytes as Bytes), copyType);
  assert.doesNotMatch(
    await disassemble(instrument(large).bytes as Bytes),
    copyType,
  );
  for (const bytes of [small, large]) {
    const m = await meter(bytes);
    assert.equal((m.exports.f as Fn)(3), (3 + 1) * (bytes === small ? 10 : 20));
  }
});
