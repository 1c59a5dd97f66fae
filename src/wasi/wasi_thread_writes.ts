/**
 * A WASI guest's writes to the host's stdout or stderr when that is a pipe
 * or a socket, in a run that holds its thread (`async: false`) and that a
 * deadline or a `StopSignal` can end. Such a run cannot wait for a promise,
 * so Deno's asynchronous write (see `wasi_pipe_writes.ts`) is no use to it,
 * and its own blocking write to a pipe nobody drained held the thread where
 * no stop reaches.
 *
 * So each write is copied into a ring of shared memory, and a thread of its
 * own (one per process, created by the watchdog's thread, as the listing
 * thread is, as the first run that needs it starts) takes the bytes out in
 * order and does the blocking writes. The guest
 * goes on at once while there is room; a write that finds none waits
 * in `Atomics.wait`, bounded by the deadline and looking at the
 * `StopSignal` every millisecond, so a stop lands there as in a sleep. At
 * the run's end what is in the ring is waited for, unless a stop lands
 * first: it then goes on after the run, and keeps the process alive until
 * the pipe's reader has taken it (or has gone), as a pending asynchronous
 * write does. A thread that has not run its first line within
 * {@linkcode BOOT_LIMIT_MS} is given up on at the run's end: the ring's
 * bytes then go as asynchronous writes, and later runs write here.
 *
 * @module
 */

import { MessageChannel } from "node:worker_threads";
import { ERRNO } from "./wasi_abi.ts";
import type { StopWatch } from "./wasi_stops.ts";
import { spawnOnWatchdog, threadSpawning } from "../watchdog/watchdog.ts";

/** How a {@linkcode ThreadWrites} asks for its thread: see `watchdog.ts`. */
export type SpawnWriter = typeof spawnOnWatchdog;

/**
 * The ring's size in bytes, headers included: a Linux pipe's buffer. A
 * power of two, so that a position wraps with a mask.
 */
export const RING_BYTES = 64 * 1024;

/** A record's header: the descriptor and the length, each a u32. */
const HEADER = 8;

/**
 * How long, from the request, the writing thread has to run its first
 * line before a run's end stops waiting for it, in milliseconds. Its boot
 * takes about 500 ms on a quiet machine. A thread that fails to boot
 * closes its port, but that is an event, and a held run turns no event
 * loop: its end would wait for the thread until its deadline. Past the
 * bound, the ring's bytes go as asynchronous writes, as a stopped async
 * run's do, and a thread that boots later ends at once. A write that
 * waits for room is not given up on this way: writing here could block
 * where no stop reaches; its run's stops end that wait.
 */
export const BOOT_LIMIT_MS = 3_000;

// The control words. HEAD and TAIL count bytes put in and taken out, and
// wrap as 32-bit integers; FAILED + fd is the errno of fd's last failed
// write (fd 1 or 2); GONE is set when the thread ended, or will never
// write; BOOT is 1 once the thread runs, 2 once this thread gave up on it.
const HEAD = 0;
const TAIL = 1;
const FAILED = 1;
const GONE = 4;
const BOOT = 5;
const ABANDONED = 2;

/**
 * The u32 at `at` in the ring, little-endian, wrapping at its end. Sent to
 * the writing thread as text, with {@linkcode copyRecord}.
 */
function ringWord(ring: Uint8Array, at: number): number {
  const mask = ring.length - 1;
  return ring[at & mask] | ring[(at + 1) & mask] << 8 |
    ring[(at + 2) & mask] << 16 | ring[(at + 3) & mask] << 24;
}

/**
 * Copies the bytes of the record at `at` into `into` at `offset`, wrapping
 * at the ring's end.
 *
 * @returns Their length.
 */
function copyRecord(
  ring: Uint8Array,
  at: number,
  into: Uint8Array,
  offset: number,
): number {
  const length = ringWord(ring, at + 4);
  const start = (at + 8) & (ring.length - 1);
  const first = ring.subarray(start, Math.min(ring.length, start + length));
  into.set(first, offset);
  into.set(ring.subarray(0, length - first.length), offset + first.length);
  return length;
}

/**
 * The writing thread's program, run from its source text: takes the
 * records in the ring out in order and writes them, blocking this thread
 * only. Consecutive records for the same descriptor go as one write (a
 * guest writing a byte at a time would otherwise cost a system call a
 * byte). A descriptor whose reader has gone (`EPIPE`) is written no more.
 */
function writerMain(
  control: Int32Array,
  ring: Uint8Array,
  writeSync: (fd: number, bytes: Uint8Array) => number,
  pipeErrno: number,
  ioErrno: number,
): void {
  // Too late: the host has taken the ring's bytes.
  if (Atomics.compareExchange(control, 5, 0, 1) !== 0) return;
  try {
    const batch = new Uint8Array(ring.length);
    for (;;) {
      const tail = Atomics.load(control, 1);
      const head = Atomics.load(control, 0);
      if (head === tail) {
        Atomics.wait(control, 0, head);
        continue;
      }
      let fd = -1;
      let size = 0;
      let at = tail;
      while (at !== head && (fd === -1 || ringWord(ring, at) === fd)) {
        fd = ringWord(ring, at);
        const length = copyRecord(ring, at, batch, size);
        size += length;
        at = (at + 8 + length) | 0;
      }
      if (Atomics.load(control, 1 + fd) !== pipeErrno) {
        try {
          for (let done = 0; done < size;) {
            done += writeSync(fd, batch.subarray(done, size));
          }
        } catch (error) {
          const name = (error as { name?: unknown } | null)?.name;
          const code = (error as { code?: unknown } | null)?.code;
          Atomics.store(
            control,
            1 + fd,
            name === "BrokenPipe" || code === "EPIPE" ? pipeErrno : ioErrno,
          );
        }
      }
      Atomics.store(control, 1, at);
      Atomics.notify(control, 1);
    }
  } finally {
    // The host's wait ends here, not with the port's close: that is an
    // event, and a held run's thread turns no event loop.
    Atomics.store(control, 4, 1);
    Atomics.notify(control, 1);
  }
}

/**
 * The writes of runs that hold their thread to this process's stdout and
 * stderr, through the ring and its thread. One for the whole process (of
 * this thread), so that the bytes go out in the order they were written,
 * stdout and stderr together.
 */
export class ThreadWrites {
  readonly #control = new Int32Array(new SharedArrayBuffer(4 * 8));
  readonly #ring = new Uint8Array(new SharedArrayBuffer(RING_BYTES));
  readonly #spawn: SpawnWriter;
  readonly #bootLimitMs: number;
  #started = false;
  #spawnedAt = 0;
  #settling = false;

  /**
   * @param spawn Asks for the writing thread (the watchdog's thread makes
   *   it); tests give one that never does.
   * @param bootLimitMs See {@linkcode BOOT_LIMIT_MS}.
   */
  constructor(
    spawn: SpawnWriter = spawnOnWatchdog,
    bootLimitMs = BOOT_LIMIT_MS,
  ) {
    this.#spawn = spawn;
    this.#bootLimitMs = bootLimitMs;
  }

  /**
   * Starts the writing thread, if it is not running yet. Called as a run
   * that may write through it starts, not at its first write: a thread
   * made by another thread's thread takes about 500 ms to run its first
   * line (measured quiet, 80 to 100 ms of it CPU), and a command whose
   * output comes at its end (the sieve) waited all of it, twice its own
   * time; started with the run, the boot goes on beside the guest's load
   * and work. A run that never writes to the pipe pays the boot's CPU.
   *
   * @returns False when no thread can be made: writes then go as before,
   *   blocking.
   */
  start(): boolean {
    return this.#start();
  }

  #start(): boolean {
    if (Atomics.load(this.#control, GONE) !== 0) return false;
    if (this.#started) return true;
    const source = `process.emitWarning = () => {};
{
  const { control, ring } = require("node:worker_threads").workerData;
  const fs = require("node:fs");
  ${ringWord.toString()}
  ${copyRecord.toString()}
  (${writerMain.toString()})(control, new Uint8Array(ring), fs.writeSync, ${ERRNO.PIPE}, ${ERRNO.IO});
}`;
    const channel = new MessageChannel();
    this.#spawnedAt = performance.now();
    try {
      this.#spawn(source, "early-exit output", {
        control: this.#control,
        ring: this.#ring.buffer,
      }, channel.port2);
    } catch {
      return false;
    }
    // The thread ended, or could not start: writes go as before, and a
    // wait for it ends.
    channel.port1.on("message", () => {});
    const control = this.#control;
    channel.port1.on("close", () => {
      Atomics.store(control, GONE, 1);
      Atomics.notify(control, TAIL);
    });
    channel.port1.unref();
    this.#started = true;
    return true;
  }

  /** The bytes in the ring, headers included. */
  get #used(): number {
    return (Atomics.load(this.#control, HEAD) -
      Atomics.load(this.#control, TAIL)) | 0;
  }

  /**
   * Puts the bytes into the ring, waiting for room as the thread takes
   * earlier ones out.
   *
   * @param fd 1 or 2.
   * @param parts The bytes, in order, copied out of the guest's memory.
   * @param size Their length.
   * @param watch The run's stops, which end a wait for room.
   * @returns `size` once all are in the ring (or the thread has gone, and
   *   they went as a blocking write), or the errno of a write of this
   *   stream that failed on the thread: `PIPE` from then on, once its
   *   reader has gone.
   * @throws The stop error, when the run stops while the write waits.
   */
  write(
    fd: 1 | 2,
    parts: Uint8Array[],
    size: number,
    watch: StopWatch,
  ): number | { errno: number } {
    const control = this.#control;
    if (
      Atomics.load(control, GONE) !== 0 || !this.#started && !this.#start()
    ) {
      return this.#writeHere(fd, parts, size);
    }
    this.#waitWhileSpawning(watch);
    const failed = Atomics.load(control, FAILED + fd);
    if (failed !== 0) {
      // A later write may go through, unless the reader has gone.
      if (failed !== ERRNO.PIPE) {
        Atomics.compareExchange(control, FAILED + fd, failed, 0);
      }
      return { errno: failed };
    }
    for (let p = 0; p < parts.length; p++) {
      const part = parts[p];
      for (let at = 0; at < part.length;) {
        if (Atomics.load(control, GONE) !== 0) {
          const rest = [part.subarray(at), ...parts.slice(p + 1)];
          return this.#writeHere(fd, rest, size);
        }
        const head = Atomics.load(control, HEAD);
        const tail = Atomics.load(control, TAIL);
        const free = RING_BYTES - ((head - tail) | 0);
        if (free <= HEADER) {
          watch.waitBlocking(control, TAIL, tail);
          continue;
        }
        const n = Math.min(free - HEADER, part.length - at);
        this.#put(head, fd, part.subarray(at, at + n));
        Atomics.store(control, HEAD, (head + HEADER + n) | 0);
        Atomics.notify(control, HEAD);
        at += n;
      }
    }
    return size;
  }

  /**
   * Waits while the watchdog's thread is still making the writing thread:
   * it sets no flag meanwhile, so the guest must not compute on. This wait
   * ends at the run's deadline or `StopSignal` by this thread's own clock.
   * Whether the new thread has booted does not matter: the bytes wait in
   * the ring, and the run's end waits for them (see
   * {@linkcode ThreadWrites.drain}).
   */
  #waitWhileSpawning(watch: StopWatch): void {
    while (Atomics.load(this.#control, GONE) === 0 && threadSpawning()) {
      watch.sleepBlocking(1);
    }
  }

  /** Milliseconds left for the thread to run its first line. */
  get #bootLeft(): number {
    return this.#spawnedAt + this.#bootLimitMs - performance.now();
  }

  /**
   * Gives up on a thread that has not booted, unless it ran its first
   * line meanwhile: the ring's bytes go as asynchronous writes, in order,
   * and every later write is written here.
   *
   * @returns Whether it gave up.
   */
  #giveUp(): boolean {
    const control = this.#control;
    if (Atomics.compareExchange(control, BOOT, 0, ABANDONED) !== 0) {
      return false;
    }
    Atomics.store(control, GONE, 1);
    void writeLater(this.#takeRecords());
    Atomics.notify(control, TAIL);
    return true;
  }

  /** Takes every record out of the ring, in order. */
  #takeRecords(): [1 | 2, Uint8Array][] {
    const control = this.#control;
    const ring = this.#ring;
    const head = Atomics.load(control, HEAD);
    const records: [1 | 2, Uint8Array][] = [];
    for (let at = Atomics.load(control, TAIL); at !== head;) {
      const bytes = new Uint8Array(ringWord(ring, at + 4));
      copyRecord(ring, at, bytes, 0);
      records.push([ringWord(ring, at) === 2 ? 2 : 1, bytes]);
      at = (at + HEADER + bytes.length) | 0;
    }
    Atomics.store(control, TAIL, head);
    return records;
  }

  /** A write, or what is left of it, when no thread writes: written here. */
  #writeHere(fd: 1 | 2, parts: Uint8Array[], size: number): number | {
    errno: number;
  } {
    const stream = fd === 1 ? Deno.stdout : Deno.stderr;
    try {
      for (const rest of parts) {
        for (let at = 0; at < rest.length;) {
          at += stream.writeSync(rest.subarray(at));
        }
      }
    } catch (error) {
      return {
        errno: error instanceof Deno.errors.BrokenPipe ? ERRNO.PIPE : ERRNO.IO,
      };
    }
    return size;
  }

  /** Copies a record into the ring at `head`, wrapping at its end. */
  #put(head: number, fd: number, bytes: Uint8Array): void {
    const ring = this.#ring;
    const mask = RING_BYTES - 1;
    for (let i = 0; i < 4; i++) {
      ring[(head + i) & mask] = (fd >>> (8 * i)) & 0xff;
      ring[(head + 4 + i) & mask] = (bytes.length >>> (8 * i)) & 0xff;
    }
    const start = (head + HEADER) & mask;
    const first = Math.min(bytes.length, RING_BYTES - start);
    ring.set(bytes.subarray(0, first), start);
    ring.set(bytes.subarray(first), 0);
  }

  /**
   * Waits, at a run's end, holding the thread, until the ring is empty,
   * unless the run stops first: what is left then goes on after the run
   * (see {@linkcode ThreadWrites.settle}). Never throws.
   *
   * @param watch The run's stops.
   */
  drain(watch: StopWatch): void {
    const control = this.#control;
    try {
      for (;;) {
        // The wait is for a change from the tail the ring was found
        // unempty with: read once, before the head, as the thread may take
        // the last bytes out between two reads of it.
        const tail = Atomics.load(control, TAIL);
        if (((Atomics.load(control, HEAD) - tail) | 0) === 0) break;
        if (Atomics.load(control, GONE) !== 0) break;
        if (Atomics.load(control, BOOT) !== 0) {
          watch.waitBlocking(control, TAIL, tail);
        } else if (this.#bootLeft > 0) {
          watch.waitBlocking(control, TAIL, tail, this.#bootLeft);
        } else if (this.#giveUp()) break;
      }
    } catch {
      // Stopped.
    }
    this.settle();
  }

  /**
   * Keeps this process alive until the thread has written what is in the
   * ring, as a pending asynchronous write to a pipe does: were it to exit
   * first, those bytes would be lost.
   */
  settle(): void {
    if (this.#settling || this.#used === 0) return;
    this.#settling = true;
    const control = this.#control;
    // A pending Atomics.waitAsync keeps no event loop alive: a timer does.
    const alive = setInterval(() => {}, 1 << 30);
    let overdue: ReturnType<typeof setTimeout> | undefined;
    const look = (): void => {
      const tail = Atomics.load(control, TAIL);
      if (this.#used === 0 || Atomics.load(control, GONE) !== 0) {
        clearInterval(alive);
        clearTimeout(overdue);
        this.#settling = false;
        return;
      }
      const waited = Atomics.waitAsync(control, TAIL, tail);
      if (waited.async) void waited.value.then(look);
      else queueMicrotask(look);
    };
    if (Atomics.load(control, BOOT) === 0) {
      overdue = setTimeout(() => this.#giveUp(), Math.max(0, this.#bootLeft));
    }
    look();
  }
}

/**
 * Writes the records asynchronously, in order; a failed write ends it.
 * Pending, they keep the process alive, as the ring's bytes did.
 */
async function writeLater(records: [1 | 2, Uint8Array][]): Promise<void> {
  const alive = setInterval(() => {}, 1 << 30);
  try {
    for (const [fd, bytes] of records) {
      const stream = fd === 1 ? Deno.stdout : Deno.stderr;
      for (let at = 0; at < bytes.length;) {
        at += await stream.write(bytes.subarray(at));
      }
    }
  } catch {
    // The reader has gone, as for the thread's writes.
  } finally {
    clearInterval(alive);
  }
}

/** The writes of this process's runs that hold their thread. */
export const threadWrites: ThreadWrites = new ThreadWrites();
