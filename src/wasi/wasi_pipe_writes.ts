/**
 * A WASI guest's writes to the host's stdout or stderr when that is a pipe
 * or a socket and a stop can end the run. Such a write blocks until the
 * reader takes the bytes, and a synchronous write held the thread where no
 * stop reaches: a loop of 1 MB writes into a pipe nobody drained, under a
 * 300 ms timeout, returned 5.5 s later, when the reader exited.
 *
 * In an async run each write is copied and handed to Deno's own
 * asynchronous write, which does the blocking part on a thread of Deno's
 * pool (started at once: a thread of early-exit's took 50 to 150 ms to
 * boot, which a one-shot command's output would wait for), and the guest
 * goes on at once. One write is in flight at a time, for the whole
 * process, so the bytes go out in the order the guest wrote them, stdout
 * and stderr together; later writes are held meanwhile, up to
 * {@linkcode HELD_BYTES}, and a write that finds no room waits, suspended,
 * in a wait the run's stops end. At the run's end what is in flight is
 * waited for, unless a stop lands first: it then goes on after the run
 * returns, and reaches the pipe when its reader takes the bytes before it
 * (or never, if the process exits first).
 *
 * @module
 */

import fs from "node:fs";
import { ERRNO } from "./wasi_abi.ts";
import type { StopWatch } from "./wasi_stops.ts";

/** The host's stream, as a guest's output writes to it. */
export interface HostStream {
  /** Writes some of the bytes, blocking the thread. */
  writeSync(bytes: Uint8Array): number;
  /** Writes some of the bytes, the blocking part on another thread. */
  write?(bytes: Uint8Array): Promise<number>;
}

/**
 * Whether a write to descriptor `fd` of this process can wait for ever: it
 * is a pipe (a FIFO) or a socket, whose reader may never take the bytes. A
 * terminal or a regular file is not.
 *
 * @param fd The descriptor: 1 or 2.
 * @returns True for a pipe or a socket.
 */
export function writesCanBlock(fd: number): boolean {
  try {
    const stat = fs.fstatSync(fd);
    return stat.isFIFO() || stat.isSocket();
  } catch {
    return false;
  }
}

/** The errno of a write that failed. */
function errnoOf(error: unknown): number {
  return error instanceof Deno.errors.BrokenPipe ? ERRNO.PIPE : ERRNO.IO;
}

/**
 * The most bytes held while a write is in flight: beyond them a write
 * waits. The size of a Linux pipe's buffer.
 */
export const HELD_BYTES = 64 * 1024;

/** Bytes for one host stream, written as one. */
interface Batch {
  write: (bytes: Uint8Array) => Promise<number>;
  bytes: Uint8Array;
  length: number;
  /** Told the errno when the write fails: one per run that wrote here. */
  failed: Set<(errno: number) => void>;
}

/**
 * The writes in flight to this process's stdout and stderr, of every run,
 * one at a time and in the order they were made. While one is in flight,
 * later writes are held, up to {@linkcode HELD_BYTES}, and go as one when
 * it ends; a write finding no room waits, in a wait the run's stops end.
 * An async guest lets the event loop turn at least every 0.5 ms (its
 * flag's tick), so that what is held goes out within about that.
 */
export class PipeWrites {
  #inFlight = false;
  readonly #held: Batch[] = [];
  #heldBytes = 0;
  /** Resolved whenever a write in flight ends. */
  #ended: PromiseWithResolvers<void> | undefined;

  /** Whether a write is in flight or held (as this thread last heard). */
  get busy(): boolean {
    return this.#inFlight;
  }

  /**
   * Writes `parts` to a host stream, copied at once: they go at once when
   * nothing is in flight, else are held while there is room.
   *
   * @param write The host stream's asynchronous write.
   * @param parts The bytes, in order.
   * @param size Their length.
   * @param failed Told the errno when the write fails.
   * @param watch The run's stops, which end a wait for room.
   * @returns `undefined` once handed over, or a promise of that which
   *   rejects with the stop error when the run stops first.
   */
  write(
    write: (bytes: Uint8Array) => Promise<number>,
    parts: Uint8Array[],
    size: number,
    failed: (errno: number) => void,
    watch: StopWatch,
  ): undefined | Promise<void> {
    if (!this.#inFlight) {
      this.#inFlight = true;
      const batch: Batch = {
        write,
        bytes: new Uint8Array(size),
        length: 0,
        failed: new Set([failed]),
      };
      copyInto(batch, parts);
      void this.#pump(batch);
      return undefined;
    }
    if (this.#heldBytes + size <= HELD_BYTES) {
      let last = this.#held.at(-1);
      if (last?.write !== write) {
        last = {
          write,
          bytes: new Uint8Array(HELD_BYTES),
          length: 0,
          failed: new Set(),
        };
        this.#held.push(last);
      }
      last.failed.add(failed);
      copyInto(last, parts);
      this.#heldBytes += size;
      return undefined;
    }
    this.#ended ??= Promise.withResolvers();
    return watch.race(this.#ended.promise).then(() =>
      this.write(write, parts, size, failed, watch)
    );
  }

  /** Writes batch after batch until none is held. */
  async #pump(first: Batch): Promise<void> {
    for (let batch: Batch | undefined = first; batch !== undefined;) {
      try {
        const bytes = batch.bytes.subarray(0, batch.length);
        for (let at = 0; at < bytes.length;) {
          at += await batch.write(bytes.subarray(at));
        }
      } catch (error) {
        for (const failed of batch.failed) failed(errnoOf(error));
      }
      batch = this.#held.shift();
      if (batch !== undefined) this.#heldBytes -= batch.length;
      this.#inFlight = batch !== undefined;
      const ended = this.#ended;
      this.#ended = undefined;
      ended?.resolve();
    }
  }

  /**
   * Waits, at a run's end, until nothing is in flight, unless the run
   * stops first. Never rejects.
   *
   * @param watch The run's stops.
   */
  async drain(watch: StopWatch): Promise<void> {
    try {
      while (this.#inFlight) {
        this.#ended ??= Promise.withResolvers();
        await watch.race(this.#ended.promise);
      }
    } catch {
      // Stopped: what is left goes on after the run.
    }
  }
}

/** Copies `parts` after the batch's bytes. */
function copyInto(batch: Batch, parts: Uint8Array[]): void {
  for (const part of parts) {
    batch.bytes.set(part, batch.length);
    batch.length += part.length;
  }
}

/** The writes to this process's stdout and stderr. */
export const pipeWrites: PipeWrites = new PipeWrites();
