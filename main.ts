/**
 * The early-exit command line: runs one export of a guest and reports how
 * the call ended. With no arguments it runs the bundled guest's
 * `exit_early`, whose transcript the README shows.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  type CallOutcome,
  type EarlyExitError,
  GuestLoadError,
  type GuestOptions,
  isEarlyExitError,
  isExportError,
  isGuestLoadError,
  isImportError,
  isInvalidModule,
  RewriteCache,
} from "./mod.ts";
import {
  convertArguments,
  joinDashValues,
  parseFuel,
  parseTimeout,
  UsageError,
} from "./src/cli_arguments.ts";
import { compileBytes, loadModule, readModuleStream } from "./src/load.ts";
import { loadGuestWith } from "./src/load_guest.ts";
import { roomForHit } from "./src/rewrite_splice.ts";
import { loadStopOutcome, OUTCOMES, START_FUNCTION } from "./src/outcome.ts";
import { hasStartFunction, readSignatures } from "./src/signatures.ts";
import { checkPreopens, preopenHoldingCache } from "./src/wasi_preopens.ts";
import { startTimer } from "./src/long_timer.ts";
import { checkImportsValue } from "./src/option_checks.ts";
import { describeThrown } from "./src/thrown_values.ts";
import { resultJson, resultText } from "./src/cli_results.ts";
import { USAGE } from "./src/cli_usage.ts";
import {
  commandRefusal,
  isWasiCommand,
  listenForStops,
  parseWasiFlags,
  reactorRefusal,
  runWasiCommand,
  type StopListener,
  type WasiFlags,
  wasiReport,
} from "./src/wasi_cli.ts";

interface Options {
  guest: string | URL;
  /** Whether the guest was named, rather than the bundled one run. */
  guestGiven: boolean;
  invoke: string;
  args: string[];
  expect: string;
  json: boolean;
  fuel: number | undefined;
  timeout: number | undefined;
  imports: string | undefined;
  cache: string | undefined;
  /** The options given that only a call to an export uses, as typed. */
  callOptions: string[];
}

function parseOptions(argv: string[]): Options | "help" {
  const args = joinDashValues(argv);
  // A guest named like an option would be read as one, letter by letter.
  const dashed = args.find((word) => /^-[^=]*\.wasm$/i.test(word));
  if (dashed !== undefined) {
    throw new UsageError(
      `${dashed} reads as an option: give a guest whose name starts with a dash as ./${dashed}`,
    );
  }
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      tokens: true,
      options: {
        invoke: { type: "string" },
        arg: { type: "string", multiple: true, default: [] },
        expect: { type: "string" },
        fuel: { type: "string" },
        timeout: { type: "string" },
        imports: { type: "string" },
        cache: { type: "string" },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (error) {
    // The parser's message for an unknown option quotes it unevenly.
    const unknown = /^Unknown option '(.*?)'\./.exec((error as Error).message);
    if (unknown !== null) throw new UsageError(`unknown option ${unknown[1]}`);
    // Nor does it say plainly that an option lacks its value.
    const message = (error as Error).message;
    const missing =
      /^Option '(--\S+)(?: <value>)?' argument (?:missing|is ambiguous)/
        .exec(message);
    if (missing !== null) {
      throw new UsageError(
        `${missing[1]} needs a value, such as ${missing[1]}=VALUE`,
      );
    }
    const flag = /^Option '(--\S+)' does not take an argument/.exec(message);
    if (flag !== null) {
      throw new UsageError(`${flag[1]} takes no value: give ${flag[1]} alone`);
    }
    // The parser's messages run over several lines; one is enough.
    throw new UsageError(
      (error as Error).message.split("\n").join(" ").replace(/\.$/, ""),
    );
  }
  const { values, positionals, tokens } = parsed;
  if (values.help) return "help";
  // The parser keeps the last of a repeated option: a script that adds
  // --fuel to a command line that has one would run with a budget it
  // never sees.
  const given = new Map<string, string[]>();
  for (const token of tokens) {
    if (token.kind !== "option" || token.value === undefined) continue;
    if (token.name === "arg") continue;
    given.set(token.name, [...given.get(token.name) ?? [], token.value]);
  }
  for (const [name, seen] of given) {
    if (seen.length > 1) {
      throw new UsageError(
        `--${name} is given ${seen.length} times (${
          seen.join(", ")
        }), and it takes one value: give it once`,
      );
    }
  }
  if (positionals.length > 1) {
    throw new UsageError(
      `expected at most one guest, got ${positionals.length}: ${
        positionals.join(" ")
      }`,
    );
  }
  const invoke = values.invoke ?? "exit_early";
  const expect = values.expect ??
    (invoke === "exit_early" ? "interrupted" : "returned");
  if (!(OUTCOMES as readonly string[]).includes(expect)) {
    throw new UsageError(
      `--expect must be one of ${OUTCOMES.join(", ")}; got "${expect}"`,
    );
  }
  return {
    guest: positionals[0] ??
      new URL("./guest/early_exit_guest.wasm", import.meta.url),
    guestGiven: positionals[0] !== undefined,
    invoke,
    args: values.arg,
    expect,
    json: values.json,
    fuel: parseFuel(values.fuel),
    timeout: parseTimeout(values.timeout),
    imports: values.imports,
    cache: values.cache,
    callOptions: [
      ...(values.invoke === undefined ? [] : ["--invoke"]),
      ...(values.arg.length === 0 ? [] : ["--arg"]),
      ...(values.expect === undefined ? [] : ["--expect"]),
      ...(values.imports === undefined ? [] : ["--imports"]),
    ],
  };
}

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
 * A stop's message, with its hint made one for the command line: the heap
 * limit's names `limits.heap`, which only code can set, where a command
 * line raises V8's heap, of which the default limit is three quarters.
 */
function stopMessage(error: EarlyExitError): string {
  return error.message.replace(
    /past limits\.heap \((\d+ MiB)\); raise limits\.heap \(bytes\)/,
    "past the heap limit ($1, three quarters of V8's heap); raise it by running deno with --v8-flags=--max-old-space-size=MIB,",
  );
}

function report(result: CallOutcome, options: Options): void {
  if (options.json) {
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
      ? `${result.export} returned ${resultText(result.value)}`
      : stopMessage(result.error);
    say("stdout", JSON.stringify(record));
    return;
  }
  if (result.outcome !== "returned") {
    say("stdout", `Error from ${result.export}: ${stopMessage(result.error)}`);
  } else if (options.expect === "returned") {
    say("stdout", `${result.export} returned: ${resultText(result.value)}`);
  }
  if (result.outcome === options.expect) {
    say("stdout", "Success!");
  } else if (result.outcome === "returned") {
    say(
      "stderr",
      `${result.export} did not error. Returned the value: ${
        resultText(result.value)
      }`,
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
  options: Options,
  stops: StopListener,
): number {
  report(result, options);
  if (result.outcome === "aborted" && options.expect !== "aborted") {
    return stops.status ?? 130;
  }
  return result.outcome === options.expect ? 0 : 1;
}

/** Where a path or URL given on the command line points. */
function resolveSpecifier(text: string): URL {
  if (/^[a-z][a-z0-9+.-]+:/i.test(text)) return new URL(text);
  return new URL(text, `file://${Deno.cwd()}/`);
}

/** The imports object, or the function that builds it, that `--imports` names. */
async function importsModule(
  text: string,
): Promise<GuestOptions["imports"]> {
  let module;
  try {
    module = await import(resolveSpecifier(text).href);
  } catch (error) {
    // Deno's message may end its first line with the place in its own code
    // the error was raised ("… at ext:core/01_core.js:405:7"): not the
    // user's to read.
    const why = String((error as Error)?.message ?? error).split("\n")[0]
      .replace(/\s+at\s+\S+:\d+:\d+\)?$/, "")
      .replace(/\.$/, "");
    const hint = /not found/i.test(why)
      ? "; check the path (from the working directory) or URL"
      : "";
    throw new UsageError(`--imports ${text}: cannot import it: ${why}${hint}`);
  }
  const imports = module.default;
  if (
    imports === null ||
    (typeof imports !== "object" && typeof imports !== "function")
  ) {
    throw new UsageError(
      `--imports ${text}: its default export must be the imports object (export default { env: { ... } }) or a function that returns it; got ${
        imports === null ? "null" : typeof imports
      }`,
    );
  }
  // The command line supplies the interrupt import itself.
  return (host) => {
    let made;
    try {
      made = typeof imports === "function" ? imports(host) : imports;
    } catch (error) {
      throw new UsageError(
        `--imports ${text}: its default export, a function, threw: ${
          describeThrown(error)
        }; fix the function, or export the imports object itself`,
      );
    }
    try {
      checkImportsValue(
        made,
        typeof imports === "function"
          ? "what its default export returned"
          : "its default export",
      );
    } catch (error) {
      throw new UsageError(`--imports ${text}: ${(error as Error).message}`);
    }
    let supplied;
    try {
      const env = made?.env;
      supplied = typeof env === "object" && env !== null &&
        Object.hasOwn(env, "interrupt_execution");
    } catch (error) {
      // A proxy whose traps throw: the module's to fix, not a bug here.
      throw new UsageError(
        `--imports ${text}: its module "env" cannot be looked at: ${
          describeThrown(error)
        }; export a plain object`,
      );
    }
    if (supplied) {
      throw new UsageError(
        `--imports ${text}: it supplies env.interrupt_execution, which the command line supplies itself; remove it from the module`,
      );
    }
    return made;
  };
}

/**
 * A branded error's message, with its hint made one for the command line:
 * the API's hints name options the command line does not have.
 */
function commandLineMessage(error: EarlyExitError): string {
  if (isImportError(error)) {
    return error.message.replace(
      /supply it in the imports option$/,
      "supply it with --imports MODULE, a module whose default export is the guest's imports",
    ).replace(
      /, and runWasi supplies nothing else(.*); build the guest as a WASI command that imports only wasi_snapshot_preview1, .*$/,
      ", the only imports the command line gives a WASI command$1; build the guest to import only wasi_snapshot_preview1",
    );
  }
  if (isGuestLoadError(error) && error.reason === "not_found") {
    return `${error.message}, or leave the guest out to run the bundled one`;
  }
  if (isGuestLoadError(error)) {
    return error.message.replace(
      /leave out cache(\)?)$/,
      "leave out --cache$1",
    ).replace(
      /or pass the bytes themselves$/,
      "or - to read the guest from stdin",
    ).replace(
      // The command line has no flag for the limits: only code can raise them.
      /set limits\.memory \(the most bytes each memory may hold, which replaces this default\) to at least (\d+)/,
      "load it from code with limits.memory (the most bytes each memory may hold) set to at least $1, which the command line cannot set",
    );
  }
  return error.message;
}

/** Reports an error that ended the program before or instead of a call. */
function fail(error: unknown, json: boolean): number {
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
  if (json) {
    const record = kind === undefined
      ? { outcome, message }
      : { outcome, error: kind, message };
    say("stdout", JSON.stringify(record));
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
 * Whether reading the guest may wait for ever: a URL, stdin (`-`), or a
 * path that is not a regular file (a FIFO, a device). A path that cannot be looked at is
 * left to the read, which says why.
 */
async function mayNeverArrive(guest: string | URL): Promise<boolean> {
  const text = String(guest);
  if (text === "-" || /^https?:/i.test(text)) return true;
  try {
    const path = /^file:/i.test(text) ? new URL(text) : text;
    return !(await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

/**
 * Runs the guest as a WASI command, if it is one, and returns the exit
 * status; for any other guest, returns its bytes, read once.
 */
async function runIfWasi(
  options: Options,
  wasi: WasiFlags,
  cache: RewriteCache | undefined,
): Promise<number | { bytes: Uint8Array; label: string }> {
  // With a cache, read with room for a hit to be built in the same buffer.
  // A guest that may never arrive (a URL whose server does not answer, a
  // FIFO no one writes to) is given up at the --timeout; a regular file
  // always arrives, and its read is not part of the call's time.
  const arriving = new AbortController();
  const watched = options.timeout !== undefined &&
    await mayNeverArrive(options.guest);
  const arrival = watched ? arriving.signal : undefined;
  // Not AbortSignal.timeout, which fires at once past 2^31 - 1 ms.
  const cancelArrival = watched
    ? startTimer(options.timeout!, () => arriving.abort())
    : undefined;
  const late = () =>
    new GuestLoadError(
      /^https?:/i.test(String(options.guest)) ? "fetch" : "io",
      `cannot load ${
        options.guest === "-" ? "the guest from stdin" : options.guest
      }: it did not arrive within --timeout ${options.timeout} ms`,
      "check that it is there and complete, or give a longer --timeout",
    );
  const given = new Promise<never>((_, reject) =>
    arrival?.addEventListener("abort", () => reject(late()), { once: true })
  );
  const fromStdin = options.guest === "-";
  const { bytes, label } = await Promise.race([
    fromStdin
      ? readModuleStream(Deno.stdin.readable, "stdin").then((bytes) => ({
        bytes,
        label: "stdin",
      }))
      : loadModule(options.guest, {
        compile: false,
        room: cache === undefined ? undefined : roomForHit,
        signal: arrival,
      }),
    given,
  ]).catch((error) => {
    throw arrival?.aborted ? late() : error;
  }).finally(() => cancelArrival?.());
  let signatures;
  try {
    signatures = readSignatures(bytes!);
  } catch (error) {
    // The engine's verdict on an invalid module, as for any other guest.
    if (isInvalidModule(error)) await compileBytes(bytes!, label);
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
      throw new UsageError(
        `no guest was given before --, so the bundled ${label} runs, which is not a WASI command and takes no arguments after --: give the guest before -- (a name that starts with a dash as ./${
          wasi.args[0]
        })`,
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
  const holder = cache && preopenHoldingCache(wasi.preopens, cache.directory);
  if (holder !== undefined) {
    throw new UsageError(
      `--cache ${
        cache!.directory
      } is inside --dir ${holder.host}, where the guest could change what the next run runs: keep the cache elsewhere`,
    );
  }
  const { result, elapsed, status } = await runWasiCommand(bytes!, {
    flags: wasi,
    fuel: options.fuel,
    timeout: options.timeout,
    program: label.split("/").pop(),
    label,
    reportInterrupt: options.json,
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
  if (options.json) {
    const report = wasiReport(result, elapsed);
    if (result.outcome !== "exited") report.message = stopMessage(result.error);
    say("stderr", JSON.stringify(report));
  } else if (result.outcome !== "exited") {
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
  try {
    let wasi: WasiFlags;
    try {
      wasi = parseWasiFlags(argv);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    const options = parseOptions(wasi.rest);
    if (options === "help") {
      say("stdout", USAGE);
      return 0;
    }
    // Before the guest is read: a cache it cannot use fails the run at once.
    const cache = options.cache === undefined
      ? undefined
      : new RewriteCache(options.cache);
    const read = await runIfWasi(options, wasi, cache);
    if (typeof read === "number") return read;
    const imports = options.imports === undefined
      ? undefined
      : await importsModule(options.imports);
    // The guest yields to the event loop about every half millisecond, so
    // this listener runs even while a guest that never calls the host
    // computes, its start function included.
    const controller = new AbortController();
    const stops = listenForStops(controller);
    try {
      return await run(options, read, imports, stops, controller.signal, cache);
    } finally {
      stops.remove();
    }
  } catch (error) {
    return fail(error, json);
  }
}

/** Loads the guest and makes the call, both stopped by `signal`. */
async function run(
  options: Options,
  read: { bytes: Uint8Array; label: string },
  imports: GuestOptions["imports"],
  stops: StopListener,
  signal: AbortSignal,
  cache: RewriteCache | undefined,
): Promise<number> {
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
      // The start function runs while the guest loads, under the same limits.
      timeout: options.timeout,
      signal,
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
    return finish(stopped, options, stops);
  }
  const args = convertArguments(
    options.args,
    guest.signature(options.invoke),
  );
  const result = await guest.invokeAsync(options.invoke, args, {
    signal,
    timeout: options.timeout,
  });
  return finish(result, options, stops);
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
