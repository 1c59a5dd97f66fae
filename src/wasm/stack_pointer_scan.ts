/**
 * Finds the shadow stack pointer of a module that does not name it.
 *
 * LLVM keeps the stack of C, C++ and Rust code in linear memory, below a
 * mutable global (`__stack_pointer`) that every function with a frame
 * moves down on entry and back up on exit. A stop skips the exits, so a
 * host that stops such a guest must put the pointer back; a minified build
 * (emscripten's `-O2` and up) strips the global's name, and nothing else
 * says which global it is.
 *
 * Emscripten still exports the pointer's accessors, under minified names:
 * `stackSave` / `emscripten_stack_get_current`, whose body is exactly
 * `global.get N`, and `stackRestore` / `_emscripten_stack_restore`, whose
 * body is exactly `local.get 0; global.set N`. The global read by one
 * exported body of the first shape and written by one of the second is
 * the stack pointer. A module with two such globals (an old build's
 * `getTempRet0`/`setTempRet0` beside the stack accessors) names none:
 * guessing could restore the wrong state.
 *
 * The scan reads only the bodies of exported functions, which it finds by
 * their sizes, and never fails: a module it cannot follow names no stack
 * pointer, and the rewrite reports what is wrong with it.
 *
 * @module
 */

import type { ModuleInfo } from "./module.ts";
import { Reader } from "./reader.ts";
import { readSections } from "./sections.ts";

const GLOBAL_GET = 0x23;
const GLOBAL_SET = 0x24;
const LOCAL_GET = 0x20;
const END = 0x0b;

/** What one body is, if it is a bare accessor of a global. */
type Accessor = { global: number; reads: boolean };

/** `global.get N` or `local.get 0; global.set N`, and nothing else. */
function accessorOf(r: Reader): Accessor | undefined {
  if (r.u32() !== 0) return undefined; // no local declarations
  const op = r.u8();
  if (op === GLOBAL_GET) {
    const global = r.u32();
    return r.u8() === END && r.atEnd() ? { global, reads: true } : undefined;
  }
  if (op !== LOCAL_GET || r.u32() !== 0 || r.u8() !== GLOBAL_SET) {
    return undefined;
  }
  const global = r.u32();
  return r.u8() === END && r.atEnd() ? { global, reads: false } : undefined;
}

/**
 * Whether function type `type` is `() -> t` (a reader) or `(t) -> ()` (a
 * writer), for an integer `t`: the accessors' shapes. Validation ties `t`
 * to the global's own type.
 */
function fitsAccessor(info: ModuleInfo, type: number, reads: boolean): boolean {
  const signature = info.typeSignatures[type];
  if (signature === undefined) return false;
  const [none, one] = reads
    ? [signature.params, signature.results]
    : [signature.results, signature.params];
  return none.length === 0 && one.length === 1 &&
    (one[0] === "i32" || one[0] === "i64");
}

/**
 * The global that the module's exported accessors read and write, as
 * described above; `undefined` when there is none, or more than one.
 *
 * @param bytes The input module.
 * @param info What the rewrite has read of it so far: its types,
 *   functions and exports (the sections before the code section).
 * @returns The stack pointer's global index.
 *
 * @example A module exporting emscripten's stackSave and stackRestore
 * ```ts
 * import { findStackPointerGlobal } from "./stack_pointer_scan.ts";
 * import { ModuleInfo } from "./module.ts";
 * import { readSection } from "./module_sections.ts";
 * import { Patches } from "./patches.ts";
 * import { Reader } from "./reader.ts";
 * import { readSections } from "./sections.ts";
 * import assert from "node:assert/strict";
 *
 * // (module (global $sp (mut i32) (i32.const 4096))
 * //   (func (export "a") (result i32) global.get $sp)
 * //   (func (export "b") (param i32) local.get 0 global.set $sp))
 * const bytes = new Uint8Array([
 *   0, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
 *   1, 9, 2, 0x60, 0, 1, 0x7f, 0x60, 1, 0x7f, 0,
 *   3, 3, 2, 0, 1,
 *   6, 7, 1, 0x7f, 1, 0x41, 0x80, 0x20, 0x0b,
 *   7, 9, 2, 1, 0x61, 0, 0, 1, 0x62, 0, 1,
 *   10, 13, 2, 4, 0, 0x23, 0, 0x0b, 6, 0, 0x20, 0, 0x24, 0, 0x0b,
 * ]);
 * const info = new ModuleInfo();
 * for (const { id, start, end } of readSections(bytes)) {
 *   if (id !== 10) readSection(info, id, new Reader(bytes, start, end), new Patches());
 * }
 * assert.equal(findStackPointerGlobal(bytes, info), 0);
 * ```
 */
export function findStackPointerGlobal(
  bytes: Uint8Array,
  info: ModuleInfo,
): number | undefined {
  const exported = new Set<number>();
  for (const { kind, index } of info.exports) {
    if (kind === "function" && index >= info.importedFunctions) {
      exported.add(index);
    }
  }
  if (exported.size < 2) return undefined;
  const readers = new Set<number>();
  const writers = new Set<number>();
  try {
    for (const { id, start, end } of readSections(bytes)) {
      if (id !== 10) continue;
      const r = new Reader(bytes, start, end);
      const count = r.u32();
      for (let i = 0; i < count; i++) {
        const size = r.u32();
        const bodyStart = r.pos;
        const index = info.importedFunctions + i;
        // The accessors are a few bytes; anything longer is something else.
        if (size <= 12 && exported.has(index)) {
          const found = accessorOf(
            new Reader(bytes, bodyStart, bodyStart + size),
          );
          const type = info.functionTypes[index];
          if (
            found !== undefined && type !== undefined &&
            fitsAccessor(info, type, found.reads)
          ) {
            (found.reads ? readers : writers).add(found.global);
          }
        }
        r.pos = bodyStart + size;
      }
    }
  } catch {
    return undefined; // the rewrite will say what is wrong
  }
  const both = [...readers].filter((global) => writers.has(global));
  return both.length === 1 ? both[0] : undefined;
}
