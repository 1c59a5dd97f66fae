/**
 * Deterministic mutations of a module: bits flipped, bytes set, cut,
 * inserted or deleted, LEB128 fields stretched into runs of `0x80`, section
 * sizes and vector counts changed, chunks copied, sections swapped. Mutation
 * number N of a corpus is always the same input.
 *
 * @module
 */

import { seededRandom } from "../fuzz/mod.ts";
import { encodeLeb, readLeb } from "../module_bytes.ts";
import type { CorpusEntry } from "./corpus.ts";

/** Where the top-level sections of a module are. */
interface SectionSpan {
  id: number;
  /** The id byte. */
  start: number;
  /** The size field. */
  sizeAt: number;
  sizeLength: number;
  /** The contents. */
  contentAt: number;
  end: number;
}

function sectionsOf(bytes: Uint8Array): SectionSpan[] {
  const spans: SectionSpan[] = [];
  let pos = 8;
  while (pos < bytes.length) {
    const start = pos;
    const id = bytes[pos++];
    const [size, sizeLength] = readLeb(bytes, pos);
    const contentAt = pos + sizeLength;
    const end = contentAt + size;
    if (end > bytes.length) break;
    spans.push({ id, start, sizeAt: pos, sizeLength, contentAt, end });
    pos = end;
  }
  return spans;
}

/** `value` as unsigned LEB128, padded to at least `minLength` bytes. */

function splice(
  bytes: Uint8Array,
  at: number,
  remove: number,
  insert: ArrayLike<number> = [],
): Uint8Array {
  at = Math.min(Math.max(at, 0), bytes.length);
  remove = Math.min(remove, bytes.length - at);
  const out = new Uint8Array(bytes.length - remove + insert.length);
  out.set(bytes.subarray(0, at), 0);
  out.set(insert, at);
  out.set(bytes.subarray(at + remove), at + insert.length);
  return out;
}

const SPECIAL_BYTES = [0x00, 0x01, 0x0b, 0x40, 0x7f, 0x80, 0xff, 0x41, 0xfd];
const SIZE_VALUES = [0, 1, 0x7f, 0x80, 0x3fff, 0xffff_ffff, 0x1_0000_0000];

/** One mutation: what it did, and the bytes after it. */
type Step = (bytes: Uint8Array, next: () => number) => [Uint8Array, string];

function pickPosition(bytes: Uint8Array, next: () => number): number {
  if (bytes.length === 0) return 0;
  // Half of the hits go to the code section, where most decoding is.
  const code = sectionsOf(bytes).find((s) => s.id === 10);
  if (code && next() % 2 === 0) {
    return code.contentAt + (next() % Math.max(1, code.end - code.contentAt));
  }
  return next() % bytes.length;
}

function newValue(old: number, next: () => number): number {
  switch (next() % 3) {
    case 0:
      return Math.max(0, old + (next() % 33) - 16);
    case 1:
      return SIZE_VALUES[next() % SIZE_VALUES.length];
    default:
      return next() % 4096;
  }
}

const STEPS: Step[] = [
  function flipBit(bytes, next) {
    const at = pickPosition(bytes, next);
    const bit = next() % 8;
    if (at < bytes.length) bytes = splice(bytes, at, 1, [bytes[at] ^ 1 << bit]);
    return [bytes, `flip bit ${bit} at ${at}`];
  },
  function setByte(bytes, next) {
    const at = pickPosition(bytes, next);
    const value = next() % 2 === 0
      ? SPECIAL_BYTES[next() % SPECIAL_BYTES.length]
      : next() & 0xff;
    return [splice(bytes, at, 1, [value]), `set byte ${at} to ${value}`];
  },
  function truncate(bytes, next) {
    const at = next() % 4 === 0
      ? next() % Math.min(16, bytes.length + 1)
      : pickPosition(bytes, next);
    return [bytes.slice(0, at), `truncate to ${at}`];
  },
  function insertBytes(bytes, next) {
    const at = pickPosition(bytes, next);
    const count = 1 + next() % 8;
    const inserted = Array.from(
      { length: count },
      () =>
        next() % 2 === 0
          ? SPECIAL_BYTES[next() % SPECIAL_BYTES.length]
          : next() & 0xff,
    );
    return [splice(bytes, at, 0, inserted), `insert ${inserted} at ${at}`];
  },
  function deleteBytes(bytes, next) {
    const at = pickPosition(bytes, next);
    const count = 1 + next() % 8;
    return [splice(bytes, at, count), `delete ${count} at ${at}`];
  },
  function lebRun(bytes, next) {
    const at = pickPosition(bytes, next);
    const count = 1 + next() % 12;
    const run = new Array(count).fill(0x80);
    const ending = next() % 3;
    if (ending === 1) run.push(0x00);
    if (ending === 2) run.push(0x7f);
    const insert = next() % 2 === 0;
    return [
      splice(bytes, at, insert ? 0 : run.length, run),
      `${insert ? "insert" : "overwrite with"} ${count}×0x80${
        ["", " 0x00", " 0x7f"][ending]
      } at ${at}`,
    ];
  },
  function sectionSize(bytes, next) {
    const spans = sectionsOf(bytes);
    if (spans.length === 0) return [bytes, "no section to resize"];
    const s = spans[next() % spans.length];
    const size = newValue(s.end - s.contentAt, next);
    const field = encodeLeb(size, next() % 2 === 0 ? s.sizeLength : 1);
    return [
      splice(bytes, s.sizeAt, s.sizeLength, field),
      `section ${s.id} at ${s.start}: size ${size}`,
    ];
  },
  function vectorCount(bytes, next) {
    const spans = sectionsOf(bytes).filter((s) => s.id !== 0 && s.id !== 8);
    if (spans.length === 0) return [bytes, "no vector to recount"];
    const s = spans[next() % spans.length];
    const [count, length] = readLeb(bytes, s.contentAt);
    const value = newValue(count, next);
    return [
      splice(bytes, s.contentAt, length, encodeLeb(value, length)),
      `section ${s.id} at ${s.start}: count ${value}`,
    ];
  },
  function copyChunk(bytes, next) {
    const from = pickPosition(bytes, next);
    const to = pickPosition(bytes, next);
    const count = 1 + next() % 32;
    const chunk = bytes.slice(from, from + count);
    return [
      splice(bytes, to, chunk.length, chunk),
      `copy ${chunk.length} from ${from} to ${to}`,
    ];
  },
  function swapSections(bytes, next) {
    const spans = sectionsOf(bytes);
    if (spans.length < 2) return [bytes, "no sections to swap"];
    const i = next() % (spans.length - 1);
    const [a, b] = [spans[i], spans[i + 1]];
    const swapped = new Uint8Array(bytes.length);
    swapped.set(bytes.subarray(0, a.start));
    swapped.set(bytes.subarray(b.start, b.end), a.start);
    swapped.set(bytes.subarray(a.start, a.end), a.start + b.end - b.start);
    swapped.set(bytes.subarray(b.end), b.end);
    return [swapped, `swap sections ${a.id} and ${b.id} at ${a.start}`];
  },
];

/** Mutation number `index` of the corpus: which module, what was done. */
export function mutation(
  corpus: readonly CorpusEntry[],
  index: number,
): { entry: CorpusEntry; bytes: Uint8Array; steps: string[] } {
  const entry = corpus[index % corpus.length];
  const next = seededRandom(index * 7919 + 17);
  // Mostly one step; every eighth input stacks two or three.
  const count = next() % 8 === 0 ? 2 + next() % 2 : 1;
  let bytes = entry.bytes;
  const steps: string[] = [];
  for (let i = 0; i < count; i++) {
    const step = STEPS[next() % STEPS.length];
    const [after, what] = step(bytes, next);
    bytes = after;
    steps.push(`${step.name}: ${what}`);
  }
  return { entry, bytes, steps };
}
