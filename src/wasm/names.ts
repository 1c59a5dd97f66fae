/**
 * Rewrites the `name` custom section once function imports have been
 * appended and the slow path put first among the defined functions:
 * function names, local names and label names are keyed by function index,
 * and every defined function's index grows by as much.
 *
 * A malformed name section is not an error for engines (they ignore it), so
 * it is not one here either: the section is then left as it was.
 *
 * @module
 */

import { isInvalidModule } from "../errors.ts";
import { Reader } from "./reader.ts";
import {
  copySteps,
  READ_STEP_BYTES,
  runSteps,
  STEP_BYTES,
  type Steps,
} from "./steps.ts";
import { Writer } from "./writer.ts";

/** Subsections keyed by function index: function, local and label names. */
const FUNCTION_KEYED = new Set([1, 2, 3]);

/**
 * Rewrites a name section's contents (the bytes after the name "name").
 *
 * @param bytes The module.
 * @param start The first subsection.
 * @param end The section's end.
 * @param importedFunctions The original number of imported functions.
 * @param shift How much each defined function's index grows.
 * @returns The new contents, or `undefined` if the section is malformed.
 *
 * @example Usage
 * ```ts
 * import { rewriteNameSection } from "./names.ts";
 * import assert from "node:assert/strict";
 *
 * // Subsection 1 (function names): one entry, function 0 named "f".
 * const section = new Uint8Array([1, 4, 1, 0, 1, 0x66]);
 * const rewritten = rewriteNameSection(section, 0, section.length, 0);
 * assert.deepEqual([...rewritten!], [1, 4, 1, 1, 1, 0x66]);
 * ```
 */
export function rewriteNameSection(
  bytes: Uint8Array,
  start: number,
  end: number,
  importedFunctions: number,
  shift = 1,
): Uint8Array | undefined {
  return runSteps(
    rewriteNameSectionSteps(bytes, start, end, importedFunctions, shift),
  );
}

/**
 * {@linkcode rewriteNameSection} in steps of about {@linkcode STEP_BYTES}
 * of the section (35 MB of local names took a second at once), and of
 * {@linkcode READ_STEP_BYTES} of subsections copied as they are: each
 * costs its header's read and write, however few bytes it holds (64 MiB
 * of empty ones, 33 million, took 1 to 1.8 s at once).
 *
 * @param bytes The module.
 * @param start The first subsection.
 * @param end The section's end.
 * @param importedFunctions The original number of imported functions.
 * @param shift How much each defined function's index grows.
 * @returns The steps, which return the new contents, or `undefined` if the
 *   section is malformed.
 */
export function* rewriteNameSectionSteps(
  bytes: Uint8Array,
  start: number,
  end: number,
  importedFunctions: number,
  shift = 1,
): Steps<Uint8Array | undefined> {
  let mark = start;
  const r = new Reader(bytes, start, end);
  const w = new Writer(end - start + 64);
  const shifted = (index: number) =>
    index >= importedFunctions ? index + shift : index;
  try {
    while (!r.atEnd()) {
      const id = r.u8();
      const size = r.u32();
      if (size > r.end - r.pos) return undefined;
      const contentStart = r.pos;
      const contentEnd = r.pos + size;
      w.u8(id);
      if (!FUNCTION_KEYED.has(id)) {
        w.u32(size);
        yield* copySteps(w, bytes, contentStart, contentEnd);
        r.pos = contentEnd;
        // Between subsections: a pause every READ_STEP_BYTES of them.
        if (r.pos - mark >= READ_STEP_BYTES) {
          mark = r.pos;
          yield;
        }
        continue;
      }
      const sub = new Reader(bytes, contentStart, contentEnd);
      const out = new Writer(size + 16);
      const count = sub.count("name", 2);
      out.u32(count);
      for (let i = 0; i < count; i++) {
        out.u32(shifted(sub.u32()));
        if (id === 1) {
          const from = sub.pos;
          sub.skip(sub.u32());
          out.copy(bytes, from, sub.pos);
        } else {
          // An indirect map: the inner indices (locals, labels) stay.
          const from = sub.pos;
          const inner = sub.count("name", 2);
          for (let j = 0; j < inner; j++) {
            sub.u32();
            sub.skip(sub.u32());
            if (sub.pos - mark >= STEP_BYTES) {
              mark = sub.pos;
              yield;
            }
          }
          out.copy(bytes, from, sub.pos);
        }
        if (sub.pos - mark >= STEP_BYTES) {
          mark = sub.pos;
          yield;
        }
      }
      if (!sub.atEnd()) return undefined;
      w.u32(out.len);
      yield* copySteps(w, out.buf, 0, out.len);
      r.pos = contentEnd;
      if (r.pos - mark >= READ_STEP_BYTES) {
        mark = r.pos;
        yield;
      }
    }
  } catch (error) {
    if (isInvalidModule(error)) return undefined;
    throw error;
  }
  // Not `finish()`, which would copy it all once more.
  return w.buf.subarray(0, w.len);
}
