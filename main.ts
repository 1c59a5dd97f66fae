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
import { DeadlineExceeded } from "./src/errors.ts";
import type { CallOutcome } from "./src/call/outcome.ts";
import type { GuestOptions } from "./src/load/guest_options.ts";
import { RewriteCache } from "./src/cache/rewrite_cache.ts";
import { readyForStops } from "./src/warmup/stop_readiness.ts";
import { watchdogReady } from "./src/watchdog/watchdog.ts";
import { convertArguments, UsageError } from "./src/cli/cli_arguments.ts";
import {
  type CommandLineOptions,
  parseOptions,
} from "./src/cli/cli_options.ts";
import { importsModule } from "./src/cli/cli_imports.ts";
import { Backstop } from "./src/cli/cli_backstop.ts";
import { loadGuestWith } from "./src/load/load_guest.ts";
import { loadStopOutcome, START_FUNCTION } from "./src/call/outcome.ts";
import { hasStartFunction } from "./src/module/signatures.ts";
import { RunDeadline, RunTimedOut } from "./src/cli/cli_deadline.ts";
import {
  checkReportFile,
  reportFileIn,
  reportReplaces,
} from "./src/cli/cli_report_file.ts";
import { USAGE } from "./src/cli/cli_usage.ts";
import { VERSION } from "./src/version.ts";
import { CommandOutput } from "./src/cli/cli_output.ts";
import {
  backstopReport,
  fail,
  finish,
  IMPORTS_PHASE,
  report,
} from "./src/cli/cli_report.ts";
import { type ReadGuest, readGuest } from "./src/cli/cli_read.ts";
import { refuseWasiFlags, runWasiProgram } from "./src/cli/cli_wasi_run.ts";
import { warmFirstLoad } from "./src/cli/cli_warm_up.ts";
import {
  isWasiCommand,
  listenForStops,
  parseWasiFlags,
  type StopListener,
  warmStopListeners,
  type WasiFlags,
} from "./src/cli/wasi_cli.ts";

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

/** The longest the run waits for the watchdog's thread to boot. */
const WATCHDOG_BOOT_MS = 5_000;

/**
 * Runs the command line.
 *
 * @param argv The arguments, without the program name.
 * @returns The exit status.
 */
export async function main(argv: string[]): Promise<number> {
  const out = new CommandOutput();
  const status = await runCommandLine(out, argv);
  if (out.lost === undefined) return status;
  try {
    console.error(`error: ${out.lost}`);
  } catch {
    // Nowhere is left to say it: the status says it.
  }
  return status === 3 ? 3 : 2;
}

/** {@linkcode main}, but for a report it could not write. */
async function runCommandLine(
  out: CommandOutput,
  argv: string[],
): Promise<number> {
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
      out.say("stdout", USAGE);
      return 0;
    }
    if (options === "version") {
      out.say("stdout", `early-exit ${VERSION}`);
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
    const read = await readGuest(options, deadline);
    const { imports: needed, exportList } = read.signatures;
    if (isWasiCommand(needed, exportList)) {
      return await runWasiProgram(out, options, wasi, cache, read);
    }
    refuseWasiFlags(options, wasi, read);
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
        out,
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
      report(out, stopped, options, error.phase);
      return stopped.outcome === options.expect ? 0 : 1;
    }
    return fail(out, error, { json, jsonFile });
  } finally {
    deadline?.dispose();
    backstop?.disarm();
  }
}

/** What stops the load and the call, and where the rewrite is kept. */
interface RunContext {
  /** Where the run writes. */
  out: CommandOutput;
  stops: StopListener;
  /** Ctrl-C, SIGTERM and SIGHUP. */
  signal: AbortSignal;
  cache: RewriteCache | undefined;
  deadline: RunDeadline | undefined;
}

/** Loads the guest and makes the call, both stopped by `signal` and the deadline. */
async function run(
  options: CommandLineOptions,
  read: ReadGuest,
  imports: GuestOptions["imports"],
  { out, stops, signal, cache, deadline }: RunContext,
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
          if (!options.json) out.say("stdout", "interrupt_execution called!");
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
      return finish(out, stopped, options, stops);
    }
    // Said as the run's deadline, timed from the run's start.
    const stop = deadline.exceeded();
    report(
      out,
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
    return finish(out, result, options, stops);
  }
  // The call's stop, timed from the run's start.
  const elapsed = called - deadline.started + result.error.elapsed;
  return finish(
    out,
    { ...result, error: new DeadlineExceeded(deadline.timeout, elapsed) },
    options,
    stops,
  );
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
