/**
 * Loads a guest from a path, a `file:`/`http(s):` URL, bytes, or a compiled
 * module, turning every way that can fail into one branded error that says
 * how to fix it.
 *
 * Files are read with `Deno.readFile`, so Deno's permission model gates them:
 * without `--allow-read` the read fails with `Deno.errors.NotCapable`, which
 * becomes a {@linkcode GuestLoadError} naming the flag to add.
 *
 * @module
 */

import { GuestLoadError, InvalidModule, isGuestLoadError } from "../errors.ts";
import { readPipe } from "./load_pipe.ts";
import { compileElsewhere, CompileThreadGone } from "./compile_thread.ts";
import { describeValue } from "../option_checks.ts";
import { isInstance } from "../thrown_values.ts";
import { DETACHED, isDetached, sourceHint } from "../module/source_hints.ts";
import type { CompileOptions } from "../module/compile_options.ts";

/** `WebAssembly.compile` with compile options, which the types lack. */
const compileWith = WebAssembly.compile as (
  bytes: BufferSource,
  options?: CompileOptions,
) => Promise<WebAssembly.Module>;

/** `new WebAssembly.Module` with compile options. */
const ModuleWith = WebAssembly.Module as unknown as new (
  bytes: BufferSource,
  options?: CompileOptions,
) => WebAssembly.Module;

/** `WebAssembly.compileStreaming` with compile options. */
const compileStreamingWith = WebAssembly.compileStreaming as (
  source: Response,
  options?: CompileOptions,
) => Promise<WebAssembly.Module>;

/**
 * Anything a guest can be loaded from.
 *
 * @example Usage
 * ```ts
 * import { type GuestSource, loadGuest } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * const url = new URL("../../guest/compute.wasm", import.meta.url);
 * const sources: GuestSource[] = [url, await Deno.readFile(url)];
 * for (const source of sources) {
 *   assert.equal((await loadGuest(source)).call("fib", 10), 55);
 * }
 * ```
 */
export type GuestSource =
  | string
  | URL
  | Uint8Array
  | ArrayBuffer
  | WebAssembly.Module;

/** A loaded guest, with its bytes when they were available. */
export interface LoadedModule {
  /** The compiled module; absent when it was loaded without compiling. */
  module: WebAssembly.Module | undefined;
  /** The module's bytes; absent when a compiled module was given. */
  bytes: Uint8Array | undefined;
  /** A short name for the source, for messages. */
  label: string;
}

const MAGIC = [0x00, 0x61, 0x73, 0x6d];

/**
 * Turns a path or URL string into a URL. Strings with a scheme of two or more
 * letters are URLs; everything else (including `C:\…`) is a path.
 */
export function toUrl(source: string | URL): URL | string {
  if (source instanceof URL) return source;
  return /^[a-z][a-z0-9+.-]+:/i.test(source) ? new URL(source) : source;
}

/** A path or URL's name in messages: a file's path, relative where it can be. */
export function labelOf(target: URL | string): string {
  if (typeof target === "string") return target;
  if (target.protocol !== "file:") return target.href;
  const path = decodeURIComponent(target.pathname);
  try {
    const cwd = Deno.cwd();
    if (path.startsWith(`${cwd}/`)) return path.slice(cwd.length + 1);
  } catch {
    // Reading the working directory needs read permission; the absolute path will do.
  }
  return path;
}

async function readLocal(
  target: URL | string,
  label: string,
  room?: (size: number) => number,
  signal?: AbortSignal,
  before = 0,
): Promise<Uint8Array> {
  try {
    if (signal !== undefined && (await Deno.stat(target)).isFifo) {
      return await readFifo(target, label, signal);
    }
    return await readWithRoom(
      target,
      label,
      room ?? (() => 0),
      signal,
      before,
    );
  } catch (error) {
    throw localReadError(error, label);
  }
}

/**
 * What a failed read of a local guest file throws: the error itself when it
 * is already early-exit's, else a `GuestLoadError` that names the cause
 * (a missing permission and its flag, a missing file, a directory).
 *
 * @param error What the read threw.
 * @param label The file's name in messages.
 */
export function localReadError(error: unknown, label: string): Error {
  if (error instanceof GuestLoadError || error instanceof InvalidModule) {
    return error;
  }
  if (error instanceof Deno.errors.NotCapable) {
    // Deno lets a program open a device (`/dev/stdin`, say) only with
    // every permission, --allow-read or not.
    if (/requires all access/i.test(error.message)) {
      return new GuestLoadError(
        "permission",
        `cannot read ${label}: Deno opens a device only with --allow-all`,
        "give the path of a file, or pass the bytes themselves",
        { cause: error },
      );
    }
    return new GuestLoadError(
      "permission",
      `cannot read ${label}: read permission is missing`,
      `run again with --allow-read=${label} (or --allow-read)`,
      { cause: error },
    );
  }
  if (error instanceof Deno.errors.NotFound) {
    return new GuestLoadError(
      "not_found",
      `guest file not found: ${label}`,
      "check the path",
      { cause: error },
    );
  }
  if (error instanceof Deno.errors.IsADirectory) {
    return new GuestLoadError(
      "is_directory",
      `${label} is a directory, not a .wasm file`,
      "name a .wasm file inside it",
      { cause: error },
    );
  }
  return new GuestLoadError(
    "io",
    `cannot read ${label}: ${(error as Error).message}`,
    "check the file and its permissions",
    { cause: error },
  );
}

/** A fetch that failed, or whose body broke off, as a {@linkcode GuestLoadError}. */
function fetchFailed(label: string, error: unknown): GuestLoadError {
  return new GuestLoadError(
    "fetch",
    `cannot fetch ${label}: ${(error as Error).message}`,
    "check the URL and that the server is up",
    { cause: error },
  );
}

async function fetchRemote(
  url: URL,
  label: string,
  signal?: AbortSignal,
): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(url, { signal });
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) {
      throw new GuestLoadError(
        "permission",
        `cannot fetch ${label}: network permission is missing`,
        `run again with --allow-net=${url.host}`,
        { cause: error },
      );
    }
    throw fetchFailed(label, error);
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new GuestLoadError(
      "fetch",
      `cannot fetch ${label}: HTTP ${response.status} ${response.statusText}`,
      "check the URL",
    );
  }
  return response;
}

/**
 * Checks the 8-byte preamble, so that "not wasm at all" and "a component,
 * not a core module" get their own messages rather than V8's.
 */
export function checkPreamble(bytes: Uint8Array, label: string): void {
  if (bytes.length === 0) {
    throw new InvalidModule(
      `${label} is empty: expected a WebAssembly module, which starts with \\0asm; give the compiled .wasm binary (check that its build finished writing it)`,
    );
  }
  const isWasm = bytes.length >= 4 && MAGIC.every((b, i) => bytes[i] === b);
  if (!isWasm) {
    throw new InvalidModule(
      `${label} is not a WebAssembly module: it does not start with \\0asm; give the compiled .wasm binary, not its text format or source`,
    );
  }
  if (bytes.length >= 8 && bytes[4] === 0x0d && bytes[6] === 0x01) {
    throw new InvalidModule(
      `${label} is a WebAssembly component; only core modules can run here: build it as a core module (such as for wasm32-wasip1)`,
    );
  }
}

/**
 * Checks the first bytes of a module that arrives in pieces (from a
 * device, a pipe or a server) as they come, so that a source that is not
 * wasm at all is refused at its first bytes: an endless one (`/dev/zero`,
 * a page that never ends) was read on to {@linkcode MAX_MODULE_BYTES}
 * first, a gigabyte of memory and many seconds for a one-line refusal.
 */
class PreambleWatch {
  #head = new Uint8Array(8);
  #seen = 0;
  constructor(readonly label: string) {}

  /** Takes the next piece; throws {@linkcode InvalidModule} once the first bytes rule out a module. */
  take(chunk: Uint8Array): void {
    if (this.#seen >= this.#head.length) return;
    const count = Math.min(this.#head.length - this.#seen, chunk.length);
    this.#head.set(chunk.subarray(0, count), this.#seen);
    this.#seen += count;
    if (this.#seen >= MAGIC.length) {
      checkPreamble(this.#head.subarray(0, this.#seen), this.label);
    }
  }
}

/** The engine's refusal to compile a guest, as {@linkcode InvalidModule}. */
function invalidModule(label: string, error: unknown): InvalidModule {
  return new InvalidModule(
    `${label} is not a valid WebAssembly module: ${
      (error as Error).message
    }; check that the file is whole, or rebuild it`,
    { cause: error },
  );
}

/**
 * The largest module compiled on the thread that loads it, at once: the
 * engine's asynchronous compile runs on its own threads and hands the
 * module back through a task on this one, two thread wake-ups that on a
 * busy machine each waited for a core (a tiny guest's compile, p90 of 50
 * loads at load average 4 to 5: 4.1 to 13.8 ms that way, 0.5 to 0.7 at
 * once). 48 KB of rewritten code compiles in about 0.4 ms at once (the
 * engine compiles function bodies lazily, as they are first called).
 */
export const SYNC_COMPILE_BYTES = 64 * 1024;

/**
 * How many bytes a streamed compile hands the engine at a time; a stoppable
 * compile of more goes to the compile thread.
 */
export const STREAM_CHUNK = 1 << 20;

/**
 * `bytes` as a wasm response whose body comes a chunk at a time, and breaks
 * off when `signal` aborts: the engine then gives up the compile, rather
 * than finish it for nothing (which kept a stopped process alive).
 */
function streamOf(bytes: Uint8Array, signal: AbortSignal): Response {
  let at = 0;
  let stop = () => {};
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      stop = () => controller.error(signal.reason);
      signal.addEventListener("abort", stop, { once: true });
    },
    pull(controller) {
      // A copy of a shared buffer's piece: the engine is not handed one.
      const piece = bytes.subarray(at, at += STREAM_CHUNK);
      controller.enqueue(
        piece.buffer instanceof SharedArrayBuffer ? piece.slice() : piece,
      );
      if (at >= bytes.length) {
        controller.close();
        signal.removeEventListener("abort", stop);
      }
    },
  });
  return new Response(body, {
    headers: { "content-type": "application/wasm" },
  });
}

/**
 * Compiles bytes, turning V8's `CompileError` into {@linkcode InvalidModule}.
 *
 * @param bytes The module's bytes.
 * @param label A short name for messages.
 * @param options Compile options, such as builtins.
 * @param stream A module of at most {@linkcode SYNC_COMPILE_BYTES} is
 *   compiled at once whatever this is. When given, a module over
 *   {@linkcode STREAM_CHUNK} is
 *   compiled on the compile thread (`compile_thread.ts`), or, when there is
 *   none, handed to the engine a chunk at a time, until this signal aborts:
 *   the engine's compile holds the thread that asks for it (`compile` copies
 *   the bytes at once, up to 18 ms for esbuild's, and both decode and
 *   validate there, 40 to 100 ms of CPU in pieces), and a stop that comes
 *   then waits.
 * @returns The compiled module.
 */
export async function compileBytes(
  bytes: Uint8Array,
  label: string,
  options?: CompileOptions,
  stream?: AbortSignal,
): Promise<WebAssembly.Module> {
  checkPreamble(bytes, label);
  try {
    if (bytes.length <= SYNC_COMPILE_BYTES) {
      return new ModuleWith(bytes as Uint8Array<ArrayBuffer>, options);
    }
    if (stream === undefined || bytes.length <= STREAM_CHUNK) {
      return await compileWith(bytes as Uint8Array<ArrayBuffer>, options);
    }
    try {
      return await compileElsewhere(bytes, options, stream);
    } catch (error) {
      if (!(error instanceof CompileThreadGone)) throw error;
    }
    return await compileStreamingWith(streamOf(bytes, stream), options);
  } catch (error) {
    throw invalidModule(label, error);
  }
}

/**
 * The most bytes a remote guest may send: the engine's largest module
 * (1 GiB). A server that sends on, however long, is cut off there instead
 * of filling this process's memory.
 */
export const MAX_MODULE_BYTES = 1 << 30;

/** The error for a module larger than {@linkcode MAX_MODULE_BYTES}. */
export function tooLarge(
  label: string,
  how: "fetch" | "read",
): GuestLoadError {
  return how === "fetch"
    ? new GuestLoadError(
      "fetch",
      `cannot fetch ${label}: the server sent more than ${MAX_MODULE_BYTES} bytes, the largest module the engine compiles`,
      "check the URL",
    )
    : new GuestLoadError(
      "io",
      `cannot read ${label}: it holds more than ${MAX_MODULE_BYTES} bytes, the largest module the engine compiles`,
      "check the path",
    );
}

/** `stream`, failing once it has passed {@linkcode MAX_MODULE_BYTES}. */
function capped(
  stream: ReadableStream<Uint8Array>,
  label: string,
): ReadableStream<Uint8Array> {
  let total = 0;
  return stream.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        total += chunk.length;
        if (total > MAX_MODULE_BYTES) {
          controller.error(tooLarge(label, "fetch"));
        } else controller.enqueue(chunk);
      },
    }),
  );
}

/** A stream's bytes, up to {@linkcode MAX_MODULE_BYTES}. */
async function collect(
  stream: ReadableStream<Uint8Array> | null,
  label: string,
  how: "fetch" | "read" = "fetch",
): Promise<Uint8Array> {
  if (stream === null) return new Uint8Array(0);
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  const preamble = new PreambleWatch(label);
  let total = 0;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      preamble.take(value);
      total += value.length;
      if (total > MAX_MODULE_BYTES) throw tooLarge(label, how);
      chunks.push(value);
    }
  } catch (error) {
    await reader.cancel().catch(() => {});
    throw error;
  }
  // Always a buffer of its own: a cache hit may build its output in it.
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  return bytes;
}

/**
 * A module's bytes from a stream, such as stdin: up to
 * {@linkcode MAX_MODULE_BYTES}, and refused at its first bytes when they
 * are not wasm.
 *
 * @param stream The bytes.
 * @param label The stream's name in messages.
 * @returns The bytes, in a buffer of their own.
 * @throws {GuestLoadError} When the read fails or passes the cap.
 * @throws {InvalidModule} When the first bytes are not a core module's.
 */
export async function readModuleStream(
  stream: ReadableStream<Uint8Array>,
  label: string,
): Promise<Uint8Array> {
  try {
    return await collect(stream, label, "read");
  } catch (error) {
    if (isGuestLoadError(error) || error instanceof InvalidModule) throw error;
    throw new GuestLoadError(
      "io",
      `cannot read ${label}: ${(error as Error).message}`,
      "check what is sent to it",
      { cause: error },
    );
  }
}

/** A response's bytes, with a fetch error for a body that breaks off. */
async function readBody(
  response: Response,
  label: string,
): Promise<Uint8Array> {
  try {
    return await collect(response.body, label);
  } catch (error) {
    if (isGuestLoadError(error) || error instanceof InvalidModule) throw error;
    throw fetchFailed(label, error);
  }
}

/**
 * Fetches and compiles a remote module with streaming compilation, keeping a
 * copy of the bytes for signatures and metering. Servers that do not send
 * `application/wasm` get a plain compile, since V8 refuses to stream those.
 */
async function loadRemote(
  url: URL,
  label: string,
  options?: CompileOptions,
  signal?: AbortSignal,
): Promise<LoadedModule> {
  const response = await fetchRemote(url, label, signal);
  const type = response.headers.get("content-type") ?? "";
  if (!type.startsWith("application/wasm") || response.body === null) {
    const bytes = await readBody(response, label);
    return { module: await compileBytes(bytes, label, options), bytes, label };
  }
  // Both branches stop at the cap: the engine's streaming compile buffers
  // a section it has not seen the end of, without a bound of its own.
  const [forCompile, forBytes] = capped(response.body, label).tee();
  const streamed = new Response(forCompile, {
    headers: { "content-type": "application/wasm" },
  });
  const [compiled, bytes] = await Promise.allSettled([
    compileStreamingWith(streamed, options),
    collect(forBytes, label),
  ]);
  if (bytes.status === "rejected") {
    if (
      isGuestLoadError(bytes.reason) || bytes.reason instanceof InvalidModule
    ) throw bytes.reason;
    throw fetchFailed(label, bytes.reason);
  }
  if (compiled.status === "rejected") {
    checkPreamble(bytes.value, label);
    throw invalidModule(label, compiled.reason);
  }
  return { module: compiled.value, bytes: bytes.value, label };
}

/**
 * A named pipe's bytes, for a load that can be stopped: read on a thread
 * of its own, since opening one waits for a writer and cannot be
 * cancelled, which kept the process alive after a stop.
 */
async function readFifo(
  target: URL | string,
  label: string,
  signal: AbortSignal,
): Promise<Uint8Array> {
  const read = await readPipe(target, MAX_MODULE_BYTES, signal);
  if (read === "too_large") throw tooLarge(label, "read");
  if (read instanceof Uint8Array) return read;
  // The first bytes, which rule out a module: the thread read no further.
  if ("head" in read) {
    checkPreamble(read.head, label);
    return read.head; // which the compile refuses in turn
  }
  throw new GuestLoadError(
    "io",
    `cannot read ${label}: ${read.error}`,
    "check the file and its permissions",
  );
}

/**
 * How many bytes of a file a load that watches a stop reads at a time. One
 * read of a whole file holds this thread while its bytes land in the fresh
 * buffer (a 64 MiB file: an isolated call's stop came 60 to 330 ms late);
 * a read of 256 KiB, a fraction of a millisecond, with a turn of the event
 * loop after it.
 */
export const FILE_READ_BYTES = 256 * 1024;

/**
 * A regular file's bytes in a buffer with `before` bytes before them and
 * `room(size)` after, never touched here (so they cost no memory until
 * written); anything
 * else (a pipe, a device) read to its end, up to
 * {@linkcode MAX_MODULE_BYTES} either way. With a `signal`, a file is read
 * {@linkcode FILE_READ_BYTES} at a time, and no more once it aborts.
 */
async function readWithRoom(
  target: URL | string,
  label: string,
  room: (size: number) => number,
  signal?: AbortSignal,
  before = 0,
): Promise<Uint8Array> {
  const file = await Deno.open(target);
  try {
    const { isFile, size } = await file.stat();
    if (!isFile) return await collect(file.readable, label, "read");
    if (size > MAX_MODULE_BYTES) throw tooLarge(label, "read");
    const buffer = new Uint8Array(before + size + room(size))
      .subarray(before);
    const most = signal === undefined ? size : FILE_READ_BYTES;
    let at = 0;
    while (at < size) {
      // The load that read has ended with its stop's error; this one is
      // no one's.
      signal?.throwIfAborted();
      const read = await file.read(
        buffer.subarray(at, Math.min(size, at + most)),
      );
      if (read === null) break;
      at += read;
    }
    return buffer.subarray(0, at);
  } finally {
    try {
      file.close();
    } catch {
      // `file.readable` closes the file when the stream ends.
    }
  }
}

/** How {@linkcode loadModule} loads. */
export interface LoadOptions {
  /**
   * Whether to compile the bytes. A guest that is to be rewritten is
   * compiled only after the rewrite, once.
   * @default {true}
   */
  compile?: boolean;
  /** Compile options, such as builtins. */
  compileOptions?: CompileOptions;
  /**
   * For a local file: how many bytes to leave free after its bytes in
   * their buffer, by its size, for a rewrite to grow into (the rewrite
   * cache's hits build the output there).
   */
  room?: (size: number) => number;
  /**
   * For a local file: how many bytes to leave free before its bytes in
   * their buffer, for the sections the guest's limits change to grow into
   * as they are written over it.
   */
  before?: number;
  /**
   * Aborts a fetch, or the read of a named pipe: the load's stops (see
   * `load_stops.ts`).
   */
  signal?: AbortSignal;
  /**
   * Checks bytes that are to be compiled before the engine sees them, and
   * may give other bytes to compile in their place (the guest's with its
   * limits written in). A remote module is then downloaded whole before it
   * is compiled, rather than compiled while it downloads.
   */
  check?: (bytes: Uint8Array, label: string) => Promise<Uint8Array | void>;
}

/**
 * Loads a guest and, unless told otherwise, compiles it.
 *
 * @param source A path, a `file:`/`http:`/`https:` URL, bytes, or a compiled module.
 * @param options Whether to compile.
 * @returns The module (compiled when asked, or when given compiled) and, when available, its bytes.
 * @throws {GuestLoadError} When the source cannot be read or fetched.
 * @throws {InvalidModule} When the bytes are not a valid module.
 */
export async function loadModule(
  source: GuestSource,
  options: LoadOptions = {},
): Promise<LoadedModule> {
  const compile = options.compile ?? true;
  checkSource(source);
  if (source instanceof WebAssembly.Module) {
    return { module: source, bytes: undefined, label: "module" };
  }
  const { bytes, label, url } = await readSource(
    source,
    options.room,
    options.signal,
    options.before,
  );
  if (bytes === undefined) {
    // A remote module compiles while it downloads, when it is compiled
    // unchecked.
    if (compile && options.check === undefined) {
      return await loadRemote(
        url!,
        label,
        options.compileOptions,
        options.signal,
      );
    }
    const response = await fetchRemote(url!, label, options.signal);
    const fetched = await readBody(response, label);
    if (compile) {
      const checked = await options.check?.(fetched, label) ?? fetched;
      const module = await compileBytes(checked, label, options.compileOptions);
      return { module, bytes: fetched, label };
    }
    checkPreamble(fetched, label);
    return { module: undefined, bytes: fetched, label };
  }
  if (!compile) {
    checkPreamble(bytes, label);
    return { module: undefined, bytes, label };
  }
  const checked = await options.check?.(bytes, label) ?? bytes;
  return {
    module: await compileBytes(checked, label, options.compileOptions),
    bytes,
    label,
  };
}

/**
 * Checks that a guest's source is of a kind that can be loaded, looking at
 * it so that no look throws (a revoked proxy would make the engine's own
 * `TypeError`, which names no option).
 *
 * @param source What the caller gave as the guest.
 * @param moduleRefused For a caller that needs the guest's bytes, why a
 *   compiled `WebAssembly.Module` will not do; it is then refused.
 * @throws {TypeError} When it is not a path, URL, bytes or module (or a
 *   module where `moduleRefused` is given).
 */
export function checkSource(source: unknown, moduleRefused?: string): void {
  if (moduleRefused !== undefined && isInstance(source, WebAssembly.Module)) {
    throw new TypeError(
      `${moduleRefused}: pass bytes, a path or a URL rather than a compiled WebAssembly.Module`,
    );
  }
  const expected = moduleRefused === undefined
    ? "a path, URL, bytes or WebAssembly.Module"
    : "a path, URL or bytes";
  if (source === "") {
    throw new TypeError(
      `cannot load a guest from an empty string: expected ${expected}`,
    );
  }
  if (isDetached(source)) {
    throw new TypeError(`cannot load a guest from bytes: ${DETACHED}`);
  }
  if (
    typeof source === "string" ||
    [URL, Uint8Array, ArrayBuffer, WebAssembly.Module].some((type) =>
      isInstance(source, type)
    )
  ) {
    return;
  }
  throw new TypeError(
    `cannot load a guest from ${describeValue(source)}: expected ${expected}${
      sourceHint(source) ?? ""
    }`,
  );
}

/** Reads local sources; names a remote one without fetching it. */
async function readSource(
  source: string | URL | Uint8Array | ArrayBuffer,
  room?: (size: number) => number,
  signal?: AbortSignal,
  before?: number,
): Promise<{ bytes?: Uint8Array; label: string; url?: URL }> {
  if (source instanceof Uint8Array || source instanceof ArrayBuffer) {
    const bytes = source instanceof Uint8Array
      ? source
      : new Uint8Array(source);
    return { bytes, label: "bytes" };
  }
  if (typeof source !== "string" && !(source instanceof URL)) {
    throw new TypeError(
      `cannot load a guest from ${typeof source}: expected a path, URL, bytes or WebAssembly.Module`,
    );
  }
  const target = toUrl(source);
  const label = labelOf(target);
  if (target instanceof URL && target.protocol !== "file:") {
    if (target.protocol !== "http:" && target.protocol !== "https:") {
      throw new GuestLoadError(
        "fetch",
        `cannot load ${label}: unsupported URL scheme ${target.protocol}`,
        "use a path or a file:, http: or https: URL",
      );
    }
    return { label, url: target };
  }
  return {
    bytes: await readLocal(target, label, room, signal, before),
    label,
  };
}
