/**
 * A metered `loadGuest` rewrites with `validate: false`, and one with
 * `limits` writes them into the bytes; either compiles only the result, so
 * every change they make must keep an invalid input invalid: what the
 * engine would refuse in the guest's own bytes must not become valid in the
 * rewrite (and run).
 *
 * @module
 */

import assert from "./support/assert.ts";
import { moduleOf, section } from "./support/module_bytes.ts";
import { isFuelExhausted, isInvalidModule } from "../src/errors.ts";
import { instrument } from "../src/wasm/instrument.ts";
import { loadGuest } from "../mod.ts";

/**
 * Both ways a rewrite that skips validation reaches the input: the
 * rewriter's reason, and the loader's (the engine's, once the rewriter
 * refuses).
 */
async function assertRefused(
  bytes: Uint8Array,
  reason: RegExp,
  engineReason: RegExp,
) {
  assert.ok(!WebAssembly.validate(bytes as Uint8Array<ArrayBuffer>));
  const refused = (pattern: RegExp) => (error: unknown) =>
    isInvalidModule(error) && pattern.test(error.message);
  assert.throws(
    () => instrument(bytes, { validate: false, deferStart: true }),
    refused(reason),
  );
  for (const options of [{ interruptible: true }, { fuel: 1000 }]) {
    await assert.rejects(loadGuest(bytes, options), refused(engineReason));
  }
}

Deno.test("a start function that takes parameters or returns a value is refused, deferred or not", async () => {
  // (func (param i32)) (start 0)
  await assertRefused(
    moduleOf(
      section(1, [0x01, 0x60, 0x01, 0x7f, 0x00]),
      section(3, [0x01, 0x00]),
      section(8, [0x00]),
      section(10, [0x01, 0x02, 0x00, 0x0b]),
    ),
    /start function 0 .*takes no parameters and returns nothing/,
    /invalid start function/,
  );
  // (func (result i32) (i32.const 1)) (start 0)
  await assertRefused(
    moduleOf(
      section(1, [0x01, 0x60, 0x00, 0x01, 0x7f]),
      section(3, [0x01, 0x00]),
      section(8, [0x00]),
      section(10, [0x01, 0x04, 0x00, 0x41, 0x01, 0x0b]),
    ),
    /start function 0 .*takes no parameters and returns nothing/,
    /invalid start function/,
  );
});

Deno.test("ref.func of a start function nothing else declares is refused when the start is deferred", async () => {
  // (func $s) (func (drop (ref.func $s))) (start $s): the export that
  // defers the start would declare $s, which the input does not.
  const bytes = moduleOf(
    section(1, [0x01, 0x60, 0x00, 0x00]),
    section(3, [0x02, 0x00, 0x00]),
    section(8, [0x00]),
    section(10, [0x02, 0x02, 0x00, 0x0b, 0x05, 0x00, 0xd2, 0x00, 0x1a, 0x0b]),
  );
  await assertRefused(
    bytes,
    /ref\.func names function 0, the start function/,
    /undeclared reference to function/,
  );
  // Declared by an element segment, it is the guest's to take.
  const declared = moduleOf(
    section(1, [0x01, 0x60, 0x00, 0x00]),
    section(3, [0x02, 0x00, 0x00]),
    section(8, [0x00]),
    section(9, [0x01, 0x03, 0x00, 0x01, 0x00]),
    section(10, [0x02, 0x02, 0x00, 0x0b, 0x05, 0x00, 0xd2, 0x00, 0x1a, 0x0b]),
  );
  assert.ok(WebAssembly.validate(declared));
  const metered = instrument(declared, { deferStart: true });
  assert.ok(WebAssembly.validate(metered.bytes));
  await loadGuest(declared, { interruptible: true });
});

Deno.test("a data segment active in memory 0 of a guest without a memory is refused: a stop flag's rewrite would make it write the flag memory", async () => {
  // (data (i32.const 0) "\01"), and no memory: the flag memory, which a
  // stop flag's rewrite imports last, would be memory 0.
  const bytes = moduleOf(
    section(11, [0x01, 0x00, 0x41, 0x00, 0x0b, 0x01, 0x01]),
  );
  await assertRefused(
    bytes,
    /data segment 0 is active in memory 0, but the module has no memory/,
    /invalid memory index 0 for data section/,
  );
  assert.throws(
    () => instrument(bytes, { validate: false, stopFlag: true, fuel: false }),
    (error: unknown) =>
      isInvalidModule(error) && /has no memory/.test(error.message),
  );
  // A passive segment needs no memory.
  const passive = moduleOf(section(11, [0x01, 0x01, 0x01, 0x01]));
  assert.ok(
    WebAssembly.validate(instrument(passive, { stopFlag: true }).bytes),
  );
});

Deno.test("limits written into an invalid memory leave it invalid: shared without a maximum, a maximum below the minimum", async () => {
  const memory = (limits: number[]) => moduleOf(section(5, [0x01, ...limits]));
  const page = 65536;
  for (
    const [bytes, engineReason] of [
      [memory([0x02, 0x01]), /shared memory must have a maximum/],
      [memory([0x03, 0x05, 0x04]), /maximum memory size \(4 pages\) is less/],
    ] as const
  ) {
    assert.ok(!WebAssembly.validate(bytes));
    // A limit of 3 pages writes a maximum into both.
    for (const fuel of [undefined, 1000]) {
      await assert.rejects(
        loadGuest(bytes, { limits: { memory: 3 * page }, fuel }),
        (error: unknown) =>
          isInvalidModule(error) && engineReason.test(error.message),
      );
    }
  }
});

Deno.test("limits written into a memory larger than the engine allows leave it invalid", async () => {
  // (memory 1 65537), and a memory64 of 262,145 pages at most.
  for (
    const limits of [[0x01, 0x01, 0x81, 0x80, 0x04], [
      0x05,
      0x01,
      0x81,
      0x80,
      0x10,
    ]]
  ) {
    const bytes = moduleOf(section(5, [0x01, ...limits]));
    assert.ok(!WebAssembly.validate(bytes));
    await assert.rejects(
      loadGuest(bytes, { limits: { memory: 10 * 65536 } }),
      (error: unknown) =>
        isInvalidModule(error) &&
        /larger than implementation limit/.test(error.message),
    );
  }
});

Deno.test("a metered guest whose memory is past the engine's limit is invalid, not over its budget", async () => {
  // (memory 70000): 70,000 pages, more than the engine's 65,536.
  const bytes = moduleOf(section(5, [0x01, 0x00, 0xf0, 0xa2, 0x04]));
  assert.ok(!WebAssembly.validate(bytes));
  // The budget was checked first: FuelExhausted, for a guest the engine
  // would never take.
  await assert.rejects(
    loadGuest(bytes, { fuel: 1000 }),
    (error: unknown) =>
      isInvalidModule(error) &&
      /larger than implementation limit/.test(error.message),
  );
  // A valid guest over its budget is still refused for the budget.
  const valid = moduleOf(section(5, [0x01, 0x00, 0x64]));
  await assert.rejects(
    loadGuest(valid, { fuel: 10 }),
    (error: unknown) => isFuelExhausted(error),
  );
});
