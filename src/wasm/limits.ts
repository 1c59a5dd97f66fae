/**
 * Resource limits written into a module: every memory and table, defined
 * or imported, gets a maximum no larger than its limit, so that
 * `memory.grow` and `table.grow` past it return -1 as the engine would at a
 * declared maximum, in every mode (metered or not, and in the memories the
 * stop flag makes the host create). A minimum above its limit cannot be
 * fixed that way: it is reported, so that the host can refuse the module
 * before the engine allocates anything.
 *
 * @module
 */

import { readSectionSteps } from "./module_sections.ts";
import { ModuleInfo } from "./module.ts";
import { Patches } from "./patches.ts";
import { Reader } from "./reader.ts";
import { readSections } from "./sections.ts";
import { readConstExpr } from "./const_expr.ts";
import {
  type Limits,
  readLimits,
  readRefType,
  readTableLimits,
  readValType,
} from "./types.ts";
import {
  askForTurn,
  COPY_STEP_BYTES,
  READ_STEP_BYTES,
  runSteps,
  type Steps,
} from "./steps.ts";
import { Writer } from "./writer.ts";

/**
 * How large a guest's memories and tables may get: the `limits` option of
 * `loadGuest`, `FuelMeter` and `invokeIsolated`.
 *
 * @example A guest's memory held to two pages
 * ```ts
 * import { isGuestLoadError, loadGuest, type ResourceLimits } from "../../mod.ts";
 * import assert from "node:assert/strict";
 *
 * // (module (memory (export "memory") 1))
 * const bytes = new Uint8Array([
 *   0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x05, 0x03, 0x01, 0x00,
 *   0x01, 0x07, 0x0a, 0x01, 0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02,
 *   0x00,
 * ]);
 * const limits: ResourceLimits = { memory: 2 * 65536, tables: 1000 };
 * const guest = await loadGuest(bytes, { limits });
 * const memory = guest.instance.exports.memory as WebAssembly.Memory;
 * assert.equal(memory.grow(1), 1);
 * assert.throws(() => memory.grow(1), RangeError); // past the limit
 * // A guest whose memory starts above the limit is refused.
 * await assert.rejects(
 *   loadGuest(bytes, { limits: { memory: 1000 } }),
 *   (error) => isGuestLoadError(error) && error.reason === "limits",
 * );
 * ```
 */
export interface ResourceLimits {
  /**
   * The most bytes each linear memory may hold (rounded down to pages).
   * Left out, a guest loaded from bytes may grow its own memories to 4 GiB
   * together (each by an even share of what their minimums leave), so one
   * 32-bit memory keeps its reach and a 64-bit one stops at 4 GiB; a guest
   * whose own memories start above that together is refused. Set, it
   * replaces that total (`{ memory: 16 * 2 ** 30 }` lets a 64-bit memory
   * reach the engine's 16 GiB), and bounds imported memories too.
   */
  readonly memory?: number;
  /**
   * The most elements each table may hold. Left out, a guest loaded from
   * bytes may grow its own tables to 1,000,000 elements together (its
   * host's garbage collection pauses grow with them); raising it re-opens
   * those pauses (30 to 40 ms at 10,000,000).
   */
  readonly tables?: number;
  /**
   * The most bytes one GC array allocated by length may take, in a guest
   * loaded to be stopped (a deadline, `signal` or `stop`); left out,
   * 262,144 (256 KiB). A longer one traps (`array_too_large`). It holds a
   * `wasm:js-string` `concat`'s result to an 8th of it in characters too
   * (32,768 by default), past which the `concat` throws the engine's
   * `Invalid string length`. Raising it lets a stop wait that much longer
   * for one allocation, or one string's flattening.
   */
  readonly arrays?: number;
  /**
   * The most bytes the host's JavaScript heap may hold (its pages, which
   * live data fills in part when its objects are large) while
   * a rewritten guest (loaded with `fuel`, a deadline, `signal`, `stop`,
   * `interruptible` or `async`; a `FuelMeter`'s, with its stop flag)
   * allocates GC objects or builtin strings; left out, three quarters of
   * what V8 lets its old generation hold; one past seven eighths of it is
   * held there, where V8 would otherwise end the host first. Past it, the
   * guest's call ends `out_of_memory`, where V8 would end the whole host.
   * The host reads its heap every 4 MiB the guest allocates. The rewrite
   * ignores it.
   */
  readonly heap?: number;
}

/**
 * The limits {@linkcode applyLimits} writes: the `limits` option, and the
 * most elements a module's own tables, and bytes its own memories, may hold
 * together when it sets no `tables` or no `memory` (each of them may then
 * grow by an even share of what their minimums leave; an imported table or
 * memory keeps the maximum its maker gave it).
 */
export interface LimitsToWrite extends ResourceLimits {
  /** The most elements the module's own tables may hold together. */
  readonly tablesTogether?: number;
  /** The most bytes the module's own memories may hold together. */
  readonly memoriesTogether?: number;
}

/** A memory or table whose minimum is above its limit. */
export interface OverLimit {
  /** Which kind of thing it is. */
  readonly kind: "memory" | "table";
  /** Its index in its space (imports first). */
  readonly index: number;
  /** Whether the module imports it. */
  readonly imported: boolean;
  /** Its declared minimum, in bytes for a memory, elements for a table. */
  readonly minimum: number;
  /** The limit, in the same unit. */
  readonly limit: number;
  /**
   * Set when the module's own memories start above what they may hold
   * together: then `minimum` is their minimums' sum and `limit` the total.
   */
  readonly together?: {
    /** How many memories the module defines. */
    readonly memories: number;
    /** The largest of their minimums, in bytes. */
    readonly largest: number;
  };
}

/** A module with its limits written in, or the reason it cannot have them. */
export interface LimitedModule {
  /** The module, every maximum within its limit (the input when unchanged). */
  readonly bytes: Uint8Array;
  /** The first memory or table whose minimum is above its limit. */
  readonly over?: OverLimit;
}

const PAGE = 65536;
/** The largest maximum a table may declare, by `is64`. */
const TABLE_ELEMENTS = [2 ** 32 - 1, Number.MAX_SAFE_INTEGER];
/**
 * The most pages the engine lets a memory declare, by `is64`: a limit
 * written over a larger maximum would make an invalid module valid, and a
 * limit above it is the engine's own (a memory64 without a maximum given
 * `limits.memory` of 1 TiB was written a maximum the engine refused).
 */
const ENGINE_MEMORY_PAGES = [65536, 262144];

/**
 * Writes limits into a module's memory and table types.
 *
 * @param bytes The module.
 * @param limits The limits.
 * @returns The limited module, or the first minimum above its limit.
 * @throws {InvalidModule} When the sections it reads cannot be decoded.
 *
 * @example Usage
 * ```ts
 * import { applyLimits } from "./limits.ts";
 * import assert from "node:assert/strict";
 *
 * // (module (memory 1))
 * const bytes = new Uint8Array([
 *   0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x05, 0x03, 0x01, 0x00,
 *   0x01,
 * ]);
 * const limited = applyLimits(bytes, { memory: 2 * 65536 });
 * assert.equal(limited.over, undefined);
 * // Now (memory 1 2).
 * assert.deepEqual([...limited.bytes.subarray(8)], [0x05, 0x04, 0x01, 0x01, 0x01, 0x02]);
 * assert.equal(applyLimits(bytes, { memory: 100 }).over?.minimum, 65536);
 * ```
 */
export function applyLimits(
  bytes: Uint8Array,
  limits: LimitsToWrite,
): LimitedModule {
  return runSteps(applyLimitsSteps(bytes, limits));
}

/**
 * {@linkcode applyLimits} in steps of a section, or about
 * {@linkcode READ_STEP_BYTES} of the sections it reads or {@linkcode COPY_STEP_BYTES} of those it copies, for
 * a load that watches a stop (a million types took a second at once).
 *
 * @param bytes The module.
 * @param limits The limits.
 * @returns The steps, which return the limited module, or the first minimum
 *   above its limit.
 * @throws {InvalidModule} When the sections it reads cannot be decoded.
 */
export function* applyLimitsSteps(
  bytes: Uint8Array,
  limits: LimitsToWrite,
): Steps<LimitedModule> {
  const plan = yield* planLimitsSteps(bytes, limits);
  return { bytes: yield* joinLimitsSteps(plan), over: plan.over };
}

/**
 * What writing limits into a module changes, before anything is written:
 * its sections, new where a limit changed them (the imports, tables and
 * memories) and views of the module elsewhere.
 */
export interface LimitsPlan {
  /** The module planned for. */
  readonly bytes: Uint8Array;
  /** The first memory or table whose minimum is above its limit. */
  readonly over?: OverLimit;
  /**
   * The limited module in pieces, in order, when a limit changes it: its
   * header and sections, views of `bytes` where unchanged.
   */
  readonly pieces?: readonly Uint8Array[];
  /** How many of `pieces` come before the module's unchanged rest. */
  readonly front: number;
  /** Where in `bytes` that unchanged rest begins. */
  readonly rest: number;
}

/**
 * Reads what writing limits into a module would change, and the first
 * minimum above its limit, in the steps {@linkcode applyLimitsSteps} takes;
 * {@linkcode joinLimitsSteps} or {@linkcode joinLimitsInPlaceSteps} then
 * writes the module.
 *
 * @param bytes The module.
 * @param limits The limits.
 * @returns The steps, which return the plan.
 * @throws {InvalidModule} When the sections it reads cannot be decoded.
 */
export function* planLimitsSteps(
  bytes: Uint8Array,
  limits: LimitsToWrite,
): Steps<LimitsPlan> {
  const memoryLimit = limits.memory === undefined
    ? undefined
    : Math.floor(limits.memory / PAGE);
  const tableLimit = limits.tables;
  const together = tableLimit === undefined ? limits.tablesTogether : undefined;
  const memoriesTogether = memoryLimit === undefined &&
      limits.memoriesTogether !== undefined
    ? Math.floor(limits.memoriesTogether / PAGE)
    : undefined;
  if (
    memoryLimit === undefined && tableLimit === undefined &&
    together === undefined && memoriesTogether === undefined
  ) return { bytes, front: 0, rest: 0 };
  const info = new ModuleInfo();
  const patches = new Patches();
  // The module's sections, as views of its bytes where they are unchanged:
  // joined only when something changed (most guests' tables already fit).
  const pieces: Uint8Array[] = [bytes.subarray(0, 8)];
  // The pieces up to the last section written anew, and where the rest
  // of the module, as it is, begins.
  let front = 1;
  let rest = 8;
  // How far each of the module's own tables may grow past its minimum when
  // they share `together` elements.
  let share: number | undefined;
  // The same for its own memories, in pages.
  let memoryShare: number | undefined;
  let memories = 0;
  let tables = 0;
  let changed = false;
  let over: OverLimit | undefined;
  // Writes one limits field, clamped; notes a minimum above its limit.
  const limit = (
    r: Reader,
    w: Writer,
    kind: "memory" | "table",
    imported: boolean,
  ) => {
    const at = r.pos;
    const declared = kind === "memory" ? readLimits(r) : readTableLimits(r);
    const index = kind === "memory" ? memories++ : tables++;
    if (kind === "memory") {
      const most = ENGINE_MEMORY_PAGES[declared.is64 ? 1 : 0]!;
      const pages = Math.max(declared.min, declared.max ?? 0);
      if (pages > most) {
        r.fail(
          `memory ${index} declares ${pages} pages, more than the engine's limit of ${most}`,
          at,
        );
      }
    }
    const cap = kind === "memory"
      ? memoryLimit ??
        (imported || memoryShare === undefined
          ? undefined
          : declared.min + memoryShare)
      : tableLimit ??
        (imported || share === undefined ? undefined : declared.min + share);
    if (cap === undefined) return w.copy(r.bytes, at, r.pos);
    if (declared.min > cap && over === undefined) {
      const unit = kind === "memory" ? PAGE : 1;
      over = {
        kind,
        index,
        imported,
        minimum: declared.min * unit,
        limit: kind === "memory" ? limits.memory! : cap,
      };
    }
    const largest = (kind === "memory" ? ENGINE_MEMORY_PAGES : TABLE_ELEMENTS)[
      declared.is64 ? 1 : 0
    ]!;
    if (
      cap >= largest ||
      declared.max !== undefined && declared.max <= cap
    ) return w.copy(r.bytes, at, r.pos);
    changed = true;
    writeLimits(w, { ...declared, max: Math.max(cap, declared.min) });
  };
  for (const { id, sectionStart, start, end } of readSections(bytes)) {
    yield;
    if (id === 1 || id === 2 || id === 3) {
      yield* readSectionSteps(info, id, new Reader(bytes, start, end), patches);
    }
    if (id !== 2 && id !== 4 && id !== 5) {
      pieces.push(bytes.subarray(sectionStart, end));
      continue;
    }
    if (id === 4 && together !== undefined) {
      share = yield* tableShare(bytes, start, end, info, together);
    }
    if (id === 5 && memoriesTogether !== undefined) {
      const own = yield* ownMemories(bytes, start, end);
      memoryShare = Math.floor(
        Math.max(0, memoriesTogether - own.pages) / Math.max(1, own.count),
      );
      if (own.pages > memoriesTogether && over === undefined) {
        over = {
          kind: "memory",
          index: memories,
          imported: false,
          minimum: own.pages * PAGE,
          limit: memoriesTogether * PAGE,
          together: { memories: own.count, largest: own.largest * PAGE },
        };
      }
    }
    let mark = start;
    const r = new Reader(bytes, start, end);
    const w = new Writer(end - start + 16);
    const count = r.count(id === 2 ? "import" : id === 4 ? "table" : "memory");
    w.u32(count);
    for (let i = 0; i < count; i++) {
      const from = r.pos;
      if (id === 2) {
        r.name();
        r.name();
        const kind = r.u8("import kind");
        if (kind === 1) readRefType(r, info.typeCount);
        w.copy(bytes, from, r.pos);
        if (kind === 1 || kind === 2) {
          limit(r, w, kind === 1 ? "table" : "memory", true);
          continue;
        }
        const rest = r.pos;
        if (kind === 0) r.u32();
        else if (kind === 3) {
          readValType(r, info.typeCount);
          r.u8("mutability");
        } else if (kind === 4) {
          r.u32(); // the attribute, a u32 that the import section checked
          r.u32();
        } else r.fail(`unknown import kind 0x${kind.toString(16)}`, rest - 1);
        w.copy(bytes, rest, r.pos);
      } else if (id === 4) {
        const init = r.peek("table") === 0x40;
        if (init) {
          r.pos++;
          const at = r.pos;
          if (r.u8("table flags") !== 0) r.fail("expected 0x00 after 0x40", at);
        }
        readRefType(r, info.typeCount);
        w.copy(bytes, from, r.pos);
        limit(r, w, "table", false);
        if (init) {
          const expr = r.pos;
          readConstExpr(r, info, info.globalCount, patches);
          w.copy(bytes, expr, r.pos);
        }
      } else {
        limit(r, w, "memory", false);
      }
      if (r.pos - mark >= READ_STEP_BYTES) {
        mark = r.pos;
        yield;
      }
    }
    if (!r.atEnd()) r.fail(`section ${id} has ${r.end - r.pos} unread bytes`);
    const contents = w.finish();
    const section = new Writer(contents.length + 6);
    section.u8(id);
    section.u32(contents.length);
    section.bytes(contents);
    pieces.push(section.finish());
    front = pieces.length;
    rest = end;
  }
  return changed
    ? { bytes, over, pieces, front, rest }
    : { bytes, over, front: 0, rest: 0 };
}

/**
 * The limited module a plan describes, in a buffer of its own (the module
 * itself when no limit changes it). The buffer is a hold of its own, with
 * turns before and after it: the whole module's size, which the C library
 * may zero at once.
 *
 * @param plan What {@linkcode planLimitsSteps} read.
 * @returns The steps, which return the limited module.
 */
export function* joinLimitsSteps(plan: LimitsPlan): Steps<Uint8Array> {
  const { pieces } = plan;
  if (pieces === undefined) return plan.bytes;
  askForTurn();
  yield;
  const out = new Writer(
    pieces.reduce((sum, piece) => sum + piece.length, 0),
  );
  askForTurn();
  yield;
  for (const piece of pieces) {
    for (let from = 0; from < piece.length; from += COPY_STEP_BYTES) {
      out.copy(piece, from, Math.min(piece.length, from + COPY_STEP_BYTES));
      if (piece.length - from > COPY_STEP_BYTES) yield;
    }
  }
  return out.finish();
}

/**
 * The limited module a plan describes, written over the module's own
 * bytes, which must be no one else's: the sections before the unchanged
 * rest (the header to the last section a limit changed, small in real
 * guests) are joined apart and written back so that they end where the
 * rest begins, and the module then starts as many bytes earlier as they
 * grew (later, when they shrank). No buffer of the module's size is made,
 * where {@linkcode joinLimitsSteps} makes one.
 *
 * @param plan What {@linkcode planLimitsSteps} read; its `bytes` are
 *   written over.
 * @returns The steps, which return the limited module (a view of the same
 *   buffer) and a function that gives a copy of the module as it was; or
 *   `undefined`, having written nothing, when the sections grew by more
 *   than the room before the module in its buffer.
 */
export function* joinLimitsInPlaceSteps(
  plan: LimitsPlan,
): Steps<{ bytes: Uint8Array; original: () => Uint8Array } | undefined> {
  const { bytes, pieces, front, rest } = plan;
  if (pieces === undefined) return { bytes, original: () => bytes };
  let size = 0;
  for (let i = 0; i < front; i++) size += pieces[i]!.length;
  const grown = size - rest;
  if (grown > bytes.byteOffset) return undefined;
  // The rest is the module's own bytes from `rest` on, where they are.
  let at = rest;
  for (let i = front; i < pieces.length; i++) {
    const piece = pieces[i]!;
    if (
      piece.buffer !== bytes.buffer ||
      piece.byteOffset !== bytes.byteOffset + at
    ) return undefined;
    at += piece.length;
  }
  if (at !== bytes.length) return undefined;
  // The front as it was, and as it will be, each apart first: the
  // unchanged pieces among it are views of what is written over.
  const was = new Writer(rest);
  const joined = new Writer(size);
  for (
    const [out, from] of [[was, [bytes.subarray(0, rest)]], [
      joined,
      pieces.slice(0, front),
    ]] as const
  ) {
    for (const piece of from) {
      for (let at = 0; at < piece.length; at += COPY_STEP_BYTES) {
        out.copy(piece, at, Math.min(piece.length, at + COPY_STEP_BYTES));
        if (piece.length - at > COPY_STEP_BYTES) yield;
      }
    }
  }
  const before = was.finish();
  const after = joined.finish();
  const start = bytes.byteOffset - grown;
  const limited = new Uint8Array(bytes.buffer, start, bytes.length + grown);
  for (let at = 0; at < size; at += COPY_STEP_BYTES) {
    limited.set(after.subarray(at, Math.min(size, at + COPY_STEP_BYTES)), at);
    if (size - at > COPY_STEP_BYTES) yield;
  }
  const original = () => {
    const copy = new Uint8Array(bytes.length);
    copy.set(before);
    copy.set(limited.subarray(size), rest);
    return copy;
  };
  return { bytes: limited, original };
}

/**
 * How many elements each of a module's own tables may grow by when they
 * share `together`: what their minimums leave of it, split evenly (none
 * when they start with more).
 */
function* tableShare(
  bytes: Uint8Array,
  start: number,
  end: number,
  info: ModuleInfo,
  together: number,
): Steps<number> {
  const r = new Reader(bytes, start, end);
  const count = r.count("table");
  let minimums = 0;
  let mark = start;
  for (let i = 0; i < count; i++) {
    const init = r.peek("table") === 0x40;
    if (init) r.pos += 2;
    readRefType(r, info.typeCount);
    minimums += readTableLimits(r).min;
    if (init) readConstExpr(r, info, info.globalCount, new Patches());
    if (r.pos - mark >= READ_STEP_BYTES) {
      mark = r.pos;
      yield;
    }
  }
  return count === 0 ? 0 : Math.floor(Math.max(0, together - minimums) / count);
}

/**
 * A module's own memories: how many, their minimums' sum and the largest
 * of them, in pages. Read before the size check refuses over a hundred, so
 * in steps.
 */
function* ownMemories(
  bytes: Uint8Array,
  start: number,
  end: number,
): Steps<{ count: number; pages: number; largest: number }> {
  const r = new Reader(bytes, start, end);
  const count = r.count("memory", 2);
  let pages = 0;
  let largest = 0;
  let mark = start;
  for (let i = 0; i < count; i++) {
    const { min } = readLimits(r);
    pages += min;
    largest = Math.max(largest, min);
    if (r.pos - mark >= READ_STEP_BYTES) {
      mark = r.pos;
      yield;
    }
  }
  return { count, pages, largest };
}

function writeLimits(w: Writer, limits: Limits & { max: number }): void {
  w.u8(0x01 | (limits.shared ? 0x02 : 0) | (limits.is64 ? 0x04 : 0));
  w.u32(limits.min);
  w.u32(limits.max);
}
