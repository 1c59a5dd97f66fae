/**
 * The command line's side of WASI: telling a WASI command from other
 * modules, reading `--dir`, `--env` and the arguments after `--`, running
 * the command with its stdio passed through and Ctrl-C wired to an abort,
 * and the exit status and JSON report of how it ended.
 *
 * @module
 */

import { type HostPreopen, MAX_PREOPENS } from "../wasi/wasi_preopens.ts";
import {
  runWasiWith,
  type WasiInput,
  type WasiOutcome,
  type WasiResult,
} from "../wasi/wasi.ts";
import {
  describeSignature,
  type ModuleSignatures,
} from "../module/signatures.ts";
import type { RewriteCache } from "../cache/rewrite_cache.ts";
import { type HostStream, writesCanBlock } from "../wasi/wasi_pipe_writes.ts";

/** What `--dir`, `--env` and `--` said, and the arguments left for the rest of the command line. */
export interface WasiFlags {
  /** One per `--dir HOST[::GUEST]`, read-write. */
  preopens: HostPreopen[];
  /** From `--env K=V`. */
  env: Record<string, string>;
  /** Everything after `--`: the guest's arguments. */
  args: string[];
  /** The other arguments, in order, for the command line's own parser. */
  rest: string[];
}

/**
 * Takes `--dir HOST[::GUEST]` (or `--dir=...`), `--env K=V` (or
 * `--env=...`) and the arguments after `--` out of a command line.
 *
 * @param argv The command line, without the program name.
 * @returns The WASI flags, and what is left.
 * @throws {TypeError} When a flag has no value, `--env` has no `=` or
 *   sets a name again, `--dir` no host directory, an empty guest name or
 *   more than one `::`, or two `--dir` give the guest the same name.
 * @throws {RangeError} When more than 32 `--dir` are given.
 */
export function parseWasiFlags(argv: readonly string[]): WasiFlags {
  const flags: WasiFlags = { preopens: [], env: {}, args: [], rest: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") {
      flags.args = argv.slice(i + 1);
      break;
    }
    const match = /^--(dir|env)(?:=(.*))?$/s.exec(arg);
    if (match === null) {
      flags.rest.push(arg);
      continue;
    }
    const value = match[2] ?? argv[++i];
    if (value === undefined) throw new TypeError(`--${match[1]} needs a value`);
    if (match[1] === "dir") {
      // More than one "::" (a mode, `::ro`, say) would be dropped, and the
      // directory preopened for writing all the same.
      const [host, guest, ...more] = value.split("::");
      if (host === "" || guest === "" || more.length > 0) {
        throw new TypeError(
          `--dir ${value}: expected HOST[::GUEST], where HOST is a directory (. for this one) and GUEST, if given, a name the guest opens it by, such as /data, holding no "::" (every --dir is read-write)`,
        );
      }
      if (flags.preopens.length === MAX_PREOPENS) {
        throw new RangeError(
          `--dir ${value}: more than ${MAX_PREOPENS} --dir, each checked and opened before the guest runs, where no stop reaches it; give a directory that holds them instead`,
        );
      }
      const name = guest ?? host;
      if (flags.preopens.some((p) => (p.guest ?? p.host) === name)) {
        throw new TypeError(
          `--dir ${value}: another --dir is already named ${name} for the guest; give each its own name, as --dir HOST::GUEST`,
        );
      }
      flags.preopens.push(guest === undefined ? { host } : { host, guest });
    } else {
      const equals = value.indexOf("=");
      if (equals <= 0) {
        throw new TypeError(`--env ${value}: expected NAME=VALUE`);
      }
      const name = value.slice(0, equals);
      // As a repeated option elsewhere: the first value would be dropped.
      if (Object.hasOwn(flags.env, name)) {
        throw new TypeError(
          `--env ${value}: ${name} is already set, to ${
            JSON.stringify(flags.env[name])
          }; give each name once`,
        );
      }
      // Defined, not assigned: `--env __proto__=x` would otherwise set the
      // record's prototype and reach the guest as nothing.
      Object.defineProperty(flags.env, name, {
        value: value.slice(equals + 1),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
  }
  return flags;
}

/**
 * Whether a module is a WASI command: it imports from
 * `wasi_snapshot_preview1` and exports the function `_start`.
 *
 * @param imports The module's imports.
 * @param exports The module's exports.
 * @returns Whether to run it with {@linkcode runWasi}.
 */
export function isWasiCommand(
  imports: readonly { module: string }[],
  exports: readonly { name: string; kind: string }[],
): boolean {
  return imports.some((i) => i.module === "wasi_snapshot_preview1") &&
    exports.some((e) => e.name === "_start" && e.kind === "function");
}

/**
 * Why a module that {@linkcode isWasiCommand} took for a command cannot run
 * as one, which `runWasi` would refuse with a `TypeError` (that the command
 * line would report as its own bug): a `_start` that takes parameters, or no
 * memory exported as `memory`. `undefined` when it can run.
 *
 * @param label The module's name in messages.
 * @param signatures The module's exports and their signatures.
 * @returns The one-line usage error.
 */
export function commandRefusal(
  label: string,
  signatures: Pick<ModuleSignatures, "exports" | "exportList">,
): string | undefined {
  const start = signatures.exports.get("_start");
  if (start !== undefined && start.params.length > 0) {
    return `${label} is not a WASI command: its _start takes parameters (${
      describeSignature(start)
    }), where a command's takes none; build it as a WASI command (wasm32-wasip1)`;
  }
  if (
    !signatures.exportList.some((e) =>
      e.name === "memory" && e.kind === "memory"
    )
  ) {
    return `${label} exports no memory named "memory", which a WASI command must (WASI reads and writes the guest's memory through it); build it as a WASI command (wasm32-wasip1)`;
  }
  return undefined;
}

/**
 * Why the command line does not run a module as a WASI reactor (it imports
 * from `wasi_snapshot_preview1` and exports `_initialize` but no `_start`),
 * or `undefined` for any other module.
 *
 * @param label The module's name in messages.
 * @param imports The module's imports.
 * @param exports The module's exports.
 * @returns The one-line usage error.
 */
export function reactorRefusal(
  label: string,
  imports: readonly { module: string }[],
  exports: readonly { name: string; kind: string }[],
): string | undefined {
  const has = (name: string) =>
    exports.some((e) => e.name === name && e.kind === "function");
  if (
    !imports.some((i) => i.module === "wasi_snapshot_preview1") ||
    !has("_initialize") || has("_start")
  ) {
    return undefined;
  }
  return `${label} is a WASI reactor (it exports _initialize, not _start), which early-exit does not run: only WASI commands run as programs; to call one of its exports with --invoke, supply its wasi_snapshot_preview1 imports with --imports MODULE`;
}

/**
 * The signals that stop a run of the command line cleanly, with the exit
 * status a shell gives a process they end (128 plus the signal's number)
 * and the reason an abort gives. SIGTERM is what `timeout`, `kill` and
 * service managers send, SIGHUP what a closed terminal sends.
 */
export const STOP_SIGNALS = [
  { signal: "SIGTERM", status: 143, reason: "SIGTERM" },
  { signal: "SIGHUP", status: 129, reason: "SIGHUP (the terminal closed)" },
  // Last, so that once Ctrl-C is listened for, every one of them is.
  { signal: "SIGINT", status: 130, reason: "Ctrl-C (SIGINT)" },
] as const satisfies readonly {
  signal: Deno.Signal;
  status: number;
  reason: string;
}[];

/** What {@linkcode listenForStops} gives. */
export interface StopListener {
  /** The exit status of the signal that stopped the run, if one did. */
  readonly status: number | undefined;
  /** Stops listening. */
  remove(): void;
}

/**
 * Readies Deno's signal handling before a run's deadline starts, so that
 * {@linkcode listenForStops} then costs a tenth of a millisecond rather
 * than a whole one (a process's first signal listener set it up). SIGHUP
 * is listened for and let go at once, which gives it back its default (it
 * still ends a run that does not listen for it); Ctrl-C is left alone, so
 * that nothing ever listens for it but the run.
 *
 * @example Usage
 * ```ts
 * import { warmStopListeners } from "./wasi_cli.ts";
 *
 * warmStopListeners();
 * ```
 */
export function warmStopListeners(): void {
  const listener = () => {};
  try {
    Deno.addSignalListener("SIGHUP", listener);
    Deno.removeSignalListener("SIGHUP", listener);
  } catch {
    // Not a signal this system has: nothing to ready.
  }
}

/**
 * Aborts `controller` on the first of {@linkcode STOP_SIGNALS}, with its
 * reason. A second signal, should the first stop not have ended the run,
 * ends the process at once with its status, as a user pressing Ctrl-C
 * twice expects. Where a signal cannot be listened for (Windows has only
 * SIGINT), it keeps its default.
 *
 * @param controller The run's abort.
 * @returns The signal's status once one came, and a way to stop listening.
 */
export function listenForStops(controller: AbortController): StopListener {
  let status: number | undefined;
  const listening: [Deno.Signal, () => void][] = [];
  for (const stop of STOP_SIGNALS) {
    const listener = () => {
      if (status !== undefined) Deno.exit(stop.status);
      status = stop.status;
      controller.abort(stop.reason);
    };
    try {
      Deno.addSignalListener(stop.signal, listener);
      listening.push([stop.signal, listener]);
    } catch {
      // Not a signal this system has.
    }
  }
  return {
    get status() {
      return status;
    },
    remove() {
      for (const [signal, listener] of listening) {
        Deno.removeSignalListener(signal, listener);
      }
    },
  };
}

/** The exit status of a stopped command, by outcome. */
export const WASI_STOP_STATUS = {
  timeout: 124,
  fuel_exhausted: 125,
  aborted: 130,
  trap: 134,
  interrupted: 1,
  error: 1,
  out_of_memory: 1,
} as const satisfies Record<Exclude<WasiOutcome["outcome"], "exited">, number>;

/**
 * The exit status for how a command ended: its own code when it exited,
 * else {@linkcode WASI_STOP_STATUS}. A code outside 0 to 255 exits with 1:
 * the system keeps only an exit status's low byte, which would turn 256
 * (and every multiple of it) into 0, a success.
 *
 * @param outcome How it ended.
 * @returns The status for `Deno.exit`.
 */
export function wasiExitStatus(outcome: WasiOutcome): number {
  if (outcome.outcome !== "exited") return WASI_STOP_STATUS[outcome.outcome];
  return outcome.code >= 0 && outcome.code <= 255 ? outcome.code : 1;
}

/** One JSON report of a command's run. */
export interface WasiReport {
  outcome: WasiOutcome["outcome"];
  /** The exit code, when the guest exited. */
  code?: number;
  /** Why it stopped, when it did (the same key as other runs' `--json`). */
  message?: string;
  fuel?: { consumed: number; remaining: number | null };
  /**
   * Milliseconds from the start of the load (rewrite included) to the end,
   * to a microsecond: a stop's message counts from the start of `_start`.
   */
  elapsed_ms: number;
}

/**
 * The JSON report of a run (`remaining` is `null` for an unlimited budget).
 *
 * @param outcome How it ended.
 * @param elapsed Its duration, in milliseconds.
 * @returns What `--json` prints.
 */
export function wasiReport(outcome: WasiOutcome, elapsed: number): WasiReport {
  const report: WasiReport = {
    outcome: outcome.outcome,
    elapsed_ms: Number(elapsed.toFixed(3)),
  };
  if (outcome.outcome === "exited") report.code = outcome.code;
  else report.message = outcome.error.message;
  if (outcome.fuel !== undefined) {
    const { consumed, remaining } = outcome.fuel;
    report.fuel = {
      consumed,
      remaining: Number.isFinite(remaining) ? remaining : null,
    };
  }
  return report;
}

/** Options for {@linkcode runWasiCommand}. */
export interface WasiCommandOptions {
  /** The preopens, environment and arguments from {@linkcode parseWasiFlags}. */
  flags: Pick<WasiFlags, "preopens" | "env" | "args">;
  /** `--fuel`. */
  fuel?: number;
  /** `--timeout`, in milliseconds. */
  timeout?: number;
  /** The guest's `argv[0]`. */
  program?: string;
  /** The name messages give the guest, such as its path. */
  label?: string;
  /** The guest's stdin; default, this process's. */
  stdin?: WasiInput;
  /**
   * Whether Ctrl-C must end in a report (`--json`): the guest then runs
   * as an async guest, which an abort can stop. Otherwise Ctrl-C ends this
   * process as it would a native program's (status 130), and the guest
   * runs as a plain call, with cheaper checks, stopped by the timeout
   * through its stop flag, unless it could wait for stdin, or write to a
   * pipe or a socket, under a timeout.
   */
  reportInterrupt?: boolean;
  /**
   * Whether the guest can read stdin (it imports `fd_read`); default
   * `true`. A read of this process's stdin under a timeout must be a
   * wait the deadline can end, which only an async guest has.
   */
  readsStdin?: boolean;
  /** `--cache`: where the metered rewrite is kept. */
  cache?: RewriteCache;
  /** Whether `source`, bytes, are the run's to write over (see `roomForHit`). */
  ownsBytes?: boolean;
  /** Where the guest's stderr goes; default, this process's. */
  stderr?: HostStream;
}

/**
 * Runs a WASI command as the command line does: stdout and stderr pass
 * through, stdin is this process's, and Ctrl-C (SIGINT) aborts it (with
 * `reportInterrupt`, or a timeout on a guest that reads stdin) or ends the
 * process. Otherwise the guest runs as a plain call (`async: false`),
 * whose checks cost less in V8's baseline compiler.
 *
 * @param source The module.
 * @param options The flags, fuel and timeout.
 * @returns How it ended, how long it took, and the exit status to use.
 */
export async function runWasiCommand(
  source: Uint8Array,
  options: WasiCommandOptions,
): Promise<{ result: WasiResult; elapsed: number; status: number }> {
  const reported = options.reportInterrupt === true;
  // A command runs once, in a process that has nothing else to do: it
  // may hold the thread, unless Ctrl-C must be reported or a deadline
  // must end a wait for stdin, or a write to a stdout or stderr that is a
  // pipe or a socket (whose reader may never take the bytes).
  const waitsForStdin = options.timeout !== undefined &&
    options.readsStdin !== false;
  const held = !reported && !waitsForStdin &&
    !(options.timeout !== undefined &&
      (writesCanBlock(1) || writesCanBlock(2)));
  // Ctrl-C ends a command run async for its output alone as it ends one
  // that holds the thread: the process ends, with status 130.
  const watched = reported || waitsForStdin;
  const controller = new AbortController();
  const stops = watched ? listenForStops(controller) : undefined;
  const started = performance.now();
  try {
    const result = await runWasiWith(source, {
      ...options.flags,
      program: options.program,
      label: options.label,
      // A guest that cannot read stdin gets none, so that it may hold the
      // thread under a deadline.
      stdin: options.stdin ??
        (options.readsStdin === false ? new Uint8Array(0) : "inherit"),
      fuel: options.fuel ?? Infinity,
      timeout: options.timeout,
      signal: watched ? controller.signal : undefined,
      async: !held,
      cache: options.cache,
    }, { ownsBytes: options.ownsBytes, stderr: options.stderr });
    const elapsed = performance.now() - started;
    const status = result.outcome === "aborted" && stops?.status
      ? stops.status
      : wasiExitStatus(result);
    return { result, elapsed, status };
  } finally {
    stops?.remove();
  }
}
