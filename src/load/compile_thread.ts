/**
 * Compiles a large module on a thread of its own, for a load that watches
 * a stop. The engine's compile of a module of esbuild's size (18 MB
 * rewritten) holds the thread that asks for it for 40 to 100 ms of CPU,
 * streamed or not, in pieces of up to 35 ms warm and 59 the first time (it
 * decodes the sections as they arrive and takes part in validating the code
 * at the end); a stop that comes then waits for the piece. Asked for on
 * another thread, the compile leaves this one free: it copies the bytes
 * into shared memory in pieces, with turns of the event loop between them,
 * and receives the compiled module, which costs it about 2 ms.
 *
 * One thread serves the whole process. It starts with `prepareStops()` or
 * the first large load that watches a stop, and the watchdog's thread
 * creates it ({@linkcode spawnOnWatchdog}): creating a thread holds the
 * thread that does it until the new one's runtime exists, and done here
 * that held the JavaScript thread 60 to 76 ms on a quiet machine (200 to
 * 700 loaded), once, and a stop that fell in it waited as long. Now this
 * thread keeps one end of a channel whose other end the new thread gets,
 * and a compile asked for meanwhile waits in the channel, its load's stops
 * watched. The thread is unref'd like the watchdog's (which holds it), and
 * the channel keeps the process alive only while a compile is pending;
 * the channel's `close` says the thread has ended (or could not start). A
 * stop breaks its stream off, and its engine gives the compile up.
 *
 * The thread holds what a compile left on it (its view of the bytes, its
 * copy of the module) until the JavaScript thread's copies are collected,
 * which a finalizer tells it, and then collects its own heap at once: left
 * to itself it collected late, as it allocates little, and a process grew
 * by about four times a guest's size with each compile. The engine frees a
 * module in the collection that drops its last copy, so that pause falls
 * on the compile thread (on a busy machine, 250 ms for a module of 64 MB
 * of data; 6 MB of code added nothing measurable).
 *
 * Once up, the thread also makes a large load's buffers (the rewrite's
 * shared output, the copy of the caller's bytes), every page mapped, so
 * that the C library's zeroing and the page faults it may take do not hold
 * the loading thread ({@linkcode sharedBufferOnThread}).
 *
 * @module
 */

import { MessageChannel, type MessagePort } from "node:worker_threads";
import type { CompileOptions } from "../module/compile_options.ts";
import { spawnOnWatchdog } from "../watchdog/watchdog.ts";
import { nextTurn } from "../watchdog/yield.ts";

/** How many bytes the thread hands its engine at a time. */
const THREAD_CHUNK = 1 << 20;

/**
 * How many bytes are copied into shared memory between reads of the clock:
 * 16 of its fresh pages, each faulted in as the copy writes it (a fault
 * took up to 80 µs on a busy machine, 64 of them up to 5 ms).
 */
const COPY_PIECE_BYTES = 64 * 1024;

/** How long the copy runs before the event loop gets a turn, in milliseconds. */
const COPY_TURN_MS = 0.5;

/** A compile the thread is asked for. */
interface CompileRequest {
  id: number;
  /** A raw SharedArrayBuffer: a typed array over one crossed the port slowly (seconds for 18 MB). */
  buffer: SharedArrayBuffer;
  length: number;
  options: CompileOptions | undefined;
}

/** What the thread sends back. */
type CompileAnswer =
  | { id: number; module: WebAssembly.Module }
  | { id: number; error: { name: string; message: string } };

/** A buffer the thread is asked to make (see {@linkcode sharedBufferOnThread}). */
interface AllocateRequest {
  allocate: number;
  size: number;
  /** A SharedArrayBuffer, or a plain ArrayBuffer transferred back. */
  shared: boolean;
}

/** The buffer the thread made, or why it could not. */
type AllocateAnswer =
  | { allocated: number; buffer: SharedArrayBuffer | ArrayBuffer }
  | { allocated: number; failed: string };

/**
 * A module whose functions dear to compile the thread is to have the
 * engine compile (see {@linkcode precompileElsewhere}).
 */
interface PrecompileRequest {
  precompile: number;
  module: WebAssembly.Module;
  /** The export that calls them, and how many it calls. */
  export: string;
  functions: number;
  /** The memories the host creates for the guest, by import. */
  memories: PrecompileMemory[];
  /**
   * Whether the stand-in instance allocates memories or tables of its own
   * or stand-ins of imported ones, which the thread frees before it
   * answers.
   */
  allocates: boolean;
}

/** A memory the host creates, as the thread makes a stand-in of it. */
export interface PrecompileMemory {
  module: string;
  name: string;
  descriptor: {
    initial: number | bigint;
    maximum?: number | bigint;
    shared?: boolean;
    address?: "i64";
  };
  /** Whether it is the stop flag's, which the thread sets. */
  flag: boolean;
}

/**
 * What the thread is told: compile, give a compile up, let one go, make a
 * buffer, or compile a module's dear functions.
 */
type ThreadMessage =
  | CompileRequest
  | { cancel: number }
  | { release: number }
  | AllocateRequest
  | PrecompileRequest;

/**
 * What the thread sends: a compile's answer, a buffer, how many functions
 * it compiled ahead, or that it is up.
 */
type ThreadAnswer =
  | CompileAnswer
  | AllocateAnswer
  | { precompiled: number; called: number }
  | { up: true };

/** The thread's program, run from its source text (no file, no fetch). */
function compileOnThread(
  threads: { workerData: { port: MessagePort; chunk: number } },
  v8: { setFlagsFromString(flags: string): void },
  vm: { runInNewContext(code: string): unknown },
): void {
  const { port, chunk } = threads.workerData;
  const cancels = new Map<number, () => void>();
  /**
   * What each compile left here (the view of its bytes, and its module),
   * kept until the host's own copies are gone, so that the engine frees the
   * module here, in this thread's collection, and not in a pause of the
   * host's thread.
   */
  const held = new Map<number, unknown[]>();
  /** The engine's collector, from a context made while the flag is set. */
  const collector = (): (() => void) | undefined => {
    const own = (globalThis as { gc?: unknown }).gc;
    if (typeof own === "function") return own as () => void;
    try {
      v8.setFlagsFromString("--expose-gc");
      try {
        const gc = vm.runInNewContext("gc");
        return typeof gc === "function" ? gc as () => void : undefined;
      } finally {
        // Contexts made from now on, anywhere in the process, are as before.
        v8.setFlagsFromString("--no-expose-gc");
      }
    } catch {
      return undefined;
    }
  };
  const collect = collector();
  port.postMessage({ up: true });
  let sweeping = false;
  /** Collects at the next turn, once, for the compiles let go by then. */
  const sweep = () => {
    if (collect === undefined || sweeping) return;
    sweeping = true;
    setTimeout(() => {
      sweeping = false;
      collect();
    }, 0);
  };
  /**
   * Calls each dear function of a module once on a stand-in instance whose
   * stop flag is set: the engine compiles it as it is entered (for every
   * instance of the module, the guest's too), and its entry check traps.
   * A module that imports what cannot be stood in for (a table, a global,
   * a tag) is left alone. Returns how many
   * calls were made.
   */
  const precompile = (message: PrecompileRequest): number => {
    // Of no prototype: the guest names the modules and fields, and a module
    // named `constructor` would otherwise be this thread's `Object`.
    const imports: Record<string, Record<string, unknown>> = Object.create(
      null,
    );
    const made = new Map(
      message.memories.map((memory) => [
        `${memory.module}\u0000${memory.name}`,
        memory,
      ]),
    );
    for (const entry of WebAssembly.Module.imports(message.module)) {
      const from = imports[entry.module] ??= Object.create(null);
      if (entry.kind === "function") {
        // 1 is `on_stop_flag`'s answer that stops the guest.
        from[entry.name] = () => 1;
        continue;
      }
      const memory = entry.kind === "memory"
        ? made.get(`${entry.module}\u0000${entry.name}`)
        : undefined;
      if (memory === undefined) return 0;
      const stand = new WebAssembly.Memory(
        memory.descriptor as WebAssembly.MemoryDescriptor,
      );
      if (memory.flag) new Uint8Array(stand.buffer)[0] = 1;
      from[entry.name] = stand;
    }
    let instance: WebAssembly.Instance;
    try {
      instance = new WebAssembly.Instance(
        message.module,
        imports as WebAssembly.Imports,
      );
    } catch {
      return 0;
    }
    const call = instance.exports[message.export] as (k: number) => void;
    for (let k = 0; k < message.functions; k++) {
      try {
        call(k);
      } catch {
        // Its entry check's trap, after the engine compiled it.
      }
    }
    return message.functions;
  };
  port.on("message", (message: ThreadMessage) => {
    if ("precompile" in message) {
      let called = 0;
      try {
        called = precompile(message);
      } finally {
        // The stand-in's memories and tables are freed while the load
        // waits for this answer. Collected at a later turn, as before,
        // this thread's collection (4 to 7 ms, here and on the engine's
        // helper threads) overlapped the guest's first call, and on two
        // cores it kept the watchdog's thread from a core: 13 to 15 of 60
        // first calls of a wide function stopped over 2 ms late, against
        // 1 to 2 with no collection then. A stand-in that allocates
        // nothing is left to the thread's next collection.
        if (message.allocates) collect?.();
        port.postMessage({ precompiled: message.precompile, called });
      }
      return;
    }
    if ("allocate" in message) {
      try {
        const buffer = message.shared
          ? new SharedArrayBuffer(message.size)
          : new ArrayBuffer(message.size);
        // Every page written once here: pages the C library maps fresh
        // are faulted in on this thread, not as the host writes them.
        const view = new Uint8Array(buffer);
        for (let at = 0; at < view.length; at += 4096) view[at] = 0;
        const answer = { allocated: message.allocate, buffer };
        if (buffer instanceof SharedArrayBuffer) port.postMessage(answer);
        else port.postMessage(answer, [buffer]);
      } catch (error) {
        port.postMessage({
          allocated: message.allocate,
          failed: String((error as Error)?.message ?? error),
        });
      }
      return;
    }
    if ("cancel" in message) return void cancels.get(message.cancel)?.();
    if ("release" in message) {
      if (held.delete(message.release)) sweep();
      return;
    }
    const { id, buffer, length, options } = message;
    const bytes = new Uint8Array(buffer, 0, length);
    const parts: unknown[] = [bytes];
    held.set(id, parts);
    let at = 0;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        cancels.set(id, () => {
          try {
            controller.error(new Error("the load was stopped"));
          } catch {
            // Already closed: the compile ends on its own.
          }
        });
      },
      pull(controller) {
        // A copy: the engine is not handed shared memory.
        controller.enqueue(bytes.slice(at, at += chunk));
        if (at >= length) controller.close();
      },
    });
    const compile = WebAssembly.compileStreaming as (
      source: Response,
      options?: unknown,
    ) => Promise<WebAssembly.Module>;
    compile(
      new Response(body, {
        headers: { "content-type": "application/wasm" },
      }),
      options,
    ).then(
      (module) => {
        parts.push(module);
        port.postMessage({ id, module });
      },
      (error) =>
        port.postMessage({
          id,
          error: {
            name: String(error?.name ?? "Error"),
            message: String(error?.message ?? error),
          },
        }),
    ).finally(() => cancels.delete(id));
  });
}

/** A compile (or an allocation) waiting for the thread's answer. */
interface Pending<T = WebAssembly.Module> {
  resolve(value: T): void;
  reject(error: unknown): void;
}

/** The running thread. */
interface CompileThread {
  port: MessagePort;
  /** Whether the thread has said it is up (and reads its port). */
  up: boolean;
  pending: Map<number, Pending>;
  /** The buffers asked of the thread and not made yet. */
  allocations: Map<number, Pending<SharedArrayBuffer | ArrayBuffer>>;
  /** This thread's copies of each compile the thread has not answered yet. */
  copies: Map<number, Copies>;
  /** The precompiles asked for, each told how many calls were made. */
  precompiles: Map<number, (called: number) => void>;
}

/**
 * This thread's copies of one compile's bytes and module: the buffer, and
 * the thread's answer until it has come (then the module it brought, if
 * any, even to a load that was stopped meanwhile).
 */
interface Copies {
  running: CompileThread;
  id: number;
  /** How many of them are not collected yet. */
  live: number;
}

let thread: CompileThread | undefined;
let lastId = 0;
/** Whether compiles are kept off the thread (see {@linkcode refuseCompileThread}). */
let refused = false;

/**
 * Tells the compile thread a compile's bytes and module are let go, once
 * this thread has collected its copies of both: the compile thread holds
 * its own until then, so that the engine frees the module in that thread's
 * collection, not in a pause of this one.
 */
const letGo = new FinalizationRegistry<Copies>((copies) => goneHere(copies));

/** Counts one of this thread's copies of a compile gone. */
function goneHere(copies: Copies): void {
  if (--copies.live > 0) return;
  try {
    copies.running.port.postMessage({ release: copies.id });
  } catch {
    // The thread is gone, and its copies with it.
  }
}

/** Thrown when the thread is gone: the caller compiles on its own thread. */
export class CompileThreadGone extends Error {}

/**
 * Starts the compile thread now, if it is not running yet, so that it boots
 * while the guest is rewritten. The watchdog's thread creates it (see
 * {@linkcode spawnOnWatchdog}), so this returns at once; a compile asked
 * for before the thread runs waits for it in its port. Returns whether it
 * runs or is being created.
 *
 * @returns Whether there is a thread to compile on.
 */
export function startCompileThread(): boolean {
  if (refused) return false;
  if (thread !== undefined) return true;
  const channel = new MessageChannel();
  try {
    spawnOnWatchdog(
      `(${compileOnThread.toString()})(${
        ["node:worker_threads", "node:v8", "node:vm"]
          .map((name) => `require("${name}")`).join(", ")
      })`,
      "early-exit compile",
      { chunk: THREAD_CHUNK },
      channel.port2,
    );
  } catch {
    channel.port1.close();
    return false;
  }
  const started: CompileThread = {
    port: channel.port1,
    up: false,
    pending: new Map(),
    allocations: new Map(),
    copies: new Map(),
    precompiles: new Map(),
  };
  started.port.on("message", (answer: ThreadAnswer) => {
    if ("up" in answer) return void (started.up = true);
    if ("precompiled" in answer) {
      const waiting = started.precompiles.get(answer.precompiled);
      started.precompiles.delete(answer.precompiled);
      unrefWhenIdle(started);
      waiting?.(answer.called);
      return;
    }
    if ("allocated" in answer) {
      const waiting = started.allocations.get(answer.allocated);
      if (waiting === undefined) return;
      started.allocations.delete(answer.allocated);
      unrefWhenIdle(started);
      if ("buffer" in answer) waiting.resolve(answer.buffer);
      else waiting.reject(new CompileThreadGone(answer.failed));
      return;
    }
    const copies = started.copies.get(answer.id);
    if (copies !== undefined) {
      started.copies.delete(answer.id);
      if ("module" in answer) letGo.register(answer.module, copies);
      else goneHere(copies);
    }
    const pending = started.pending.get(answer.id);
    if (pending === undefined) return;
    settled(started, answer.id);
    if ("module" in answer) pending.resolve(answer.module);
    else pending.reject(rebuilt(answer.error));
  });
  // The thread's end, or its creation failed: the other end of the port
  // went with it.
  started.port.on("close", () => {
    if (thread === started) thread = undefined;
    // No answer comes now, and the thread's copies went with it.
    started.copies.clear();
    for (const [id, pending] of started.pending) {
      settled(started, id);
      pending.reject(new CompileThreadGone("the compile thread ended"));
    }
    for (const [id, waiting] of started.allocations) {
      started.allocations.delete(id);
      waiting.reject(new CompileThreadGone("the compile thread ended"));
    }
    for (const [id, done] of started.precompiles) {
      started.precompiles.delete(id);
      done(0);
    }
  });
  // A listener refs what it listens to: the port keeps the process alive
  // only while a compile is pending (the thread itself is unref'd, and the
  // watchdog's thread that made it too).
  started.port.unref();
  thread = started;
  return true;
}

/**
 * Keeps every compile off the compile thread, as when none can start (a
 * system out of threads): the main thread then streams the compile itself.
 * For the tests of that path; `false` lets compiles use the thread again.
 *
 * @param refuse Whether to keep compiles off the thread.
 */
export function refuseCompileThread(refuse: boolean): void {
  refused = refuse;
}

/**
 * Whether the compile thread runs.
 *
 * @returns Whether it was started and has not ended.
 */
export function compileThreadStarted(): boolean {
  return thread !== undefined;
}

/**
 * Whether the compile thread is up and reads its port.
 *
 * @returns Whether it has said so and has not ended.
 */
export function compileThreadUp(): boolean {
  return thread?.up === true;
}

/** Forgets a compile; the port keeps the process alive only while some are pending. */
function settled(running: CompileThread, id: number): void {
  running.pending.delete(id);
  unrefWhenIdle(running);
}

/** Lets the process end when nothing waits for the thread. */
function unrefWhenIdle(running: CompileThread): void {
  if (
    running.pending.size === 0 && running.allocations.size === 0 &&
    running.precompiles.size === 0
  ) {
    running.port.unref();
  }
}

/**
 * A shared buffer of `size` bytes made on the compile thread, every page
 * of it mapped there, for a stoppable load's rewrite to write its output
 * into: made on this thread, the C library zeroed the 18 MB of
 * esbuild.wasm's output at once, and faulted in pages it had given back,
 * which held this thread 15 to 50 ms of CPU in some loads (4.7 MB faulted,
 * on a VM where a fault took about 12 µs), and a stop waited for it.
 * Meanwhile this thread is free. `undefined` when the thread is not up yet
 * (a process's first large load, whose rewrite does not wait for the
 * thread to boot) or cannot start: make it here then.
 *
 * @param size Its size in bytes.
 * @returns The buffer, when the thread has made it.
 * @throws {CompileThreadGone} (the promise) When the thread ended, or could
 *   not make it.
 */
export function sharedBufferOnThread(
  size: number,
): Promise<SharedArrayBuffer> | undefined {
  return bufferOnThread(size, true) as Promise<SharedArrayBuffer> | undefined;
}

/**
 * A plain buffer of `size` bytes made on the compile thread, every page of
 * it mapped there, and transferred here: a watched load's copy of the
 * caller's bytes (14 MB for esbuild.wasm), whose allocation here the C
 * library may zero at once, as {@linkcode sharedBufferOnThread}'s. Only
 * while the thread runs (a large load started it): `undefined` otherwise.
 *
 * @param size Its size in bytes.
 * @returns The buffer, when the thread has made it.
 * @throws {CompileThreadGone} (the promise) When the thread ended, or could
 *   not make it.
 */
export function plainBufferOnThread(
  size: number,
): Promise<ArrayBuffer> | undefined {
  return bufferOnThread(size, false) as Promise<ArrayBuffer> | undefined;
}

/** A buffer made on the thread, if it is up. */
function bufferOnThread(
  size: number,
  shared: boolean,
): Promise<SharedArrayBuffer | ArrayBuffer> | undefined {
  const running = thread;
  if (refused || running === undefined || !running.up) return undefined;
  const id = ++lastId;
  return new Promise((resolve, reject) => {
    running.allocations.set(id, { resolve, reject });
    running.port.ref();
    const request: AllocateRequest = { allocate: id, size, shared };
    running.port.postMessage(request);
  });
}

/**
 * Has the engine compile a guest's functions that are dear to compile on
 * the compile thread, before the guest's first call needs them there (see
 * `src/wasm/precompile.ts`): the thread makes a stand-in instance of the
 * module, its stop flag set, and calls the rewrite's added export once per
 * function. The engine shares compiled code between a module's instances
 * on every thread, so the guest's own first call of each finds it
 * compiled, and no stop waits for that compile. The load waits for it,
 * its stops watched (the work is on the other thread), so that its first
 * call does not come first and compile the functions itself (the port
 * keeps the process alive meanwhile). Only while
 * the thread is up: a load does not wait for it to boot (40 to 100 ms),
 * but starts it, for the loads after.
 *
 * @param module The compiled guest.
 * @param dear The rewrite's added export and how many functions it calls.
 * @param memories The memories the host creates for the guest.
 * @param allocates Whether the stand-in instance allocates memories or
 *   tables beyond the stop flag's, which the thread then collects before
 *   it answers, so that no collection of its follows the load.
 * @returns How many functions were called (0 when none could be), once
 *   the thread has done them; `undefined` when there is no thread.
 */
export function precompileElsewhere(
  module: WebAssembly.Module,
  dear: { export: string; functions: number },
  memories: PrecompileMemory[],
  allocates: boolean,
): Promise<number> | undefined {
  if (!startCompileThread()) return undefined;
  const running = thread!;
  if (!running.up) return undefined;
  const id = ++lastId;
  return new Promise((resolve) => {
    running.precompiles.set(id, resolve);
    // A load waits for it: the process lives on until it is done.
    running.port.ref();
    const request: PrecompileRequest = {
      precompile: id,
      module,
      export: dear.export,
      functions: dear.functions,
      memories,
      allocates,
    };
    running.port.postMessage(request);
  });
}

/** Compile options as data: the values the engine would read. */
function plainOptions(
  options: CompileOptions | undefined,
): CompileOptions | undefined {
  if (options === undefined) return undefined;
  const { builtins, importedStringConstants } = options;
  const plain: CompileOptions = {};
  if (builtins !== undefined) plain.builtins = Array.from(builtins);
  if (importedStringConstants !== undefined) {
    plain.importedStringConstants = importedStringConstants;
  }
  return plain;
}

/** The engine's error, as the thread described it. */
function rebuilt(error: { name: string; message: string }): Error {
  if (error.name === "CompileError") {
    return new WebAssembly.CompileError(error.message);
  }
  if (error.name === "RangeError") return new RangeError(error.message);
  if (error.name === "TypeError") return new TypeError(error.message);
  return new Error(error.message);
}

/**
 * The shared buffer `bytes` fill whole (a stoppable load writes its rewrite
 * there): the thread reads it as it is, with no copy.
 */
function ownShared(bytes: Uint8Array): SharedArrayBuffer | undefined {
  const buffer = bytes.buffer;
  return buffer instanceof SharedArrayBuffer && bytes.byteOffset === 0 &&
      bytes.byteLength === buffer.byteLength
    ? buffer
    : undefined;
}

/** A copy of `bytes` in shared memory, made in pieces with turns between. */
async function copiedShared(
  bytes: Uint8Array,
  signal: AbortSignal,
): Promise<SharedArrayBuffer> {
  const buffer = new SharedArrayBuffer(bytes.length);
  const shared = new Uint8Array(buffer);
  let turnAt = -Infinity;
  for (let at = 0; at < bytes.length; at += COPY_PIECE_BYTES) {
    if (performance.now() >= turnAt) {
      await nextTurn();
      turnAt = performance.now() + COPY_TURN_MS;
    }
    signal.throwIfAborted();
    shared.set(bytes.subarray(at, at + COPY_PIECE_BYTES), at);
  }
  return buffer;
}

/**
 * Compiles `bytes` on the compile thread, which is started if it is not
 * running. The bytes are copied into shared memory in pieces, with a turn
 * of the event loop about every half millisecond, until `signal` aborts.
 *
 * @param bytes The module's bytes.
 * @param options Compile options, such as builtins.
 * @param signal Ends the compile: the promise then rejects with its reason.
 * @returns The compiled module.
 * @throws {CompileThreadGone} When there is no thread (none could start, or
 *   it ended): compile on this thread instead.
 * @throws {WebAssembly.CompileError} When the engine refuses the module.
 */
export async function compileElsewhere(
  bytes: Uint8Array,
  options: CompileOptions | undefined,
  signal: AbortSignal,
): Promise<WebAssembly.Module> {
  // Read as the engine reads them, into a plain object the port can carry
  // (the caller's may be a proxy, or hold getters).
  const plain = plainOptions(options);
  if (!startCompileThread()) {
    throw new CompileThreadGone("no compile thread could start");
  }
  // The work since the last turn (the rewrite's last steps, what the load
  // did after them), the allocation, which the C library may zero at once,
  // and the copy's pieces are each a hold of their own.
  await nextTurn();
  signal.throwIfAborted();
  const buffer = ownShared(bytes) ?? await copiedShared(bytes, signal);
  const running = thread;
  if (running === undefined) {
    throw new CompileThreadGone("the compile thread ended");
  }
  const id = ++lastId;
  const copies: Copies = { running, id, live: 2 };
  running.copies.set(id, copies);
  letGo.register(buffer, copies);
  return await new Promise<WebAssembly.Module>((resolve, reject) => {
    const onAbort = () => {
      if (!running.pending.has(id)) return;
      settled(running, id);
      running.port.postMessage({ cancel: id });
      reject(signal.reason);
    };
    running.pending.set(id, {
      resolve(module) {
        signal.removeEventListener("abort", onAbort);
        resolve(module);
      },
      reject(error) {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    });
    running.port.ref();
    signal.addEventListener("abort", onAbort, { once: true });
    const request: CompileRequest = {
      id,
      buffer,
      length: bytes.length,
      options: plain,
    };
    running.port.postMessage(request);
  });
}
