/**
 * The data of a guest's first memory, written by the host in steps rather
 * than by the engine as it instantiates the guest. Instantiation is one
 * synchronous piece of the engine's work: a guest whose segments copy
 * megabytes into its memory held a stoppable load's thread that long at
 * once (flite's 17 MB: 4.6 to 10 ms), and a stop that came meanwhile
 * waited. A load that watches a stop, of a guest whose first memory the
 * host makes fresh (a rewrite with a stop flag imports it), writes the
 * data into it itself, {@linkcode LIFT_STEP_BYTES} a step, and gives the
 * engine the module with each of those segments made an empty passive
 * one (instantiation then took 0.1 to 0.2 ms).
 *
 * Nothing of the guest's can tell. An active segment is dropped once it is
 * copied, and a dropped segment is one of no bytes: `memory.init` and
 * `data.drop` on it do what they do on an empty passive one. The memory is
 * the host's, out of every caller's sight until the instance is made, and
 * the start function runs after it. A segment that does not fit the memory
 * fails instantiation: a guest with one (or whose segments' offsets are not
 * plain constants) is left as it is, for the engine to fail or copy.
 *
 * @module
 */

import { readSections } from "../wasm/sections.ts";
import { Reader } from "../wasm/reader.ts";
import { copySteps, type Steps } from "../wasm/steps.ts";
import { isInvalidModule } from "../errors.ts";
import { Writer } from "../wasm/writer.ts";

/** A first memory that gets more active data than this has it lifted. */
export const LIFT_MIN_BYTES = 4 << 20;

/**
 * The threshold a load reads: a benchmark sets it to `Infinity` to time
 * loads without the lift beside loads with it.
 */
export const liftSettings = { minBytes: LIFT_MIN_BYTES };

/**
 * How many bytes of data a step writes: the page faults of a fresh memory
 * are most of it (16 pages, as `data_prefault.ts` maps in a step).
 */
export const LIFT_STEP_BYTES = 64 * 1024;

/** The most segments a step reads or writes, however small they are. */
const STEP_SEGMENTS = 4096;

const DATA_SECTION = 11;
const I32_CONST = 0x41;
const END = 0x0b;
const WASM_PAGE_BYTES = 65536;

/** A guest's module with the data of its first memory taken out. */
export interface LiftedData {
  /** The module, each segment lifted out an empty passive one. */
  readonly bytes: Uint8Array;
  /** Where in the memory each lifted segment goes, in their order. */
  readonly offsets: readonly number[];
  /** Each lifted segment's bytes (views of the module given). */
  readonly segments: readonly Uint8Array[];
  /** How many bytes of the memory they reach: where the last byte ends. */
  readonly reach: number;
}

/**
 * Takes the data of memory 0 out of `bytes`, in steps, when the memory is
 * to get more than {@linkcode LIFT_MIN_BYTES} of it from its active
 * segments, each of which fits its `memoryBytes`.
 *
 * @param bytes A valid module whose memory 0 the host creates.
 * @param memoryBytes The size memory 0 is created with.
 * @param minBytes The least data lifted (more than this).
 * @returns The steps, which return the lifted data, or `undefined` when the
 *   module is to be left as it is.
 *
 * @example Usage
 * ```ts
 * import { liftDataSteps, LIFT_MIN_BYTES, writeData } from "./data_lift.ts";
 * import { runSteps } from "../wasm/steps.ts";
 * import assert from "node:assert/strict";
 *
 * // (module (memory (import "m" "memory") 128) (data (i32.const 16) "…"))
 * const size = LIFT_MIN_BYTES + 1;
 * const leb = [0x81, 0x80, 0x80, 0x02]; // size, in four bytes
 * const data = [11, ...[0x8a, 0x80, 0x80, 0x02], 1, 0, 0x41, 16, 0x0b, ...leb];
 * const head = [0, 0x61, 0x73, 0x6d, 1, 0, 0, 0];
 * const imports = [2, 14, 1, 1, 0x6d, 6, ...new TextEncoder().encode("memory"), 2, 0, 0x80, 1];
 * const bytes = new Uint8Array(head.length + imports.length + data.length + size);
 * bytes.set([...head, ...imports, ...data]);
 * bytes.fill(7, bytes.length - size);
 * const lifted = runSteps(liftDataSteps(bytes, 128 * 65536))!;
 * assert.equal(lifted.reach, 16 + size);
 * assert.ok(lifted.bytes.length < 100);
 * const memory = new WebAssembly.Memory({ initial: 128 });
 * writeData(memory, lifted);
 * await WebAssembly.instantiate(lifted.bytes, { m: { memory } });
 * assert.equal(new Uint8Array(memory.buffer)[16 + size - 1], 7);
 * ```
 */
export function* liftDataSteps(
  bytes: Uint8Array,
  memoryBytes: number,
  minBytes: number = LIFT_MIN_BYTES,
): Steps<LiftedData | undefined> {
  let section: { sectionStart: number; start: number; end: number } | undefined;
  let count = 0;
  const offsets: number[] = [];
  const segments: Uint8Array[] = [];
  // Where each segment starts, and whether it is lifted.
  const starts: number[] = [];
  const lifted: boolean[] = [];
  let total = 0;
  let reach = 0;
  try {
    for (const found of readSections(bytes)) {
      if (found.id === DATA_SECTION) section = found;
    }
    if (section === undefined) return undefined;
    // The segments' headers first: whether the lift can be, before any copy.
    const r = new Reader(bytes, section.start, section.end);
    count = r.u32();
    for (let i = 0; i < count; i++) {
      starts.push(r.pos);
      const flags = r.u32();
      if (flags > 2) return undefined;
      let memory = 0;
      if (flags === 2) memory = r.u32();
      let offset = 0;
      if (flags !== 1) {
        // A plain `i32.const k`: anything else is left to the engine.
        if (r.u8() !== I32_CONST) return undefined;
        offset = r.s32() >>> 0;
        if (r.u8() !== END) return undefined;
      }
      const size = r.u32();
      const from = r.pos;
      r.skip(size);
      const lift = flags !== 1 && memory === 0;
      lifted.push(lift);
      if (lift) {
        // Out of bounds: the engine fails the instantiation, as it must.
        if (offset + size > memoryBytes) return undefined;
        offsets.push(offset);
        segments.push(bytes.subarray(from, from + size));
        total += size;
        reach = Math.max(reach, offset + size);
      }
      if (i % STEP_SEGMENTS === STEP_SEGMENTS - 1) yield;
    }
  } catch (error) {
    // Bytes the engine is to refuse, with its own words.
    if (isInvalidModule(error)) return undefined;
    throw error;
  }
  if (total <= minBytes) return undefined;
  starts.push(section.end);
  // The new data section: the count, each kept segment as it is, each
  // lifted one `1, 0` (passive, no bytes).
  const content = new Writer(16 + section.end - section.start - total);
  content.u32(count);
  for (let i = 0; i < count; i++) {
    if (lifted[i]) {
      content.u8(1);
      content.u8(0);
    } else yield* copySteps(content, bytes, starts[i]!, starts[i + 1]!);
    if (i % STEP_SEGMENTS === STEP_SEGMENTS - 1) yield;
  }
  const header = new Writer(8);
  header.u8(DATA_SECTION);
  header.u32(content.len);
  const out = new Writer(
    section.sectionStart + header.len + content.len + bytes.length -
      section.end,
  );
  yield* copySteps(out, bytes, 0, section.sectionStart);
  out.copy(header.buf, 0, header.len);
  yield* copySteps(out, content.buf, 0, content.len);
  yield* copySteps(out, bytes, section.end, bytes.length);
  return { bytes: out.buf.subarray(0, out.len), offsets, segments, reach };
}

/**
 * Writes lifted data into a fresh memory, in their order, pausing after
 * every {@linkcode LIFT_STEP_BYTES} of it (and every few thousand segments).
 *
 * @param memory The memory the host made for the guest.
 * @param data What {@linkcode liftDataSteps} lifted.
 * @returns The steps.
 */
export function* writeDataSteps(
  memory: WebAssembly.Memory,
  data: LiftedData,
): Steps<void> {
  const view = new Uint8Array(memory.buffer);
  if (data.reach > view.length) {
    throw new RangeError(
      `lifted data reaches ${data.reach} bytes, past the memory's ${view.length}`,
    );
  }
  let written = 0;
  const { offsets, segments } = data;
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    const offset = offsets[i]!;
    for (let at = 0; at < segment.length;) {
      const end = Math.min(segment.length, at + LIFT_STEP_BYTES - written);
      view.set(segment.subarray(at, end), offset + at);
      written += end - at;
      at = end;
      if (written >= LIFT_STEP_BYTES) {
        written = 0;
        yield;
      }
    }
    if (i % STEP_SEGMENTS === STEP_SEGMENTS - 1) yield;
  }
}

/**
 * Writes lifted data into a fresh memory at once: a guest instantiated
 * anew (`Guest.reinstantiate`), whose instantiation nothing cuts short.
 *
 * @param memory The memory the host made for the guest.
 * @param data What {@linkcode liftDataSteps} lifted.
 *
 * @example Usage
 * ```ts
 * import { writeData } from "./data_lift.ts";
 * import assert from "node:assert/strict";
 *
 * const memory = new WebAssembly.Memory({ initial: 1 });
 * const data = {
 *   bytes: new Uint8Array(0),
 *   offsets: [8, 9],
 *   segments: [Uint8Array.of(1, 2), Uint8Array.of(3)],
 *   reach: 10,
 * };
 * writeData(memory, data);
 * assert.deepEqual([...new Uint8Array(memory.buffer, 8, 2)], [1, 3]);
 * ```
 */
export function writeData(memory: WebAssembly.Memory, data: LiftedData): void {
  const steps = writeDataSteps(memory, data);
  while (!steps.next().done);
}

/**
 * The size of the memory a host creates from `descriptor`, when it is a
 * 32-bit memory's: the lift writes 32-bit offsets only.
 *
 * @param descriptor How the host creates the guest's first memory.
 * @returns Its size in bytes, or `undefined` for a 64-bit memory.
 *
 * @example Usage
 * ```ts
 * import { memoryBytesOf } from "./data_lift.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(memoryBytesOf({ initial: 2 }), 131072);
 * assert.equal(memoryBytesOf({ initial: 2n, address: "i64" }), undefined);
 * ```
 */
export function memoryBytesOf(
  descriptor: { initial: number | bigint; address?: string },
): number | undefined {
  if (descriptor.address === "i64" || typeof descriptor.initial !== "number") {
    return undefined;
  }
  return descriptor.initial * WASM_PAGE_BYTES;
}
