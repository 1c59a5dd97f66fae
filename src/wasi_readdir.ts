/**
 * `fd_readdir` for the directories a WASI guest holds, from a listing read
 * once per pass and kept between calls. `node:wasi` reads the directory
 * again from its first entry up to the cookie at each call, so a guest
 * listing a large directory a buffer at a time did work in the square of
 * its size, each call holding the thread where no stop reaches (38 ms a
 * call for 100,000 entries).
 *
 * A call with cookie 0 reads the directory afresh; a later cookie goes on
 * in the listing kept for the descriptor (or, when none is kept, in a
 * fresh one). Cookies are entry counts: an entry's `d_next` is one past its
 * index, as `node:wasi` gives them. What the guest sees is what `node:wasi`
 * gave, but for the two fixes below: the same `__wasi_dirent_t` headers
 * (`d_next`, `d_ino`, `d_namlen`, `d_type`), no `.` or `..`, and `d_ino`
 * 0 (wasi-libc's `readdir` passes it on, or, in its newer versions, looks
 * the inode up with a stat of the entry when it is 0; a stat per entry
 * here would make the listing several times slower).
 *
 * - The entries are copied out in steps, the run's stops looked at between
 *   them, so that a call filling a large buffer is stopped inside it.
 * - An async run reads the directory with `Deno.readDir` while the guest
 *   is suspended, so that a stop lands during the read; a plain call reads
 *   it at once, through a `node:wasi` of its own (the fastest read this
 *   runtime has), and holds the thread for that read only: about 40 ms for
 *   100,000 entries.
 * - The buffer is always filled while entries are left, the last one cut
 *   short as WASI says: a count under the buffer's size tells the guest the
 *   directory ended.
 *
 * The listings kept hold at most {@linkcode KEPT_LISTING_BYTES} between
 * them, past which the least recently read are let go of (the one being
 * read is kept whatever its size).
 *
 * @module
 */

import process from "node:process";
import { WASI } from "node:wasi";
import { ERRNO, fits } from "./wasi_abi.ts";
import type { StopWatch } from "./wasi_stops.ts";

/** Size of a `__wasi_dirent_t`, before its name. */
export const DIRENT_SIZE = 24;

/** The bytes copied into the guest's buffer between two looks at the stops. */
export const READDIR_STEP = 1 << 20;

/** The most bytes the kept listings hold between them. */
export const KEPT_LISTING_BYTES = 64 << 20;

/** `__wasi_filetype_t`, as a directory entry gives it. */
const FILETYPE = {
  UNKNOWN: 0,
  DIRECTORY: 3,
  REGULAR_FILE: 4,
  SYMBOLIC_LINK: 7,
} as const;

/** A directory's entries, as the `__wasi_dirent_t`s the guest gets. */
interface Listing {
  /** The entries, one after another. */
  bytes: Uint8Array;
  /** Where each entry starts in `bytes`, and its end after the last. */
  starts: Uint32Array;
  /** How many entries. */
  count: number;
}

/** Builds a listing an entry at a time. */
class ListingBuilder {
  #bytes = new Uint8Array(1 << 16);
  #view = new DataView(this.#bytes.buffer);
  #starts = new Uint32Array(1 << 10);
  #used = 0;
  #count = 0;
  readonly #encoder = new TextEncoder();

  /** Makes room for `bytes` more bytes and one more entry. */
  #reserve(bytes: number): void {
    if (this.#used + bytes > this.#bytes.length) {
      const grown = new Uint8Array(
        Math.max(this.#bytes.length * 2, this.#used + bytes),
      );
      grown.set(this.#bytes.subarray(0, this.#used));
      this.#bytes = grown;
      this.#view = new DataView(grown.buffer);
    }
    if (this.#count + 2 > this.#starts.length) {
      const grown = new Uint32Array(this.#starts.length * 2);
      grown.set(this.#starts);
      this.#starts = grown;
    }
  }

  /** Adds an entry, numbering it. */
  add(name: string, type: number): void {
    const encoded = this.#encoder.encode(name);
    const size = DIRENT_SIZE + encoded.length;
    this.#reserve(size);
    const at = this.#used;
    const view = this.#view;
    const next = this.#count + 1;
    view.setUint32(at, next % 2 ** 32, true);
    view.setUint32(at + 4, Math.floor(next / 2 ** 32), true);
    view.setBigUint64(at + 8, 0n, true);
    view.setUint32(at + 16, encoded.length, true);
    view.setUint32(at + 20, type, true);
    this.#bytes.set(encoded, at + DIRENT_SIZE);
    this.#starts[this.#count++] = at;
    this.#used += size;
  }

  /**
   * Adds whole entries as `node:wasi` wrote them (numbered as here, from
   * the first entry), and returns the cookie after the last.
   */
  addWritten(bytes: Uint8Array): bigint {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    let at = 0;
    let cookie = BigInt(this.#count);
    const start = this.#used;
    this.#reserve(bytes.length);
    while (at + DIRENT_SIZE <= bytes.length) {
      const size = DIRENT_SIZE + view.getUint32(at + 16, true);
      if (at + size > bytes.length) break;
      this.#reserve(0);
      this.#starts[this.#count++] = start + at;
      cookie = view.getBigUint64(at, true);
      at += size;
    }
    this.#bytes.set(bytes.subarray(0, at), this.#used);
    this.#used += at;
    return cookie;
  }

  /** The listing. */
  done(): Listing {
    this.#starts[this.#count] = this.#used;
    return {
      bytes: this.#bytes.subarray(0, this.#used),
      starts: this.#starts.subarray(0, this.#count + 1),
      count: this.#count,
    };
  }
}

/** The errno for an error reading a directory. */
function errnoOf(error: unknown): number {
  if (error instanceof Deno.errors.NotFound) return ERRNO.NOENT;
  if (error instanceof Deno.errors.NotCapable) return ERRNO.NOTCAPABLE;
  if (error instanceof Deno.errors.PermissionDenied) return ERRNO.ACCES;
  if (error instanceof Deno.errors.NotADirectory) return ERRNO.NOTDIR;
  return ERRNO.IO;
}

/** A directory entry's `__wasi_filetype_t`. */
function filetype(entry: Deno.DirEntry): number {
  if (entry.isSymlink) return FILETYPE.SYMBOLIC_LINK;
  if (entry.isDirectory) return FILETYPE.DIRECTORY;
  if (entry.isFile) return FILETYPE.REGULAR_FILE;
  return FILETYPE.UNKNOWN;
}

/**
 * Reads a directory on this thread, through a `node:wasi` of its own that
 * lists into scratch memory.
 */
function readNow(path: string): Listing | number {
  let wasi: WASI;
  try {
    wasi = quietly(() =>
      new WASI({
        version: "preview1",
        preopens: { "/": path },
        returnOnExit: true,
      })
    );
  } catch (error) {
    return errnoOf(error);
  }
  const memory = new WebAssembly.Memory({ initial: 256, maximum: 65536 });
  wasi.initialize({ exports: { memory } } as never);
  const functions = (wasi.getImportObject() as {
    wasi_snapshot_preview1: Record<string, (...args: unknown[]) => number>;
  }).wasi_snapshot_preview1;
  const builder = new ListingBuilder();
  try {
    let cookie = 0n;
    // The count goes at 0, the entries after it.
    for (;;) {
      const size = memory.buffer.byteLength - 8;
      const errno = functions.fd_readdir(3, 8, size, cookie, 0);
      if (errno !== ERRNO.SUCCESS) return errno;
      const used = new DataView(memory.buffer).getUint32(0, true);
      cookie = builder.addWritten(new Uint8Array(memory.buffer, 8, used));
      // A count under the buffer's size: the directory ended. Else read
      // on, with more room (node:wasi reads from the first entry again).
      if (used < size) break;
      memory.grow(
        Math.min(
          3 * (memory.buffer.byteLength >>> 16),
          65536 - (memory.buffer.byteLength >>> 16),
        ),
      );
    }
  } finally {
    functions.fd_close(3);
  }
  return builder.done();
}

/**
 * Reads a directory without holding the thread, unless the run stops
 * first (which rejects with the stop error).
 */
function readLater(path: string, watch: StopWatch): Promise<Listing | number> {
  let cancelled = false;
  const read = (async () => {
    const builder = new ListingBuilder();
    try {
      for await (const entry of Deno.readDir(path)) {
        if (cancelled) return ERRNO.IO;
        builder.add(entry.name, filetype(entry));
      }
    } catch (error) {
      return errnoOf(error);
    }
    return builder.done();
  })();
  return watch.race(read, () => cancelled = true);
}

/** The listings of a guest's directories, kept between calls. */
export class DirectoryListings {
  /** By descriptor, the least recently read first. */
  readonly #kept = new Map<number, Listing>();
  #keptBytes = 0;

  /** Lets go of a descriptor's listing: it was closed or renumbered. */
  forget(fd: number): void {
    const listing = this.#kept.get(fd);
    if (listing === undefined) return;
    this.#kept.delete(fd);
    this.#keptBytes -= listing.bytes.length;
  }

  /** Lets go of every listing. */
  clear(): void {
    this.#kept.clear();
    this.#keptBytes = 0;
  }

  #keep(fd: number, listing: Listing): void {
    this.forget(fd);
    this.#kept.set(fd, listing);
    this.#keptBytes += listing.bytes.length;
    for (const [other, kept] of this.#kept) {
      if (this.#keptBytes <= KEPT_LISTING_BYTES || other === fd) break;
      this.#kept.delete(other);
      this.#keptBytes -= kept.bytes.length;
    }
  }

  /**
   * `fd_readdir` for a directory at `path` on the host.
   *
   * @param memory The guest's memory.
   * @param fd The guest's descriptor.
   * @param path Where the directory is, checked to be in its preopen.
   * @param args `fd_readdir`'s buffer, its length, the cookie and where the count goes.
   * @param watch The run's stops.
   * @param blocking Whether the guest runs as a plain call.
   */
  readdir(
    memory: () => WebAssembly.Memory,
    fd: number,
    path: string,
    [buffer, length, cookie, used]: [number, number, bigint, number],
    watch: StopWatch,
    blocking: boolean,
  ): number | Promise<number> {
    buffer >>>= 0;
    length >>>= 0;
    used >>>= 0;
    const size = memory().buffer.byteLength;
    if (!fits(size, buffer, length) || !fits(size, used, 4)) {
      return ERRNO.FAULT;
    }
    const kept = BigInt(cookie) === 0n ? undefined : this.#kept.get(fd);
    if (kept !== undefined) {
      // Read again: the most recently read are let go of last.
      this.#kept.delete(fd);
      this.#kept.set(fd, kept);
      return this.#copy(memory, kept, buffer, length, cookie, used, watch);
    }
    const finish = (listing: Listing | number) => {
      if (typeof listing === "number") return listing;
      this.#keep(fd, listing);
      return this.#copy(memory, listing, buffer, length, cookie, used, watch);
    };
    return blocking
      ? finish(readNow(path))
      : readLater(path, watch).then(finish);
  }

  /** Copies the entries from `cookie` on into the guest's buffer, in steps. */
  #copy(
    memory: () => WebAssembly.Memory,
    listing: Listing,
    buffer: number,
    length: number,
    cookie: bigint,
    used: number,
    watch: StopWatch,
  ): number {
    const first = BigInt(cookie) >= BigInt(listing.count)
      ? listing.count
      : Number(cookie);
    const from = listing.starts[first];
    const count = Math.min(length, listing.bytes.length - from);
    for (let at = 0; at < count; at += READDIR_STEP) {
      if (at > 0) {
        const stopped = watch.stopped();
        if (stopped !== undefined) throw stopped;
      }
      const step = Math.min(READDIR_STEP, count - at);
      new Uint8Array(memory().buffer, buffer + at, step).set(
        listing.bytes.subarray(from + at, from + at + step),
      );
    }
    new DataView(memory().buffer).setUint32(used, count, true);
    return ERRNO.SUCCESS;
  }
}

/** Runs `make` without `node:wasi`'s ExperimentalWarning on stderr. */
export function quietly<T>(make: () => T): T {
  const emitWarning = process.emitWarning;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const type = typeof rest[0] === "string"
      ? rest[0]
      : (rest[0] as { type?: string } | undefined)?.type;
    if (type === "ExperimentalWarning" && String(warning).includes("WASI")) {
      return;
    }
    return Reflect.apply(emitWarning, process, [warning, ...rest]);
  }) as typeof process.emitWarning;
  try {
    return make();
  } finally {
    process.emitWarning = emitWarning;
  }
}
