/**
 * The host's side of the count of a guest's GC allocations (see
 * `src/wasm/heap_count.ts`): whether the host's JavaScript heap holds more
 * than `limits.heap` lets it. V8 ends the whole process once its heap is
 * full, so a guest that keeps what it allocates is stopped well before
 * that, and one that drops it (whose garbage V8 has not collected yet) is
 * not: a reading past the limit is only believed after a full collection.
 * The heap is measured by its pages, as V8 measures it against its own
 * limit, not by the live objects in them: objects of a third of a page or
 * more leave the rest of each page empty (strings of 64 KiB, kept, filled
 * V8's pages to three quarters, and V8 ended the process with 3 GiB of
 * live data in 4 GiB of pages, while the live data had not passed a limit
 * of 3 GiB).
 *
 * @module
 */

import v8 from "node:v8";
import vm from "node:vm";
import type { Stop } from "./call_state.ts";
import { OutOfMemory } from "../errors.ts";
import { HEAP_ASKED_OFFSET, HEAP_STEP } from "../wasm/heap_count.ts";
import { ModuleInfo } from "../wasm/module.ts";
import { readSectionSteps } from "../wasm/module_sections.ts";
import { Patches } from "../wasm/patches.ts";
import { Reader } from "../wasm/reader.ts";
import { readSections } from "../wasm/sections.ts";
import type { Steps } from "../wasm/steps.ts";

/**
 * What V8 keeps for its young generation beyond the old one's limit
 * (`--max-old-space-size`), in Deno 2.9.6: `heap_size_limit` is the old
 * generation's limit plus this much.
 */
const YOUNG_GENERATION_BYTES = 96 * 1024 * 1024;

/**
 * The default limit on the host's heap while a guest allocates:
 * three quarters of what V8 lets its old generation hold (3 GiB of 4 in a
 * Deno 2.9.6 process on a machine with enough memory;
 * `--v8-flags=--max-old-space-size=MiB` sets it).
 *
 * @returns The limit in bytes.
 *
 * @example Usage
 * ```ts
 * import { defaultHeapLimit } from "./heap_limit.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(defaultHeapLimit() > 0);
 * ```
 */
export function defaultHeapLimit(): number {
  return Math.floor(oldGeneration() * 0.75);
}

/** What V8 lets its old generation hold, in bytes. */
function oldGeneration(): number {
  const limit = v8.getHeapStatistics().heap_size_limit;
  // A heap too small to hold the young generation's share (V8 sizes it
  // down then) is taken as a quarter old generation.
  return Math.max(limit - YOUNG_GENERATION_BYTES, limit / 4);
}

/**
 * The most the heap is let hold, whatever `limits.heap` says: seven
 * eighths of V8's old generation. A limit above it could not be kept (V8
 * ends the process first), and the eighth the check lets the heap grow
 * between full collections (see `collectAbove`) never takes it past this.
 */
function heapCeiling(): number {
  return Math.floor(oldGeneration() * 0.875);
}

/** V8's full collection, once it has been asked for. */
let collect: (() => void) | undefined | null;

function fullCollection(): (() => void) | null {
  if (collect !== undefined) return collect;
  try {
    // A context made after the flag is set gets V8's `gc`; the host's own
    // context, made before, does not.
    v8.setFlagsFromString("--expose-gc");
    const gc = vm.runInNewContext("gc");
    collect = typeof gc === "function" ? gc as () => void : null;
  } catch {
    collect = null;
  }
  return collect;
}

/**
 * Above this much heap, the next reading past the limit is checked by a
 * full collection: raised, after one that found the heap below the limit,
 * to an eighth of the limit above what it found (never past
 * {@linkcode heapCeiling}), so that a guest whose heap sits just under the
 * limit does not pay for a full collection every step (the heap may then
 * pass the limit by an eighth).
 */
let collectAbove = 0;
/** The limit `collectAbove` was raised for: another limit starts afresh. */
let collectFor = 0;

/**
 * The bytes of the host's heap as V8 counts them against its limit: the
 * pages of its old generation's spaces, whatever part of them live objects
 * fill, and the objects of the young generation's, which move to the old
 * one once they survive (the young generation's own pages have a size of
 * their own, outside that limit).
 */
function heapPages(): number {
  let pages = 0;
  for (const space of v8.getHeapSpaceStatistics()) {
    pages += YOUNG_SPACES.has(space.space_name)
      ? space.space_used_size
      : space.space_size;
  }
  return pages;
}

/** The young generation's spaces, by the names `node:v8` gives them. */
const YOUNG_SPACES = new Set(["new_space", "new_large_object_space"]);

/**
 * Whether the host's heap holds more than `limit` once `pending` more
 * bytes are allocated: the bytes it would then hold, past the limit, or
 * `undefined`. What it holds is its pages (see the module's note), read
 * again after a full collection, which frees the pages of garbage. A limit
 * past {@linkcode heapCeiling} is held at the ceiling: the bytes returned
 * are then fewer than the limit.
 *
 * @param limit The limit in bytes.
 * @param pending Bytes about to be allocated (or allocated since the last
 *   look): one allocation can be large, and the heap must have room for it.
 * @returns The bytes the heap would hold when past the limit.
 *
 * @example Usage
 * ```ts
 * import { heapPastLimit } from "./heap_limit.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(heapPastLimit(Number.MAX_SAFE_INTEGER), undefined);
 * ```
 */
export function heapPastLimit(
  limit: number,
  pending = 0,
): number | undefined {
  const ceiling = heapCeiling();
  const bound = Math.min(limit, ceiling);
  const held = heapPages() + pending;
  if (collectFor !== limit) collectAbove = 0;
  if (held <= bound || held <= collectAbove) return undefined;
  const gc = fullCollection();
  if (gc === null) return held;
  gc();
  const kept = heapPages() + pending;
  if (kept > bound) return kept;
  collectAbove = Math.max(bound, Math.min(kept + limit / 8, ceiling));
  collectFor = limit;
  return undefined;
}

const STEP = BigInt(HEAP_STEP);
const MIB = 1024 * 1024;

/**
 * Answers the guest's count of its GC allocations' bytes (kept beside its
 * stop flag, see `src/wasm/heap_count.ts`): once the guest has left a
 * step's count for the host, it is taken, and the host's heap is read; past `limit` with
 * the bytes counted added, `past` is given the stop that ends the call
 * `out_of_memory`.
 *
 * @param flag The flag's word, over the flag memory.
 * @param limit `limits.heap`, if given.
 * @param past Records the stop and sets the flag.
 * @returns Whether the heap was found past its limit: the guest must trap.
 *
 * @example Usage
 * ```ts
 * import { heapCheck } from "./heap_limit.ts";
 * import assert from "node:assert/strict";
 *
 * const flag = new Int32Array(new SharedArrayBuffer(65536), 0, 1);
 * const check = heapCheck(flag, undefined, () => {});
 * assert.equal(check(), false); // nothing counted
 * ```
 */
export function heapCheck(
  flag: Int32Array,
  limit: number | undefined,
  past: (stop: Stop) => void,
): () => boolean {
  const count = new BigInt64Array(flag.buffer, HEAP_ASKED_OFFSET, 1);
  return () => {
    const counted = count[0]!;
    if (counted < STEP) return false;
    count[0] = 0n;
    const bound = limit ?? defaultHeapLimit();
    // The count includes the allocation about to be made, which may be
    // one string or array of many megabytes.
    const held = heapPastLimit(bound, Number(counted));
    if (held === undefined) return false;
    past(() =>
      new OutOfMemory(Math.round(bound / MIB), Math.round(held / MIB))
    );
    return true;
  };
}

/**
 * The heap stop a `FuelMeter`'s guest met in its current run, which the
 * run's outcome reports (`out_of_memory`) and forgets.
 */
export const meterHeapStops: WeakMap<object, Stop> = new WeakMap();

/**
 * Whether a guest can allocate on the host's heap: it has a struct or an
 * array type, a tag (a `throw` allocates an exception), or imports the JS
 * string builtins. A metered guest
 * that can gets a stop flag even under a fuel budget alone, whose callback
 * reads the heap: a budget bounds its heap only when it is small.
 *
 * @param bytes The guest's bytes.
 * @returns The steps, which return the answer.
 * @throws {InvalidModule} When its sections cannot be decoded.
 *
 * @example Usage
 * ```ts
 * import { allocatesOnHeapSteps } from "./heap_limit.ts";
 * import { runSteps } from "../wasm/steps.ts";
 * import assert from "node:assert/strict";
 *
 * const empty = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
 * assert.equal(runSteps(allocatesOnHeapSteps(empty)), false);
 * ```
 */
export function* allocatesOnHeapSteps(bytes: Uint8Array): Steps<boolean> {
  const info = new ModuleInfo();
  for (const { id, start, end } of readSections(bytes)) {
    if (id === 13) return true;
    if (id !== 1 && id !== 2) continue;
    yield* readSectionSteps(
      info,
      id,
      new Reader(bytes, start, end),
      new Patches(),
    );
    if (id === 1) {
      if (
        info.arrayElements.some((element) => element !== undefined) ||
        info.structFields.some((fields) => fields >= 0)
      ) {
        return true;
      }
    } else {
      return info.tagTypes.length > 0 ||
        info.importModules.has("wasm:js-string");
    }
  }
  return false;
}
