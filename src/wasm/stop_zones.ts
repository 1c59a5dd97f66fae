/**
 * Stops wait for the allocator: functions inside which a stop is put off
 * until the guest leaves them (*no-stop zones*), so that a stop never cuts
 * a heap update in half (a block unlinked from a free list but not yet
 * handed out, a buffer freed but its pointer not yet replaced), which the
 * library's cleanup after the stop would then trip over.
 *
 * A pass over the metered module: each zone function's body moves, as it
 * is, to a new function appended last, and its old slot gets a wrapper
 * with the same type (so every call, export, table entry and `ref.func`
 * reaches the wrapper):
 *
 * ```text
 * zone += 1; results = inner(params...); zone -= 1
 * if (zone == WAITING) { fuel = out_of_fuel(fuel, 0); if (fuel < 0) unreachable }
 * ```
 *
 * `zone`, an added mutable `i32` global the host can read and write through
 * its export, counts how deep the guest is in zones (bits 0 to 29), and the
 * host sets bit 30 ({@linkcode ZONE_STOP_WAITING}) when it puts a stop off:
 * the wrapper that takes the depth to 0 then asks the host, which lands the
 * stop there. The host alone decides to put a stop off, in the failure arm
 * of a check (the `out_of_fuel` and `on_stop_flag` imports), so checks keep
 * their bytes and their fast path. A trap that unwinds through a zone skips
 * its wrapper's decrement: the host resets the global before each call. So
 * does an exception the guest throws through a zone and catches outside it
 * (an allocator does not throw); until the call ends, a stop then waits
 * until the host's allowance is spent, as it does for a zone that never
 * returns.
 *
 * @module
 */

import { InvalidModule } from "../errors.ts";
import { BRANCH_HINTS } from "./branch_hints.ts";
import { Emitter } from "./emitter.ts";
import { ModuleInfo } from "./module.ts";
import { readSection } from "./module_sections.ts";
import { Patches } from "./patches.ts";
import { Reader } from "./reader.ts";
import { readSections } from "./sections.ts";
import { Writer } from "./writer.ts";

/** The zone global's bits that count how deep the guest is in zones. */
export const ZONE_DEPTH = (1 << 30) - 1;
/** The zone global's bit set by the host while a stop waits for the guest to leave. */
export const ZONE_STOP_WAITING = 1 << 30;

/**
 * The export names under which emscripten, LLVM's libc and wasm-bindgen
 * builds export their allocator, when they keep names.
 */
export const ALLOCATOR_EXPORTS: readonly string[] = [
  "malloc",
  "free",
  "realloc",
  "calloc",
  "aligned_alloc",
  "memalign",
  "posix_memalign",
  "_malloc",
  "_free",
  "_realloc",
  "_calloc",
  "emscripten_builtin_malloc",
  "emscripten_builtin_free",
  "emscripten_builtin_memalign",
  "__libc_malloc",
  "__libc_free",
  "__libc_calloc",
  "__libc_realloc",
  "dlmalloc",
  "dlfree",
  "dlrealloc",
  "dlcalloc",
  "__wbindgen_malloc",
  "__wbindgen_realloc",
  "__wbindgen_free",
];

/** A bad `stopsWaitFor`: the caller's mistake, not the module's. */
export class ZoneOptionError extends TypeError {}

/** What the pass needs from the metering rewrite. */
export interface ZoneTargets {
  /** The zone functions, as indices in the metered module. */
  readonly functions: readonly number[];
  /** The index of the `out_of_fuel` import. */
  readonly outOfFuel: number;
  /** The index of the fuel counter global. */
  readonly fuelGlobal: number;
  /** The export name of the zone global. */
  readonly exportName: string;
}

/**
 * Picks the zone functions of a module, as original function indices.
 *
 * @param info The input module, as the rewrite read it.
 * @param named Export names or function indices the caller gave; each must
 *   name a function the module defines.
 * @param allocator Whether to add the exported allocator functions there are.
 * @returns The original indices, sorted, without repeats.
 * @throws {ZoneOptionError} For a name the module does not export as a function,
 *   or an index that is not a defined function.
 */
export function pickZones(
  info: ModuleInfo,
  named: readonly (string | number)[],
  allocator: boolean,
): number[] {
  const functions = new Map<string, number>();
  for (const { name, kind, index } of info.exports) {
    if (kind === "function") functions.set(name, index);
  }
  const picked = new Set<number>();
  const add = (index: number, what: string) => {
    if (index < info.importedFunctions) {
      throw new ZoneOptionError(
        `Cannot use stopsWaitFor: ${what} is an imported function, which runs outside the guest; name a function the module defines`,
      );
    }
    picked.add(index);
  };
  if (allocator) {
    for (const name of ALLOCATOR_EXPORTS) {
      const index = functions.get(name);
      if (index !== undefined && index >= info.importedFunctions) {
        picked.add(index);
      }
    }
  }
  for (const entry of named) {
    if (typeof entry === "string") {
      const index = functions.get(entry);
      if (index === undefined) {
        throw new ZoneOptionError(
          `Cannot use stopsWaitFor: the module exports no function "${entry}"; give an exported function's name or a function index`,
        );
      }
      add(index, `"${entry}"`);
    } else if (
      Number.isSafeInteger(entry) && entry >= 0 && entry < info.functionCount
    ) {
      add(entry, `function ${entry}`);
    } else {
      throw new ZoneOptionError(
        `Cannot use stopsWaitFor: expected export names or function indices from 0 to ${
          info.functionCount - 1
        }, got ${String(entry)}`,
      );
    }
  }
  return [...picked].sort((a, b) => a - b);
}

/** The wrapper that takes a zone function's old slot. */
function wrapperBody(
  params: number,
  inner: number,
  zone: number,
  targets: ZoneTargets,
): Uint8Array {
  const e = new Emitter(48 + 2 * params);
  e.u32(0); // no locals
  e.globalGet(zone);
  e.i32Const(1);
  e.u8(0x6a); // i32.add
  e.globalSet(zone);
  for (let i = 0; i < params; i++) e.localGet(i);
  e.call(inner);
  e.globalGet(zone);
  e.i32Const(1);
  e.i32Sub();
  e.globalSet(zone);
  e.globalGet(zone);
  e.i32Const(ZONE_STOP_WAITING);
  e.u8(0x46); // i32.eq
  e.ifEmpty();
  e.globalGet(targets.fuelGlobal);
  e.i64Const(0);
  e.call(targets.outOfFuel);
  e.globalSet(targets.fuelGlobal);
  e.globalGet(targets.fuelGlobal);
  e.i64Const(0);
  e.i64LtS();
  e.ifEmpty();
  e.unreachable();
  e.end();
  e.end();
  e.end();
  return e.sized();
}

/** Copies a vector section with `added` more entries written by `append`. */
function extendVector(
  out: Writer,
  id: number,
  bytes: Uint8Array,
  start: number,
  end: number,
  added: number,
  append: (w: Writer) => void,
): void {
  const r = new Reader(bytes, start, end);
  const count = r.u32();
  const content = new Writer(end - start + 64);
  content.u32(count + added);
  content.copy(bytes, r.pos, end);
  append(content);
  out.u8(id);
  out.u32(content.len);
  out.bytes(content.finish());
}

/** The branch hints with each zone's hints moved to its inner function. */
function moveHints(
  bytes: Uint8Array,
  start: number,
  end: number,
  innerOf: Map<number, number>,
): Writer {
  const r = new Reader(bytes, start, end);
  r.name();
  const count = r.u32();
  const entries: [number, number, number][] = [];
  for (let i = 0; i < count; i++) {
    const index = r.u32();
    const from = r.pos;
    const hints = r.u32();
    for (let j = 0; j < hints; j++) {
      r.u32();
      r.skip(r.u32());
    }
    entries.push([innerOf.get(index) ?? index, from, r.pos]);
  }
  entries.sort((a, b) => a[0] - b[0]);
  const content = new Writer(end - start + 16);
  content.name(BRANCH_HINTS);
  content.u32(count);
  for (const [index, from, to] of entries) {
    content.u32(index);
    content.copy(bytes, from, to);
  }
  return content;
}

/**
 * Wraps the zone functions of a metered module.
 *
 * @param bytes The metered module.
 * @param targets The zones, and the counter and import the wrappers use.
 * @returns The module with its zones wrapped and the zone global exported.
 *
 * @example Usage
 * ```ts
 * import { instrument } from "./instrument.ts";
 * import assert from "node:assert/strict";
 *
 * // (module (func (export "malloc") (param i32) (result i32) local.get 0))
 * const bytes = new Uint8Array([
 *   0, 97, 115, 109, 1, 0, 0, 0, 1, 6, 1, 96, 1, 127, 1, 127, 3, 2, 1, 0,
 *   7, 10, 1, 6, 109, 97, 108, 108, 111, 99, 0, 0, 10, 6, 1, 4, 0, 32, 0, 11,
 * ]);
 * const metered = instrument(bytes, { stopsWaitFor: ["malloc"] });
 * assert.equal(metered.zoneExport, "early-exit:zone");
 * assert.ok(WebAssembly.validate(metered.bytes));
 * ```
 */
export function wrapZones(
  bytes: Uint8Array,
  targets: ZoneTargets,
): Uint8Array<ArrayBuffer> {
  const info = new ModuleInfo();
  const ignored = new Patches();
  const sections = [...readSections(bytes)];
  for (const { id, start, end } of sections) {
    if (id !== 0 && id !== 10) {
      readSection(info, id, new Reader(bytes, start, end), ignored);
    }
  }
  if (info.globalCount === 0 || !sections.some((s) => s.id === 7)) {
    throw new InvalidModule(
      "internal error: a metered module without its counter global or export",
    );
  }
  const zones = targets.functions;
  const innerOf = new Map<number, number>();
  zones.forEach((index, k) => innerOf.set(index, info.functionCount + k));
  const zoneGlobal = info.globalCount;
  const out = new Writer(bytes.length + zones.length * 64 + 64);
  out.copy(bytes, 0, 8);
  for (const { id, sectionStart, start, end } of sections) {
    if (id === 3) {
      extendVector(out, 3, bytes, start, end, zones.length, (w) => {
        for (const index of zones) w.u32(info.functionTypes[index]!);
      });
    } else if (id === 6) {
      extendVector(out, 6, bytes, start, end, 1, (w) => {
        w.u8(0x7f); // i32
        w.u8(0x01); // mutable
        w.bytes(Uint8Array.of(0x41, 0x00, 0x0b)); // i32.const 0
      });
    } else if (id === 7) {
      extendVector(out, 7, bytes, start, end, 1, (w) => {
        w.name(targets.exportName);
        w.u8(0x03);
        w.u32(zoneGlobal);
      });
    } else if (id === 10) {
      const r = new Reader(bytes, start, end);
      const count = r.u32();
      const content = new Writer(end - start + zones.length * 64);
      content.u32(count + zones.length);
      const moved: [number, number][] = [];
      for (let i = 0; i < count; i++) {
        const index = info.importedFunctions + i;
        const from = r.pos;
        const size = r.u32();
        const to = r.pos + size;
        r.pos = to;
        const inner = innerOf.get(index);
        if (inner === undefined) {
          content.copy(bytes, from, to);
          continue;
        }
        moved.push([from, to]);
        const params = info.typeParams[info.functionTypes[index]!]!;
        content.bytes(wrapperBody(params, inner, zoneGlobal, targets));
      }
      for (const [from, to] of moved) content.copy(bytes, from, to);
      out.u8(10);
      out.u32(content.len);
      out.bytes(content.finish());
    } else if (
      id === 0 && new Reader(bytes, start, end).name() === BRANCH_HINTS
    ) {
      const content = moveHints(bytes, start, end, innerOf);
      out.u8(0);
      out.u32(content.len);
      out.bytes(content.finish());
    } else {
      out.copy(bytes, sectionStart, end);
    }
  }
  return out.finish();
}
