/**
 * The section walker: the module header, then each section's id, size and
 * place in the order the binary format requires. Both the rewriter and the
 * signature reader walk a module through it.
 *
 * @module
 */

import { InvalidModule } from "../errors.ts";
import { failBeforeEngine, Reader } from "./reader.ts";

/** Section id → its place in the required order (0: custom or unknown). */
export const SECTION_RANK: readonly number[] = [
  0,
  1,
  2,
  3,
  4,
  5,
  7,
  8,
  9,
  10,
  12,
  13,
  11,
  6,
];

/**
 * The most sections a module may have, custom ones included. Every pass of
 * a load over the module walks its section headers, some in one piece that
 * no stop can cut short (the rewrite's first step among them): a module of
 * 2,000,000 one-byte custom sections (6 MB) held a load's thread 330 to 490
 * ms at once, and in pieces of 40 to 120 ms (its collections of what the
 * walks made), so that a StopSignal landed up to 127 ms late (Deno 2.9.6,
 * load average 5 to 6). At this limit a walk takes about 2 ms. Real modules
 * have a few dozen (a debug build's DWARF a dozen custom sections).
 */
export const MAX_SECTIONS = 10_000;

/** The ranks of the sections the rewriter adds to. */
export const Rank = {
  type: 1,
  import: 2,
  function: 3,
  global: 7,
  export: 8,
  code: 12,
} as const;

/** One section of a module. */
export interface Section {
  /** The section id (0 for a custom section). */
  readonly id: number;
  /** Its place in the required order; 0 for a custom section. */
  readonly rank: number;
  /** Where the section starts: its id byte. */
  readonly sectionStart: number;
  /** Where its contents start. */
  readonly start: number;
  /** One past its last byte. */
  readonly end: number;
}

/**
 * Checks the module header and yields every section in order, checking
 * that each fits in the module, that its id is known and that the
 * non-custom ones come in the required order, each at most once.
 *
 * @param bytes The module.
 * @returns The sections.
 * @throws {InvalidModule} For a bad header, size, id or order.
 *
 * @example Usage
 * ```ts
 * import { readSections } from "./sections.ts";
 * import assert from "node:assert/strict";
 *
 * const empty = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 5, 1, 0]);
 * assert.deepEqual(
 *   [...readSections(empty)],
 *   [{ id: 5, rank: 5, sectionStart: 8, start: 10, end: 11 }],
 * );
 * ```
 */
export function* readSections(bytes: Uint8Array): Generator<Section> {
  const r = new Reader(bytes);
  const magic = [0x00, 0x61, 0x73, 0x6d];
  for (let i = 0; i < 4; i++) {
    if (r.u8("the magic number \\0asm") !== magic[i]) {
      r.fail("not a WebAssembly module: bad magic number", 0);
    }
  }
  const version = [0x01, 0x00, 0x00, 0x00];
  for (let i = 0; i < 4; i++) {
    if (r.u8("the version") !== version[i]) {
      r.fail("unsupported version: expected a core module of version 1", 4);
    }
  }
  let lastRank = 0;
  for (let count = 0; !r.atEnd(); count++) {
    const sectionStart = r.pos;
    if (count === MAX_SECTIONS) {
      failBeforeEngine(
        `the module has more than ${MAX_SECTIONS} sections (custom ones included), which every pass of its load walks before any check can run: give it fewer (merge or drop its custom sections)`,
        sectionStart,
      );
    }
    const id = r.u8();
    const sizeAt = r.pos;
    const size = r.u32();
    if (size > r.end - r.pos) {
      r.fail(
        `section size ${size} exceeds the ${r.end - r.pos} bytes left`,
        sizeAt,
      );
    }
    const start = r.pos;
    const end = start + size;
    let rank = 0;
    if (id !== 0) {
      rank = id < SECTION_RANK.length ? SECTION_RANK[id]! : 0;
      if (rank === 0) r.fail(`unknown section id ${id}`, sectionStart);
      if (rank <= lastRank) {
        r.fail(`section ${id} is out of order or repeated`, sectionStart);
      }
      lastRank = rank;
    }
    yield { id, rank, sectionStart, start, end };
    r.pos = end;
  }
}

/**
 * Checks that a section's reader used up the section.
 *
 * @param id The section id.
 * @param r The reader over its contents.
 *
 * @example Usage
 * ```ts
 * import { expectSectionEnd } from "./sections.ts";
 * import { failBeforeEngine, Reader } from "./reader.ts";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => expectSectionEnd(1, new Reader(new Uint8Array([0]))));
 * ```
 */
export function expectSectionEnd(id: number, r: Reader): void {
  if (!r.atEnd()) r.fail(`section ${id} has ${r.end - r.pos} unread bytes`);
}

/**
 * The count that heads a vector section (how many imports or exports the
 * module declares), read without reading the entries, so that a module the
 * rewrite would take past the engine's limit on that count is refused
 * before it is rewritten.
 *
 * @param bytes The module.
 * @param id The section's id.
 * @returns The count, 0 without the section, or `undefined` if the module is
 * malformed before the count can be read (the rewrite reports that).
 *
 * @example Usage
 * ```ts
 * import { sectionCount } from "./sections.ts";
 * import assert from "node:assert/strict";
 *
 * // One export, "e", of function 0.
 * const head = [0, 0x61, 0x73, 0x6d, 1, 0, 0, 0];
 * const exports = [7, 5, 1, 1, 0x65, 0, 0];
 * assert.equal(sectionCount(new Uint8Array([...head, ...exports]), 7), 1);
 * assert.equal(sectionCount(new Uint8Array(head), 7), 0);
 * ```
 */
export function sectionCount(
  bytes: Uint8Array,
  id: number,
): number | undefined {
  try {
    for (const section of readSections(bytes)) {
      if (section.id === id) {
        return new Reader(bytes, section.start, section.end).u32();
      }
    }
    return 0;
  } catch (error) {
    if (error instanceof InvalidModule) return undefined;
    throw error;
  }
}
