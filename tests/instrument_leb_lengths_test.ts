/**
 * The scan skips short LEB128 immediates inline and hands only the longest
 * encodings to the reader's checks. Every length a constant, a memory
 * offset or a call's function index may take must come out the same as the
 * plain module, and every encoding the engine rejects must be rejected.
 */

import assert from "./support/assert.ts";
import { isFuelExhausted, isInvalidModule } from "../src/errors.ts";
import { instrument } from "../src/wasm/mod.ts";
import { loadGuest } from "../mod.ts";

/** `value` as a signed LEB128 of exactly `length` bytes. */
function signedPadded(value: bigint, length: number): number[] {
  const out: number[] = [];
  for (let i = 1; i < length; i++) {
    out.push(Number(value & 0x7fn) | 0x80);
    value >>= 7n;
  }
  out.push(Number(value & 0x7fn));
  return out;
}

/**
 * `f` returns the i32 at offset 5 (42), plus `constant`, plus what function 1
 * (7) returns; the offset and the call's index are written in `offset` and
 * `call` bytes.
 */
function moduleOf(
  constant: number[],
  offset: number[],
  call: number[],
): Uint8Array<ArrayBuffer> {
  const f = [
    0x00,
    ...[0x41, 0x00, 0x28, 0x02, ...offset, 0xad], // i32.load, extended
    ...[0x42, ...constant, 0x7c], // i64.const, i64.add
    ...[0x10, ...call, 0x7c], // call 1, i64.add
    0x0b,
  ];
  const g = [0x00, 0x42, 0x07, 0x0b];
  const code = [0x02, f.length, ...f, g.length, ...g];
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...[0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7e], // type () -> i64
    ...[0x03, 0x03, 0x02, 0x00, 0x00], // two functions
    ...[0x05, 0x03, 0x01, 0x00, 0x01], // one page of 32-bit memory
    ...[0x07, 0x05, 0x01, 0x01, 0x66, 0x00, 0x00], // export "f"
    ...[0x0a, code.length, ...code],
    ...[0x0b, 0x07, 0x01, 0x00, 0x41, 0x05, 0x0b, 0x01, 0x2a], // 42 at 5
  ]);
}

async function runMetered(bytes: Uint8Array<ArrayBuffer>): Promise<bigint> {
  const metered = instrument(bytes, { validate: false });
  assert.ok(WebAssembly.validate(metered.bytes), "the output validates");
  const { instance } = await WebAssembly.instantiate(metered.bytes, {
    [metered.importModule]: { [metered.importName]: () => 1n << 62n },
  });
  return (instance.exports.f as () => bigint)();
}

function rejects(bytes: Uint8Array<ArrayBuffer>): boolean {
  try {
    instrument(bytes, { validate: false });
    return false;
  } catch (error) {
    if (isInvalidModule(error)) return true;
    throw error;
  }
}

Deno.test("instrument() reads constants, offsets and call indices of every length", async () => {
  const one = signedPadded(1n, 1);
  let cases = 0;
  for (const value of [5n, -3n, 1000n, -(1n << 40n), (1n << 62n) + 9n]) {
    for (let length = 1; length <= 11; length++) {
      const bytes = moduleOf(signedPadded(value, length), [0x05], one);
      if (!WebAssembly.validate(bytes)) {
        assert.ok(rejects(bytes), `i64.const ${value} in ${length} bytes`);
        continue;
      }
      // Too few bytes write the value's low bits, sign-extended.
      const written = BigInt.asIntN(Math.min(64, 7 * length), value);
      assert.equal(await runMetered(bytes), 49n + written);
      cases++;
    }
  }
  for (let length = 1; length <= 11; length++) {
    const bytes = moduleOf([0x00], signedPadded(5n, length), one);
    if (!WebAssembly.validate(bytes)) {
      assert.ok(rejects(bytes), `offset in ${length} bytes`);
      continue;
    }
    assert.equal(await runMetered(bytes), 49n);
    cases++;
  }
  for (let length = 1; length <= 6; length++) {
    const bytes = moduleOf([0x00], [0x05], signedPadded(1n, length));
    if (!WebAssembly.validate(bytes)) {
      assert.ok(rejects(bytes), `call index in ${length} bytes`);
      continue;
    }
    assert.equal(await runMetered(bytes), 49n);
    cases++;
  }
  assert.ok(cases >= 60, `only ${cases} encodings were valid`);
});

Deno.test("instrument() rejects what the engine rejects in long immediates", () => {
  const one = signedPadded(1n, 1);
  // Each immediate's longest encoding with its last byte's spare bits set,
  // then cut short before the next operator.
  const variants: Uint8Array<ArrayBuffer>[] = [];
  for (let last = 0; last < 0x100; last += 0x11) {
    variants.push(
      moduleOf([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, last], [
        0x00,
      ], one),
    );
    variants.push(moduleOf([0x00], [0x85, 0x80, 0x80, 0x80, last], one));
    variants.push(moduleOf([0x00], [0x05], [0x81, 0x80, 0x80, 0x80, last]));
  }
  for (const bytes of variants) {
    assert.equal(rejects(bytes), !WebAssembly.validate(bytes));
  }
});

Deno.test("instrument() reads a tag attribute and an empty block type written long, as the engine does", async () => {
  // (tag (param)) imported and defined, each attribute as 0x80 0x00, and
  // (func (export "f") (loop (br 0))) with the loop's empty block type as
  // the two-byte s33 0xc0 0x7f. No producer writes these; the engine takes
  // them, so refusing them would refuse a valid module.
  const bytes = new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...[0x01, 0x04, 0x01, 0x60, 0x00, 0x00],
    ...[0x02, 0x09, 0x01, 0x01, 0x6d, 0x01, 0x74, 0x04, 0x80, 0x00, 0x00],
    ...[0x03, 0x02, 0x01, 0x00],
    ...[0x0d, 0x04, 0x01, 0x80, 0x00, 0x00],
    ...[0x07, 0x05, 0x01, 0x01, 0x66, 0x00, 0x00],
    ...[0x0a, 0x0a, 0x01, 0x08, 0x00, 0x03, 0xc0, 0x7f, 0x0c, 0x00, 0x0b, 0x0b],
  ]);
  assert.ok(WebAssembly.validate(bytes), "the engine accepts it");
  assert.ok(WebAssembly.validate(instrument(bytes).bytes), "the output too");
  const { Tag } = WebAssembly as unknown as {
    Tag: new (type: { parameters: string[] }) => WebAssembly.ImportValue;
  };
  const tag = new Tag({ parameters: [] });
  // With limits, the limits pass reads the import section too.
  for (const tables of [undefined, 10]) {
    const guest = await loadGuest(bytes, {
      fuel: 1000,
      imports: { m: { t: tag } },
      ...(tables === undefined ? {} : { limits: { tables } }),
    });
    assert.throws(() => guest.call("f"), isFuelExhausted);
  }
});

Deno.test("loops whose every index is written in five bytes still run out of fuel", async () => {
  const zero = [0x80, 0x80, 0x80, 0x80, 0x00];
  const bodies = [
    // loop (type 0) ... br_if 0 (i32.const 1)
    [0x03, ...zero, 0x41, 0x81, 0x80, 0x80, 0x80, 0x00, 0x0d, ...zero, 0x0b],
    // loop ... br_table 0 0 (i32.const 0)
    [0x03, 0x40, 0x41, 0x00, 0x0e, 0x81, 0x00, ...zero, ...zero, 0x0b],
    // return_call 0, return_call_indirect (type 0) (table 0)
    [0x12, ...zero],
    [0x41, 0x00, 0x13, ...zero, ...zero],
    // loop: an i32.store and a memory.fill of 64 KiB, then br 0
    [
      ...[0x03, 0x40, 0x41, 0x00, 0x41, 0x00, 0x36, 0x82, 0x00, ...zero],
      ...[0x41, 0x00, 0x41, 0x00, 0x41, 0x80, 0x80, 0x04],
      ...[0xfc, 0x8b, 0x80, 0x80, 0x80, 0x00, ...zero, 0x0c, ...zero, 0x0b],
    ],
  ];
  for (const body of bodies) {
    const code = [0x00, ...body, 0x0b];
    const bytes = new Uint8Array([
      ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
      ...[0x01, 0x04, 0x01, 0x60, 0x00, 0x00],
      ...[0x03, 0x02, 0x01, 0x00],
      ...[0x04, 0x04, 0x01, 0x70, 0x00, 0x01],
      ...[0x05, 0x03, 0x01, 0x00, 0x01],
      ...[0x07, 0x05, 0x01, 0x01, 0x66, 0x00, 0x00],
      ...[0x09, 0x07, 0x01, 0x00, 0x41, 0x00, 0x0b, 0x01, 0x00],
      ...[0x0a, code.length + 2, 0x01, code.length, ...code],
    ]);
    assert.ok(WebAssembly.validate(bytes), `${body}`);
    const guest = await loadGuest(bytes, { fuel: 100_000 });
    assert.throws(() => guest.call("f"), isFuelExhausted, `${body}`);
  }
});
