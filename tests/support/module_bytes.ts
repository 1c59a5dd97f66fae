/**
 * Module bytes written and read by hand, for tests that need inputs no
 * assembler would produce: the preamble, sections, LEB128 fields of any
 * length.
 *
 * @module
 */

/** Module bytes that the WebAssembly API accepts. */
export type Bytes = Uint8Array<ArrayBuffer>;

/** `parts` one after the other, in one array (the library's own function). */
export { concatBytes } from "../../src/bytes.ts";

/** The magic number and version 1. */
export const PREAMBLE = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

/**
 * `value` as unsigned LEB128, padded with continuation bytes to at least
 * `minLength` bytes (a longer encoding of the same value).
 */
export function encodeLeb(value: number, minLength = 1): number[] {
  const out: number[] = [];
  do {
    out.push(value % 128);
    value = Math.floor(value / 128);
  } while (value > 0 || out.length < minLength);
  for (let i = 0; i < out.length - 1; i++) out[i] |= 0x80;
  return out;
}

/** `value` (a 32-bit integer) as signed LEB128, as `i32.const` takes it. */
export function encodeSignedLeb(value: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = value & 0x7f;
    value >>= 7;
    if ((value === 0 && !(byte & 0x40)) || (value === -1 && byte & 0x40)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

/**
 * Reads an unsigned LEB128 at `pos`, leniently (it stops after 35 bits or
 * at the end of the bytes): the value and how many bytes it took.
 */
export function readLeb(bytes: Uint8Array, pos: number): [number, number] {
  let value = 0;
  let shift = 0;
  const start = pos;
  while (pos < bytes.length && shift < 35) {
    const b = bytes[pos++];
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if ((b & 0x80) === 0) break;
  }
  return [value, pos - start];
}

/** A section: its id, its size, then `content`. */
export function section(id: number, content: number[]): number[] {
  return [id, ...encodeLeb(content.length), ...content];
}

/** A module of the preamble and then `sections`, as they are. */
export function moduleOf(...sections: number[][]): Bytes {
  return new Uint8Array([...PREAMBLE, ...sections.flat()]);
}

/** A module with one `() -> ()` function whose body is `code` (plus `end`). */
export function moduleWithBody(code: number[], extra: number[][] = []): Bytes {
  const body = [0x00, ...code, 0x0b];
  return moduleOf(
    section(1, [0x01, 0x60, 0x00, 0x00]),
    section(3, [0x01, 0x00]),
    ...extra,
    section(10, [0x01, ...encodeLeb(body.length), ...body]),
  );
}

/** Bytes that are not a pattern a rewrite's output could hold by chance. */
export function randomBytes(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    bytes[i] = state & 0xff;
  }
  return bytes;
}
