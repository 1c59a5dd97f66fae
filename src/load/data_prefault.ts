/**
 * Touches, in steps, the pages of fresh memory that is about to be written
 * at once: the memory instantiation copies a guest's data segments into,
 * and the buffer a load copies the caller's bytes into. Instantiation is
 * one synchronous piece of the engine's work, and on esbuild.wasm (100,000
 * segments, 3 MB of data over the first 5 MB of its memory) most of it was
 * the kernel faulting in the memory's pages as the segments were copied:
 * 4 to 16 ms, against 1.7 to 3 ms into a memory whose pages were touched
 * before. A copy of 14 MB into a fresh buffer is the same: 20 to 90 ms of
 * CPU on a busy 2-core machine, against about 1 ms into one whose pages
 * are mapped. A zero written over fresh memory's zero changes nothing in
 * it; the pages it maps are those the copy would map.
 *
 * @module
 */

import type { Steps } from "../wasm/steps.ts";

/** The system's page: one write maps it. */
const OS_PAGE_BYTES = 4096;

/**
 * How many bytes of memory a step touches: 16 pages, 0.1 to 0.4 ms, and
 * about 1.3 ms at most on a machine short of memory, where a fault took up
 * to 80 µs (a step of 64 pages held the thread up to 10.8 ms there).
 */
export const PREFAULT_STEP_BYTES = 64 * 1024;

/**
 * How far into the memory the data is taken to reach, from the bytes of
 * data its segments hold: segments leave out runs of zeros between them
 * (esbuild's span 1.6 times its bytes), and start past the stack or a
 * reserved low area (esbuild's at 83 KiB).
 *
 * @param dataBytes The bytes the guest's active data segments copy.
 * @returns How many bytes from the memory's start to touch.
 */
export function dataReach(dataBytes: number): number {
  return dataBytes === 0 ? 0 : 2 * dataBytes + 64 * 1024;
}

/**
 * Touches the first `bytes` of `memory` (at most all of it), a page at a
 * time, in steps of {@linkcode PREFAULT_STEP_BYTES}.
 *
 * @param memory A memory no one has written to yet.
 * @param bytes How many bytes from its start.
 * @returns The steps.
 */
export function prefaultSteps(
  memory: WebAssembly.Memory,
  bytes: number,
): Steps<void> {
  return pageSteps(new Uint8Array(memory.buffer), bytes);
}

/**
 * Touches the first `bytes` of a fresh buffer (at most all of it), a page
 * at a time, in steps of {@linkcode PREFAULT_STEP_BYTES}.
 *
 * @param view A view of memory no one has written to yet (all zeros).
 * @param bytes How many bytes from its start.
 * @returns The steps.
 */
export function* pageSteps(view: Uint8Array, bytes: number): Steps<void> {
  const end = Math.min(bytes, view.length);
  for (let at = 0; at < end;) {
    const pause = Math.min(end, at + PREFAULT_STEP_BYTES);
    for (; at < pause; at += OS_PAGE_BYTES) view[at] = 0;
    if (at < end) yield;
  }
}
