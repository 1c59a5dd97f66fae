/**
 * A valid module the rewriter turns away at one of its documented limits
 * (a function too dear for the engine to compile at its first call, blocks
 * nested too deep, no room for the fuel's locals) is told apart from a
 * malformed one, and the differential fuzzer counts such a refusal apart
 * from a failure of the rewriter: a long run met one (binaryen's seed
 * 7302255, a function of 131 locals and 676 control points) and reported
 * it as a rewriter that "rejected a valid module".
 *
 * @module
 */

import assert from "./support/assert.ts";
import { isInvalidModule } from "../src/errors.ts";
import { instrument } from "../src/wasm/instrument.ts";
import { fail, failAtLimit, refusedAtLimit } from "../src/wasm/reader.ts";
import { fuzzSeed } from "./support/fuzz/seed.ts";
import { wat } from "./support/instrument.ts";
import { moduleWithBody, section } from "./support/module_bytes.ts";

/** A module of one function `f` of `depth` nested empty blocks. */
function nestedBlocks(depth: number): Uint8Array<ArrayBuffer> {
  const blocks = Array(depth).fill([0x02, 0x40]).flat();
  return moduleWithBody([...blocks, ...Array(depth).fill(0x0b)], [
    section(7, [1, 1, 0x66, 0, 0]),
  ]);
}

/** What `instrument` throws for `bytes`, which it must refuse. */
function refusal(bytes: Uint8Array): unknown {
  try {
    instrument(bytes);
  } catch (error) {
    assert.ok(isInvalidModule(error), `not an InvalidModule: ${error}`);
    return error;
  }
  throw new Error("instrument accepted the module");
}

Deno.test("refusals of valid modules at a limit are marked, malformed modules' are not", async () => {
  // 200 locals and 1,000 ifs: (12 * 200 + 16) * 2,000 units, over 2^20.
  const dear = await wat(`(module
    (func (export "f") (param i32) (local ${"i32 ".repeat(199)})
      ${
    "(if (local.get 0) (then (local.set 1 (i32.const 1))))".repeat(1000)
  }))`);
  const deep = nestedBlocks(70_000);
  const wide = await wat(`(module
    (memory i64 1)
    (func (export "f") (param i64) (result i64) (local ${"i64 ".repeat(49_996)})
      (memory.grow (local.get 0))))`);
  for (
    const [name, bytes, words] of [
      ["too dear to compile", dear, /control points/],
      ["nested too deep", deep, /more than 65535 deep/],
      ["no room for the fuel's locals", wide, /too many locals/],
    ] as const
  ) {
    assert.ok(WebAssembly.validate(bytes), `${name}: the module is valid`);
    const error = refusal(bytes);
    assert.match(String(error), words);
    assert.ok(refusedAtLimit(error), `${name}: not marked as a limit`);
  }
  // A function body cut short: malformed, not a limit.
  const whole = await wat(`(module (func (export "f") (nop) (nop)))`);
  const cut = whole.slice(0, whole.length - 2);
  assert.equal(WebAssembly.validate(cut), false);
  assert.equal(refusedAtLimit(refusal(cut)), false);
});

Deno.test("the fuzz harness counts a refusal at a limit apart from a failure", async () => {
  const bytes = await wat(`(module (func (export "f")))`);
  const maker = {
    make: (seed: number) => Promise.resolve({ seed, profile: "all", bytes }),
  } as unknown as Parameters<typeof fuzzSeed>[0];
  const atLimit = await fuzzSeed(
    maker,
    () => failAtLimit("over a limit", 9),
    1,
  );
  assert.match(atLimit.refused ?? "", /over a limit/);
  assert.equal(atLimit.failure, undefined);
  assert.equal(atLimit.compared, 0);
  const malformed = await fuzzSeed(maker, () => fail("unknown opcode", 9), 2);
  assert.equal(malformed.refused, undefined);
  assert.match(malformed.failure ?? "", /rejected a valid module/);
  // A refusal at a limit that wraps the rewriter's own crash stays a failure.
  const crashed = await fuzzSeed(maker, () => {
    try {
      failAtLimit("over a limit", 9);
    } catch (error) {
      throw Object.assign(error as Error, { cause: new TypeError("x") });
    }
  }, 3);
  assert.match(crashed.failure ?? "", /crashed/);
});
