/**
 * The early-exit command line: runs one export of a guest and reports how
 * the call ended. With no arguments it runs the bundled guest's
 * `exit_early`, whose transcript the README shows.
 *
 * @module
 */

// From src/, not mod.ts, whose import readies the process for stops,
// which a WASI command run under fuel alone does without (see
// readyForStops below).
import {
  DeadlineExceeded,
  type EarlyExitError,
  isEarlyExitError,
  isExportError,
  isInvalidModule,
} from "./src/errors.ts";
import type { CallOutcome } from "./src/call/outcome.ts";
import type { GuestOptions } from "./src/call/guest_options.ts";
import { RewriteCache } from "./src/cache/rewrite_cache.ts";
import { readyForStops } from "./src/warmup/stop_readiness.ts";
import { watchdogReady } from "./src/watchdog/watchdog.ts";
import { convertArguments, UsageError } from "./src/cli/cli_arguments.ts";
import {
  type CommandLineOptions,
  parseOptions,
} from "./src/cli/cli_options.ts";
import { importsModule } from "./src/cli/cli_imports.ts";
import { Backstop, type BackstopReport } from "./src/cli/cli_backstop.ts";
import { commandLineMessage, stopMessage } from "./src/cli/cli_messages.ts";
import { compileBytes, loadModule, readModuleStream } from "./src/load/load.ts";
import { loadGuestWith } from "./src/load/load_guest.ts";
import { STOP_PATH_WARM_UP_GUEST } from "./src/call/stop_path_warmup.ts";
import { FEATURES_WARM_UP_GUEST } from "./src/warmup/load_warmup.ts";
import { roomForHit } from "./src/cache/rewrite_splice.ts";
import { loadStopOutcome, START_FUNCTION } from "./src/call/outcome.ts";
import { hasStartFunction, readSignatures } from "./src/load/signatures.ts";
import { checkPreopens, preopenHolding } from "./src/wasi/wasi_preopens.ts";
import { checkCommandLine } from "./src/wasi/wasi_option_checks.ts";
import { describeThrown } from "./src/thrown_values.ts";
import { oneLineText } from "./src/early_exit_error.ts";
import { resultJson, resultText } from "./src/cli/cli_results.ts";
import {
  RunDeadline,
  type RunPhase,
  RunTimedOut,
} from "./src/cli/cli_deadline.ts";
import {
  checkReportFile,
  reportFileIn,
  reportReplaces,
  writeReportFile,
} from "./src/cli/cli_report_file.ts";
import { USAGE } from "./src/cli/cli_usage.ts";
import { VERSION } from "./src/version.ts";
import {
  commandRefusal,
  isWasiCommand,
  listenForStops,
  parseWasiFlags,
  reactorRefusal,
  runWasiCommand,
  type StopListener,
  warmStopListeners,
  type WasiFlags,
  wasiReport,
} from "./src/cli/wasi_cli.ts";

/**
 * The first write to stdout or stderr that failed (a full disk, a pipe
 * whose reader left): the run's report is lost, so it ends with status 2
 * and one line on stderr, if stderr still takes it. A write from inside the
 * guest's call (the interrupt's line) must not throw into the guest.
 */
let lostOutput: string | undefined;

/**
 * Whether a WASI command's last write to stderr (this process's) ended
 * inside a line: the next line written there starts on a line of its own,
 * so that the guest's text never runs into it (`--json`'s report is the
 * last line, whatever the guest wrote before it).
 */
let stderrLineOpen = false;

/** This process's stderr, as a WASI command writes to it. */
const commandStderr = {
  writeSync(bytes: Uint8Array): number {
    const written = Deno.stderr.writeSync(bytes);
    if (written > 0) stderrLineOpen = bytes[written - 1] !== 0x0a;
    return written;
  },
  // For a stderr that is a pipe, under a timeout: the write's blocking part
  // on another thread, where a full pipe holds no stop.
  async write(bytes: Uint8Array): Promise<number> {
    const written = await Deno.stderr.write(bytes);
    if (written > 0) stderrLineOpen = bytes[written - 1] !== 0x0a;
    return written;
  },
};

/** Writes one line to stdout or stderr, recording a failure. */
function say(stream: "stdout" | "stderr", line: string): void {
  if (stream === "stderr" && stderrLineOpen) {
    line = `\n${line}`;
    stderrLineOpen = false;
  }
  try {
    if (stream === "stdout") console.log(line);
    else console.error(line);
  } catch (error) {
    const why = error instanceof Error ? error.message : describeThrown(error);
    lostOutput ??=
      `cannot write to ${stream}: ${why}; the report is lost: check where ${stream} goes (a full disk, a closed pipe)`;
  }
}

/**
 * Writes the run's JSON object: on `stream`, or, with `--json-file`, to
 * that file.
 */
function sayReport(
  stream: "stdout" | "stderr",
  record: object,
  jsonFile: string | undefined,
): void {
  const json = JSON.stringify(record);
  if (jsonFile === undefined) say(stream, json);
  else lostOutput ??= writeReportFile(jsonFile, json);
}

/**
 * Reports how the call ended; `phase` says what the run was doing when its
 * deadline passed, before the call began.
 */
function report(
  result: CallOutcome,
  options: CommandLineOptions,
  phase?: RunPhase,
): void {
  const message = (error: EarlyExitError) =>
    phase === undefined
      ? stopMessage(error)
      : `${stopMessage(error)}, while ${phase}`;
  // The name is the caller's, but a line of text must stay one line.
  const name = oneLineText(result.export);
  if (options.json || options.jsonFile !== undefined) {
    const record: Record<string, unknown> = {
      outcome: result.outcome,
      export: result.export,
    };
    if (result.outcome === "returned") {
      record.value = resultJson(result.value);
    } else if (result.outcome === "trap") {
      record.trap = result.error.trap;
    } else if (result.outcome === "timeout") {
      record.elapsed_ms = Number(result.error.elapsed.toFixed(3));
    }
    const metered = options.fuel !== undefined || options.timeout !== undefined;
    if (result.fuel && metered) {
      const { consumed, remaining } = result.fuel;
      record.fuel = {
        consumed,
        remaining: Number.isFinite(remaining) ? remaining : null,
      };
    }
    record.message = result.outcome === "returned"
      ? `${name} returned ${resultText(result.value)}`
      : message(result.error);
    sayReport("stdout", record, options.jsonFile);
    if (options.json) return;
  }
  if (result.outcome !== "returned") {
    say("stdout", `Error from ${name}: ${message(result.error)}`);
  } else if (options.expect === "returned") {
    say("stdout", `${name} returned: ${resultText(result.value)}`);
  }
  if (result.outcome === options.expect) {
    say("stdout", "Success!");
  } else if (result.outcome === "returned") {
    say(
      "stderr",
      `${name} did not error. Returned the value: ${resultText(result.value)}`,
    );
  } else if (result.outcome !== "aborted") {
    say("stderr", `expected outcome ${options.expect}, got ${result.outcome}`);
  }
}

/**
 * Reports how the call ended and returns the exit status: for an abort
 * that was not expected, the status of the signal that stopped it.
 */
function finish(
  result: CallOutcome,
  options: CommandLineOptions,
  stops: StopListener,
): number {
  report(result, options);
  if (result.outcome === "aborted" && options.expect !== "aborted") {
    return stops.status ?? 130;
  }
  return result.outcome === options.expect ? 0 : 1;
}

/**
 * Reports an error that ended the program before or instead of a call: as
 * text on stderr, or with `--json` as an object on stdout; with
 * `--json-file`, as text and in that file.
 */
function fail(
  error: unknown,
  { json, jsonFile }: { json: boolean; jsonFile: string | undefined },
): number {
  let outcome: "usage_error" | "load_error" | "internal_error";
  let message: string;
  let kind: string | undefined;
  if (error instanceof UsageError) {
    outcome = "usage_error";
    message = error.message;
  } else if (isEarlyExitError(error)) {
    outcome = isExportError(error) ? "usage_error" : "load_error";
    message = commandLineMessage(error);
    kind = error.kind;
  } else {
    outcome = "internal_error";
    message = String((error as Error)?.stack ?? error);
  }
  if (json || jsonFile !== undefined) {
    const record = kind === undefined
      ? { outcome, message }
      : { outcome, error: kind, message };
    sayReport("stdout", record, jsonFile);
  }
  if (json) {
    // Said in the object alone.
  } else if (outcome === "internal_error") {
    say("stderr", `internal error: ${message}`);
  } else if (error instanceof UsageError) {
    say("stderr", `error: ${message}; run with --help for usage`);
  } else {
    say("stderr", `error: ${message}`);
  }
  return outcome === "internal_error" ? 3 : 2;
}

/**
 * The `--imports` module, loaded within the run's deadline; should its own
 * top-level code hold the thread past it, the backstop reports the timeout
 * and ends the process.
 */
async function loadImports(
  module: string,
  deadline: RunDeadline | undefined,
  backstop: Backstop | undefined,
): Promise<GuestOptions["imports"]> {
  if (deadline === undefined) return await importsModule(module);
  backstop?.arm(deadline.started, deadline.started + deadline.timeout);
  try {
    return await deadline.race(importsModule(module), IMPORTS_PHASE);
  } finally {
    backstop?.disarm();
  }
}

const IMPORTS_PHASE = "loading the --imports module";

/** The report of a run that its backstop ends (see `cli_backstop.ts`). */
function backstopReport(
  options: CommandLineOptions,
  timeout: number,
): BackstopReport {
  const message =
    `guest stopped at its deadline: ${timeout} ms allowed, stopped after @MS@ ms, while ${IMPORTS_PHASE} (its own code held the thread: the process was killed)`;
  const record = JSON.stringify({
    outcome: "timeout",
    export: options.invoke,
    elapsed_ms: "@MS@",
    message,
  }).replace('"@MS@"', "@MS@");
  if (options.json) return { stdout: `${record}\n`, stderr: "" };
  const expected = options.expect === "timeout";
  return {
    stdout: `Error from ${oneLineText(options.invoke)}: ${message}\n${
      expected ? "Success!\n" : ""
    }`,
    stderr: expected ? "" : `expected outcome ${options.expect}, got timeout\n`,
    file: options.jsonFile === undefined
      ? undefined
      : { path: options.jsonFile, text: `${record}\n` },
  };
}

/**
 * Loads tiny guests as the run will load its own (async, metered, with a
 * signal), so that what a process's first such load does once holds no
 * stop of the run: its first instantiation alone held the thread 10 to 11
 * ms (the runner's async imports made for the first time), and the first
 * rewrite's steps up to 6 ms, where a 5 ms deadline landed 4 to 5 ms late
 * in the median. One has the tables, bulk operators and exceptions whose
 * rewrite takes paths of its own (a `table.fill` guest's deadline: p50
 * 1.0 to 1.6 ms late without it, 0.7 to 0.8 with). The last load is
 * stopped as a deadline stops the run's, in its first wait: the first stop
 * of a load ran its code for the first time, 0.3 ms and more between the
 * abort and the run's report. A failure is only a warm-up's: the run's own
 * load says what is wrong.
 */
async function warmFirstLoad(): Promise<void> {
  const guests = [
    STOP_PATH_WARM_UP_GUEST,
    new Uint8Array(FEATURES_WARM_UP_GUEST),
    STOP_PATH_WARM_UP_GUEST,
  ];
  for (const [index, bytes] of guests.entries()) {
    const deadline = new AbortController();
    const load = loadGuestWith(bytes, {
      label: "the command line's warm-up",
      async: true,
      fuel: Infinity,
      signal: AbortSignal.any([new AbortController().signal, deadline.signal]),
    }, {});
    if (index === guests.length - 1) {
      deadline.abort(new DOMException("warm-up", "TimeoutError"));
    }
    try {
      await load;
    } catch (error) {
      // As the run's own catch reads its load's stop, once before it counts.
      loadStopOutcome(START_FUNCTION, error);
    }
  }
}

/** The longest the run waits for the watchdog's thread to boot. */
const WATCHDOG_BOOT_MS = 5_000;

/**
 * Waits for work that comes before the call, within the run's deadline
 * when it has one.
 */
function beforeCall<T>(
  deadline: RunDeadline | undefined,
  phase: RunPhase,
  work: Promise<T>,
): Promise<T> {
  return deadline === undefined ? work : deadline.race(work, phase);
}

/**
 * Runs the guest as a WASI command, if it is one, and returns the exit
 * status; for any other guest, returns its bytes, read once.
 */
async function runIfWasi(
  options: CommandLineOptions,
  wasi: WasiFlags,
  cache: RewriteCache | undefined,
  deadline: RunDeadline | undefined,
): Promise<number | { bytes: Uint8Array; label: string }> {
  // Read with room after the bytes, for a cache's hit or a rewrite to be
  // built in the same buffer (untouched, it costs nothing). Under
  // --timeout the read is part of the run: a guest that never arrives (a
  // URL whose server does not answer, a FIFO no one writes to), or a large
  // file, is given up at the deadline.
  const fromStdin = options.guest === "-";
  const reading: Promise<{ bytes?: Uint8Array; label: string }> = fromStdin
    ? readModuleStream(Deno.stdin.readable, "stdin").then((bytes) => ({
      bytes,
      label: "stdin",
    }))
    : loadModule(options.guest, {
      compile: false,
      room: roomForHit,
      // Read in pieces of 256 KiB, with turns between them, as a signal
      // asks: read whole, 270 MB held the thread 290 to 420 ms (load
      // average 9), though it took a third of the time.
      signal: deadline?.signal,
    });
  const { bytes, label } = await beforeCall(
    deadline,
    "reading the guest",
    reading,
  );
  await deadline?.turn("reading the guest");
  let signatures;
  try {
    signatures = readSignatures(bytes!);
  } catch (error) {
    // The engine's verdict on an invalid module, as for any other guest.
    if (isInvalidModule(error)) {
      await beforeCall(
        deadline,
        "loading the guest",
        compileBytes(bytes!, label),
      );
    }
    throw error;
  }
  const { imports, exportList } = signatures;
  if (!isWasiCommand(imports, exportList)) {
    const reactor = reactorRefusal(label, imports, exportList);
    if (reactor !== undefined && options.imports === undefined) {
      throw new UsageError(reactor);
    }
    if (wasi.preopens.length > 0 || Object.keys(wasi.env).length > 0) {
      throw new UsageError(
        `--dir and --env are for WASI commands, and ${label} is not one (it must import wasi_snapshot_preview1 and export _start)`,
      );
    }
    if (wasi.args.length > 0 && !options.guestGiven) {
      // `main.ts -- -x.wasm`: the guest itself put after --.
      const first = wasi.args[0]!;
      throw new UsageError(
        `no guest was given before --, so the bundled ${label} runs, which is not a WASI command and takes no arguments after --: give the guest before --${
          first.startsWith("-")
            ? ` (a name that starts with a dash as ./${first})`
            : `, as in: main.ts ${first} --`
        }`,
      );
    }
    if (wasi.args.length > 0) {
      throw new UsageError(
        `arguments after -- are for WASI commands, and ${label} is not one; pass an export's arguments with --arg`,
      );
    }
    return { bytes: bytes!, label };
  }
  const refusal = commandRefusal(label, signatures);
  if (refusal !== undefined) throw new UsageError(refusal);
  if (options.callOptions.length > 0) {
    const given = options.callOptions;
    const one = given.length === 1;
    throw new UsageError(
      `${given.join(", ")} ${
        one ? "is" : "are"
      } for calling an export, and ${label} is a WASI command, which runs as a program: leave ${
        one ? "it" : "them"
      } out (the command's own arguments go after --)`,
    );
  }
  try {
    checkPreopens(wasi.preopens);
  } catch (error) {
    // A directory that is missing, or lacks a permission: the user's to fix.
    throw new UsageError(`--dir: ${(error as Error).message}`);
  }
  try {
    checkCommandLine({
      args: wasi.args,
      env: wasi.env,
      program: label.split("/").pop(),
    });
  } catch (error) {
    // Too many arguments after --, or too many bytes with --env.
    throw new UsageError(
      `the arguments after -- and --env: ${(error as Error).message}`,
    );
  }
  const holder = cache && preopenHolding(wasi.preopens, cache.directory);
  if (holder !== undefined) {
    throw new UsageError(
      `--cache ${
        cache!.directory
      } is inside --dir ${holder.host}, where the guest could change what the next run runs: keep the cache elsewhere`,
    );
  }
  const reportHolder = options.jsonFile === undefined
    ? undefined
    : preopenHolding(wasi.preopens, options.jsonFile);
  if (reportHolder !== undefined) {
    throw new UsageError(
      `--json-file ${options.jsonFile} is inside --dir ${reportHolder.host}, where the guest could replace it with a link to another file before the report is written: keep the report elsewhere`,
    );
  }
  const { result, elapsed, status } = await runWasiCommand(bytes!, {
    flags: wasi,
    fuel: options.fuel,
    timeout: options.timeout,
    program: label.split("/").pop(),
    label,
    reportInterrupt: options.json || options.jsonFile !== undefined,
    cache,
    ownsBytes: true,
    stderr: commandStderr,
    // Read from stdin, the guest leaves the command nothing to read there.
    stdin: fromStdin ? new Uint8Array(0) : undefined,
    readsStdin: !fromStdin &&
      imports.some((i) =>
        i.module === "wasi_snapshot_preview1" && i.name === "fd_read"
      ),
  });
  if (options.json || options.jsonFile !== undefined) {
    const report = wasiReport(result, elapsed);
    if (result.outcome !== "exited") report.message = stopMessage(result.error);
    sayReport("stderr", report, options.jsonFile);
  }
  if (!options.json && result.outcome !== "exited") {
    say("stderr", `${label}: ${stopMessage(result.error)}`);
  }
  return status;
}

/**
 * Runs the command line.
 *
 * @param argv The arguments, without the program name.
 * @returns The exit status.
 */
export async function main(argv: string[]): Promise<number> {
  lostOutput = undefined;
  stderrLineOpen = false;
  const status = await runCommandLine(argv);
  if (lostOutput === undefined) return status;
  try {
    console.error(`error: ${lostOutput}`);
  } catch {
    // Nowhere is left to say it: the status says it.
  }
  return status === 3 ? 3 : 2;
}

/** {@linkcode main}, but for a report it could not write. */
async function runCommandLine(argv: string[]): Promise<number> {
  // Known before the arguments are parsed, so that a usage error is JSON too.
  // A WASI command's own arguments, after --, are not options.
  const end = argv.indexOf("--");
  const json = (end === -1 ? argv : argv.slice(0, end)).includes("--json");
  // Given with --json, which is the usage error: reported as --json's.
  let jsonFile = json ? undefined : reportFileIn(argv);
  let options: CommandLineOptions | "help" | "version" | undefined;
  let deadline: RunDeadline | undefined;
  let backstop: Backstop | undefined;
  try {
    let wasi: WasiFlags;
    try {
      wasi = parseWasiFlags(argv);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    options = parseOptions(wasi.rest);
    if (options === "help") {
      say("stdout", USAGE);
      return 0;
    }
    if (options === "version") {
      say("stdout", `early-exit ${VERSION}`);
      return 0;
    }
    // As importing the API would, before any stop can be due; a run that
    // only the process's end stops (a WASI command under fuel alone, its
    // Ctrl-C the process's default) does without, and any other guest
    // readies them once it is read, before its stops are listened for.
    if (options.jsonFile !== undefined) {
      checkReportFile(options.jsonFile);
      const input = reportReplaces(options.jsonFile, options.guest)
        ? "the guest"
        : reportReplaces(options.jsonFile, options.imports)
        ? "the --imports module"
        : undefined;
      if (input !== undefined) {
        // Said on stderr alone: the report would replace the input.
        jsonFile = undefined;
        throw new UsageError(
          `--json-file ${options.jsonFile} is ${input}, which the report would replace at the run's end: name another file, such as report.json`,
        );
      }
    }
    const reports = options.json || options.jsonFile !== undefined;
    if (options.timeout !== undefined || reports) readyForStops();
    if (options.timeout !== undefined) {
      // --timeout is the whole run's, from here: the read, the --imports
      // module, the load and the call each get what is left of it. The
      // threads that keep deadlines boot first (tens of milliseconds,
      // more on a busy machine): until they run, no stop could be on time.
      backstop = options.imports === undefined
        ? undefined
        : new Backstop(backstopReport(options, options.timeout));
      await watchdogReady(WATCHDOG_BOOT_MS);
      await backstop?.ready(WATCHDOG_BOOT_MS);
      await warmFirstLoad();
      warmStopListeners();
      deadline = new RunDeadline(options.timeout);
    }
    // Before the guest is read: a cache it cannot use fails the run at once.
    const cache = options.cache === undefined
      ? undefined
      : new RewriteCache(options.cache);
    const read = await runIfWasi(options, wasi, cache, deadline);
    if (typeof read === "number") return read;
    readyForStops();
    const imports = options.imports === undefined
      ? undefined
      : await loadImports(options.imports, deadline, backstop);
    // The guest yields to the event loop about every half millisecond, so
    // this listener runs even while a guest that never calls the host
    // computes, its start function included.
    const controller = new AbortController();
    const stops = listenForStops(controller);
    try {
      return await run(options, read, imports, {
        stops,
        signal: controller.signal,
        cache,
        deadline,
      });
    } finally {
      stops.remove();
    }
  } catch (error) {
    if (error instanceof RunTimedOut && typeof options === "object") {
      const stopped: CallOutcome = {
        outcome: "timeout",
        export: options.invoke,
        error: error.stop,
      };
      report(stopped, options, error.phase);
      return stopped.outcome === options.expect ? 0 : 1;
    }
    return fail(error, { json, jsonFile });
  } finally {
    deadline?.dispose();
    backstop?.disarm();
  }
}

/** What stops the load and the call, and where the rewrite is kept. */
interface RunContext {
  stops: StopListener;
  /** Ctrl-C, SIGTERM and SIGHUP. */
  signal: AbortSignal;
  cache: RewriteCache | undefined;
  deadline: RunDeadline | undefined;
}

/** Loads the guest and makes the call, both stopped by `signal` and the deadline. */
async function run(
  options: CommandLineOptions,
  read: { bytes: Uint8Array; label: string },
  imports: GuestOptions["imports"],
  { stops, signal, cache, deadline }: RunContext,
): Promise<number> {
  // The run's listeners and the load's checks of its options come next.
  await deadline?.turn("loading the guest");
  // Read before the load, which may write over the bytes (a cache hit).
  const hasStart = hasStartFunction(read.bytes);
  let guest;
  try {
    guest = await loadGuestWith(read.bytes, {
      label: read.label,
      imports,
      interrupt: {
        onCall: () => {
          if (!options.json) say("stdout", "interrupt_execution called!");
        },
      },
      async: true,
      fuel: options.fuel ?? Infinity,
      // The deadline's signal ends the load wherever it is (between the
      // rewrite's steps, in a wait, in the start function); the start
      // function's own timeout, counted from its entry, is a bound it never
      // reaches first.
      timeout: deadline?.remaining(),
      signal: deadline === undefined
        ? signal
        : AbortSignal.any([signal, deadline.signal]),
      cache,
    }, { ownsBytes: true });
  } catch (error) {
    // Stopped while it loads: in the start function if the guest has one,
    // else before the call it was loaded for.
    const stopped = loadStopOutcome(
      hasStart ? START_FUNCTION : options.invoke,
      error,
    );
    if (stopped === undefined) throw error;
    if (stopped.outcome !== "timeout" || deadline === undefined) {
      return finish(stopped, options, stops);
    }
    // Said as the run's deadline, timed from the run's start.
    const stop = deadline.exceeded();
    report(
      { ...stopped, error: stop },
      options,
      hasStart ? undefined : "loading the guest",
    );
    return options.expect === "timeout" ? 0 : 1;
  }
  const args = convertArguments(
    options.args,
    guest.signature(options.invoke),
  );
  // What is left is read before the call's start is: the call counts its
  // timeout from a moment after both, so that its stop, timed from the
  // run's start, never comes before the run's deadline (read the other way
  // round, it came up to 0.04 ms before it once a stop landed on time).
  const timeout = deadline?.remaining();
  const called = performance.now();
  const result = await guest.invokeAsync(options.invoke, args, {
    signal,
    timeout,
  });
  if (result.outcome !== "timeout" || deadline === undefined) {
    return finish(result, options, stops);
  }
  // The call's stop, timed from the run's start.
  const elapsed = called - deadline.started + result.error.elapsed;
  return finish(
    { ...result, error: new DeadlineExceeded(deadline.timeout, elapsed) },
    options,
    stops,
  );
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
