/**
 * The descriptors WASI guests hold, counted across every run in this
 * process.
 *
 * Each descriptor a guest opens is one of this process's. A guest holds at
 * most `MAX_OPEN_FILES` (see `wasi_files.ts`), but runs in progress at once
 * add up: twenty of them, each within its own cap, took the 20,000 a
 * process was allowed, and the host's own opens (and every other run's)
 * failed with `EMFILE` meanwhile. So past
 * {@linkcode MAX_GUEST_DESCRIPTORS} held by all runs together, `path_open`
 * fails with `ENFILE`, the system's answer when its table of open files is
 * full, which programs handle as any failed open. The count is the
 * process's: every copy of early-exit in it counts into the same one
 * (`process_wide.ts`).
 *
 * @module
 */

import { processWide } from "../process_wide.ts";

/**
 * The most descriptors the WASI guests of this process hold together, their
 * preopens included: a fifth of the 20,000 that Deno was given on a machine
 * where it was measured, and a sixth of macOS's usual per-process limit.
 * Deno raises its own limit to the system's hard one, which is most often
 * far higher.
 */
export const MAX_GUEST_DESCRIPTORS = 4_096;

/** The count, shared by every copy of early-exit in this process. */
const descriptors = processWide<{ held: number }>(
  "wasi-descriptors@1",
  () => ({ held: 0 }),
  (value): value is { held: number } =>
    typeof (value as { held?: unknown } | undefined)?.held === "number",
);

/** How many descriptors the WASI guests of this process hold now. */
export function guestDescriptorsHeld(): number {
  return descriptors.held;
}

/**
 * Whether the guests of this process hold as many descriptors as they may:
 * an open must then fail.
 */
export function guestDescriptorsFull(): boolean {
  return descriptors.held >= MAX_GUEST_DESCRIPTORS;
}

/**
 * One run's open descriptors: a set of numbers that keeps the process's
 * count as they come and go.
 */
export class OpenDescriptors implements Iterable<number> {
  readonly #fds = new Set<number>();

  /** Counts `fd` as open (once, however often it is added). */
  add(fd: number): void {
    if (this.#fds.has(fd)) return;
    this.#fds.add(fd);
    descriptors.held++;
  }

  /** Counts `fd` as closed, if it was open. */
  delete(fd: number): void {
    if (this.#fds.delete(fd)) descriptors.held--;
  }

  /** Whether `fd` is open. */
  has(fd: number): boolean {
    return this.#fds.has(fd);
  }

  /** How many are open. */
  get size(): number {
    return this.#fds.size;
  }

  /** Counts every one as closed. */
  clear(): void {
    descriptors.held -= this.#fds.size;
    this.#fds.clear();
  }

  [Symbol.iterator](): Iterator<number> {
    return this.#fds[Symbol.iterator]();
  }
}
