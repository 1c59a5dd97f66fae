/**
 * The listing thread's two programs: a directory's listing and a piece of
 * disk work. Each is self-contained, for its source is also the thread's
 * (see `wasi_lister.ts`, which runs them on this thread too where the
 * watchdog's does not run); `fd_readdir` lists a small directory here with
 * the first (`wasi_readdir.ts`).
 *
 * @module
 */

import type { WASI } from "node:wasi";

/** Where a file is on the host, and which file it was. */
export interface HostFile {
  /** Its path, links resolved. */
  path: string;
  /** Its device, as `stat` gave it. */
  dev: number;
  /** Its inode, as `stat` gave it. */
  ino: number;
  /** Its size, as `stat` gave it. */
  size: number;
}

/** What the listing thread's disk work needs from `node:fs`. */
export interface DiskFs {
  openSync(path: string, flags: number): number;
  constants: {
    O_RDONLY: number;
    O_RDWR: number;
    O_NONBLOCK?: number;
    O_NOFOLLOW?: number;
  };
  fstatSync(fd: number): { dev: number; ino: number };
  fsyncSync(fd: number): void;
  fdatasyncSync(fd: number): void;
  ftruncateSync(fd: number, size: number): void;
  closeSync(fd: number): void;
}

/** A piece of disk work, as the listing thread gets it. */
export type DiskWork =
  | {
    work: "flush";
    file: HostFile;
    dataOnly: boolean;
    /** A held file's id, to flush it by. */
    id?: number;
    control: Int32Array;
  }
  | {
    work: "truncate";
    file: HostFile;
    size: number;
    /** A held file's id, to truncate it by, when it has it open to write. */
    id?: number;
    control: Int32Array;
  }
  | { work: "hold"; file: HostFile; id: number; control: Int32Array }
  | { work: "release"; id: number };

/**
 * Does a piece of disk work on the listing thread, and says so in its
 * control words (state 1 once done, and the errno: `EIO` for a file that
 * is not the one named, or that cannot be opened or worked on). Held
 * files are kept in `held`, opened to write where they may be (for a
 * truncation by the guest's descriptor once the file has no name).
 * Self-contained, for it runs as part of that thread's source.
 */
export function diskWorkListed(
  fs: DiskFs,
  held: Map<number, { fd: number; writable: boolean }>,
  message: DiskWork,
): void {
  if (message.work === "release") {
    const kept = held.get(message.id);
    held.delete(message.id);
    if (kept !== undefined) fs.closeSync(kept.fd);
    return;
  }
  const { file, control } = message;
  const kept = message.work !== "hold" && message.id !== undefined
    ? held.get(message.id)
    : undefined;
  let errno = 29;
  let fd: number | undefined;
  try {
    if (message.work === "flush" && kept !== undefined) {
      if (message.dataOnly) fs.fdatasyncSync(kept.fd);
      else fs.fsyncSync(kept.fd);
      errno = 0;
    } else if (message.work === "truncate" && kept?.writable) {
      fs.ftruncateSync(kept.fd, message.size);
      errno = 0;
    } else {
      // Whatever another process put at the path since: a FIFO opens
      // without waiting for a writer, a link is not followed, and the
      // check below finds either not to be the file.
      const { O_RDONLY, O_RDWR, O_NONBLOCK = 0, O_NOFOLLOW = 0 } = fs.constants;
      const unsure = O_NONBLOCK | O_NOFOLLOW;
      let writable = message.work !== "flush";
      try {
        fd = fs.openSync(file.path, (writable ? O_RDWR : O_RDONLY) | unsure);
      } catch (error) {
        if (message.work !== "hold") throw error;
        writable = false;
        fd = fs.openSync(file.path, O_RDONLY | unsure);
      }
      const now = fs.fstatSync(fd);
      if (now.dev === file.dev && now.ino === file.ino) {
        if (message.work === "flush") {
          if (message.dataOnly) fs.fdatasyncSync(fd);
          else fs.fsyncSync(fd);
        } else if (message.work === "truncate") {
          fs.ftruncateSync(fd, message.size);
        } else {
          held.set(message.id, { fd, writable });
          fd = undefined;
        }
        errno = 0;
      }
    }
  } catch {
    errno = 29;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
  control[1] = errno;
  Atomics.store(control, 0, 1);
  Atomics.notify(control, 0);
}

/**
 * Lists a directory through a `node:wasi` of its own, into scratch memory:
 * the entries as `__wasi_dirent_t`s, numbered from the first, or an errno.
 * Self-contained, for it also runs as the source of the listing thread.
 */
export function readListed(
  Wasi: typeof WASI,
  path: string,
): Uint8Array | number {
  let wasi: WASI;
  try {
    wasi = new Wasi({
      version: "preview1",
      preopens: { "/": path },
      returnOnExit: true,
    });
  } catch (error) {
    const codes: Record<string, number> = {
      NotFound: 44,
      NotCapable: 76,
      PermissionDenied: 2,
      NotADirectory: 54,
    };
    return codes[(error as Error)?.name] ?? 29;
  }
  // The count goes at 0, the entries after it.
  const memory = new WebAssembly.Memory({ initial: 256, maximum: 65536 });
  wasi.initialize({ exports: { memory } } as never);
  const functions = (wasi.getImportObject() as {
    wasi_snapshot_preview1: Record<string, (...args: unknown[]) => number>;
  }).wasi_snapshot_preview1;
  /**
   * The entries, after their count and where each starts (and the end
   * after the last), as 32-bit words.
   */
  const packed = (entries: Uint8Array): Uint8Array => {
    const view = new DataView(
      entries.buffer,
      entries.byteOffset,
      entries.length,
    );
    const starts: number[] = [];
    for (let at = 0; at + 24 <= entries.length;) {
      starts.push(at);
      at += 24 + view.getUint32(at + 16, true);
    }
    starts.push(entries.length);
    const head = 4 * (1 + starts.length);
    const out = new Uint8Array(head + entries.length);
    const words = new Uint32Array(out.buffer, 0, 1 + starts.length);
    words[0] = starts.length - 1;
    words.set(starts, 1);
    out.set(entries, head);
    return out;
  };
  try {
    for (;;) {
      const size = memory.buffer.byteLength - 8;
      const errno = functions.fd_readdir(3, 8, size, 0n, 0);
      if (errno !== 0) return errno;
      const used = new DataView(memory.buffer).getUint32(0, true);
      // A count under the buffer's size: the directory ended. Else read
      // it again, with more room.
      if (used < size) return packed(new Uint8Array(memory.buffer, 8, used));
      const pages = memory.buffer.byteLength >>> 16;
      if (pages >= 65536) return 29;
      memory.grow(Math.min(3 * pages, 65536 - pages));
    }
  } finally {
    functions.fd_close(3);
  }
}
