/**
 * What the stop flag adds to a module: a shared one-page memory, imported
 * last in the memory index space, whose first byte the host sets to ask
 * for a stop (storing 1 in its first word sets it); the `on_stop_flag`
 * callback; and, so that the flag memory can come last without renumbering
 * anything, every memory the module defines turned into an import of the
 * same type. The checks themselves
 * are written in `checks.ts`.
 *
 * The flag memory comes last because V8 reaches memory 0 fastest: making
 * the flag memory 0 would slow every access of the guest's own memory.
 *
 * @module
 */

import { Reader } from "./reader.ts";
import { readSections } from "./sections.ts";
import { readLimits } from "./types.ts";
import type { Writer } from "./writer.ts";

/** The field name of the flag memory's import. */
export const FLAG_MEMORY_NAME = "stop_flag";
/** The field name of the callback's import. */
export const FLAG_CALLBACK_NAME = "on_stop_flag";
/** `(func (result i32))`: the callback. */
export const FLAG_CALLBACK_TYPE: Uint8Array = Uint8Array.from([
  0x60,
  0x00,
  0x01,
  0x7f,
]);
/** `(memory 1 1 shared)`: the flag memory's type. */
const FLAG_MEMORY_TYPE = Uint8Array.from([0x03, 0x01, 0x01]);

/**
 * What the host passes to `new WebAssembly.Memory()` to create an added
 * memory import. A 64-bit memory has `address: "i64"` and, as V8 wants
 * then, `bigint` sizes.
 *
 * @example Creating the stop flag's memory from its descriptor
 * ```ts
 * import { instrument } from "./instrument.ts";
 * import assert from "node:assert/strict";
 *
 * const empty = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
 * const { stopFlag } = instrument(empty, { stopFlag: true });
 * const flag = stopFlag!.memories.at(-1)!;
 * const memory = new WebAssembly.Memory(
 *   flag.descriptor as WebAssembly.MemoryDescriptor,
 * );
 * assert.equal(memory.buffer instanceof SharedArrayBuffer, true);
 * ```
 */
export interface AddedMemoryDescriptor {
  /** The initial size in pages. */
  initial: number | bigint;
  /** The maximum size in pages, if the memory has one. */
  maximum?: number | bigint;
  /** Whether the memory is shared. */
  shared?: boolean;
  /** `"i64"` for a 64-bit memory. */
  address?: "i64";
}

/**
 * A memory import the rewrite added, which the host must create.
 *
 * @example The flag memory comes last among the memories to create
 * ```ts
 * import { instrument } from "./instrument.ts";
 * import assert from "node:assert/strict";
 *
 * const empty = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
 * const { stopFlag } = instrument(empty, { stopFlag: true });
 * const flag = stopFlag!.memories.at(-1)!;
 * assert.equal(flag.name, stopFlag!.memory);
 * ```
 */
export interface AddedMemory {
  /** Its import's module name. */
  module: string;
  /** Its import's field name: `memory<N>`, or `stop_flag` for the flag. */
  name: string;
  /** Its memory index in the rewritten module (as in the input). */
  index: number;
  /** How to create it. */
  descriptor: AddedMemoryDescriptor;
}

/** A memory the input defines: its type's bytes and its descriptor. */
export interface DefinedMemory {
  /** Where its memory type starts in the input. */
  readonly start: number;
  /** One past its end. */
  readonly end: number;
  /** How to create it. */
  readonly descriptor: AddedMemoryDescriptor;
}

/**
 * The memories a module defines, read ahead of the rewrite (whose import
 * section, which comes first, needs them).
 *
 * @param bytes The input module.
 * @returns Each defined memory, in definition order.
 *
 * @example Usage
 * ```ts
 * import { definedMemories } from "./stop_flag.ts";
 * import assert from "node:assert/strict";
 *
 * // (module (memory 1 2))
 * const bytes = new Uint8Array([
 *   0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x05, 0x04, 0x01, 0x01,
 *   0x01, 0x02,
 * ]);
 * assert.deepEqual(definedMemories(bytes)[0]!.descriptor, {
 *   initial: 1,
 *   maximum: 2,
 * });
 * ```
 */
export function definedMemories(bytes: Uint8Array): DefinedMemory[] {
  const memories: DefinedMemory[] = [];
  for (const { id, start, end } of readSections(bytes)) {
    if (id !== 5) continue;
    const r = new Reader(bytes, start, end);
    const count = r.count("memory", 2);
    for (let i = 0; i < count; i++) {
      memories.push(readDefinedMemory(r));
    }
    break;
  }
  return memories;
}

function readDefinedMemory(r: Reader): DefinedMemory {
  const start = r.pos;
  const { is64, min, max, shared } = readLimits(r);
  const size = (n: number) => is64 ? BigInt(n) : n;
  const descriptor: AddedMemoryDescriptor = { initial: size(min) };
  if (max !== undefined) descriptor.maximum = size(max);
  if (shared) descriptor.shared = true;
  if (is64) descriptor.address = "i64";
  return { start, end: r.pos, descriptor };
}

/**
 * Writes the imports the stop flag adds after the guest's (the callback,
 * then each defined memory, then the flag memory) and describes the
 * memories among them.
 *
 * @param w The import section's contents.
 * @param bytes The input module.
 * @param module The added imports' module name.
 * @param callbackType The callback's type index.
 * @param importedMemories How many memories the guest imports.
 * @param defined The memories the guest defines.
 * @returns The added memory imports, the flag memory last.
 */
export function writeStopFlagImports(
  w: Writer,
  bytes: Uint8Array,
  module: string,
  callbackType: number,
  importedMemories: number,
  defined: readonly DefinedMemory[],
): AddedMemory[] {
  w.name(module);
  w.name(FLAG_CALLBACK_NAME);
  w.u8(0x00); // function
  w.u32(callbackType);
  const memories: AddedMemory[] = [];
  defined.forEach(({ start, end, descriptor }, i) => {
    const index = importedMemories + i;
    const name = `memory${index}`;
    w.name(module);
    w.name(name);
    w.u8(0x02); // memory
    w.copy(bytes, start, end);
    memories.push({ module, name, index, descriptor });
  });
  w.name(module);
  w.name(FLAG_MEMORY_NAME);
  w.u8(0x02);
  w.bytes(FLAG_MEMORY_TYPE);
  memories.push({
    module,
    name: FLAG_MEMORY_NAME,
    index: importedMemories + defined.length,
    descriptor: { initial: 1, maximum: 1, shared: true },
  });
  return memories;
}
