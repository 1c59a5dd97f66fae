/**
 * Every GC allocation is paid for by its size, so that a fuel budget bounds
 * the guest's heap: a struct by its fields, an array by its elements. Each
 * attack runs in a child process with a small heap, so that this process
 * survives whatever happens, and the test asserts how the child ended. The
 * same attack with its price taken away (`perElement: 0`) runs until the
 * host's heap limit stops it (`out_of_memory`): the test would see a
 * regression.
 */

import assert from "./support/assert.ts";
import {
  assertOutOfMemory,
  assertRanOutOfFuel,
  invokeRunInChild,
} from "./support/small_heap_child.ts";
import { watBinaryen } from "./support/instrument.ts";
import { exceptionHoarder } from "./support/exception_hoarder.ts";
import { assembleWat } from "../guest/build.ts";

/** Fields of the struct the attack allocates: V8's largest struct. */
const FIELDS = 10_000;

/**
 * A guest whose `run` allocates 10,000-field structs (80 KB each) in a loop
 * and keeps every one alive in a linked list.
 */
async function structHoarder(): Promise<Uint8Array> {
  const fields = Array.from({ length: FIELDS - 1 }, () => "(field i64)")
    .join(" ");
  return await watBinaryen(`(module
    (type $node (struct (field $next (mut (ref null $node))) ${fields}))
    (global $list (mut (ref null $node)) (ref.null $node))
    (func (export "run")
      (local $new (ref null $node))
      (loop $again
        (local.set $new (struct.new_default $node))
        (struct.set $node $next (local.get $new) (global.get $list))
        (global.set $list (local.get $new))
        (br $again))))`);
}

/**
 * A guest whose `run` keeps the arrays `allocation` (an `(array i64)`
 * expression of type `$a`) makes in a list.
 */
async function arrayHoarder(allocation: string): Promise<Uint8Array> {
  return await watBinaryen(`(module
    (type $a (array i64))
    (type $node (struct (field (ref $a)) (field (ref null $node))))
    (global $list (mut (ref null $node)) (ref.null $node))
    (func (export "run")
      (loop $again
        (global.set $list
          (struct.new $node ${allocation} (global.get $list)))
        (br $again))))`);
}

/** A guest whose `run` keeps 10,000-element fixed arrays in a list. */
async function fixedHoarder(): Promise<Uint8Array> {
  const elements = Array.from({ length: 10_000 }, () => "(i64.const 7)")
    .join(" ");
  return await arrayHoarder(`(array.new_fixed $a 10000 ${elements})`);
}

Deno.test("a 20 KB guest allocating 10,000-field structs runs out of fuel, not the host's heap", async () => {
  const bytes = await structHoarder();
  assert.ok(bytes.length < 21_000, `the guest is ${bytes.length} bytes`);
  for (
    const options of [
      "{ fuel: 1_000_000 }",
      "{ fuel: 1_000_000, interruptible: true }",
    ]
  ) {
    const child = await invokeRunInChild(bytes, 64, options);
    assertRanOutOfFuel(child, options);
  }
  // The same budget, but with fields free: the heap's limit is what ends it.
  assertOutOfMemory(
    await invokeRunInChild(
      bytes,
      64,
      "{ fuel: 1_000_000, costs: { perElement: 0 } }",
    ),
  );
});

Deno.test("array.new_fixed is paid by its elements", async () => {
  const bytes = await fixedHoarder();
  // Its operands made free, only the allocation's own price is left.
  const free = `{ "i64.const": 0, "struct.new": 0 }`;
  const child = await invokeRunInChild(
    bytes,
    64,
    `{ fuel: 1_000_000, costs: { operators: ${free} } }`,
  );
  assertRanOutOfFuel(child);
  assertOutOfMemory(
    await invokeRunInChild(
      bytes,
      64,
      `{ fuel: 1_000_000, costs: { operators: ${free}, perElement: 0 } }`,
    ),
  );
});

Deno.test("array.new_default is paid by its length at run time", async () => {
  const bytes = await arrayHoarder("(array.new_default $a (i32.const 100000))");
  const child = await invokeRunInChild(bytes, 64, "{ fuel: 1_000_000 }");
  assertRanOutOfFuel(child);
  assertOutOfMemory(
    await invokeRunInChild(
      bytes,
      64,
      "{ fuel: 1_000_000, costs: { perElement: 0 } }",
    ),
  );
});

Deno.test("a throw is paid by its tag's parameters: a guest keeping big exceptions runs out of fuel, not the host's heap", async () => {
  const bytes = exceptionHoarder();
  assert.ok(WebAssembly.validate(bytes));
  assertRanOutOfFuel(
    await invokeRunInChild(bytes, 64, "{ fuel: 1_000_000 }"),
  );
  // Before, a throw cost its operator: 21 fuel a 64 KB exception, and the
  // child died of its heap (as with perElement: 0, not run here for time).
  const { loadGuest } = await import("../mod.ts");
  const seven = await assembleWat(`(module
    (tag $t (param i32 i32 i32 i32 i32 i32 i32))
    (func (export "throw")
      (throw $t (i32.const 1) (i32.const 1) (i32.const 1) (i32.const 1)
        (i32.const 1) (i32.const 1) (i32.const 1))))`);
  for (const perElement of [10, 0]) {
    const guest = await loadGuest(seven, { fuel: 1e6, costs: { perElement } });
    const result = guest.invoke("throw");
    assert.equal(result.outcome, "trap");
    // Seven operands, the throw, and perElement for each 8 bytes of the
    // exception: V8 keeps an i32 in two.
    assert.equal(result.fuel!.consumed, 7 + 1 + 7 * 2 * perElement);
  }
});

Deno.test("each allocation costs its operator plus perElement per field or element", async () => {
  const { loadGuest } = await import("../mod.ts");
  const fields = (n: number) =>
    Array.from({ length: n }, () => "(field i32)").join(" ");
  const bytes = await watBinaryen(`(module
    (type $s (struct ${fields(7)}))
    (type $a (array (mut i32)))
    (type $f (array funcref))
    (memory 1)
    (data $d "0123456789abcdef")
    (elem $e func $g $g $g $g)
    (func $g)
    (func (export "struct_new_default") (drop (struct.new_default $s)))
    (func (export "struct_new")
      (drop (struct.new $s (i32.const 1) (i32.const 1) (i32.const 1)
        (i32.const 1) (i32.const 1) (i32.const 1) (i32.const 1))))
    (func (export "array_new_fixed")
      (drop (array.new_fixed $a 3 (i32.const 1) (i32.const 1) (i32.const 1))))
    (func (export "array_new") (param i32)
      (drop (array.new $a (i32.const 1) (local.get 0))))
    (func (export "array_new_default") (param i32)
      (drop (array.new_default $a (local.get 0))))
    (func (export "array_new_data") (param i32)
      (drop (array.new_data $a $d (i32.const 0) (local.get 0))))
    (func (export "array_new_elem") (param i32)
      (drop (array.new_elem $f $e (i32.const 0) (local.get 0)))))`);
  const costs = { perElement: 10 };
  const guest = await loadGuest(bytes, { fuel: Infinity, costs });
  const cost = (name: string, args: number[] = []) =>
    guest.invoke(name, args).fuel!.consumed;
  assert.equal(cost("struct_new_default"), 1 + 7 * 10);
  assert.equal(cost("struct_new"), 7 + 1 + 7 * 10);
  assert.equal(cost("array_new_fixed"), 3 + 1 + 3 * 10);
  // Sized at run time: operands, the operator, then n × perElement.
  for (const n of [0, 1, 4]) {
    assert.equal(cost("array_new", [n]), 2 + 1 + n * 10);
    assert.equal(cost("array_new_default", [n]), 1 + 1 + n * 10);
    assert.equal(cost("array_new_data", [n]), 2 + 1 + n * 10);
    assert.equal(cost("array_new_elem", [n]), 2 + 1 + n * 10);
  }
});

/** A `(local ...)` declaring `n` locals of `type`, or nothing. */
function declare(n: number, type: string): string {
  return n === 0 ? "" : `(local ${Array(n).fill(type).join(" ")})`;
}

Deno.test("a function's entry pays perElement for each 8 locals it declares beyond the first 256, which the engine zeroes", async () => {
  const { loadGuest } = await import("../mod.ts");
  // Declared locals, and what an entry pays for them beyond a plain one.
  const expected: [number, number][] = [
    [0, 0],
    [256, 0],
    [257, 1],
    [264, 1],
    [265, 2],
    [4_000, 468],
  ];
  const functions = expected.flatMap(([n]) =>
    ["i32", "v128"].map((type) => `
      (func $f_${n}_${type} ${declare(n, type)})
      (func (export "call_${n}_${type}") (call $f_${n}_${type}))`)
  ).join("");
  // Parameters are the caller's, not zeroed: they cost nothing.
  const params = Array(300).fill("i32").join(" ");
  const args = Array(300).fill("(i32.const 1)").join(" ");
  const bytes = await assembleWat(`(module ${functions}
    (func $p (param ${params}))
    (func (export "call_params") (call $p ${args})))`);
  for (const perElement of [1, 3, 0]) {
    const guest = await loadGuest(bytes, { fuel: 1e9, costs: { perElement } });
    const consumed = (name: string) => guest.invoke(name).fuel!.consumed;
    const plain = consumed("call_0_i32");
    for (const [n, extra] of expected) {
      for (const type of ["i32", "v128"]) {
        assert.equal(
          consumed(`call_${n}_${type}`) - plain,
          extra * perElement,
          `${n} ${type} locals, perElement ${perElement}`,
        );
      }
    }
    // 300 arguments pushed: 300 operators, and nothing for the frame.
    assert.equal(consumed("call_params") - plain, 300);
  }
});

Deno.test("a loop calling a function of 40,000 v128 locals runs out of fuel by the locals it zeroes, and stops at a deadline", async () => {
  const { loadGuest } = await import("../mod.ts");
  const bytes = await assembleWat(`(module
    (global $calls (export "calls") (mut i32) (i32.const 0))
    (func $wide ${declare(40_000, "v128")}
      (global.set $calls (i32.add (global.get $calls) (i32.const 1))))
    (func (export "run") (loop $again (call $wide) (br $again))))`);
  const guest = await loadGuest(bytes, {
    fuel: 1_000_000,
    interruptible: true,
  });
  const calls = guest.instance.exports.calls as WebAssembly.Global;
  const result = guest.invoke("run");
  assert.equal(result.outcome, "fuel_exhausted");
  // 4,968 units a call for the locals: about 200 calls, not 100,000.
  assert.ok(calls.value <= 1_000_000 / 4_968, `${calls.value} calls`);
  assert.ok(calls.value > 0);
  for (const fuel of [1e15, false] as const) {
    const timed = await loadGuest(bytes, { fuel, interruptible: true });
    assert.equal(timed.invoke("run", [], { timeout: 50 }).outcome, "timeout");
  }
});
