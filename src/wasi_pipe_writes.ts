/**
 * A WASI guest's writes to the host's stdout or stderr when that is a pipe
 * or a socket and a stop can end the run. Such a write blocks until the
 * reader takes the bytes, and a synchronous write held the thread where no
 * stop reaches: a loop of 1 MB writes into a pipe nobody drained, under a
 * 300 ms timeout, returned 5.5 s later, when the reader exited.
 *
 * In an async run each write is handed to Deno's own asynchronous write,
 * which does the blocking part on a thread of Deno's pool (started at once,
 * no thread of early-exit's to boot), and the guest goes on at once. A
 * write that finds an earlier one still in flight waits for it, suspended,
 * in a wait the run's stops end; so at most one write is ever in flight,
 * and the bytes go out in the order the guest wrote them, stdout and
 * stderr together. At the run's end the write in flight is waited for,
 * unless a stop lands first: it then goes on after the run returns, and
 * reaches the pipe when its reader takes the bytes before it (or never, if
 * the process exits first).
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

/** Writes all of `bytes`, a part at a time. */
async function writeAll(
  write: (bytes: Uint8Array) => Promise<number>,
  bytes: Uint8Array,
): Promise<void> {
  for (let at = 0; at < bytes.length;) at += await write(bytes.subarray(at));
}

/** The writes of one run in flight to the host's streams, one at a time. */
export class PipeWrites {
  readonly #watch: StopWatch;
  #inFlight: Promise<void> | undefined;

  /**
   * Makes the queue of one run.
   *
   * @param watch The run's stops, which end a wait for a write.
   */
  constructor(watch: StopWatch) {
    this.#watch = watch;
  }

  /** Whether a write is in flight (as this thread last heard). */
  get busy(): boolean {
    return this.#inFlight !== undefined;
  }

  /**
   * Starts writing `bytes`, which the caller gives up, to `write`.
   *
   * @param write The host stream's asynchronous write.
   * @param bytes What to write.
   * @param failed Told the errno when the write fails.
   */
  start(
    write: (bytes: Uint8Array) => Promise<number>,
    bytes: Uint8Array,
    failed: (errno: number) => void,
  ): void {
    const done: Promise<void> = writeAll(write, bytes).catch((error) =>
      failed(errnoOf(error))
    ).then(() => {
      if (this.#inFlight === done) this.#inFlight = undefined;
    });
    this.#inFlight = done;
  }

  /**
   * Waits for the write in flight to end.
   *
   * @returns A promise that rejects with the stop error when the run
   *   stops first.
   */
  turn(): Promise<void> {
    return this.#watch.race(this.#inFlight ?? Promise.resolve());
  }

  /**
   * Waits, at the run's end, for the write in flight, unless the run
   * stops first. Never rejects.
   */
  drain(): Promise<void> {
    if (this.#inFlight === undefined) return Promise.resolve();
    return this.turn().catch(() => {});
  }
}
