/**
 * The name section and export names: kept right after the index shift,
 * names with a byte-order mark kept apart.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { instrument } from "../src/wasm/instrument.ts";
import { Reader } from "../src/wasm/reader.ts";
import {
  assertSameBehaviour,
  type Fn,
  meter,
  wat,
} from "./support/instrument.ts";
import type { Bytes } from "./support/module_bytes.ts";

// ---------------------------------------------------------------------------
// (d) Names, (e) clashes

function functionNames(bytes: Bytes): Map<number, string> {
  const names = new Map<number, string>();
  for (
    const data of WebAssembly.Module.customSections(
      new WebAssembly.Module(bytes),
      "name",
    )
  ) {
    const r = new Reader(new Uint8Array(data));
    while (!r.atEnd()) {
      const id = r.u8();
      const size = r.u32();
      const end = r.pos + size;
      if (id === 1) {
        for (let n = r.u32(); n > 0; n--) names.set(r.u32(), r.name());
      }
      r.pos = end;
    }
  }
  return names;
}

Deno.test("instrument() keeps function names right after the index shift", async () => {
  const bytes = await wat(`(module
    (import "env" "imp" (func $imp))
    (func $first (export "first") (result i32) i32.const 1)
    (func $second (export "second") (result i32) call $first i32.const 1 i32.add))`);
  assert.deepEqual(
    functionNames(bytes),
    new Map([[0, "imp"], [1, "first"], [2, "second"]]),
  );
  const metered = instrument(bytes);
  assert.deepEqual(
    functionNames(metered.bytes),
    new Map([[0, "imp"], [2, "first"], [3, "second"]]),
  );
  const m = await meter(bytes, { imports: { env: { imp: () => {} } } });
  assert.equal((m.exports.second as Fn)(), 2);
});

/** The byte size of every function body in a module's code section. */

Deno.test("instrument() keeps names with a byte-order mark and block types past 63", async () => {
  // An export named U+FEFF next to one named "": distinct names.
  const bom = await wat(`(module
    (func (export "") (result i32) i32.const 1)
    (func (export "\\ef\\bb\\bf") (result i32) i32.const 2))`);
  const m = await meter(bom);
  assert.equal((m.exports[""] as Fn)(), 1);
  assert.equal((m.exports["\ufeff"] as Fn)(), 2);
  // Type index 70 in a block type takes two bytes.
  const types = Array.from(
    { length: 70 },
    (_, i) => `(type $t${i} (func (param ${"i32 ".repeat(i % 3)})))`,
  ).join("\n");
  const many = await wat(`(module ${types}
    (type $pair (func (param i32) (result i32 i32)))
    (func (export "f") (param i32) (result i32)
      local.get 0
      (block (type $pair) (param i32) (result i32 i32) local.get 0)
      i32.add))`);
  await assertSameBehaviour(many, [["f", 21]]);
});
