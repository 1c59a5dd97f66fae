/**
 * The disk work of a WASI guest's calls that the host's thread must not
 * wait for, done on the listing thread (see wasi_lister.ts) while the
 * guest waits: suspended in an async run, in 1 ms slices that look at the
 * run's stops in a plain call. A stop lands during the work, which goes on
 * to its end on that thread. `node:wasi` did it on the calling thread,
 * where no stop reaches, for as long as the disk took:
 *
 * - Flushes (`fd_sync`, `fd_datasync`): writing what the guest left dirty.
 *   After 44 ms of one-byte writes 64 KiB apart, a `fd_datasync` held a
 *   run 20 to 69 ms past its 50 ms deadline.
 * - Freeing a file's blocks, which takes time in its fragments (about 0.1
 *   ms each on a file system mounted with `discard`): removing or
 *   truncating a file of 40,000 one-byte writes 64 KiB apart took 4.1 to
 *   4.5 s. A truncation is done there; a file about to lose its last name
 *   (`path_unlink_file`, `path_rename` over it) is held open there first,
 *   and let go of once the guest holds no descriptor of it, so that its
 *   blocks are freed there.
 *
 * The thread opens a file by the path the guest opened it at (or names),
 * and checks that it is still the same file (device and inode); it does
 * not follow a link there, nor wait for a FIFO's writer. A file no longer
 * at that path (the guest, or another process, moved or removed it since
 * it opened it, or put another in its place) cannot be reached there: its
 * flush fails with `EIO`, and its truncation is `node:wasi`'s, by the
 * guest's descriptor.
 *
 * @module
 */

import { ERRNO } from "./wasi_abi.ts";
import type { HostFile } from "./wasi_listed.ts";
import { postToLister } from "./wasi_lister.ts";
import type { StopWatch } from "./wasi_stops.ts";

/**
 * The regular file at `path`, as {@linkcode HostFile}, or `undefined` when
 * it cannot be looked at or is something else.
 *
 * @param path Where the file is, links resolved.
 * @returns The file, or `undefined`.
 */
export function hostFile(path: string): HostFile | undefined {
  try {
    const { dev, ino, size, isFile, isDirectory } = Deno.statSync(path);
    if (ino === null || (!isFile && !isDirectory)) return undefined;
    return { path, dev, ino, size };
  } catch {
    return undefined;
  }
}

/** Whether two files are the same one. */
export function sameFile(a: HostFile, b: HostFile): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

/** How often a plain call's wait for the work looks at the stops, in milliseconds. */
const WAIT_SLICE_MS = 1;

/** The next id of a held file. */
let nextHold = 1;

/**
 * Does `work` on the listing thread while the guest waits: in 1 ms slices
 * that look at the run's stops when it holds this thread, else suspended,
 * until the work ends or the run stops (which throws, or rejects, with the
 * stop error).
 */
function onListingThread(
  work: Record<string, unknown>,
  watch: StopWatch,
  blocking: boolean,
): number | Promise<number> {
  const early = watch.stopped();
  if (early !== undefined) throw early;
  // State (0 pending, 1 done) and errno.
  const control = new Int32Array(new SharedArrayBuffer(8));
  postToLister({ ...work, control }, control, () => {
    control[1] = ERRNO.IO;
    Atomics.store(control, 0, 1);
    Atomics.notify(control, 0);
  });
  if (blocking) {
    for (;;) {
      if (Atomics.load(control, 0) === 1) return control[1];
      const stopped = watch.stopped();
      if (stopped !== undefined) throw stopped;
      Atomics.wait(control, 0, 0, WAIT_SLICE_MS);
    }
  }
  const waited = Atomics.waitAsync(control, 0, 0);
  // A pending wait does not keep the event loop alive: a timer does.
  const alive = setInterval(() => {}, 1 << 30);
  const done = (waited.async ? waited.value : Promise.resolve()).finally(
    () => clearInterval(alive),
  );
  return watch.race(done.then(() => control[1] ?? ERRNO.IO));
}

/** The run's stops, and how the guest waits. */
export interface DiskStops {
  /** The run's stops. */
  watch: StopWatch;
  /** Whether the guest runs as a plain call. */
  blocking: boolean;
}

/**
 * Flushes `file` on the listing thread.
 *
 * @param file The file, as it was opened.
 * @param dataOnly `fd_datasync` (its data) rather than `fd_sync` (its
 *   metadata too).
 * @param stops The run's stops.
 * @param id The id {@linkcode holdFile} gave, when it holds the file (one
 *   the guest removed), to flush it by.
 * @returns The errno.
 */
export function flushFile(
  file: HostFile,
  dataOnly: boolean,
  { watch, blocking }: DiskStops,
  id?: number,
): number | Promise<number> {
  return onListingThread(
    { work: "flush", file, dataOnly, id },
    watch,
    blocking,
  );
}

/**
 * Truncates `file` to `size` on the listing thread: by the path it was
 * opened at, or by the descriptor held as `id` when there is one open to
 * write (a file the guest removed while it held it).
 *
 * @param file The file.
 * @param size Its new size.
 * @param stops The run's stops.
 * @param id The id {@linkcode holdFile} gave, when it holds the file.
 * @returns The errno.
 */
export function truncateFile(
  file: HostFile,
  size: number,
  { watch, blocking }: DiskStops,
  id?: number,
): number | Promise<number> {
  return onListingThread({ work: "truncate", file, size, id }, watch, blocking);
}

/**
 * Holds `file` open on the listing thread, so that its blocks are freed
 * there once it loses its last name and {@linkcode releaseFile} lets go
 * of it.
 *
 * @param file The file.
 * @param stops The run's stops.
 * @returns The id to let go of it by (also when it could not be held, or
 *   the wait was stopped), and whether it is held.
 */
export function holdFile(
  file: HostFile,
  { watch, blocking }: DiskStops,
): { id: number; held: number | Promise<number> } {
  const id = nextHold++;
  try {
    return {
      id,
      held: onListingThread({ work: "hold", file, id }, watch, blocking),
    };
  } catch (error) {
    releaseFile(id);
    throw error;
  }
}

/**
 * Lets go of a file {@linkcode holdFile} held: its blocks are freed on
 * the listing thread when it had no name left.
 *
 * @param id The id holdFile gave.
 */
export function releaseFile(id: number): void {
  postToLister({ work: "release", id });
}
