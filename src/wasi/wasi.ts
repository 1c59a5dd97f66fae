/**
 * Runs a WASI preview1 command (a module that exports `_start`) under fuel,
 * a deadline, an `AbortSignal` or a `StopSignal`, through Deno's
 * `node:wasi`, with its stdio, its waits and its files kept by early-exit.
 *
 * @module
 */

import { WASI } from "node:wasi";
import type { Guest } from "../load/guest.ts";
import { type InternalLoadOptions, loadGuestWith } from "../load/load_guest.ts";
import { withoutIsolatedHint } from "../isolated_hints.ts";
import { checkLimits, type ResourceLimits } from "../module/limits.ts";
import {
  type CacheOption,
  openCache,
  type RewriteCache,
} from "../cache/rewrite_cache.ts";
import { checkSource } from "../load/load.ts";
import {
  type CallOutcome,
  givenError,
  type OutcomeBase,
  START_FUNCTION,
  stoppedOutcome,
} from "../call/outcome.ts";
import type { StopSignal } from "../watchdog/stop_signal.ts";
import {
  checkFuelAndTimeout,
  checkLabelValue,
  showValue,
} from "../option_checks.ts";
import { readWasiOptions } from "./wasi_options.ts";
import {
  checkCommandLine,
  checkInput,
  checkOutputMode,
  utf8Length,
} from "./wasi_option_checks.ts";
import { checkOptionNames } from "../option_names.ts";
import { GuestFiles, type WasiFunction } from "./wasi_files.ts";
import { type WasiImport, wasiImports } from "./wasi_imports.ts";
import { wasiFunctionType } from "./wasi_abi.ts";
import { ImportError } from "../errors.ts";
import {
  describeSignature,
  hasStartFunction,
  type ImportDescriptor,
} from "../module/signatures.ts";
import {
  checkPreopens,
  type HostPreopen,
  preopenHolding,
  type WasiPreopen,
} from "./wasi_preopens.ts";
import {
  DEFAULT_OUTPUT_LIMIT,
  InputSource,
  type WasiInput,
  type WasiOutputMode,
} from "./wasi_stdio.ts";
import { StopWatch } from "./wasi_stops.ts";
import type { HostStream } from "./wasi_pipe_writes.ts";
import { runOutputs } from "./wasi_outputs.ts";
import { startLister } from "./wasi_lister.ts";
import { quietly } from "./wasi_quiet.ts";
import { paidImports } from "./wasi_fuel.ts";
import { payForImport } from "../meter/metered_call.ts";
import { resolveCosts } from "../wasm/costs.ts";
import { withHostStop } from "../watchdog/caller_stop_signal.ts";
import { ownSource } from "../bytes.ts";

export type { WasiPreopen } from "./wasi_preopens.ts";
export type { WasiInput, WasiOutputMode } from "./wasi_stdio.ts";

/** Every option {@linkcode runWasi} takes. */
const WASI_OPTION_NAMES: readonly (keyof WasiOptions)[] = [
  "args",
  "program",
  "env",
  "preopens",
  "stdin",
  "stdout",
  "stderr",
  "outputLimit",
  "fuel",
  "timeout",
  "signal",
  "stop",
  "async",
  "label",
  "limits",
  "cache",
];

/**
 * Options for {@linkcode runWasi}.
 *
 * @example Usage
 * ```ts
 * import { runWasi, type WasiOptions } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * const options: WasiOptions = { args: ["ada"], stdout: "capture", fuel: 10_000_000 };
 * const hello = new URL("../../guest/wasi/hello.wasm", import.meta.url);
 * const result = await runWasi(hello, options);
 * assert.equal(new TextDecoder().decode(result.stdout), "hello, ada!\n");
 * ```
 */
export interface WasiOptions {
  /**
   * The arguments after the program's name. With `env`, at most 1,024
   * strings and 256 KiB as the guest gets them (a `RangeError` past that):
   * each is copied before the guest runs, where no stop reaches.
   */
  args?: string[];
  /** The program's name, the guest's `argv[0]`. Default: `"main.wasm"`. */
  program?: string;
  /**
   * The environment variables the guest sees; none by default. Held to the
   * same limits as `args`, together with them.
   */
  env?: Record<string, string>;
  /**
   * Host directories the guest may use. Each needs `--allow-read` and
   * `--allow-write` for its path (which `node:wasi` needs, even for a
   * read-only one); a missing one rejects the run with an error naming the
   * flag. Every file call is also checked against Deno's permissions as it
   * is made. At most 32 (a `RangeError` past that): each is checked before
   * the guest runs, where no stop reaches.
   */
  preopens?: WasiPreopen[];
  /**
   * The guest's stdin: bytes, or a stream read as the guest asks (the
   * guest waits, suspended, and a stop ends the wait and cancels the
   * stream; otherwise, even when the guest closes its stdin, the stream is
   * released when the run ends, and what the guest did not read stays in
   * it), or `"inherit"`, this process's stdin (read through `process.stdin`
   * when the run can be stopped, and let go of when it ends, so that a read
   * left pending never keeps the process alive: read what follows through
   * `process.stdin` too; else read on the spot, blocking). One run at a
   * time may read this process's stdin. Default: empty.
   */
  stdin?: WasiInput;
  /** Where stdout goes: `inherit` (the default), `capture` or `ignore`. */
  stdout?: WasiOutputMode;
  /** Where stderr goes: `inherit` (the default), `capture` or `ignore`. */
  stderr?: WasiOutputMode;
  /**
   * The most bytes captured per stream (default 1 MiB): a whole number, 0
   * or more, or `Infinity` (anything else is a `RangeError`); more is
   * counted in `dropped`, and the guest is told it was written.
   */
  outputLimit?: number;
  /** Stops the guest with `fuel_exhausted` after this much work. */
  fuel?: number;
  /**
   * Stops the guest with `timeout` after this many milliseconds, counted
   * from its `_start`'s call: the load before it (reading, rewriting,
   * compiling; flite's 21 MB took about 150 ms in a process's first run)
   * is not, which a `signal` such as `AbortSignal.timeout(ms)` bounds too.
   */
  timeout?: number;
  /**
   * Stops the guest with `aborted` when aborted (Ctrl-C, for instance);
   * also while a guest given by URL is fetched.
   */
  signal?: AbortSignal;
  /** Stops the guest with `aborted` when another thread sets it. */
  stop?: StopSignal;
  /**
   * Whether the guest runs as an async guest (JSPI), which yields to this
   * thread's event loop about every half millisecond while it computes.
   * Default: `true` when given a `timeout`, `signal`, `stop` or a stdin
   * stream, else `false`.
   *
   * `false` with a `timeout` or `stop` runs it as a plain call that holds
   * this thread until it ends (timers, I/O and other guests of this thread
   * wait) and whose checks cost less in V8's baseline compiler, where a
   * command's hot loop runs: for a program run once in a process that has
   * nothing else to do, as the command line runs one. The deadline and the
   * `StopSignal` (set by another thread) still stop it, in a sleep too, and
   * in a write to a stdout or stderr that is a full pipe (written by a
   * thread of early-exit's, started once per process as such a run starts).
   * With an `AbortSignal` or a stdin stream, which need the event loop, or
   * `stdin: "inherit"` with a stop (whose read could outlast the stop),
   * `false` is refused with a `TypeError`.
   */
  async?: boolean;
  /** The guest's name in messages. Default: its path or URL. */
  label?: string;
  /**
   * How large the guest's memory and tables may get (see
   * `loadGuest`'s `limits`): past them, its `malloc` fails as it
   * would on a machine out of memory; a guest whose memory starts above the
   * limit is refused with a `GuestLoadError`.
   */
  limits?: ResourceLimits;
  /**
   * A directory (or a `RewriteCache`) to keep the metered rewrite in, as
   * `loadGuest`'s `cache`: the next run of the same command with the same
   * options reads it rather than rewriting, which is most of a one-shot
   * run's cost for a large guest. Needs `--allow-read=DIR
   * --allow-write=DIR`, else the run is rejected with a `GuestLoadError`
   * naming them, before the guest is read. Inside a read-write preopen,
   * where the guest could change what later runs run, it is refused with a
   * `TypeError`.
   *
   * @example Running a command twice, the second time from the cache
   * ```ts
   * import { RewriteCache, runWasi } from "@early-exit/early-exit";
   * import assert from "node:assert/strict";
   *
   * const cache = new RewriteCache(await Deno.makeTempDir());
   * const hello = new URL("../../guest/wasi/hello.wasm", import.meta.url);
   * for (let run = 0; run < 2; run++) {
   *   const result = await runWasi(hello, { args: ["cache"], cache, stdout: "capture" });
   *   assert.equal(new TextDecoder().decode(result.stdout), "hello, cache!\n");
   * }
   * assert.deepEqual([cache.misses, cache.hits], [1, 1]);
   * await Deno.remove(cache.directory, { recursive: true });
   * ```
   */
  cache?: CacheOption;
}

/**
 * What the guest wrote to the captured streams.
 *
 * @example Usage
 * ```ts
 * import { runWasi, type WasiOutput } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * const hello = new URL("../../guest/wasi/hello.wasm", import.meta.url);
 * const output: WasiOutput = await runWasi(hello, {
 *   args: ["ada"],
 *   stdout: "capture",
 *   outputLimit: 5,
 * });
 * assert.equal(new TextDecoder().decode(output.stdout), "hello");
 * assert.equal(output.dropped.stdout, 7);
 * ```
 */
export interface WasiOutput {
  /** stdout, when captured. */
  stdout?: Uint8Array;
  /** stderr, when captured. */
  stderr?: Uint8Array;
  /** Bytes written past `outputLimit`, and so not kept. */
  dropped: { stdout: number; stderr: number };
}

/**
 * How a WASI command ended: `exited` with its exit code (0 when `_start`
 * returned), or stopped, with the outcomes of {@linkcode Guest.invoke}.
 *
 * @example Usage
 * ```ts
 * import { runWasi, type WasiOutcome } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * const hello = new URL("../../guest/wasi/hello.wasm", import.meta.url);
 * const ended: WasiOutcome = await runWasi(hello, {
 *   args: ["ada"],
 *   env: { EXIT_CODE: "3" },
 *   stdout: "ignore",
 * });
 * assert.ok(ended.outcome === "exited" && ended.code === 3);
 * ```
 */
export type WasiOutcome =
  | OutcomeBase & { outcome: "exited"; code: number }
  | Exclude<CallOutcome, { outcome: "returned" }>;

/**
 * How a WASI command ended, and what it wrote to captured streams.
 *
 * @example Usage
 * ```ts
 * import { runWasi, type WasiResult } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * const loop = new URL("../../guest/wasi/loop.wasm", import.meta.url);
 * const result: WasiResult = await runWasi(loop, { fuel: 100_000 });
 * assert.equal(result.outcome, "fuel_exhausted");
 * ```
 */
export type WasiResult = WasiOutcome & WasiOutput;

/**
 * Runs a WASI preview1 command: instantiates it, calls `_start`, and
 * reports how it ended.
 *
 * The guest is metered. Given a `timeout`, `signal` or `stop`, or a stdin
 * stream, it runs as an async guest (JSPI): a deadline, an abort or a
 * `StopSignal` stops it while it computes and while it waits in a WASI
 * call (a sleep in `poll_oneoff`, a read of a stdin stream). Without them
 * only its fuel can stop it, and it runs as a plain call, with cheaper
 * checks: a sleep, or a read of an inherited stdin, then blocks the
 * thread. `async: false` runs a guest with a `timeout` or `stop` as a
 * plain call too, stopped by them while it computes, sleeps or writes to
 * a full pipe. Every
 * file it opened and every preopen is closed when it ends, however it
 * ends, and captured output is returned even when it is stopped (what the
 * guest's libc still buffered is lost). `proc_exit` ends the run, never the
 * host process, also for a guest that catches what unwinds it (which then
 * calls out no more, and is stopped at its next check). A start function (a `start` section) runs first, as the
 * guest loads, under the same fuel, `timeout`, `signal` and `stop`; a stop,
 * a trap or an import's error there is the outcome, for the export
 * `(start)`, and `_start` then gets a `timeout` of its own.
 *
 * Only regular files and directories can be opened inside a preopen:
 * opening a FIFO, a socket or a device fails with `ENOTSUP` (the guest's
 * libc says "Not supported"), since `node:wasi` would open and read it on
 * this thread, where no stop reaches a guest waiting for a writer.
 * A path that a symbolic link leads out of its preopen does not open
 * (`ENOTCAPABLE`), even when the link is the guest's own and names a file
 * that does not exist yet; nor does one that ends in a link the guest did
 * not ask to follow (`ELOOP`). A guest holds at most 1024 descriptors open
 * at once, preopens included (`EMFILE` past them), and the runs of this
 * process together at most 4,096 (`ENFILE` past them).
 *
 * Not supported: reactors (modules that export `_initialize` instead of
 * `_start`, which are refused with a `TypeError`).
 *
 * @param source The module: a path, a URL or bytes.
 * @param options Arguments, environment, preopens, stdio and stops.
 * @returns How the command ended, and its captured output.
 * @throws {Deno.errors.NotCapable} When a preopen lacks a permission; the message names the flag.
 * @throws {Deno.errors.NotFound} When a preopen's host directory does not exist, or is not a directory; the message says which.
 * @throws {TypeError} When the module is not a WASI command, `async: false` comes with what needs an async run, or the `cache` is inside a read-write preopen.
 * @throws {InvalidModule} When the bytes are not a valid module.
 * @throws {ImportError} When the guest imports something other than WASI preview1, or a WASI function with another type than WASI preview1 gives it.
 * @throws {GuestLoadError} With reason `limits`, when the guest's memory or a table starts above its `limits`; `permission`, when read or write permission for `cache` is missing; `io`, when its entry cannot be written.
 *
 * @example Usage
 * ```ts
 * import { runWasi } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * const result = await runWasi(new URL("../../guest/wasi/hello.wasm", import.meta.url), {
 *   args: ["world"],
 *   env: { GREETING: "hi", EXIT_CODE: "3" },
 *   stdout: "capture",
 *   stderr: "ignore",
 * });
 * assert.equal(result.outcome, "exited");
 * if (result.outcome === "exited") assert.equal(result.code, 3);
 * assert.equal(new TextDecoder().decode(result.stdout), "hi, world!\n");
 * ```
 *
 * @example A deadline stops a sleep
 * ```ts
 * import { runWasi } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * const result = await runWasi(new URL("../../guest/wasi/sleep.wasm", import.meta.url), {
 *   args: ["3000"],
 *   timeout: 100,
 *   stdout: "capture",
 * });
 * assert.equal(result.outcome, "timeout");
 * assert.ok(!new TextDecoder().decode(result.stdout).includes("woke"));
 * ```
 *
 * @example A one-shot run that holds the thread, stopped by its deadline
 * ```ts
 * import { runWasi } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * const result = await runWasi(new URL("../../guest/wasi/loop.wasm", import.meta.url), {
 *   timeout: 100,
 *   async: false,
 *   stdout: "ignore",
 * });
 * assert.equal(result.outcome, "timeout");
 * ```
 */
export function runWasi(
  source: string | URL | Uint8Array | ArrayBuffer,
  options: WasiOptions = {},
): Promise<WasiResult> {
  // Here, not in runWasiWith: the command line passes its own flags along.
  try {
    checkOptionNames(options, WASI_OPTION_NAMES, "runWasi");
  } catch (error) {
    return Promise.reject(error);
  }
  // Marked as given: a host import that throws the run's error again ends
  // its own call with outcome `error`, not with this run's stop.
  return runWasiWith(source, options, {}).then((result) => {
    givenError((result as { error?: unknown }).error);
    return result;
  }, (error) => {
    throw givenError(error);
  });
}

/**
 * {@linkcode runWasi}, with what early-exit's own callers may ask for.
 *
 * @param source As for {@linkcode runWasi}.
 * @param options As for {@linkcode runWasi}.
 * @param internal Whether the bytes given are the run's to write over.
 * @returns As {@linkcode runWasi}.
 */
export async function runWasiWith(
  source: string | URL | Uint8Array | ArrayBuffer,
  given: WasiOptions,
  internal: Pick<InternalLoadOptions, "ownsBytes"> & {
    /**
     * Where an inherited stderr goes, in place of this process's (the
     * command line's, which notes whether the guest left a line open).
     */
    stderr?: HostStream;
  },
): Promise<WasiResult> {
  source = ownSource(source);
  const { options, limit, preopens, cache } = checkRun(source, given);
  const blocking = !runsAsync(options);
  const wasi = quietly(() =>
    new WASI({
      version: "preview1",
      args: [options.program ?? "main.wasm", ...(options.args ?? [])],
      env: options.env ?? {},
      preopens: preopenObject(preopens),
      returnOnExit: true,
    })
  );
  const base = (wasi.getImportObject() as {
    wasi_snapshot_preview1: Record<string, WasiFunction>;
  }).wasi_snapshot_preview1;
  let guest: Guest | undefined;
  const memory = () => guest!.instance.exports.memory as WebAssembly.Memory;
  const watch = new StopWatch(options);
  const files = new GuestFiles(
    base,
    memory,
    preopens.map((p) => ({ host: p.host, readOnly: p.mode === "read-only" })),
    { watch, blocking },
  );
  // A run that a stop can end has the listing thread started now, so that
  // its first large listing or disk work does not wait for the thread to
  // boot. One that none can end asks for it with its first such work, if
  // any: a one-shot command seldom has any, and the thread's start cost
  // flite's run 50 to 100 ms of CPU.
  if (
    preopens.length > 0 && (options.timeout !== undefined ||
      options.signal !== undefined || options.stop !== undefined)
  ) {
    startLister();
  }
  const stoppable = options.timeout !== undefined ||
    options.stop !== undefined;
  const outputs = runOutputs({
    stdout: options.stdout,
    stderr: options.stderr,
    limit,
    hostStderr: internal.stderr,
    blocking,
    stoppable,
    signalled: options.signal !== undefined,
    watch,
  });
  const { stdout, stderr } = outputs;
  const costs = resolveCosts(undefined);
  const stdin = new InputSource(options.stdin, blocking);
  const output = (): WasiOutput => ({
    stdout: stdout.captured(),
    stderr: stderr.captured(),
    dropped: { stdout: stdout.dropped, stderr: stderr.dropped },
  });
  let hasStart = false;
  // The code of the guest's proc_exit, once it has called it.
  let exitCode: number | undefined;
  // A stop cancels a stdin stream the guest was waiting for. The watch
  // that ends the wait does, when it sees the stop first; the call's own
  // deadline may end the wait before it looks.
  const ended = (outcome: WasiOutcome): WasiOutcome => {
    if (outcome.outcome !== "exited" && STOPS.has(outcome.outcome)) {
      if (stdin.fetching) stdin.close();
    }
    return outcome;
  };
  try {
    // runWasi hands out no more fuel, so its fuel checks may trap. A start
    // function runs as the guest loads, under the run's stops too.
    const loading = loadGuestWith(source, {
      imports: {
        wasi_snapshot_preview1: notBeforeStart(
          paidImports(
            wasiImports({
              wasi: base,
              memory,
              files,
              stdin,
              output: [stdout, stderr],
              watch,
              blocking,
            }),
            {
              charge: (fuel) => payForImport(guest?.meter, fuel),
              memory,
              perByte: costs.perByte,
              perElement: costs.perElement,
              copied: commandLineCopies(options),
              hostWork: () => files.takeHostWorkBytes(),
            },
          ),
          () => guest !== undefined,
        ),
      },
      // proc_exit is the runner's interrupt import: it unwinds the guest,
      // and should the guest catch that (C++'s catch (...) with wasm
      // exceptions does), it calls out no more and traps at its next check,
      // as after any stop. A plain throw let it run on, and return 0.
      interrupt: {
        module: WASI_MODULE,
        name: "proc_exit",
        onCall: ([code]) => {
          exitCode ??= code as number;
        },
      },
      async: !blocking,
      // A plain call that a deadline or a StopSignal can stop reads a stop
      // flag that traps.
      interruptible: blocking && stoppable,
      fuel: options.fuel ?? Infinity,
      timeout: options.timeout,
      signal: options.signal,
      stop: options.stop,
      label: options.label,
      limits: options.limits,
      cache,
    }, {
      trappingFuel: true,
      ownsBytes: internal.ownsBytes,
      checkImports: checkWasiImports,
      onBytes: (bytes) => hasStart = hasStartFunction(bytes),
    });
    try {
      guest = await loading;
    } catch (error) {
      // A stop before the guest has loaded stops the start function if
      // it has one; else nothing of it has run yet.
      const stopped = stoppedOutcome(
        hasStart ? START_FUNCTION : "_start",
        error,
      );
      // invokeIsolated, which some refusals suggest, runs no WASI command.
      if (stopped === undefined) throw withoutIsolatedHint(error);
      // proc_exit from the start function exits, as from _start.
      return { ...ended(exited(stopped, exitCode)), ...output() };
    }
    const memoryExport = commandMemory(guest);
    wasi.initialize({ exports: { memory: memoryExport } });
    // The timeout counts from _start, as the call's own deadline does.
    watch.restart();
    const outcome = blocking
      ? guest.invoke(
        "_start",
        [],
        stoppable ? { timeout: options.timeout, stop: options.stop } : {},
      )
      : await guest.invokeAsync("_start", [], {
        timeout: options.timeout,
        signal: options.signal,
        stop: options.stop,
      });
    // What the guest wrote last to a pipe goes out first, unless a stop
    // lands before the pipe's reader takes it.
    await outputs.drain();
    return { ...ended(exited(outcome, exitCode)), ...output() };
  } finally {
    // A run that stopped leaves what its writing thread has yet to write
    // to go on after it.
    outputs.settle();
    files.closeAll();
    stdin.release();
  }
}

/** A run's options, read and checked before anything starts. */
interface CheckedRun {
  /** The options as read, once. */
  options: WasiOptions;
  /** The most bytes of stdout and of stderr that are captured. */
  limit: number;
  /** The preopens, checked, in the order of their descriptors. */
  preopens: HostPreopen[];
  /** The rewrite cache, when one was given. */
  cache: RewriteCache | undefined;
}

/**
 * Reads and checks runWasi's source and options, and opens its cache,
 * which no read-write preopen may hold.
 */
function checkRun(
  source: string | URL | Uint8Array | ArrayBuffer,
  given: WasiOptions,
): CheckedRun {
  const options = withHostStop(
    readWasiOptions(given ?? {}, WASI_OPTION_NAMES),
    "runWasi",
  );
  // Here, not in the load, whose messages would name loadGuest.
  checkFuelAndTimeout(options, "runWasi");
  checkSource(source, "runWasi writes its checks into the command's bytes");
  checkCommandLine(options);
  checkLabelValue(options.label, "runWasi's label");
  checkOutputMode(options.stdout, "stdout");
  checkOutputMode(options.stderr, "stderr");
  checkInput(options.stdin);
  checkLimits(options.limits, "runWasi");
  const limit = options.outputLimit ?? DEFAULT_OUTPUT_LIMIT;
  if (!(Number.isSafeInteger(limit) && limit >= 0) && limit !== Infinity) {
    throw new RangeError(
      `runWasi's outputLimit must be a whole number of bytes, 0 or more, or Infinity; got ${
        typeof limit === "number" ? limit : showValue(limit)
      }`,
    );
  }
  const preopens = inDescriptorOrder(checkPreopens(options.preopens ?? []));
  const cache = options.cache === undefined
    ? undefined
    : openCache(options.cache, "runWasi");
  const holder = cache && preopenHolding(preopens, cache.directory);
  if (holder !== undefined) {
    throw new TypeError(
      `runWasi's cache ${
        cache!.directory
      } is inside the read-write preopen ${holder.host}, where the guest could change what the next run runs: keep the cache elsewhere, or make the preopen read-only`,
    );
  }
  return { options, limit, preopens, cache };
}

/**
 * The memory of a guest that is a WASI command: one that exports `_start`,
 * taking no parameters, and a memory named `memory`.
 */
function commandMemory(guest: Guest): WebAssembly.Memory {
  const exports = guest.instance.exports;
  if (typeof exports._start !== "function") {
    throw new TypeError(
      `${guest.label} is not a WASI command: it exports no _start function${
        typeof exports._initialize === "function"
          ? " (it is a reactor, which runWasi does not run)"
          : ""
      }`,
    );
  }
  const start = guest.signature("_start");
  if (start !== undefined && start.params.length > 0) {
    throw new TypeError(
      `${guest.label} is not a WASI command: its _start takes parameters (${
        describeSignature(start)
      }), where a command's takes none; build it as a WASI command (wasm32-wasip1)`,
    );
  }
  if (!(exports.memory instanceof WebAssembly.Memory)) {
    throw new TypeError(`${guest.label} exports no memory named "memory"`);
  }
  return exports.memory;
}

/**
 * Whether the guest runs as an async guest, from `async` and what else the
 * options ask for; a plain call cannot serve an `AbortSignal` or a stdin
 * stream, nor wait for this process's stdin under a deadline.
 */
function runsAsync(options: WasiOptions): boolean {
  const stoppable = options.timeout !== undefined ||
    options.stop !== undefined;
  const needs = options.signal !== undefined
    ? "an AbortSignal (signal)"
    : options.stdin instanceof ReadableStream
    ? "a stdin stream"
    : undefined;
  if (options.async === undefined) return needs !== undefined || stoppable;
  if (typeof options.async !== "boolean") {
    throw new TypeError(
      `runWasi's async must be true or false; got ${showValue(options.async)}`,
    );
  }
  if (options.async) return true;
  if (needs !== undefined) {
    throw new TypeError(
      `runWasi was given async: false and ${needs}, which only an async run can serve: it fires or waits on this thread's event loop, which a plain call holds; stop the run with a timeout or a StopSignal (stop), or drop async: false`,
    );
  }
  if (stoppable && options.stdin === "inherit") {
    throw new TypeError(
      `runWasi was given async: false, stdin: "inherit" and a ${
        options.timeout !== undefined ? "timeout" : "StopSignal"
      }: a plain call's read of this process's stdin blocks the thread, and no stop could end it; pass stdin as bytes, or drop async: false`,
    );
  }
  return false;
}

/**
 * Refuses an import from `wasi_snapshot_preview1` that WASI preview1 does
 * not have, or that the guest types otherwise (a host function takes
 * whatever it is given: an `i64` exit code would arrive as a bigint).
 *
 * @throws {ImportError} Naming the import and the type WASI gives it.
 */
function checkWasiImports(needed: ImportDescriptor[]): void {
  const hint =
    "a WASI command imports WASI preview1's functions as it defines them: build the guest for wasm32-wasip1 (wasi_snapshot_preview1)";
  for (const entry of needed) {
    if (entry.module !== WASI_MODULE) {
      throw new ImportError(
        `${entry.module}.${entry.name}`,
        entry.expected,
        "not from WASI preview1, and runWasi supplies nothing else",
        "build the guest as a WASI command that imports only wasi_snapshot_preview1, or load it with loadGuest, whose imports option supplies other imports",
      );
    }
    const importName = `${WASI_MODULE}.${entry.name}`;
    const wasi = wasiFunctionType(entry.name);
    if (wasi === undefined) {
      throw new ImportError(
        importName,
        entry.expected,
        "not a function of WASI preview1",
        hint,
      );
    }
    const same = (a: string[], b: string[] | undefined) =>
      b !== undefined && a.length === b.length && a.every((t, i) => t === b[i]);
    if (
      entry.kind !== "function" ||
      !same(wasi.params, entry.signature?.params) ||
      !same(wasi.results, entry.signature?.results)
    ) {
      throw new ImportError(
        importName,
        describeSignature(wasi),
        `imported as ${entry.expected}, which is not WASI preview1's type`,
        hint,
      );
    }
  }
}

/**
 * What `args_get` and `environ_get` copy into the guest's memory: how many
 * strings, and their bytes with their NULs.
 */
function commandLineCopies(
  options: WasiOptions,
): Record<"args_get" | "environ_get", { strings: number; bytes: number }> {
  const count = (strings: string[]) => ({
    strings: strings.length,
    bytes: strings.reduce((sum, s) => sum + utf8Length(s) + 1, 0),
  });
  return {
    args_get: count([options.program ?? "main.wasm", ...(options.args ?? [])]),
    environ_get: count(
      Object.entries(options.env ?? {}).map(([name, value]) =>
        `${name}=${value}`
      ),
    ),
  };
}

/** The outcomes of a stop. */
const STOPS = new Set<string>([
  "timeout",
  "aborted",
  "fuel_exhausted",
  "interrupted",
]);

/** The import module of WASI preview1. */
const WASI_MODULE = "wasi_snapshot_preview1";

/** The preopens as `node:wasi` takes them: guest names to host paths. */
function preopenObject(
  preopens: readonly HostPreopen[],
): Record<string, string> {
  return Object.fromEntries(
    preopens.map(({ host, guest = host }) => [guest, host]),
  );
}

/**
 * The preopens in the order `node:wasi` gives them descriptors (3, 4, …):
 * its object's key order, which puts names that read as array indices
 * (`"0"`, `"7"`) first, whatever their place in the list.
 */
function inDescriptorOrder(
  preopens: readonly HostPreopen[],
): HostPreopen[] {
  const byName = new Map(preopens.map((p) => [p.guest ?? p.host, p]));
  return Object.keys(preopenObject(preopens)).map((name) => byName.get(name)!);
}

/**
 * A returned `_start` exits with 0; a guest that called `proc_exit` exits
 * with its code, however its call then ended (it is stopped as by an
 * interrupt, and one that caught that is stopped at its next check).
 */
function exited(
  outcome: CallOutcome,
  exitCode: number | undefined,
): WasiOutcome {
  const { export: name, fuel } = outcome;
  const base = fuel === undefined ? { export: name } : { export: name, fuel };
  if (exitCode !== undefined) {
    return { ...base, outcome: "exited", code: exitCode };
  }
  if (outcome.outcome === "returned") {
    return { ...base, outcome: "exited", code: 0 };
  }
  return outcome;
}

/** The WASI functions that do not touch the guest's memory. */
const NO_MEMORY = new Set(["sched_yield", "proc_raise"]);

/**
 * The WASI imports, each that touches memory refusing a call made before the
 * guest's instance exists (from the module's start function): WASI reads and writes the
 * guest's memory, which the engine hands the host only once instantiation,
 * start function included, is over.
 *
 * @param imports The WASI imports.
 * @param started Whether the instance exists.
 * @returns The imports, guarded.
 */
function notBeforeStart(
  imports: Record<string, WasiImport>,
  started: () => boolean,
): Record<string, WasiImport> {
  return Object.fromEntries(
    Object.entries(imports).map(([name, fn]) => [
      name,
      NO_MEMORY.has(name) ? fn : (...args: unknown[]) => {
        if (!started()) {
          throw new TypeError(
            `the guest called wasi_snapshot_preview1.${name} from its start function, before the host can reach its memory: a WASI command does its work from _start; move the call there`,
          );
        }
        return fn(...args);
      },
    ]),
  );
}
