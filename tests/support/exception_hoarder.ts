/**
 * A guest that keeps exceptions for ever, for the tests of what bounds a
 * guest's heap.
 */

import {
  type Bytes,
  concatBytes,
  encodeLeb,
  PREAMBLE,
  section,
} from "./module_bytes.ts";

/** Parameters of the tag whose exceptions the exception hoarder keeps. */
const TAG_PARAMS = 999;

/**
 * A guest whose `run` keeps exceptions of a tag of 999 `v128` parameters in
 * a table, for ever: each `throw` makes a new one from the values the last
 * one's `catch_ref` gave, a few operators each. Written byte by byte, since
 * neither assembler writes a `try_table` whose block type has parameters.
 */
export function exceptionHoarder(): Bytes {
  const n = encodeLeb(TAG_PARAMS);
  const v128s = Array(TAG_PARAMS).fill(0x7b);
  const exnref = 0x69;
  const types = section(1, [
    4,
    ...[0x60, ...n, ...v128s, 0], // 0: the tag's parameters
    ...[0x60, 1, exnref, 1, exnref], // 1: an exception to the next one
    ...[0x60, 0, ...encodeLeb(TAG_PARAMS + 1), ...v128s, exnref], // 2
    ...[0x60, 0, 0], // 3: run
  ]);
  const zeros = [0xfd, 0x0c, ...Array(16).fill(0)];
  // The first exception, from constants, caught with `catch_all_ref`.
  const first = [
    ...[0x02, exnref, 0x1f, 0x40, 1, 3, 0],
    ...Array(TAG_PARAMS).fill(zeros).flat(),
    ...[0x08, 0, 0x0b, 0x00, 0x0b],
  ];
  // The next exception: the last one thrown again and caught with
  // `catch_ref`, and its values thrown in a new one.
  const next = [
    0,
    ...[0x02, exnref, 0x02, 2, 0x1f, 0x40, 1, 1, 0, 0],
    ...[0x20, 0, 0x0a, 0x0b, 0x00, 0x0b, 0x1a],
    ...[0x1f, 0, 1, 3, 0, 0x08, 0, 0x0b, 0x00, 0x0b, 0x0b],
  ];
  const run = [
    ...[1, 1, exnref, ...first, 0x21, 0],
    ...[0x03, 0x40, 0x20, 0, 0x10, 0, 0x21, 0],
    ...[0x20, 0, 0x41, 1, 0xfc, 0x0f, 0, 0x1a, 0x0c, 0, 0x0b, 0x0b],
  ];
  const body = (code: number[]) => [...encodeLeb(code.length), ...code];
  const name = new TextEncoder().encode("run");
  return concatBytes(
    PREAMBLE,
    types,
    section(3, [2, 1, 3]),
    section(4, [1, exnref, 0, 0]),
    section(13, [1, 0, 0]),
    section(7, [1, name.length, ...name, 0, 1]),
    section(10, [2, ...body(next), ...body(run)]),
  );
}
