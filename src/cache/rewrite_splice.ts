/**
 * What a rewrite cache entry need not hold: the payloads the rewriter copies
 * from its input unchanged. A data segment's bytes and a custom section's
 * contents (all but the `name` section, which the rewriter rewrites when
 * function indices shift, and code metadata such as branch hints, which it
 * drops) are copied
 * as they are, and nothing the rewriter writes depends on them, only on
 * their lengths. So the cache's key leaves their bytes out (their places
 * and lengths stay in it), an entry stores only the rest of the output with
 * references to those payloads, and a hit puts the current input's payloads
 * back in. flite's 21.5 MB are 17 MB of data and 4.3 MB of debug sections
 * around 0.2 MB of code.
 *
 * Nothing is referenced on trust: when an entry is written, each payload is
 * found in the output by the output's own structure and compared with the
 * input's, byte for byte; one that differs is stored.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { CODE_METADATA } from "../wasm/branch_hints.ts";
import { Reader } from "../wasm/reader.ts";
import { readSections } from "../wasm/sections.ts";

/**
 * Payloads shorter than this stay in the key and the entry: their
 * references would cost about what they save.
 */
const SHORTEST_PAYLOAD = 512;

/** A payload: where it is in its module, and which one it is. */
export interface Payload {
  /**
   * Which payload: `d` and the data segment's index, or `c` and the
   * custom section's index among those counted here.
   */
  readonly label: string;
  /** Its first byte. */
  readonly from: number;
  /** One past its last byte. */
  readonly to: number;
}

/** An output range that an entry takes from the input: `[at, from, length]`. */
export type Splice = [outputAt: number, inputFrom: number, length: number];

const NAME = new TextEncoder().encode("name");
const METADATA = new TextEncoder().encode(CODE_METADATA);

/**
 * The payloads of `bytes` that the rewriter copies unchanged, in order: the
 * bytes of every data segment and the contents of every custom section
 * other than `name` and code metadata, each of at least 512 bytes. A
 * module this cannot read, or a data section past the offset expressions
 * it knows, gives fewer (a payload not listed is keyed and stored whole).
 *
 * @param bytes A module.
 * @returns The payloads, by position.
 */
export function copiedPayloads(bytes: Uint8Array): Payload[] {
  const payloads: Payload[] = [];
  let customs = 0;
  try {
    for (const { id, start, end } of readSections(bytes)) {
      if (id === 0) {
        const r = new Reader(bytes, start, end);
        const length = r.u32();
        const at = r.pos;
        r.skip(length, "name");
        const named = bytes.subarray(at, r.pos);
        if (
          sameBytes(named, NAME) ||
          sameBytes(named.subarray(0, METADATA.length), METADATA)
        ) continue;
        const label = `c${customs++}`;
        if (end - r.pos >= SHORTEST_PAYLOAD) {
          payloads.push({ label, from: r.pos, to: end });
        }
      } else if (id === 11) {
        payloads.push(...dataPayloads(new Reader(bytes, start, end)));
      }
    }
  } catch {
    // The rewriter says what is wrong with the module; what was found
    // before it is listed, the rest is keyed and stored whole.
  }
  return payloads;
}

/**
 * The data segments' bytes, or none when a segment is past what this
 * reads: flags 0, 1 or 2, and offsets of constants, `global.get` and
 * integer `add`, `sub` and `mul`.
 */
function dataPayloads(r: Reader): Payload[] {
  const found: Payload[] = [];
  const count = r.count("data segment", 2);
  for (let i = 0; i < count; i++) {
    const flags = r.u32();
    if (flags > 2) return [];
    if (flags === 2) r.u32(); // the memory
    if (flags !== 1 && !skipOffset(r)) return [];
    const size = r.u32();
    const from = r.pos;
    r.skip(size, "data bytes");
    if (size >= SHORTEST_PAYLOAD) {
      found.push({ label: `d${i}`, from, to: r.pos });
    }
  }
  return r.atEnd() ? found : [];
}

/**
 * Reads past a constant offset expression; `false` when it holds an
 * operator this does not know.
 */
function skipOffset(r: Reader): boolean {
  for (;;) {
    const op = r.u8("constant expression");
    if (op === 0x0b) return true;
    if (op === 0x41) r.skipSigned(32); // i32.const
    else if (op === 0x42) r.skipSigned(64); // i64.const
    else if (op === 0x23) r.u32(); // global.get
    else if (!(op >= 0x6a && op <= 0x6c) && !(op >= 0x7c && op <= 0x7e)) {
      return false; // not an integer add, sub or mul
    }
  }
}

/**
 * What the key is made of besides the rewriter and its options: the
 * payloads' places and lengths, and every byte of `bytes` but theirs, in
 * one buffer after the bytes `head` makes of the places.
 *
 * @param bytes The input module.
 * @param payloads Its copied payloads.
 * @param head What goes first, made of the places as text.
 * @returns The head and the bytes that remain (`material`), and those
 *   bytes alone (`kept`).
 */
export function keyedBytes(
  bytes: Uint8Array,
  payloads: readonly Payload[],
  head: (places: string) => Uint8Array = () => new Uint8Array(0),
): { material: Uint8Array<ArrayBuffer>; kept: Uint8Array } {
  const first = head(payloads.map(({ from, to }) => `${from}-${to}`).join());
  let length = first.length + bytes.length;
  for (const { from, to } of payloads) length -= to - from;
  const material = new Uint8Array(length);
  material.set(first);
  let at = first.length;
  let next = 0;
  for (const { from, to } of payloads) {
    material.set(bytes.subarray(next, from), at);
    at += from - next;
    next = to;
  }
  material.set(bytes.subarray(next), at);
  return { material, kept: material.subarray(first.length) };
}

/**
 * Splits a rewrite's output into what an entry stores and references to
 * the input's payloads: each payload of the input is looked for at the
 * output's payload of the same label, and referenced only where it is there,
 * byte for byte.
 *
 * @param input The input module.
 * @param payloads Its copied payloads.
 * @param output The rewrite.
 * @returns The output's other bytes, and where the payloads go back.
 */
export function splitOutput(
  input: Uint8Array,
  payloads: readonly Payload[],
  output: Uint8Array,
): { stored: Uint8Array; splices: Splice[] } {
  if (payloads.length === 0) return { stored: output, splices: [] };
  const inOutput = new Map(
    copiedPayloads(output).map((payload) => [payload.label, payload]),
  );
  const splices: Splice[] = [];
  for (const { label, from, to } of payloads) {
    const found = inOutput.get(label);
    if (
      found === undefined || found.to - found.from !== to - from ||
      !Buffer.from(input.buffer, input.byteOffset + from, to - from).equals(
        Buffer.from(output.buffer, output.byteOffset + found.from, to - from),
      )
    ) continue;
    splices.push([found.from, from, to - from]);
  }
  splices.sort((a, b) => a[0] - b[0]);
  let removed = 0;
  for (let i = 0; i < splices.length; i++) {
    removed += splices[i]![2];
    // Parsed sections never overlap; should they, nothing is referenced.
    if (i > 0 && splices[i - 1]![0] + splices[i - 1]![2] > splices[i]![0]) {
      return { stored: output, splices: [] };
    }
  }
  const stored = new Uint8Array(output.length - removed);
  let at = 0;
  let next = 0;
  for (const [outputAt, , length] of splices) {
    stored.set(output.subarray(next, outputAt), at);
    at += outputAt - next;
    next = outputAt + length;
  }
  stored.set(output.subarray(next), at);
  return { stored, splices };
}

/**
 * The output an entry holds: its stored bytes with the input's payloads
 * put back, or `undefined` when a reference is not to one of `payloads` or
 * does not fit.
 *
 * @param input The input module.
 * @param payloads Its copied payloads.
 * @param stored The entry's bytes.
 * @param splices The entry's references.
 * @returns The output.
 */
export function joinOutput(
  input: Uint8Array,
  payloads: readonly Payload[],
  stored: Uint8Array,
  splices: readonly Splice[],
): Uint8Array<ArrayBuffer> | undefined {
  const total = checkedTotal(payloads, stored, splices);
  if (total === undefined || !fits(stored.length, total, splices)) {
    return undefined;
  }
  const output = new Uint8Array(total);
  let at = 0;
  let next = 0;
  for (const [outputAt, from, length] of splices) {
    output.set(stored.subarray(at, at + outputAt - next), next);
    at += outputAt - next;
    output.set(input.subarray(from, from + length), outputAt);
    next = outputAt + length;
  }
  output.set(stored.subarray(at), next);
  return output;
}

/**
 * {@linkcode joinOutput} in the input's own buffer, when the buffer has room
 * for the output after the input, every payload of the input is
 * referenced, and each moves towards the end: a fresh buffer of the
 * output's size costs a page fault per 4 kB on first touch (flite's 21.7 MB:
 * about 10 ms), which the input's buffer, read into moments ago, has paid.
 * The input is gone once it is joined, unless `restore` puts it back (from
 * the output's payloads and `kept`, the key's bytes).
 *
 * @param input The input module, in a buffer of its own with room after it.
 * @param payloads Its copied payloads.
 * @param kept Its other bytes, as {@linkcode keyedBytes} gives them.
 * @param stored The entry's bytes.
 * @param splices The entry's references, checked by {@linkcode joinOutput}'s rules.
 * @returns The output and a way back to the input, or `undefined` when it
 *   cannot be done in place (nothing is changed then).
 */
export function joinInPlace(
  input: Uint8Array,
  payloads: readonly Payload[],
  kept: Uint8Array,
  stored: Uint8Array,
  splices: readonly Splice[],
): { output: Uint8Array<ArrayBuffer>; restore: () => void } | undefined {
  if (!(input.buffer instanceof ArrayBuffer)) return undefined;
  const total = checkedTotal(payloads, stored, splices);
  if (
    total === undefined || splices.length !== payloads.length ||
    input.buffer.byteLength - input.byteOffset < total
  ) return undefined;
  // References in the payloads' order, each moving towards the end: then
  // moving the last first never overwrites one still to move.
  for (let i = 0; i < splices.length; i++) {
    const [outputAt, from] = splices[i]!;
    if (from !== payloads[i]!.from || outputAt < from) return undefined;
  }
  if (!fits(stored.length, total, splices)) return undefined;
  // The output may also be shorter than the input (code metadata dropped).
  const whole = new Uint8Array(
    input.buffer,
    input.byteOffset,
    Math.max(total, input.length),
  );
  const output = whole.subarray(0, total);
  for (let i = splices.length - 1; i >= 0; i--) {
    const [outputAt, from, length] = splices[i]!;
    whole.copyWithin(outputAt, from, from + length);
  }
  let at = 0;
  let next = 0;
  for (const [outputAt, , length] of splices) {
    output.set(stored.subarray(at, at + outputAt - next), next);
    at += outputAt - next;
    next = outputAt + length;
  }
  output.set(stored.subarray(at), next);
  const restore = () => {
    // The payloads back to where they were, the first first, then the rest.
    for (const [outputAt, from, length] of splices) {
      whole.copyWithin(from, outputAt, outputAt + length);
    }
    let taken = 0;
    let end = 0;
    for (const { from, to } of payloads) {
      input.set(kept.subarray(taken, taken + from - end), end);
      taken += from - end;
      end = to;
    }
    input.set(kept.subarray(taken), end);
  };
  return { output, restore };
}

/**
 * The output's length, when every reference is three whole numbers naming
 * one of `payloads`; else `undefined`.
 */
function checkedTotal(
  payloads: readonly Payload[],
  stored: Uint8Array,
  splices: readonly Splice[],
): number | undefined {
  const known = new Set(payloads.map(({ from, to }) => `${from}-${to}`));
  let total = stored.length;
  for (const splice of splices) {
    if (
      !Array.isArray(splice) || splice.length !== 3 ||
      !splice.every((n) => Number.isSafeInteger(n) && n >= 0) ||
      !known.has(`${splice[1]}-${splice[1] + splice[2]}`)
    ) return undefined;
    total += splice[2];
  }
  return total;
}

/**
 * Whether the references are in order and leave the stored bytes exactly
 * the room between them.
 */
function fits(
  storedLength: number,
  total: number,
  splices: readonly Splice[],
): boolean {
  let at = 0;
  let next = 0;
  for (const [outputAt, , length] of splices) {
    const before = outputAt - next;
    if (before < 0 || at + before > storedLength) return false;
    at += before;
    next = outputAt + length;
  }
  return storedLength - at === total - next;
}

/**
 * The room to read a file into for a rewrite cache's hit to be built in
 * place: a quarter of its size more, which covers a data-heavy module's
 * growth (flite's: 0.4%); a code-heavy one grows by half, and its hit gets
 * a fresh buffer, whose page faults its smaller size keeps cheap.
 *
 * @param size The file's size.
 * @returns The bytes to leave free after it.
 */
export function roomForHit(size: number): number {
  return Math.floor(size / 4) + 65536;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
