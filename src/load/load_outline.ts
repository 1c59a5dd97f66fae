/**
 * A module file's outline: its preamble and the few sections that say what
 * it needs before anything of it runs (its types, imports and memories, and
 * whether it has a start function), read by their headers without reading
 * its code or its data.
 *
 * An isolated call of a guest file uses it so that its child, not the host,
 * reads the file: reading 64 MiB and writing it to the child's stdin kept the
 * host's own threads (the reads' and the collector's) on both cores, and its
 * JavaScript thread waited for one of them, its deadline's timer firing 8 to
 * 33 ms late.
 *
 * @module
 */

import { checkPreamble } from "./load.ts";
import { MAX_SECTIONS, readSections } from "../wasm/sections.ts";
import { concatBytes, hex, sha256 } from "../bytes.ts";

/** The sections an outline keeps: type, import, memory and start. */
const KEPT_SECTIONS: ReadonlySet<number> = new Set([1, 2, 5, 8]);

/**
 * Sections that come after the start section in a valid module (element,
 * data count, code, data): the walk ends at the first of them.
 */
const PAST_START: ReadonlySet<number> = new Set([9, 10, 11, 12]);

/** How much of the file's start is read at once: most outlines fit in it. */
const HEAD_BYTES = 64 * 1024;

/**
 * How many reads past the head the walk may make (a header, or a kept
 * section, each): real modules need a few at most; a module of many small
 * custom sections is read whole instead.
 */
const MOST_READS = 64;

/** The most bytes the kept sections may take: past it, the file is read whole. */
const MOST_KEPT_BYTES = 16 << 20;

/**
 * Reads the outline of the module in `file`, of `size` bytes.
 *
 * @param file The file, open for reading; its position is moved.
 * @param size Its size in bytes.
 * @param label The module's name in messages.
 * @returns A module of the preamble and the kept sections, as they are in
 *   the file; `undefined` when the walk gives up (a header that does not
 *   parse, a section past the file's end, too many reads or kept bytes),
 *   for the caller to read the whole file as any load does.
 * @throws {InvalidModule} When the file is empty, or is not a core module.
 *
 * @example Usage
 * ```ts ignore
 * import { readOutline } from "./load_outline.ts";
 * const file = await Deno.open("guest.wasm");
 * const outline = await readOutline(file, (await file.stat()).size, "guest.wasm");
 * file.close();
 * ```
 */
export async function readOutline(
  file: Deno.FsFile,
  size: number,
  label: string,
): Promise<Uint8Array | undefined> {
  const head = await readAt(file, 0, Math.min(size, HEAD_BYTES));
  checkPreamble(head, label);
  if (head.length < 8) return undefined;
  const parts: Uint8Array[] = [head.subarray(0, 8)];
  let reads = 0;
  let kept = 0;
  let at = 8;
  const bytesAt = async (start: number, length: number) => {
    const end = Math.min(size, start + length);
    if (end <= head.length) return head.subarray(start, end);
    reads++;
    return await readAt(file, start, end - start);
  };
  for (let sections = 0; at < size; sections++) {
    if (sections === MAX_SECTIONS || reads > MOST_READS) return undefined;
    const header = await bytesAt(at, 6);
    const length = readLength(header);
    if (length === undefined) return undefined;
    const id = header[0]!;
    const end = at + length.after + length.value;
    if (end > size) return undefined;
    if (PAST_START.has(id)) break;
    if (KEPT_SECTIONS.has(id)) {
      kept += end - at;
      if (kept > MOST_KEPT_BYTES) return undefined;
      const section = await bytesAt(at, end - at);
      if (section.length !== end - at) return undefined;
      parts.push(section);
    }
    at = end;
  }
  return concatBytes(...parts);
}

/**
 * The outline of a module in memory: what {@linkcode readOutline} reads of
 * the same module's file. The isolated child compares its digest with the
 * host's, so that a file changed between the host's read and its own is
 * refused even when its size stayed the same.
 *
 * @param bytes The module.
 * @returns The preamble and the kept sections, as they are in `bytes`.
 * @throws {WasmDecodeError} When the bytes are no module.
 *
 * @example Usage
 * ```ts
 * import { outlineOf } from "./load_outline.ts";
 * import assert from "node:assert/strict";
 *
 * const empty = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
 * assert.deepEqual(outlineOf(empty), empty);
 * ```
 */
export function outlineOf(bytes: Uint8Array): Uint8Array {
  const parts = [bytes.subarray(0, 8)];
  for (const { id, sectionStart, end } of readSections(bytes)) {
    if (PAST_START.has(id)) break;
    if (KEPT_SECTIONS.has(id)) parts.push(bytes.subarray(sectionStart, end));
  }
  return concatBytes(...parts);
}

/**
 * The SHA-256 digest of an outline, in hex: what the host sends the child
 * to compare.
 *
 * @example Usage
 * ```ts
 * import { outlineDigest } from "./load_outline.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal((await outlineDigest(new Uint8Array())).length, 64);
 * ```
 */
export async function outlineDigest(outline: Uint8Array): Promise<string> {
  return hex(await sha256(outline));
}

/**
 * A section's size from its header (an id, then a LEB128 u32), and how many
 * bytes the header takes; `undefined` when it does not parse.
 */
function readLength(
  header: Uint8Array,
): { value: number; after: number } | undefined {
  let value = 0;
  for (let i = 1; i < Math.min(header.length, 6); i++) {
    const byte = header[i]!;
    value += (byte & 0x7f) * 2 ** (7 * (i - 1));
    if ((byte & 0x80) === 0) {
      return value <= 0xffff_ffff ? { value, after: i + 1 } : undefined;
    }
  }
  return undefined;
}

/** Up to `length` bytes of `file` from `start`: fewer only at its end. */
async function readAt(
  file: Deno.FsFile,
  start: number,
  length: number,
): Promise<Uint8Array> {
  await file.seek(start, Deno.SeekMode.Start);
  const bytes = new Uint8Array(length);
  let filled = 0;
  while (filled < length) {
    const read = await file.read(bytes.subarray(filled));
    if (read === null) break;
    filled += read;
  }
  return bytes.subarray(0, filled);
}
