/**
 * A sweep of the encodings an engine flag could give a meaning to: every
 * opcode (single-byte, and each prefix's sub-opcodes up to 0x1ff) with a
 * few immediate shapes, and every byte at the module-level places where a
 * proposal adds a form (type forms, value and heap types, import kinds,
 * section ids). Run under engine flags, it reports what the engine accepts
 * there and what `instrument()` makes of each.
 *
 * @module
 */

import { instrument } from "../../src/wasm/mod.ts";

function leb(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value = Math.floor(value / 128);
    if (value) byte |= 0x80;
    out.push(byte);
  } while (value);
  return out;
}

const section = (id: number, contents: number[]) => [
  id,
  ...leb(contents.length),
  ...contents,
];
const vector = (items: number[][]) => [...leb(items.length), ...items.flat()];
const PREAMBLE = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

/**
 * A module with one of each thing an operator may name (types of each
 * form, a table, a shared memory, a tag, a global, element and data
 * segments), whose first function's body is `body`.
 */
function withBody(body: number[]): number[] {
  const types = vector([
    [0x60, 0x00, 0x00], // () -> ()
    [0x60, 0x01, 0x7f, 0x01, 0x7f], // (i32) -> (i32)
    [0x5f, 0x01, 0x7f, 0x01], // struct (mut i32)
    [0x5e, 0x78, 0x01], // array (mut i8)
  ]);
  const code = [0x00, ...body];
  return [
    ...PREAMBLE,
    ...section(1, types),
    ...section(3, vector([[0x00], [0x00]])),
    ...section(4, vector([[0x70, 0x00, 0x01]])),
    ...section(5, vector([[0x03, 0x01, 0x01]])),
    ...section(13, vector([[0x00, 0x00]])),
    ...section(6, vector([[0x7f, 0x01, 0x41, 0x00, 0x0b]])),
    ...section(9, vector([[0x03, 0x00, ...vector([[0x00], [0x01]])]])),
    ...section(12, [0x01]),
    ...section(
      10,
      vector([[...leb(code.length), ...code], [0x02, 0x00, 0x0b]]),
    ),
    ...section(11, vector([[0x01, 0x01, 0x61]])),
  ];
}

/** Section ids in the order a module must have them. */
const ORDER = [1, 2, 3, 4, 5, 13, 6, 7, 8, 9, 12, 10, 11];

/**
 * {@linkcode withBody}'s module with an empty body and `extra`, a section,
 * in place of its own of that id, or in its place in the order.
 */
function withSections(extra: number[]): number[] {
  const module = withBody([0x0b]);
  const rank = ORDER.indexOf(extra[0]!);
  // Each section of `withBody`'s module is under 128 bytes: one size byte.
  let at = PREAMBLE.length;
  while (at < module.length && ORDER.indexOf(module[at]!) < rank) {
    at += 2 + module[at + 1]!;
  }
  const next = module[at] === extra[0] ? at + 2 + module[at + 1]! : at;
  return [...module.slice(0, at), ...extra, ...module.slice(next)];
}

/** Immediates to try after each opcode: indices, types, LEB128 padding. */
const TAILS = [
  [],
  [0x00],
  [0x01],
  [0x00, 0x00],
  [0x02, 0x00],
  [0x80, 0x00],
  [0x40, 0x00, 0x00],
  [0x63, 0x62, 0x02],
  [0x62, 0x02],
  [0x65, 0x6e],
  [0x01, 0x64, 0x65, 0x6e],
  [0x22, 0x01, 0x00],
  new Array(16).fill(0),
];

/**
 * Module-level places where a proposal adds a form: each byte there, with
 * and with what an exact or shared type puts after it.
 */
const PLACES: ((byte: number, after: number[]) => number[])[] = [
  // type form
  (b, after) => [...PREAMBLE, ...section(1, [0x01, b, ...after, 0x00, 0x00])],
  // value type of a parameter
  (b, after) => [
    ...PREAMBLE,
    ...section(1, [0x02, 0x5f, 0x00, 0x60, 0x01, b, ...after, 0x00]),
  ],
  // heap type of a global's reference type
  (b, after) => [
    ...PREAMBLE,
    ...section(1, [0x01, 0x5f, 0x00]),
    ...section(6, [0x01, 0x63, b, ...after, 0x00, 0xd0, 0x71, 0x0b]),
  ],
  // import kind
  (b, after) => [
    ...PREAMBLE,
    ...section(1, [0x01, 0x60, 0x00, 0x00]),
    ...section(2, [0x01, 0x01, 0x6d, 0x01, 0x6e, b, ...after, 0x00]),
  ],
  // section id
  (b, after) => [...PREAMBLE, b, 0x02, 0x01, 0x00, ...after],
  // tag attribute, before a type with a result
  (b, after) => [
    ...PREAMBLE,
    ...section(1, [0x01, 0x60, 0x00, 0x01, 0x7f]),
    ...section(13, [0x01, b, ...after]),
  ],
  // export kind
  (b, after) => withSections(section(7, [0x01, 0x01, 0x65, b, ...after])),
  // limits flags of a memory, of a table
  (b, after) => [...PREAMBLE, ...section(5, [0x01, b, ...after, 0x01])],
  (b, after) => [...PREAMBLE, ...section(4, [0x01, 0x70, b, ...after, 0x01])],
  // element and data segment flags
  (b, after) => withSections(section(9, [0x01, b, ...after, 0x00])),
  (b, after) => withSections(section(11, [0x01, b, ...after, 0x00])),
  // a global's initializer
  (b, after) => [
    ...PREAMBLE,
    ...section(6, [0x01, 0x7f, 0x00, b, ...after, 0x0b]),
  ],
  // memory argument flags, catch kind, cast flags
  (b, after) => withBody([0x00, 0x41, 0x00, 0x28, b, ...after, 0x1a, 0x0b]),
  (b, after) =>
    withBody([0x00, 0x1f, 0x40, 0x01, b, ...after, 0x00, 0x0b, 0x0b]),
  (b, after) =>
    withBody([
      ...[0x00, 0x02, 0x6e, 0xd0, 0x6e, 0xfb, 0x18, b, 0x00],
      ...[0x6e, 0x6e, ...after, 0x0b, 0x1a, 0x0b],
    ]),
];

/** What may follow a place's byte: nothing, an index, a type form. */
const AFTER = [[], [0x00], [0x00, 0x00], [0x60], [0x5f]];

/** What {@linkcode sweep} found. */
export interface SweepResult {
  /** How many of the tried modules the engine accepted. */
  accepted: number;
  /** Each accepted module `instrument()` rewrote, as bytes. */
  rewritten: number[][];
  /** Each accepted module `instrument()` refused: the error's kind and text. */
  refused: string[];
}

function* candidates(): Generator<number[]> {
  for (let op = 0; op < 0x100; op++) {
    if (op >= 0xfb && op <= 0xfe) continue;
    for (const tail of TAILS) yield withBody([0x00, op, ...tail, 0x00, 0x0b]);
  }
  for (const prefix of [0xfb, 0xfc, 0xfd, 0xfe]) {
    for (let code = 0; code < 0x200; code++) {
      for (const tail of TAILS) {
        yield withBody([0x00, prefix, ...leb(code), ...tail, 0x00, 0x0b]);
      }
    }
  }
  for (const place of PLACES) {
    for (let byte = 0; byte < 0x100; byte++) {
      for (const after of AFTER) yield place(byte, after);
    }
  }
}

/**
 * Tries every candidate module with the engine as the process runs it, and
 * `instrument()` on each one the engine accepts.
 *
 * @returns What the engine accepted, and what `instrument()` did with it.
 *
 * @example Usage
 * ```ts
 * import { sweep } from "./flag_sweep.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(sweep().accepted > 0);
 * ```
 */
export function sweep(): SweepResult {
  const result: SweepResult = { accepted: 0, rewritten: [], refused: [] };
  for (const list of candidates()) {
    const bytes = new Uint8Array(list);
    if (!WebAssembly.validate(bytes)) continue;
    result.accepted++;
    try {
      instrument(bytes);
      result.rewritten.push(list);
    } catch (error) {
      const kind = (error as { kind?: unknown })?.kind;
      result.refused.push(
        `${String(kind)}: ${
          error instanceof Error ? error.message : String(error)
        }`,
      );
    }
  }
  return result;
}
