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

import fs from "node:fs";
import process from "node:process";
import { WASI } from "node:wasi";
import { MessageChannel, type MessagePort } from "node:worker_threads";
import { ERRNO, fits } from "./wasi_abi.ts";
import type { StopWatch } from "./wasi_stops.ts";
import { spawnOnWatchdog, watchdogStarted } from "../watchdog/watchdog.ts";
import { type DiskFs, type DiskWork, diskWorkListed } from "./wasi_disk.ts";

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

/**
 * Lists a directory through a `node:wasi` of its own, into scratch memory:
 * the entries as `__wasi_dirent_t`s, numbered from the first, or an errno.
 * Self-contained, for it also runs as the source of the listing thread.
 */
function readListed(
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

/**
 * The listing thread's channel, once it was asked for, and the work posted
 * on it that waits for an answer, each with what fails it when the thread
 * ends (or could not start).
 */
let lister:
  | { port: MessagePort; waiting: Map<Int32Array, () => void> }
  | undefined;

/** The listing thread's program: it lists directories, and does disk work. */
function listerMain(
  port: { on(event: "message", fn: (message: never) => void): void },
  Wasi: typeof WASI,
  read: typeof readListed,
  fs: DiskFs,
  work: typeof diskWorkListed,
): void {
  const held = new Map<number, { fd: number; writable: boolean }>();
  port.on("message", (
    message: {
      path: string;
      control: Int32Array;
      data: SharedArrayBuffer;
    } | DiskWork,
  ) => {
    if ("work" in message) return work(fs, held, message);
    const { path, control, data } = message;
    const listed = read(Wasi, path);
    // Cancelled: the state is still set, for a wait that may be pending.
    if (Atomics.load(control, 2) !== 0 || typeof listed === "number") {
      control[1] = typeof listed === "number" ? listed : 29;
      Atomics.store(control, 0, 2);
    } else if (listed.length > data.maxByteLength) {
      control[1] = 29;
      Atomics.store(control, 0, 2);
    } else {
      data.grow(listed.length);
      new Uint8Array(data).set(listed);
      control[1] = listed.length;
      Atomics.store(control, 0, 1);
    }
    Atomics.notify(control, 0);
  });
}

/**
 * Whether the listing thread runs.
 *
 * @returns Whether it was started.
 */
export function listerStarted(): boolean {
  return lister !== undefined;
}

/**
 * Starts the listing thread, if it is not running yet. A run with preopens
 * that a stop can end calls this before its guest starts, so that its first
 * large listing does not wait for the thread to boot; any other run, with
 * its first work for the thread. The watchdog's thread creates it (see
 * `spawnOnWatchdog`): creating a thread here held this one 0.23 to 0.66 s
 * on a busy machine, and no stop could cut that short. Work posted before
 * the thread runs waits in its channel.
 */
export function startLister(): void {
  if (lister !== undefined) return;
  const source = `process.emitWarning = () => {};
(${listerMain.toString()})(require("node:worker_threads").workerData.port, require("node:wasi").WASI, ${readListed.toString()}, require("node:fs"), ${diskWorkListed.toString()});`;
  const channel = new MessageChannel();
  spawnOnWatchdog(source, "early-exit listing", {}, channel.port2);
  const started = {
    port: channel.port1,
    waiting: new Map<Int32Array, () => void>(),
  };
  // The thread ended, or could not start: the work it had fails, and the
  // next run asks for it again. (The thread answers in shared memory, not
  // here; a port that is not listened to never sees its other end close.)
  started.port.on("message", () => {});
  started.port.on("close", () => {
    if (lister === started) lister = undefined;
    for (const fail of started.waiting.values()) fail();
    started.waiting.clear();
  });
  // Never keeps the process alive: a wait for the thread keeps it, with a
  // timer, while it lasts.
  started.port.unref();
  lister = started;
}

/**
 * Posts work to the listing thread, starting it if it is not running.
 *
 * @param message The work.
 * @param control Its state word, 0 until the thread answers.
 * @param fail Answers it with an error when the thread ends first.
 */
export function postToLister(
  message: Record<string, unknown>,
  control?: Int32Array,
  fail?: () => void,
): void {
  const id = message.id as number | undefined;
  if (
    id !== undefined && heldHere.has(id) ||
    lister === undefined && !watchdogStarted()
  ) {
    return doneHere(message);
  }
  startLister();
  const { port, waiting } = lister!;
  // What was answered is let go of here, as more is posted.
  for (const posted of waiting.keys()) {
    if (Atomics.load(posted, 0) !== 0) waiting.delete(posted);
  }
  if (control !== undefined && fail !== undefined) waiting.set(control, fail);
  port.postMessage(message);
}

/**
 * The listing thread's program, run on this thread: for a process in which
 * the watchdog's thread does not run, so that no stop can be due (the
 * command line's run of a WASI command under fuel alone). Nothing but the
 * guest, which holds this thread anyway, waits for the work there, and
 * creating the thread (and the watchdog's thread, which creates it) cost
 * more than the work: a one-shot flite run writing over its output file
 * took 150 to 250 ms more CPU.
 */
let listerHere: ((message: never) => void) | undefined;

/** The ids of the files held on this thread, whose later work stays here. */
const heldHere = new Set<number>();

/** Does a listing thread's work here, at once. */
function doneHere(message: Record<string, unknown>): void {
  if (listerHere === undefined) {
    listerMain(
      { on: (_event, handle) => void (listerHere = handle) },
      WASI,
      readListed,
      fs,
      diskWorkListed,
    );
  }
  const id = message.id as number | undefined;
  if (id !== undefined) {
    if (message.work === "hold") heldHere.add(id);
    else if (message.work === "release") heldHere.delete(id);
  }
  quietly(() => listerHere!(message as never));
}

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
