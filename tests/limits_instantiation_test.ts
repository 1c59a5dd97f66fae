/**
 * Instantiation is metered: what a module allocates and copies before any
 * of its code runs (memories, tables, active segments, GC objects built by
 * constant expressions) is weighed against its fuel budget before the
 * engine instantiates it, and an over-budget module is refused with
 * `FuelExhausted` without allocating (and what no budget may allocate in
 * this process is refused with `GuestLoadError`, with or without one). The
 * bombs run in child processes, so that this process survives whatever
 * happens.
 */

import assert from "./support/assert.ts";
import { assembleWat } from "../guest/build.ts";
import {
  bytesExpression,
  runInSmallHeap,
  type SmallHeapChild,
} from "./support/small_heap_child.ts";
import { watBinaryen } from "./support/instrument.ts";
import { FuelMeter, isFuelExhausted, loadGuest } from "../mod.ts";

const MiB = 1024 * 1024;

/**
 * 53 bytes: three globals, each `(array.new_default $a (i32.const
 * 33554432))` of i64, 256 MiB apiece.
 */
const ARRAY_BOMB = (() => {
  const global = [
    0x64,
    0x00,
    0x00,
    0x41,
    0x80,
    0x80,
    0x80,
    0x10,
    0xfb,
    0x07,
    0x00,
    0x0b,
  ];
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...[0x01, 0x04, 0x01, 0x5e, 0x7e, 0x01], // (type $a (array (mut i64)))
    ...[0x06, 0x25, 0x03, ...global, ...global, ...global],
  ]);
})();

/** Four `(table 10000000 funcref)`. */
const TABLE_BOMB = await assembleWat(`(module
  (table 10000000 funcref) (table 10000000 funcref)
  (table 10000000 funcref) (table 10000000 funcref))`);

/** How a child's load ended, and how much its RSS grew meanwhile. */
interface ChildReport {
  outcome: string;
  message?: string;
  rssGrowth: number;
}

/** Runs `load` (a JS expression using `bytes`) in a child with a small heap. */
async function loadInChild(
  bytes: Uint8Array,
  heapMiB: number,
  load: string,
): Promise<SmallHeapChild<ChildReport>> {
  return await runInSmallHeap<ChildReport>(
    `
    import { FuelMeter, loadGuest } from "./mod.ts";
    const bytes = ${bytesExpression(bytes)};
    const before = Deno.memoryUsage().rss;
    let report;
    try {
      await (${load});
      report = { outcome: "loaded" };
    } catch (error) {
      report = { outcome: error?.kind ?? "Error", message: error?.message };
    }
    report.rssGrowth = Deno.memoryUsage().rss - before;
    console.log(JSON.stringify(report));
  `,
    heapMiB,
  );
}

Deno.test("the 53-byte array bomb is refused with or without a budget, in a child with a 512 MiB heap", async () => {
  assert.equal(ARRAY_BOMB.length, 53);
  assert.ok(WebAssembly.validate(ARRAY_BOMB));
  for (
    const load of [
      "loadGuest(bytes)",
      "loadGuest(bytes, { timeout: 10_000 })",
      "loadGuest(bytes, { fuel: 1_000_000 })",
      "loadGuest(bytes, { fuel: 1_000_000, interruptible: true })",
      "new FuelMeter(bytes, { fuel: 1_000_000 })",
    ]
  ) {
    const child = await loadInChild(ARRAY_BOMB, 512, load);
    assert.equal(child.code, 0, child.stderr);
    // More than a guest loaded in this process may allocate: without a
    // budget, the engine built the arrays and the child died.
    assert.equal(child.report?.outcome, "GuestLoadError", load);
    assert.match(
      child.report!.message!,
      /allocates 100663296 struct fields and array elements in its constant expressions/,
    );
    assert.ok(child.report!.rssGrowth < 64 * MiB, `${child.report!.rssGrowth}`);
  }
});

Deno.test("constant allocations under the cap are refused under a smaller budget, before they are made", async () => {
  // (type $a (array (mut i64))) (global (ref $a) (array.new_default $a
  // (i32.const 8388608))): 64 MiB, under the in-process cap.
  const bytes = new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...[0x01, 0x04, 0x01, 0x5e, 0x7e, 0x01],
    ...[0x06, 0x0d, 0x01, 0x64, 0x00, 0x00, 0x41, 0x80, 0x80, 0x80, 0x04],
    ...[0xfb, 0x07, 0x00, 0x0b],
  ]);
  assert.ok(WebAssembly.validate(bytes));
  for (
    const load of [
      "loadGuest(bytes, { fuel: 1_000_000 })",
      "new FuelMeter(bytes, { fuel: 1_000_000 })",
    ]
  ) {
    const child = await loadInChild(bytes, 512, load);
    assert.equal(child.code, 0, child.stderr);
    assert.equal(child.report?.outcome, "FuelExhausted", load);
    assert.match(
      child.report!.message!,
      /needs 8388608 fuel for its memories, tables, segments and constant allocations, more than its budget of 1000000; give it more fuel/,
    );
    assert.ok(child.report!.rssGrowth < 64 * MiB, `${child.report!.rssGrowth}`);
  }
});

Deno.test("four ten-million-element tables are refused under any budget, before any is allocated", async () => {
  for (const fuel of [1000, 40_000_000]) {
    const child = await loadInChild(
      TABLE_BOMB,
      512,
      `loadGuest(bytes, { fuel: ${fuel} })`,
    );
    assert.equal(child.code, 0, child.stderr);
    // More table elements than a guest loaded in this process may have.
    assert.equal(child.report?.outcome, "GuestLoadError");
    assert.match(child.report!.message!, /start with 40000000 elements/);
    assert.ok(child.report!.rssGrowth < 64 * MiB, `${child.report!.rssGrowth}`);
  }
});

Deno.test("a million-element table is refused under fuel: 1000, before it is allocated", async () => {
  const bytes = await assembleWat(`(module (table 1000000 funcref))`);
  await assert.rejects(
    loadGuest(bytes, { fuel: 1000 }),
    (error: unknown) =>
      isFuelExhausted(error) && /needs 1000000 fuel/.test(error.message),
  );
});

/** Loads with `fuel` and says whether the budget was enough. */
async function affordable(bytes: Uint8Array, fuel: number): Promise<boolean> {
  try {
    await loadGuest(bytes, { fuel });
    return true;
  } catch (error) {
    if (!isFuelExhausted(error)) throw error;
    assert.equal(error.budget, fuel);
    assert.equal(error.consumed, 0);
    return false;
  }
}

/** Asserts that loading `bytes` costs exactly `cost` fuel. */
async function assertCost(bytes: Uint8Array, cost: number): Promise<void> {
  assert.ok(await affordable(bytes, cost), `${cost} pays for it`);
  if (cost > 0) {
    assert.ok(!(await affordable(bytes, cost - 1)), `${cost - 1} does not`);
  }
}

Deno.test("instantiation costs pages, table elements, active segments and constant allocations", async () => {
  // 2 pages, 3 table elements, 5 data bytes, 2 element entries.
  await assertCost(
    await assembleWat(`(module
      (memory 2) (table 3 funcref)
      (func $f)
      (data (i32.const 0) "hello")
      (data "passive, not copied")
      (elem (i32.const 0) $f $f)
      (elem func $f $f $f))`),
    2 + 3 + 5 + 2,
  );
  // Global, table and element initializers, sized through global.get and
  // extended constant arithmetic.
  await assertCost(
    await watBinaryen(`(module
      (type $a (array (mut i8)))
      (type $s (struct (field i32) (field i64) (field f32)))
      (global $n i32 (i32.mul (i32.const 10) (i32.add (i32.const 3) (i32.const 4))))
      (global $arr (ref $a) (array.new_default $a (global.get $n)))
      (global $fill (ref $a) (array.new $a (i32.const 1) (i32.sub (global.get $n) (i32.const 60))))
      (global $fixed (ref $a) (array.new_fixed $a 4 (i32.const 1) (i32.const 2) (i32.const 3) (i32.const 4)))
      (global $st (ref $s) (struct.new_default $s))
      (table 2 (ref null $s) (struct.new $s (i32.const 1) (i64.const 2) (f32.const 3)))
      (func (export "keep") (result i32)
        (i32.add (array.len (global.get $arr)) (array.len (global.get $fill)))))`),
    70 + 10 + 4 + 3 + 2 + 3,
  );
  // An element expression allocates once per entry.
  await assertCost(
    await watBinaryen(`(module
      (type $s (struct (field i32) (field i32)))
      (table 3 (ref null $s))
      (elem (table 0) (i32.const 0) (ref null $s)
        (item (struct.new_default $s)) (item (struct.new_default $s))))`),
    3 + 2 + 2 * 2,
  );
});

Deno.test("an allocation sized by an imported global needs an unlimited budget", async () => {
  const bytes = await watBinaryen(`(module
    (type $a (array (mut i8)))
    (import "env" "n" (global $n i32))
    (global $arr (ref $a) (array.new_default $a (global.get $n)))
    (func (export "len") (result i32) (array.len (global.get $arr))))`);
  const imports = { env: { n: 5 } };
  await assert.rejects(
    loadGuest(bytes, { fuel: 1_000_000_000, imports }),
    (error: unknown) =>
      isFuelExhausted(error) &&
      /an amount of fuel only known at instantiation/.test(error.message),
  );
  const guest = await loadGuest(bytes, { fuel: Infinity, imports });
  assert.equal(guest.call("len"), 5);
  assert.throws(
    () => new FuelMeter(bytes, { fuel: 10 }),
    (error: unknown) => isFuelExhausted(error),
  );
});

Deno.test("costs price instantiation as they price the operators that do the same at run time", async () => {
  const bytes = await assembleWat(`(module
    (memory 2) (table 3 funcref)
    (data (i32.const 0) "hello"))`);
  // perPage 10, perElement 100, perByte 1000.
  const costs = { perPage: 10, perElement: 100, perByte: 1000 };
  const cost = 2 * 10 + 3 * 100 + 5 * 1000;
  await loadGuest(bytes, { fuel: cost, costs });
  await assert.rejects(
    loadGuest(bytes, { fuel: cost - 1, costs }),
    (error: unknown) => isFuelExhausted(error),
  );
});
