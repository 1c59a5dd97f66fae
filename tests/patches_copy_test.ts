/**
 * `Patches` applies shifted function indices while a section is copied:
 * one loop writing straight into the writer's buffer, and a growth kept as
 * patches are added. Both are held here to a patch-by-patch reference, for
 * indices of every LEB128 length, padded ones that shrink, ranges that
 * leave patches out, and writers with and without the room.
 */

import assert from "./support/assert.ts";
import { Patches } from "../src/wasm/patches.ts";
import { u32Size, Writer } from "../src/wasm/writer.ts";

/** `value` as an unsigned LEB128 of exactly `length` bytes. */
function padded(value: number, length: number): number[] {
  const out: number[] = [];
  for (let i = 1; i < length; i++) {
    out.push(value % 128 | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return out;
}

/** A minimal unsigned LEB128. */
function leb(value: number): number[] {
  return padded(value, u32Size(value));
}

/** A small deterministic generator (xorshift32). */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
}

interface Site {
  pos: number;
  len: number;
  value: number;
}

/**
 * An input of plain bytes with `count` encoded indices among them, runs
 * between them short and long, and what each index becomes.
 */
function input(
  count: number,
  seed: number,
): { bytes: Uint8Array; sites: Site[] } {
  const next = random(seed);
  const bytes: number[] = [];
  const sites: Site[] = [];
  const values = [
    0,
    1,
    127,
    128,
    16_383,
    16_384,
    2 ** 21,
    2 ** 28,
    2 ** 32 - 1,
  ];
  for (let i = 0; i < count; i++) {
    const run = next() < 0.8
      ? Math.floor(next() * 6)
      : Math.floor(next() * 200);
    for (let k = 0; k < run; k++) bytes.push(Math.floor(next() * 256));
    const old = values[Math.floor(next() * values.length)]!;
    // Some indices padded to 5 bytes, so that they shrink.
    const len = next() < 0.3 ? 5 : u32Size(old);
    const value = values[Math.floor(next() * values.length)]!;
    sites.push({ pos: bytes.length, len, value });
    bytes.push(...padded(old, len));
  }
  bytes.push(1, 2, 3);
  return { bytes: new Uint8Array(bytes), sites };
}

/** `bytes[from, to)` with each site inside the range replaced, one by one. */
function reference(
  bytes: Uint8Array,
  sites: Site[],
  from: number,
  to: number,
): Uint8Array {
  const out: number[] = [];
  let at = from;
  for (const { pos, len, value } of sites) {
    if (pos < from || pos >= to) continue;
    for (let i = at; i < pos; i++) out.push(bytes[i]!);
    out.push(...leb(value));
    at = pos + len;
  }
  for (let i = at; i < to; i++) out.push(bytes[i]!);
  return new Uint8Array(out);
}

for (const count of [0, 1, 63, 64, 65, 1_000]) {
  Deno.test(`${count} patches copy as one by one, and their growth is the output's`, () => {
    const { bytes, sites } = input(count, 0x9e3779b9 ^ count);
    const patches = new Patches();
    for (const { pos, len, value } of sites) patches.add(pos, len, value);
    assert.equal(patches.length, count);
    const whole = reference(bytes, sites, 0, bytes.length);
    assert.equal(patches.growth(), whole.length - bytes.length);
    // A writer sized by the growth, one that must grow, and one that
    // already holds bytes.
    for (const capacity of [whole.length, 1, 16]) {
      const w = new Writer(capacity);
      if (capacity === 16) w.u8(0xaa);
      patches.copy(w, bytes, 0, bytes.length);
      const out = w.finish();
      assert.deepEqual(
        capacity === 16 ? out.slice(1) : out,
        whole,
        `capacity ${capacity}`,
      );
      if (capacity === whole.length) {
        assert.equal(
          w.buf.length,
          whole.length,
          "the writer grew though it had room",
        );
      }
    }
    // A range that leaves patches out at both ends.
    if (count >= 3) {
      const from = sites[1]!.pos;
      const to = sites[count - 1]!.pos;
      const w = new Writer(1);
      patches.copy(w, bytes, from, to);
      assert.deepEqual(w.finish(), reference(bytes, sites, from, to));
    }
  });
}
