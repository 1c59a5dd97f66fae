/**
 * A deferred start: the start section is dropped and its function exported
 * instead, so that the host can call it after instantiation as an ordinary
 * call, one it can watch, stop and (for a suspending guest) wrap.
 *
 * @module
 */

import { Reader } from "./reader.ts";
import { readSections } from "./sections.ts";

/**
 * The input's start function, read ahead of the rewrite (whose export
 * section, which comes first, needs it).
 *
 * @param bytes The input module.
 * @returns The start function's original index, or `undefined` if none.
 *
 * @example Usage
 * ```ts
 * import { startFunction } from "./deferred_start.ts";
 * import assert from "node:assert/strict";
 *
 * const none = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
 * assert.equal(startFunction(none), undefined);
 * ```
 */
export function startFunction(bytes: Uint8Array): number | undefined {
  for (const { id, start, end } of readSections(bytes)) {
    if (id === 8) return new Reader(bytes, start, end).u32();
  }
  return undefined;
}
