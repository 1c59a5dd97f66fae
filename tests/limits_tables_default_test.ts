/**
 * Without `limits.tables`, a guest's own tables may grow to 1,000,000
 * elements together (the host's garbage collector walks them all at each
 * major collection, in a pause no stop can cut short): a `table.grow` past
 * that returns -1 in every mode, and a raised `limits.tables` lets it grow.
 */

import assert from "./support/assert.ts";
import { assembleWat } from "../guest/build.ts";
import {
  FuelMeter,
  type GuestOptions,
  invokeIsolated,
  loadGuest,
} from "../mod.ts";
import { DEFAULT_TABLE_ELEMENTS } from "../src/module/limits.ts";
import { expectOutcome } from "./support/outcome.ts";

/** The engine's own largest table, less the element it starts with. */
const TEN_MILLION = 9_999_999;

/** Grows its table (one element to start with) by `n`. */
const GROWER = await assembleWat(`(module
  (table (export "table") 1 funcref)
  (func (export "grow") (param i32) (result i32)
    (table.grow (ref.null func) (local.get 0))))`);

/** Every way `loadGuest` runs a guest in process, sync. */
const MODES: [string, GuestOptions][] = [
  ["plain", {}],
  ["metered", { fuel: 1_000_000_000 }],
  ["metered to trap", { fuel: 1_000_000_000, interruptible: false }],
  ["interruptible (stop flag)", { interruptible: true }],
  ["with a timeout", { timeout: 60_000 }],
  ["with a memory limit only", { limits: { memory: 65536 } }],
];

for (const [mode, options] of MODES) {
  Deno.test(`default table limit (${mode}): a grow to 10M returns -1, one to the cap succeeds`, async () => {
    const guest = await loadGuest(GROWER, options);
    assert.equal(guest.call("grow", TEN_MILLION), -1);
    assert.equal(guest.call("grow", DEFAULT_TABLE_ELEMENTS), -1);
    assert.equal(guest.call("grow", DEFAULT_TABLE_ELEMENTS - 1), 1);
    assert.equal(guest.call("grow", 1), -1, "one past the cap");
    assert.equal(guest.call("grow", 0), DEFAULT_TABLE_ELEMENTS);
    // The host's own grow meets the same maximum.
    const table = guest.instance.exports.table as WebAssembly.Table;
    assert.throws(() => table.grow(1), RangeError);
  });
}

Deno.test("default table limit: a raised limits.tables lets the guest grow to 10M", async () => {
  for (const options of [{}, { fuel: 1_000_000_000 }]) {
    const guest = await loadGuest(GROWER, {
      ...options,
      limits: { tables: 10_000_000 },
    });
    assert.equal(guest.call("grow", TEN_MILLION), 1);
    assert.equal(guest.call("grow", 0), 10_000_000);
  }
});

Deno.test("default table limit: an async guest's grow past it returns -1", async () => {
  const guest = await loadGuest(GROWER, { async: true });
  const grown = await guest.invokeAsync("grow", [TEN_MILLION]);
  assert.equal(expectOutcome(grown, "returned").value, -1);
  const raised = await loadGuest(GROWER, {
    async: true,
    limits: { tables: 2_000_000 },
  });
  const within = await raised.invokeAsync("grow", [1_999_999]);
  assert.equal(expectOutcome(within, "returned").value, 1);
});

Deno.test("default table limit: an isolated guest is held to it, and a raised limit passes to the child", async () => {
  const capped = await invokeIsolated(GROWER, "grow", [TEN_MILLION]);
  assert.equal(expectOutcome(capped, "returned").value, -1);
  const raised = await invokeIsolated(GROWER, "grow", [TEN_MILLION], {
    limits: { tables: 10_000_000 },
  });
  assert.equal(expectOutcome(raised, "returned").value, 1);
});

Deno.test("default table limit: FuelMeter writes it into the bytes it hands out", async () => {
  for (
    const [limits, expected] of [[undefined, -1], [
      { tables: 2_000_000 },
      1,
    ]] as const
  ) {
    const meter = new FuelMeter(GROWER, { fuel: 1_000_000_000, limits });
    const { instance } = await WebAssembly.instantiate(
      meter.bytes,
      meter.imports,
    );
    meter.attach(instance);
    const grow = instance.exports.grow as (n: number) => number;
    assert.equal(grow(1_999_999), expected);
  }
});

Deno.test("default table limit: a guest's tables share it, and an imported table keeps its own maximum", async () => {
  const bytes = await assembleWat(`(module
    (import "env" "table" (table 0 funcref))
    (table 1 funcref) (table 0 externref)
    (func (export "grow_imported") (param i32) (result i32)
      (table.grow 0 (ref.null func) (local.get 0)))
    (func (export "grow_first") (param i32) (result i32)
      (table.grow 1 (ref.null func) (local.get 0)))
    (func (export "grow_second") (param i32) (result i32)
      (table.grow 2 (ref.null extern) (local.get 0))))`);
  // The host made this table, with no maximum: it is the host's to bound.
  const table = new WebAssembly.Table({ element: "anyfunc", initial: 0 });
  for (const options of [{}, { fuel: 1_000_000_000 }]) {
    const guest = await loadGuest(bytes, {
      ...options,
      imports: { env: { table } },
    });
    // What the two minimums (1 element) leave, split evenly: 499,999 each.
    assert.equal(guest.call("grow_first", 500_000), -1);
    assert.equal(guest.call("grow_first", 499_999), 1);
    assert.equal(guest.call("grow_second", 500_000), -1);
    assert.equal(guest.call("grow_second", 499_999), 0);
    const before = table.length;
    assert.equal(guest.call("grow_imported", 2_000_000), before);
    assert.equal(table.length, before + 2_000_000);
  }
});

Deno.test("default table limit: a declared maximum within it is kept", async () => {
  const bytes = await assembleWat(`(module
    (table 3 5 funcref)
    (func (export "grow") (param i32) (result i32)
      (table.grow (ref.null func) (local.get 0))))`);
  const guest = await loadGuest(bytes);
  assert.equal(guest.call("grow", 3), -1);
  assert.equal(guest.call("grow", 2), 3);
});
