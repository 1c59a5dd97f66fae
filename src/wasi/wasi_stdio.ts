/**
 * A WASI guest's stdin, stdout and stderr, kept by early-exit rather than
 * by `node:wasi` (which only takes OS file descriptors): output passes
 * through to the host's or is captured up to a cap, and input comes from
 * bytes or a stream, read while the guest is suspended.
 *
 * @module
 */

import process from "node:process";
import { ownView } from "../bytes.ts";
import { ERRNO, MAX_TRANSFER, MAX_TRANSFER_VECTORS } from "./wasi_abi.ts";
import type { StopWatch } from "./wasi_stops.ts";
import type { HostStream, PipeWrites } from "./wasi_pipe_writes.ts";
import type { ThreadWrites } from "./wasi_thread_writes.ts";
import { streamLocked } from "./wasi_option_checks.ts";

/** A stream's `getReader`, which takes only a real stream. */
const GET_READER = ReadableStream.prototype.getReader as (
  this: ReadableStream<Uint8Array>,
) => ReadableStreamDefaultReader<Uint8Array>;

/**
 * How a stream whose writes can block for ever still lets a stop end the
 * run: through the asynchronous writes of an async run
 * (`wasi_pipe_writes.ts`), or the writing thread of one that holds its
 * thread (`wasi_thread_writes.ts`).
 */
export type StoppableWrites =
  | { queue: PipeWrites; watch: StopWatch }
  | { thread: ThreadWrites; fd: 1 | 2; watch: StopWatch };

/**
 * Where a guest's stdout or stderr goes.
 *
 * @example Usage
 * ```ts
 * import { runWasi, type WasiOutputMode } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * const stdout: WasiOutputMode = "ignore";
 * const hello = new URL("../../guest/wasi/hello.wasm", import.meta.url);
 * const result = await runWasi(hello, { args: ["ada"], stdout });
 * assert.equal(result.stdout, undefined); // only "capture" keeps it
 * ```
 */
export type WasiOutputMode = "inherit" | "capture" | "ignore";

/** The default cap on captured output, per stream: 1 MiB. */
export const DEFAULT_OUTPUT_LIMIT = 1 << 20;

/** One output stream of the guest. */
export class OutputSink {
  readonly #mode: WasiOutputMode;
  readonly #limit: number;
  readonly #host: HostStream;
  /** The writes in flight, when this stream's can block for ever. */
  readonly #queue: PipeWrites | undefined;
  readonly #watch: StopWatch | undefined;
  readonly #asyncWrite: ((bytes: Uint8Array) => Promise<number>) | undefined;
  /** The writing thread, when this stream's writes can block for ever. */
  readonly #thread:
    | { thread: ThreadWrites; fd: 1 | 2; watch: StopWatch }
    | undefined;
  readonly #onFailure = (errno: number) => {
    this.#failed = errno;
  };
  /** The errno of a write in flight that failed, for the next write. */
  #failed: number | undefined;
  // One buffer, grown by doubling, rather than a copy per write: a guest
  // writing a byte at a time made 1 MiB captured cost over 200 MiB of
  // heap in small arrays.
  #buffer = new Uint8Array(0);
  #kept = 0;
  /** Bytes written past the cap and not kept. */
  dropped = 0;

  /**
   * Makes a stream.
   *
   * @param mode Pass through, capture, or drop.
   * @param limit The most bytes captured.
   * @param host The host's stream, for `inherit`.
   * @param queued The writes in flight (or the writing thread) and the
   *   run's stops, when a write to `host` can wait for ever and a stop
   *   must still end the run: each write is then asynchronous (or done on
   *   that thread).
   */
  constructor(
    mode: WasiOutputMode,
    limit: number,
    host: HostStream,
    queued?: StoppableWrites,
  ) {
    this.#mode = mode;
    this.#limit = limit;
    this.#host = host;
    if (mode === "inherit" && queued !== undefined && "thread" in queued) {
      this.#thread = queued;
    } else if (
      mode === "inherit" && host.write !== undefined && queued !== undefined &&
      "queue" in queued
    ) {
      this.#queue = queued.queue;
      this.#watch = queued.watch;
      this.#asyncWrite = host.write.bind(host);
    }
  }

  /**
   * Writes what the guest wrote; copies it out of guest memory.
   *
   * @param vectors The guest's buffers.
   * @returns The bytes written, at most {@linkcode MAX_TRANSFER} from at
   *   most {@linkcode MAX_TRANSFER_VECTORS} vectors (a short write,
   *   whatever the mode, so that the count fits the guest's 32-bit
   *   result and a run pays the same fuel for it in every mode); captured
   *   or ignored, those past the cap too, so that the guest does not retry.
   *   Or the errno of a write to the host's stream that failed before a
   *   byte went: `PIPE` when its reader went away (`| head`), else `IO`.
   *   With a queue, either once the write before it ended (a promise the
   *   run's stops reject), or at once when none is in flight.
   */
  write(
    vectors: Uint8Array[],
  ): number | { errno: number } | Promise<number | { errno: number }> {
    // Passed through a vector at a time: 1024 of them held the thread 2 ms.
    vectors = vectors.slice(0, MAX_TRANSFER_VECTORS);
    if (this.#queue !== undefined) return this.#queued(this.#queue, vectors);
    if (this.#thread !== undefined) {
      const { thread, fd, watch } = this.#thread;
      const [parts, size] = partsOf(vectors);
      if (size === 0) return 0;
      return thread.write(fd, parts, size, watch);
    }
    let total = 0;
    if (this.#mode === "inherit") {
      for (const vector of vectors) {
        const part = vector.subarray(0, MAX_TRANSFER - total);
        for (let at = 0; at < part.length;) {
          try {
            at += this.#host.writeSync(part.subarray(at));
          } catch (error) {
            // The guest's to handle, as a native program's write error:
            // thrown, it would end the run as an error of early-exit's.
            // What went before is a short write; the next write fails.
            if (total + at > 0) return total + at;
            return {
              errno: error instanceof Deno.errors.BrokenPipe
                ? ERRNO.PIPE
                : ERRNO.IO,
            };
          }
        }
        total += part.length;
        if (part.length < vector.length) break;
      }
      return total;
    }
    for (const vector of vectors) {
      const part = vector.subarray(0, MAX_TRANSFER - total);
      total += part.length;
      if (this.#mode === "capture") {
        const room = Math.max(0, this.#limit - this.#kept);
        const kept = part.subarray(0, room);
        if (kept.length > 0) this.#keep(kept);
        this.dropped += part.length - kept.length;
      }
      if (part.length < vector.length) break;
    }
    return total;
  }

  /**
   * A write through the queue: copied at once (the guest's memory is its
   * own again when the call returns), and written after those before it.
   */
  #queued(
    queue: PipeWrites,
    vectors: Uint8Array[],
  ): number | { errno: number } | Promise<number | { errno: number }> {
    // A write in flight that failed fails this one, as a blocking write
    // would have: the guest was told that one went. A pipe whose reader
    // went away fails every write after.
    const failed = this.#failed;
    if (failed !== undefined) {
      if (failed !== ERRNO.PIPE) this.#failed = undefined;
      return { errno: failed };
    }
    const [parts, size] = partsOf(vectors);
    if (size === 0) return 0;
    const handed = queue.write(
      this.#asyncWrite!,
      parts,
      size,
      this.#onFailure,
      this.#watch!,
    );
    return handed === undefined ? size : handed.then(() => size);
  }

  /** Copies bytes after those kept, growing the buffer up to the cap. */
  #keep(bytes: Uint8Array): void {
    const needed = this.#kept + bytes.length;
    if (needed > this.#buffer.length) {
      const grown = new Uint8Array(
        Math.min(this.#limit, Math.max(needed, 2 * this.#buffer.length, 4096)),
      );
      grown.set(this.#buffer.subarray(0, this.#kept));
      this.#buffer = grown;
    }
    this.#buffer.set(bytes, this.#kept);
    this.#kept = needed;
  }

  /** What was captured, or `undefined` when the stream is not captured. */
  captured(): Uint8Array | undefined {
    if (this.#mode !== "capture") return undefined;
    return this.#buffer.slice(0, this.#kept);
  }
}

/**
 * The parts of the guest's buffers one write takes: at most
 * {@linkcode MAX_TRANSFER} bytes, and their length.
 */
function partsOf(vectors: Uint8Array[]): [Uint8Array[], number] {
  const parts: Uint8Array[] = [];
  let size = 0;
  for (const vector of vectors) {
    const part = vector.subarray(0, MAX_TRANSFER - size);
    parts.push(part);
    size += part.length;
    if (part.length < vector.length) break;
  }
  return [parts, size];
}

/**
 * What the guest's stdin can be: bytes, a stream, or `"inherit"`, this
 * process's stdin.
 *
 * @example Usage
 * ```ts
 * import { runWasi, type WasiInput } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * // hello.wasm reads no stdin: any input is accepted and left unread.
 * const stdin: WasiInput = new TextEncoder().encode("unread\n");
 * const hello = new URL("../../guest/wasi/hello.wasm", import.meta.url);
 * const result = await runWasi(hello, { stdin, stdout: "capture" });
 * assert.equal(result.outcome, "exited");
 * ```
 */
export type WasiInput = Uint8Array | ReadableStream<Uint8Array> | "inherit";

/** How much one blocking read of this process's stdin asks for. */
const READ_CHUNK = 64 * 1024;

/** Whether a run reads this process's stdin through `process.stdin`. */
let stdinTaken = false;

/** What the guest's stdin reads a stream through. */
interface ChunkReader {
  read(): Promise<ReadableStreamReadResult<Uint8Array>>;
  cancel(): Promise<void>;
  releaseLock(): void;
}

/** What `unrefIdleRead` needs of Deno's `process.stdin`. */
interface DenoProcessStdin {
  _handle?: { unref?(): void };
  _read?: (this: typeof process.stdin, size: number) => void;
  listenerCount(event: string): number;
}

let idleReadsUnrefed = false;

/**
 * Lets go of the read `process.stdin` leaves pending when nobody listens.
 * Deno's `process.stdin` has no `unref()` and refs this process's stdin at
 * every read it starts, paused or not: a stopped run that had had a chunk
 * left a read pending that kept the process alive until more input or its
 * end, and each chunk that then came started another. So its reads are
 * wrapped, once: one started while no run holds stdin and no `data` or
 * `readable` listener waits is unref'd; a caller who listens refs it again.
 */
function unrefIdleRead(stdin: typeof process.stdin): void {
  const own = stdin as unknown as DenoProcessStdin;
  const handle = own._handle;
  if (typeof handle?.unref !== "function") return;
  const idle = () =>
    !stdinTaken && own.listenerCount("data") === 0 &&
    own.listenerCount("readable") === 0;
  if (idle()) handle.unref();
  const read = own._read;
  if (idleReadsUnrefed || typeof read !== "function") return;
  idleReadsUnrefed = true;
  own._read = function (size) {
    read.call(this, size);
    if (idle()) handle.unref!();
  };
}

/**
 * This process's stdin, a chunk at a time, through `node:process`: a read
 * of `Deno.stdin` cannot be given up, and one left pending by a stopped run
 * kept the process alive until a byte or the end came (for ever, at a
 * terminal). This one is let go of (paused and unref'd) when the run ends,
 * and what it holds unread stays in `process.stdin` for the caller.
 */
function processStdin(): ChunkReader {
  // Two readers would each get every chunk; one that holds Deno.stdin's
  // stream would race this one for them.
  if (stdinTaken || Deno.stdin.readable.locked) {
    throw new TypeError(
      `runWasi was given stdin: "inherit" while this process's stdin is read elsewhere (another run, or a reader not released): wait for that run, or release the reader`,
    );
  }
  stdinTaken = true;
  let taken = true;
  const stdin = process.stdin;
  const chunks: Uint8Array[] = [];
  let ended = false;
  let failed: { error: unknown } | undefined;
  let wake: (() => void) | undefined;
  // Listened to for the whole run: the end may come while no read waits.
  const onData = (chunk: Uint8Array) => {
    chunks.push(new Uint8Array(chunk));
    stdin.pause();
    wake?.();
  };
  const onEnd = () => {
    ended = true;
    wake?.();
  };
  const onError = (error: unknown) => {
    failed = { error };
    wake?.();
  };
  stdin.on("data", onData);
  stdin.on("end", onEnd);
  stdin.on("error", onError);
  stdin.pause();
  const letGo = () => {
    if (taken) stdinTaken = taken = false;
    wake = undefined;
    stdin.off("data", onData);
    stdin.off("end", onEnd);
    stdin.off("error", onError);
    stdin.pause();
    stdin.unref?.();
    // What the guest did not get goes back, for the caller to read (a
    // stream that has ended takes nothing back).
    if (!ended) { for (const chunk of chunks.reverse()) stdin.unshift(chunk); }
    chunks.length = 0;
    unrefIdleRead(stdin);
  };
  const next = (): Promise<ReadableStreamReadResult<Uint8Array>> => {
    const chunk = chunks.shift();
    if (chunk !== undefined) {
      return Promise.resolve({ done: false, value: chunk });
    }
    if (failed !== undefined) return Promise.reject(failed.error);
    if (ended) return Promise.resolve({ done: true, value: undefined });
    return new Promise<void>((resolve) => {
      wake = resolve;
      stdin.ref?.();
      stdin.resume();
    }).then(() => {
      wake = undefined;
      stdin.unref?.();
      return next();
    });
  };
  return {
    read: next,
    cancel() {
      letGo();
      return Promise.resolve();
    },
    releaseLock: letGo,
  };
}

/**
 * The guest's stdin: bytes, a stream read while the guest waits, or this
 * process's stdin read on the spot.
 */
export class InputSource {
  #pending: Uint8Array = new Uint8Array(0);
  readonly #reader: ChunkReader | undefined;
  #blocking = false;
  #ended = false;
  #released = false;
  #fetching: Promise<void> | undefined;
  #failed: { error: unknown } | undefined;

  /**
   * Makes stdin.
   *
   * @param stdin Its bytes, a stream of them, `"inherit"`, or nothing
   *   (empty).
   * @param blocking Whether the guest runs as a plain call, which cannot
   *   wait for a promise: an inherited stdin is then read on the spot.
   */
  constructor(stdin: WasiInput | undefined, blocking = false) {
    if (stdin === "inherit" && blocking) {
      this.#blocking = true;
    } else if (stdin === "inherit") {
      this.#reader = processStdin();
    } else if (stdin instanceof ReadableStream) {
      // Through the prototype: a stream's own `locked` or `getReader` (a
      // getter that throws) runs none of the caller's code.
      if (streamLocked(stdin)) {
        throw new TypeError(
          "runWasi's stdin stream is locked by another reader: release its lock, or give the run a stream of its own",
        );
      }
      this.#reader = GET_READER.call(stdin);
    } else {
      this.#pending = stdin === undefined ? this.#pending : ownView(stdin);
      this.#ended = true;
    }
  }

  /** Bytes that can be read without waiting. */
  get ready(): number {
    return this.#pending.length;
  }

  /**
   * Reads into the guest's buffers.
   *
   * @param vectors Gets the buffers, which move if memory grew.
   * @param watch Ends a wait for the stream when the run stops.
   * @returns The bytes read (0 at the end), now or once the stream gives
   *   some.
   */
  read(
    vectors: () => Uint8Array[],
    watch: StopWatch,
  ): number | Promise<number> {
    if (this.#pending.length > 0 || this.#ended) return this.#fill(vectors());
    if (this.#failed !== undefined) throw this.#failed.error;
    if (this.#blocking) {
      const chunk = new Uint8Array(READ_CHUNK);
      const n = Deno.stdin.readSync(chunk);
      if (n === null) this.#ended = true;
      else this.#pending = chunk.subarray(0, n);
      return this.#fill(vectors());
    }
    return watch.race(this.fetch(), () => this.close()).then(() =>
      this.read(vectors, watch)
    );
  }

  /** Whether a read of the stream is in progress. */
  get fetching(): boolean {
    return this.#fetching !== undefined;
  }

  /**
   * Whether a read would wait for the stream: nothing is pending, and the
   * stream has neither ended nor failed.
   */
  get waiting(): boolean {
    return this.#reader !== undefined && this.#pending.length === 0 &&
      !this.#ended && this.#failed === undefined;
  }

  /**
   * Reads the stream's next chunk into what is pending, or marks its end;
   * one read at a time, which a later call (a read after a `poll_oneoff`
   * that stopped waiting for it) waits for too. Never rejects: a failure
   * is kept, and thrown by the next read.
   */
  fetch(): Promise<void> {
    if (!this.waiting) return Promise.resolve();
    return this.#fetching ??= this.#reader!.read().then(
      ({ value, done }) => {
        this.#fetching = undefined;
        if (done) {
          this.#ended = true;
        } else if (!(value instanceof Uint8Array)) {
          this.#failed = {
            error: new TypeError(
              `runWasi's stdin stream gave ${
                typeof value === "string" ? "a string" : String(value)
              }, not bytes: give it Uint8Arrays (pipe a stream of text through a TextEncoderStream)`,
            ),
          };
        } else if (ownView(value).length === 0) {
          // An empty chunk is not the end, which a read of 0 bytes would
          // tell the guest: read on, after a turn of the event loop, so
          // that a stream of nothing but empty chunks leaves the run's
          // stops their turn.
          return new Promise<void>((resolve) => setTimeout(resolve, 0))
            .then(() => this.fetch());
        } else {
          this.#pending = ownView(value);
        }
      },
      (error) => {
        this.#fetching = undefined;
        this.#failed = { error };
      },
    );
  }

  #fill(vectors: Uint8Array[]): number {
    let read = 0;
    for (const vector of vectors) {
      const n = Math.min(vector.length, this.#pending.length);
      vector.set(this.#pending.subarray(0, n));
      this.#pending = this.#pending.subarray(n);
      read += n;
      if (this.#pending.length === 0) break;
    }
    return read;
  }

  /** Lets go of the stream: cancels what is left of it. */
  close(): void {
    if (this.#reader === undefined || this.#ended) return;
    this.#ended = true;
    this.#reader.cancel().catch(() => {});
  }

  /**
   * Lets go of the stream, which the caller may read on: also one that
   * ended or was cancelled, whose lock (or this process's stdin) is held
   * until then.
   */
  release(): void {
    if (this.#reader === undefined || this.#released) return;
    this.#ended = true;
    this.#released = true;
    this.#reader.releaseLock();
  }
}
