/**
 * The operator table is the one source of what an operator is. The hot
 * decoding loop writes some of its values as literal numbers (only literal
 * `case` labels make a `switch` a jump table); these tests hold every such
 * literal to the table it stands for.
 */

import assert from "./support/assert.ts";
import {
  Copy,
  Imm,
  Role,
  SINGLE_BYTE,
  SPACES,
  Trait,
} from "../src/wasm/opcodes.ts";
import { Body, Edit } from "../src/wasm/code_plan.ts";

const TABLES: Record<string, Record<string, number>> = {
  Imm,
  Role,
  Edit,
  Body,
};

/**
 * Every `N /* Imm.X *\/` and `case N: // Imm.X` (or `Role.X`, `Edit.X`,
 * `Body.X`) in the rewriter's sources.
 */
async function literalLabels(): Promise<
  { file: string; value: number; table: string; name: string }[]
> {
  const dir = new URL("../src/wasm/", import.meta.url);
  const found = [];
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.name.endsWith(".ts")) continue;
    const text = await Deno.readTextFile(new URL(entry.name, dir));
    const pattern =
      /\b(\d+)\s*(?::\s*(?:\{\s*)?\/\/|\/\*)\s*(Imm|Role|Edit|Body)\.(\w+)/g;
    for (const match of text.matchAll(pattern)) {
      found.push({
        file: entry.name,
        value: Number(match[1]),
        table: match[2]!,
        name: match[3]!,
      });
    }
  }
  return found;
}

Deno.test("literal Imm, Role, Edit and Body values in the rewriter match their tables", async () => {
  const labels = await literalLabels();
  // The hot loop labels most immediates and roles; finding none would mean
  // this test no longer sees it.
  assert.ok(labels.length >= 30, `found only ${labels.length} labels`);
  for (const { file, value, table, name } of labels) {
    const expected = TABLES[table]![name];
    assert.ok(expected !== undefined, `${file}: no ${table}.${name}`);
    assert.equal(
      value,
      expected,
      `${file}: ${value} labelled ${table}.${name}`,
    );
  }
});

Deno.test("the tables' values are distinct", () => {
  for (const table of [Imm, Role, Trait, Copy, Edit]) {
    const values = Object.values(table);
    assert.equal(new Set(values).size, values.length);
  }
});

/** Every operator name that has a given trait. */
function withTrait(bits: number): Set<string> {
  const names = new Set<string>();
  for (const space of SPACES) {
    space.name.forEach((name, code) => {
      if (space.trait[code]! & bits) names.add(name);
    });
  }
  return names;
}

Deno.test("the operator table marks the constant operators", () => {
  assert.deepEqual(
    withTrait(Trait.Const),
    new Set([
      "i32.const",
      "i64.const",
      "f32.const",
      "f64.const",
      "v128.const",
      "ref.null",
      "ref.func",
      "global.get",
      "i32.add",
      "i32.sub",
      "i32.mul",
      "i64.add",
      "i64.sub",
      "i64.mul",
      "struct.new",
      "struct.new_default",
      "array.new",
      "array.new_default",
      "array.new_fixed",
      "ref.i31",
      "any.convert_extern",
      "extern.convert_any",
      "end",
    ]),
  );
});

Deno.test("the operator table marks the free operators", () => {
  assert.deepEqual(
    withTrait(Trait.Free),
    new Set([
      "nop",
      "drop",
      "block",
      "loop",
      "end",
      "else",
      "unreachable",
      "return",
      "try",
      "try_table",
      "catch",
      "catch_all",
      "delegate",
    ]),
  );
});

Deno.test("register copies allow only known operators", () => {
  for (let op = 0; op < 256; op++) {
    const kind = SINGLE_BYTE.copy[op]!;
    if (kind === Copy.No) continue;
    assert.notEqual(SINGLE_BYTE.name[op], "", `opcode ${op} is unknown`);
  }
  assert.equal(SINGLE_BYTE.copy[0x6a], Copy.Pure); // i32.add
  assert.equal(SINGLE_BYTE.copy[0x6d], Copy.Traps); // i32.div_s
  assert.equal(SINGLE_BYTE.copy[0x28], Copy.Traps); // i32.load
  assert.equal(SINGLE_BYTE.copy[0x10], Copy.Control); // call
  assert.equal(SINGLE_BYTE.copy[0x11], Copy.No); // call_indirect
});
