/**
 * The early-exit command line: runs one export of a guest and reports how
 * the call ended. With no arguments it reproduces the seed tutorial.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  type CallOutcome,
  type FunctionSignature,
  isEarlyExitError,
  loadGuest,
} from "./mod.ts";
import { OUTCOMES, START_FUNCTION, stoppedOutcome } from "./src/outcome.ts";

const USAGE = `Usage: deno run --allow-read main.ts [options] [GUEST.wasm]

Runs one export of a WebAssembly guest, supplying the host import
env.interrupt_execution, which stops the guest when called. GUEST.wasm is a
path or a file:/http:/https: URL; by default, the bundled seed guest
guest/early_exit_guest.wasm (read from beside main.ts).

Options:
  --invoke NAME      the export to call (default: exit_early)
  --arg VALUE        an argument for the export; repeat for each one, in order
                     (integers, floats; i64 parameters take any integer)
  --fuel N           meter the call: stop it after N units of work (one unit
                     per operator; see the README for the cost table)
  --timeout MS       stop the call after MS milliseconds, even a guest that
                     never calls the host
  --expect OUTCOME   the outcome that counts as success: returned, interrupted,
                     fuel_exhausted, timeout, trap, error or aborted (default:
                     interrupted when calling exit_early, returned otherwise)
  --json             print one JSON object instead of text:
                     {"outcome", "export", "value"?, "trap"?, "fuel"?,
                      "elapsed_ms"?, "message"}; "fuel" is
                     {"consumed", "remaining"} with --fuel or --timeout
                     (remaining is null when unlimited)
  -h, --help         print this help

A guest's start function runs first, under the same --fuel and --timeout; if
it does not return, its outcome is reported for the export "(start)".

Outcomes: returned (the export returned a value), interrupted (a host import
stopped the guest), fuel_exhausted (the --fuel budget ran out), timeout (the
--timeout passed), trap (the guest trapped: unreachable, out-of-bounds access,
divide by zero, stack overflow, ...), error (a host import threw), aborted
(Ctrl-C: the call is stopped cleanly).

Every call runs metered and async, so that Ctrl-C (SIGINT) stops even a
guest that never calls the host.

Exit status:
  0    the outcome was the expected one
  1    the call ended another way
  2    usage error, missing read permission, unreadable file, or not a valid
       module (one line on stderr says how to fix it)
  3    internal error (a bug in early-exit; please report it)
  130  the call was aborted with Ctrl-C (SIGINT)

Permissions: --allow-read for the guest file (--allow-read=guest is enough
for the bundled guests); --allow-net=HOST for a guest given by http(s) URL.`;

class UsageError extends Error {}

interface Options {
  guest: string | URL;
  invoke: string;
  args: string[];
  expect: string;
  json: boolean;
  fuel: number | undefined;
  timeout: number | undefined;
}

function parseCount(
  text: string | undefined,
  option: string,
): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value)) {
    throw new UsageError(`${option} needs a whole number, got "${text}"`);
  }
  return value;
}

function parseOptions(argv: string[]): Options | "help" {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        invoke: { type: "string", default: "exit_early" },
        arg: { type: "string", multiple: true, default: [] },
        expect: { type: "string" },
        fuel: { type: "string" },
        timeout: { type: "string" },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return "help";
  if (positionals.length > 1) {
    throw new UsageError(
      `expected at most one guest, got ${positionals.length}: ${
        positionals.join(" ")
      }`,
    );
  }
  const expect = values.expect ??
    (values.invoke === "exit_early" ? "interrupted" : "returned");
  if (!(OUTCOMES as readonly string[]).includes(expect)) {
    throw new UsageError(
      `--expect must be one of ${OUTCOMES.join(", ")}; got "${expect}"`,
    );
  }
  return {
    guest: positionals[0] ??
      new URL("./guest/early_exit_guest.wasm", import.meta.url),
    invoke: values.invoke,
    args: values.arg,
    expect,
    json: values.json,
    fuel: parseCount(values.fuel, "--fuel"),
    timeout: parseCount(values.timeout, "--timeout"),
  };
}

/** Converts `--arg` strings to what the export's parameters take. */
function convertArguments(
  raw: string[],
  signature: FunctionSignature | undefined,
): unknown[] {
  return raw.map((text, index) => {
    const type = signature?.params[index];
    if (type === "i64") {
      try {
        return BigInt(text);
      } catch {
        throw new UsageError(
          `--arg ${text}: parameter ${index} is i64 and needs an integer`,
        );
      }
    }
    const value = Number(text);
    if (text.trim() === "" || Number.isNaN(value) && text !== "NaN") {
      throw new UsageError(`--arg ${text}: expected a number`);
    }
    if (type === "i32" && !Number.isInteger(value)) {
      throw new UsageError(
        `--arg ${text}: parameter ${index} is i32 and needs an integer`,
      );
    }
    return value;
  });
}

/** Makes a result JSON-safe: bigints that fit become numbers, others strings. */
function toJsonValue(value: unknown): unknown {
  if (typeof value === "bigint") {
    return Number.isSafeInteger(Number(value))
      ? Number(value)
      : value.toString();
  }
  if (Array.isArray(value)) return value.map(toJsonValue);
  if (typeof value === "number" && !Number.isFinite(value)) {
    return String(value);
  }
  return value ?? null;
}

function describeValue(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(describeValue).join(", ")}]`;
  return value === undefined ? "nothing" : String(value);
}

function report(result: CallOutcome, options: Options): void {
  if (options.json) {
    const record: Record<string, unknown> = {
      outcome: result.outcome,
      export: result.export,
    };
    if (result.outcome === "returned") {
      record.value = toJsonValue(result.value);
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
      ? `${result.export} returned ${describeValue(result.value)}`
      : result.error.message;
    console.log(JSON.stringify(record));
    return;
  }
  if (result.outcome !== "returned") {
    console.log(`Error from ${result.export}: ${result.error.message}`);
  } else if (options.expect === "returned") {
    console.log(`${result.export} returned: ${describeValue(result.value)}`);
  }
  if (result.outcome === options.expect) {
    console.log("Success!");
  } else if (result.outcome === "returned") {
    console.error(
      `${result.export} did not error. Returned the value: ${
        describeValue(result.value)
      }`,
    );
  } else if (result.outcome !== "aborted") {
    console.error(`expected outcome ${options.expect}, got ${result.outcome}`);
  }
}

/** Reports how the call ended and returns the exit status. */
function finish(result: CallOutcome, options: Options): number {
  report(result, options);
  if (result.outcome === "aborted" && options.expect !== "aborted") {
    return 130;
  }
  return result.outcome === options.expect ? 0 : 1;
}

/**
 * Runs the command line.
 *
 * @param argv The arguments, without the program name.
 * @returns The exit status.
 */
export async function main(argv: string[]): Promise<number> {
  try {
    const options = parseOptions(argv);
    if (options === "help") {
      console.log(USAGE);
      return 0;
    }
    // The guest yields to the event loop about every half millisecond, so
    // this listener runs even while a guest that never calls the host
    // computes, its start function included.
    const controller = new AbortController();
    const onInterrupt = () => controller.abort("Ctrl-C (SIGINT)");
    Deno.addSignalListener("SIGINT", onInterrupt);
    try {
      return await run(options, controller.signal);
    } finally {
      Deno.removeSignalListener("SIGINT", onInterrupt);
    }
  } catch (error) {
    return failure(error);
  }
}

/** Loads the guest and makes the call, both stopped by `signal`. */
async function run(options: Options, signal: AbortSignal): Promise<number> {
  let guest;
  try {
    guest = await loadGuest(options.guest, {
      interrupt: {
        onCall: () => {
          if (!options.json) console.log("interrupt_execution called!");
        },
      },
      async: true,
      fuel: options.fuel ?? Infinity,
      // The start function runs while the guest loads, under the same limits.
      timeout: options.timeout,
      signal,
    });
  } catch (error) {
    const stopped = stoppedOutcome(START_FUNCTION, error);
    if (stopped === undefined) throw error;
    return finish(stopped, options);
  }
  const args = convertArguments(
    options.args,
    guest.signature(options.invoke),
  );
  const result = await guest.invokeAsync(options.invoke, args, {
    signal,
    timeout: options.timeout,
  });
  return finish(result, options);
}

/** The exit status, and the message, of an error that is not an outcome. */
function failure(error: unknown): number {
  if (error instanceof UsageError) {
    console.error(`error: ${error.message}; run with --help for usage`);
    return 2;
  }
  if (isEarlyExitError(error)) {
    console.error(`error: ${error.message}`);
    return 2;
  }
  console.error(`internal error: ${(error as Error)?.stack ?? error}`);
  return 3;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
