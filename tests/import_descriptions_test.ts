/**
 * A guest's imports share their types: describing them for messages, and
 * checking them against what JavaScript can pass, looks through each type
 * once, not once an import. Done import by import, a 100 KB guest of 9,990
 * imports of one 1,000-parameter type held its load for over a second in
 * one step, past its abort (979 ms late, measured by hand), and a plain
 * load took 3 s. These tests count the reads of the type's parameters
 * instead of timing them.
 *
 * @module
 */

import assert from "./support/assert.ts";
import {
  describeModule,
  type FunctionSignature,
} from "../src/module/signatures.ts";
import { buildImports } from "../src/load/imports.ts";
import { newCallState } from "../src/call/call_state.ts";
import { type ImportEntry, ModuleInfo } from "../src/wasm/module.ts";

const IMPORTS = 1_000;
const PARAMETERS = 1_000;

/** A signature whose parameters count their reads by index. */
function countedSignature(): { signature: FunctionSignature; reads: number } {
  const counter = { signature: undefined!, reads: 0 } as {
    signature: FunctionSignature;
    reads: number;
  };
  const params = new Proxy(Array<string>(PARAMETERS).fill("i32"), {
    get(target, key, receiver) {
      if (typeof key === "string" && /^\d+$/.test(key)) counter.reads++;
      return Reflect.get(target, key, receiver);
    },
  });
  counter.signature = { params, results: ["i32"] } as FunctionSignature;
  return counter;
}

Deno.test("describing imports of one shared type reads its parameters once for each kind, not once an import", () => {
  const counted = countedSignature();
  const info = new ModuleInfo();
  info.typeSignatures = [counted.signature];
  const imports: ImportEntry[] = [];
  for (let i = 0; i < IMPORTS; i++) {
    imports.push({ module: "env", name: `f${i}`, kind: "function", type: 0 });
    imports.push({ module: "env", name: `t${i}`, kind: "tag", type: 0 });
  }
  info.imports = imports;
  const described = describeModule(info).imports;
  assert.equal(described.length, 2 * IMPORTS);
  const ints = Array(PARAMETERS).fill("i32").join(", ");
  assert.equal(described[0]!.expected, `function (${ints}) -> i32`);
  assert.equal(described[2 * IMPORTS - 1]!.expected, `tag (${ints})`);
  assert.ok(described.every((entry) => entry.signature === counted.signature));
  // One description of each kind: before, one of each import.
  assert.equal(counted.reads, 2 * PARAMETERS);
});

Deno.test("building the imports of one shared type reads its parameters once, not once an import", () => {
  const counted = countedSignature();
  const needed = Array.from({ length: IMPORTS }, (_, i) => ({
    module: "env",
    name: `f${i}`,
    kind: "function" as const,
    signature: counted.signature,
    expected: "function (…) -> i32",
  }));
  const supplied = {
    env: Object.fromEntries(needed.map(({ name }) => [name, () => 0])),
  };
  const built = buildImports(needed, supplied, {}, newCallState());
  assert.equal(Object.keys(built.env!).length, IMPORTS);
  // Looked through for a type JavaScript cannot pass, once.
  assert.ok(counted.reads <= PARAMETERS, `${counted.reads} reads`);
  assert.ok(counted.reads > 0);
});
