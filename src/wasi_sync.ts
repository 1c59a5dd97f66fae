/**
 * `fd_sync` and `fd_datasync` off the host's thread. `node:wasi` flushes a
 * file on the calling thread, where no stop reaches, for as long as the
 * disk takes to write what the guest left dirty: after 44 ms of one-byte
 * writes 64 KiB apart, a `fd_datasync` held a run 20 to 69 ms past its 50
 * ms deadline. So the flush runs on the listing thread (see
 * wasi_readdir.ts), which opens the file by the path the guest opened it
 * at, checks that it is still the same file (device and inode), and
 * flushes it; the guest waits, suspended in an async run, in 1 ms slices
 * that look at the run's stops in a plain call. A stop lands during the
 * flush, which goes on to its end on that thread.
 *
 * A file no longer at that path (the guest, or another process, moved or
 * removed it since it opened it) cannot be reached there, and its flush
 * fails with `EIO` rather than hold the thread.
 *
 * @module
 */

import { ERRNO } from "./wasi_abi.ts";
import { startLister } from "./wasi_readdir.ts";
import type { StopWatch } from "./wasi_stops.ts";

/** Where a descriptor's file is on the host, and which file it was. */
export interface HostFile {
  /** Its path, links resolved, as it was opened. */
  path: string;
  /** Its device, as `stat` gave it once it was open. */
  dev: number;
  /** Its inode, as `stat` gave it once it was open. */
  ino: number;
}

/**
 * The file at `path`, as {@linkcode HostFile}, or `undefined` when it
 * cannot be looked at (the flush then fails with `EIO`).
 *
 * @param path Where the file is, links resolved.
 * @returns The file, or `undefined`.
 */
export function hostFile(path: string): HostFile | undefined {
  try {
    const { dev, ino } = Deno.statSync(path);
    return ino === null ? undefined : { path, dev, ino };
  } catch {
    return undefined;
  }
}

/** What the listing thread's flush needs from `node:fs`. */
export interface FlushFs {
  openSync(path: string, flags: string): number;
  fstatSync(fd: number): { dev: number; ino: number };
  fsyncSync(fd: number): void;
  fdatasyncSync(fd: number): void;
  closeSync(fd: number): void;
}

/**
 * Flushes a file on the listing thread: an errno (`EIO` for a file that
 * is not the one the guest opened, or that cannot be opened or flushed).
 * Self-contained, for it runs as part of that thread's source.
 */
export function flushListed(
  fs: FlushFs,
  { path, dev, ino }: HostFile,
  dataOnly: boolean,
): number {
  let fd: number;
  try {
    fd = fs.openSync(path, "r");
  } catch {
    return 29;
  }
  try {
    const now = fs.fstatSync(fd);
    if (now.dev !== dev || now.ino !== ino) return 29;
    if (dataOnly) fs.fdatasyncSync(fd);
    else fs.fsyncSync(fd);
    return 0;
  } catch {
    return 29;
  } finally {
    fs.closeSync(fd);
  }
}

/** How often a plain call's wait for the flush looks at the stops, in milliseconds. */
const WAIT_SLICE_MS = 1;

/**
 * Flushes `file` on the listing thread while the guest waits: in 1 ms
 * slices that look at the run's stops when it holds this thread, else
 * suspended, until the flush ends or the run stops (which throws, or
 * rejects, with the stop error).
 *
 * @param file The file, as it was opened.
 * @param dataOnly `fd_datasync` (its data) rather than `fd_sync` (its
 *   metadata too).
 * @param watch The run's stops.
 * @param blocking Whether the guest runs as a plain call.
 * @returns The errno.
 */
export function flushFile(
  file: HostFile,
  dataOnly: boolean,
  watch: StopWatch,
  blocking: boolean,
): number | Promise<number> {
  const early = watch.stopped();
  if (early !== undefined) throw early;
  // State (0 pending, 1 done) and errno.
  const control = new Int32Array(new SharedArrayBuffer(8));
  startLister().postMessage({ flush: file, dataOnly, control });
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
