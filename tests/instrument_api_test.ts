/**
 * `instrument()`'s options and what it hands back: the names it picks for
 * what it adds, an empty module, and bad options.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { instrument } from "../src/wasm/instrument.ts";
import { type Fn, meter, wat } from "./support/instrument.ts";
import { moduleOf } from "./support/module_bytes.ts";

Deno.test("instrument() picks names that do not clash with the guest's", async () => {
  const bytes = await wat(`(module
    (import "early-exit" "out_of_fuel" (func $fake (param i64 i64) (result i64)))
    (import "early-exit-1" "x" (func $x))
    (func (export "early-exit:fuel") (result i32) i32.const 7)
    (global (export "early-exit:fuel-1") i32 (i32.const 0)))`);
  const metered = instrument(bytes);
  assert.equal(metered.importModule, "early-exit-2");
  assert.equal(metered.importName, "out_of_fuel");
  assert.equal(metered.fuelExport, "early-exit:fuel-2");
  const m = await meter(bytes, {
    imports: {
      "early-exit": { out_of_fuel: () => assert.fail("wrong import") },
      "early-exit-1": { x: () => {} },
    },
  });
  assert.equal((m.exports["early-exit:fuel"] as Fn)(), 7);

  const preferred = instrument(bytes, {
    importModule: "meter",
    fuelExport: "fuel",
  });
  assert.equal(preferred.importModule, "meter");
  assert.equal(preferred.fuelExport, "fuel");
});

Deno.test("instrument() handles a module with no sections at all", async () => {
  const empty = moduleOf();
  const m = await meter(empty);
  assert.equal(m.fuel.value, 0n);
  // Instrumenting twice works too: the second import gets its own module.
  const twice = instrument(instrument(empty).bytes);
  assert.equal(twice.importModule, "early-exit-1");
  assert.ok(WebAssembly.validate(twice.bytes));
});

Deno.test("instrument() rejects bad options with a TypeError", () => {
  const empty = moduleOf();
  assert.throws(() => instrument(empty, { costs: { default: -1 } }), TypeError);
  assert.throws(
    () => instrument(empty, { costs: { perByte: 1.5 } }),
    TypeError,
  );
  assert.throws(
    () => instrument(empty, { costs: { operators: { "i32.nope": 1 } } }),
    /no operator has that name/,
  );
  assert.throws(
    () => instrument(empty, { costs: { operators: { "i32.add": 2 ** 40 } } }),
    TypeError,
  );
  assert.throws(
    () => instrument("wasm" as unknown as Uint8Array),
    TypeError,
  );
});
