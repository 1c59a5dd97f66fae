/**
 * `fd_readdir` for the directories a WASI guest holds, from a listing read
 * once per pass and kept between calls. `node:wasi` reads the directory
 * again from its first entry up to the cookie at each call, so a guest
 * listing a large directory a buffer at a time did work in the square of
 * its size (1.7 s for 100,000 entries in 32 KiB buffers), each call holding
 * the thread where no stop reaches (about 40 ms for the whole of them), and
 * skipped entries when the guest removed files as it listed them (as
 * `rm -r` does), the cookie counting from a first entry now gone.
 *
 * A call with cookie 0 reads the directory afresh; a later cookie goes on
 * in the listing kept for the descriptor (or, when none is kept, in a
 * fresh one). Closing or renumbering the descriptor lets its listing go.
 * Cookies are entry counts: an entry's `d_next` is one past its index. The
 * entries are `node:wasi`'s own (it reads them, on the thread below): the
 * same `__wasi_dirent_t` headers (`d_next` u64, `d_ino` u64, `d_namlen`
 * u32, `d_type` u8), no `.` or `..`, and `d_ino` 0. wasi-libc's `readdir`
 * passes 0 on in its older versions, and in its newer ones takes it for
 * "unknown" and looks the inode up with a stat of the entry (skipping one
 * that is gone): a stat per entry here would make every listing several
 * times slower, for a number few programs read.
 *
 * - A directory larger than {@linkcode READ_HERE_BYTES} is read on a
 *   thread of its own (started once per process, by the watchdog's
 *   thread), while the guest waits:
 *   suspended in an async run, in 1 ms slices that look at the run's stops
 *   in a plain call. A stop lands during the read, whose result is let go
 *   of. A smaller one is read on the spot, in a few milliseconds.
 * - The entries are copied out in steps of {@linkcode READDIR_STEP} bytes,
 *   the run's stops looked at between them.
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

import { WASI } from "node:wasi";
import { ERRNO, fits } from "./wasi_abi.ts";
import type { StopWatch } from "./wasi_stops.ts";
import { readListed } from "./wasi_listed.ts";
import { postToLister } from "./wasi_lister.ts";
import { quietly } from "./wasi_quiet.ts";

/** Size of a `__wasi_dirent_t`, before its name. */
export const DIRENT_SIZE = 24;

/** The bytes copied into the guest's buffer between two looks at the stops. */
export const READDIR_STEP = 1 << 20;

/** The most bytes the kept listings hold between them. */
export const KEPT_LISTING_BYTES = 64 << 20;

/** A directory's entries, as the `__wasi_dirent_t`s the guest gets. */
interface Listing {
  /** The entries, one after another. */
  bytes: Uint8Array;
  /** Where each entry starts in `bytes`, and its end after the last. */
  starts: Uint32Array;
  /** How many entries. */
  count: number;
}

/** The errno for an error reading a directory. */
function errnoOf(error: unknown): number {
  if (error instanceof Deno.errors.NotFound) return ERRNO.NOENT;
  if (error instanceof Deno.errors.NotCapable) return ERRNO.NOTCAPABLE;
  if (error instanceof Deno.errors.PermissionDenied) return ERRNO.ACCES;
  if (error instanceof Deno.errors.NotADirectory) return ERRNO.NOTDIR;
  return ERRNO.IO;
}

/** A listing, from what {@linkcode readListed} gave, without a copy. */
function unpacked(
  buffer: ArrayBufferLike,
  length: number,
): Listing {
  const count = new Uint32Array(buffer, 0, 1)[0];
  const head = 4 * (count + 2);
  return {
    count,
    starts: new Uint32Array(buffer, 4, count + 1),
    bytes: new Uint8Array(buffer, head, length - head),
  };
}

/** A listing read on this thread. */
function listingOf(listed: Uint8Array | number): Listing | number {
  if (typeof listed === "number") return listed;
  return unpacked(listed.buffer, listed.length);
}

/**
 * A directory at most this large (its `st_size`, which grows with its
 * entries: about 30 bytes each on ext4) is read on this thread, in a few
 * milliseconds; a larger one on the listing thread.
 */
export const READ_HERE_BYTES = 256 << 10;

/** The most bytes a listing read on the listing thread may take. */
const MAX_LISTING_BYTES = 1 << 30;

/** A read on the listing thread: its state word, count and cancel flag, and its bytes. */
interface ListerRead {
  control: Int32Array;
  data: SharedArrayBuffer;
}

/**
 * Starts reading a directory: a small one here (the listing, or an errno),
 * a large one on the listing thread.
 */
function startRead(path: string): Listing | number | ListerRead {
  let small = false;
  try {
    small = Deno.statSync(path).size <= READ_HERE_BYTES;
  } catch (error) {
    return errnoOf(error);
  }
  if (small) return listingOf(quietly(() => readListed(WASI, path)));
  const control = new Int32Array(new SharedArrayBuffer(12));
  const data = new SharedArrayBuffer(0, { maxByteLength: MAX_LISTING_BYTES });
  postToLister({ path, control, data }, control, () => {
    control[1] = ERRNO.IO;
    Atomics.store(control, 0, 2);
    Atomics.notify(control, 0);
  });
  return { control, data };
}

/** What a read on the listing thread gave, once it is done, else `undefined`. */
function readDone({ control, data }: ListerRead): Listing | number | undefined {
  const state = Atomics.load(control, 0);
  if (state === 1) return unpacked(data, control[1]);
  if (state === 2) return control[1];
  return undefined;
}

/**
 * Reads a directory for a guest that holds this thread: a large one on the
 * listing thread while this one waits, looking at the run's stops every
 * millisecond (a stop throws, and the read's result is let go of).
 */
function readNow(path: string, watch: StopWatch): Listing | number {
  const read = startRead(path);
  if (typeof read === "number" || "bytes" in read) return read;
  for (;;) {
    const stopped = watch.stopped();
    if (stopped !== undefined) {
      Atomics.store(read.control, 2, 1);
      throw stopped;
    }
    const done = readDone(read);
    if (done !== undefined) return done;
    Atomics.wait(read.control, 0, 0, WAIT_SLICE_MS);
  }
}

/** How often a wait for the listing thread looks at the stops, in milliseconds. */
const WAIT_SLICE_MS = 1;

/**
 * Reads a directory for a suspended guest: a large one on the listing
 * thread, unless the run stops first (which rejects with the stop error).
 */
function readLater(path: string, watch: StopWatch): Promise<Listing | number> {
  const read = startRead(path);
  if (typeof read === "number" || "bytes" in read) {
    return Promise.resolve(read);
  }
  const waited = Atomics.waitAsync(read.control, 0, 0);
  // A pending wait does not keep the event loop alive: a timer does.
  const alive = setInterval(() => {}, 1 << 30);
  const done = (waited.async ? waited.value : Promise.resolve()).finally(
    () => clearInterval(alive),
  );
  return watch.race(
    done.then(() => readDone(read)!),
    () => Atomics.store(read.control, 2, 1),
  );
}

/** The listings of a guest's directories, kept between calls. */
export class DirectoryListings {
  /** By descriptor, the least recently read first. */
  readonly #kept = new Map<number, Listing>();
  #keptBytes = 0;
  #listedBytes = 0;

  /**
   * The bytes of the listings read afresh since the last time this was
   * asked: the work of reading a directory, which a call asking for a few
   * of its entries from cookie 0 makes anew each time (for `fd_readdir`'s
   * fuel, see `wasi_fuel.ts`).
   */
  takeListedBytes(): number {
    const bytes = this.#listedBytes;
    this.#listedBytes = 0;
    return bytes;
  }

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
      this.#listedBytes += listing.bytes.length;
      this.#keep(fd, listing);
      return this.#copy(memory, listing, buffer, length, cookie, used, watch);
    };
    return blocking
      ? finish(readNow(path, watch))
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
