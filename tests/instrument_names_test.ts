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
import { type Bytes, moduleOf, section } from "./support/module_bytes.ts";

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
  // After the added import and the slow path, the first defined function.
  assert.deepEqual(
    functionNames(metered.bytes),
    new Map([[0, "imp"], [3, "first"], [4, "second"]]),
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

/** A `name` section naming function `index` `name`. */
function nameSection(index: number, name: string): number[] {
  const text = [...new TextEncoder().encode(name)];
  const names = [1, index, text.length, ...text];
  return section(0, [
    4,
    ...new TextEncoder().encode("name"),
    1,
    names.length,
    ...names,
  ]);
}

Deno.test("instrument() rewrites the first of 2,000 name sections, which the engine reads, and drops the rest", () => {
  // (import "env" "imp" (func)) (func (export "f")), then the names.
  const head = [
    section(1, [1, 0x60, 0, 0]),
    section(2, [1, 3, 0x65, 0x6e, 0x76, 3, 0x69, 0x6d, 0x70, 0, 0]),
    section(3, [1, 0]),
    section(7, [1, 1, 0x66, 0, 1]),
    section(10, [1, 2, 0, 0x0b]),
  ];
  const others = Array.from({ length: 1_999 }, () => nameSection(1, "other"));
  // The first after the imports, and the first before them (rewritten once
  // the imports are known).
  for (
    const bytes of [
      moduleOf(...head, nameSection(1, "first"), ...others),
      moduleOf(nameSection(1, "first"), ...head, ...others),
    ]
  ) {
    const count = (bytes: Bytes) =>
      WebAssembly.Module.customSections(new WebAssembly.Module(bytes), "name")
        .length;
    assert.equal(count(bytes), 2_000);
    const metered = instrument(bytes);
    assert.equal(count(metered.bytes), 1);
    assert.deepEqual(functionNames(metered.bytes), new Map([[3, "first"]]));
  }
});
