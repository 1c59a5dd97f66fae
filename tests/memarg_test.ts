/**
 * A memory argument's offset is a u64 in the binary format, whatever the
 * memory: a 32-bit memory's offset may take up to ten bytes, as long as its
 * value fits in 32 bits.
 */

import assert from "./support/assert.ts";
import { isInvalidModule } from "../src/errors.ts";
import { instrument } from "../src/wasm/mod.ts";

/** `(func (export "f") (result i32) (i32.load offset=… (i32.const 0)))`. */
function loadWithOffset(offset: number[]): Uint8Array<ArrayBuffer> {
  const body = [0x00, 0x41, 0x00, 0x28, 0x02, ...offset, 0x0b];
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...[0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f], // type () -> i32
    ...[0x03, 0x02, 0x01, 0x00], // one function
    ...[0x05, 0x03, 0x01, 0x00, 0x01], // one page of 32-bit memory
    ...[0x07, 0x05, 0x01, 0x01, 0x66, 0x00, 0x00], // export "f"
    ...[0x0a, body.length + 2, 0x01, body.length, ...body],
    ...[0x0b, 0x07, 0x01, 0x00, 0x41, 0x05, 0x0b, 0x01, 0x2a], // 42 at 5
  ]);
}

Deno.test("instrument() accepts a 32-bit memory's offset written in six bytes", async () => {
  // 5, padded with continuation bytes past the five a u32 may take.
  const bytes = loadWithOffset([0x85, 0x80, 0x80, 0x80, 0x80, 0x00]);
  assert.ok(WebAssembly.validate(bytes), "the engine accepts it");
  const metered = instrument(bytes);
  const { instance } = await WebAssembly.instantiate(metered.bytes, {
    [metered.importModule]: { [metered.importName]: () => 1n << 62n },
  });
  assert.equal((instance.exports.f as () => number)(), 42);
});

Deno.test("instrument() rejects a 32-bit memory's offset of 2^32", () => {
  const bytes = loadWithOffset([0x80, 0x80, 0x80, 0x80, 0x10]);
  assert.ok(!WebAssembly.validate(bytes), "the engine rejects it");
  assert.throws(
    () => instrument(bytes, { validate: false }),
    (error: unknown) =>
      isInvalidModule(error) && /outside a 32-bit memory/.test(error.message),
  );
});
