/**
 * What the command line says of a run: how the call ended, or what ended
 * the program before it, as text or JSON, and the exit status that goes
 * with it.
 *
 * @module
 */

import {
  type EarlyExitError,
  isEarlyExitError,
  isExportError,
} from "../errors.ts";
import type { CallOutcome } from "../call/outcome.ts";
import { oneLineText } from "../early_exit_error.ts";
import type { BackstopReport } from "./cli_backstop.ts";
import { UsageError } from "./cli_arguments.ts";
import type { RunPhase } from "./cli_deadline.ts";
import { commandLineMessage, stopMessage } from "./cli_messages.ts";
import type { CommandLineOptions } from "./cli_options.ts";
import type { CommandOutput } from "./cli_output.ts";
import { resultJson, resultText } from "./cli_results.ts";
import type { StopListener } from "./wasi_cli.ts";

/**
 * Reports how the call ended; `phase` says what the run was doing when its
 * deadline passed, before the call began.
 */
export function report(
  out: CommandOutput,
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
    out.sayReport("stdout", record, options.jsonFile);
    if (options.json) return;
  }
  if (result.outcome !== "returned") {
    out.say("stdout", `Error from ${name}: ${message(result.error)}`);
  } else if (options.expect === "returned") {
    out.say("stdout", `${name} returned: ${resultText(result.value)}`);
  }
  if (result.outcome === options.expect) {
    out.say("stdout", "Success!");
  } else if (result.outcome === "returned") {
    out.say(
      "stderr",
      `${name} did not error. Returned the value: ${resultText(result.value)}`,
    );
  } else if (result.outcome !== "aborted") {
    out.say(
      "stderr",
      `expected outcome ${options.expect}, got ${result.outcome}`,
    );
  }
}

/**
 * Reports how the call ended and returns the exit status: for an abort
 * that was not expected, the status of the signal that stopped it.
 */
export function finish(
  out: CommandOutput,
  result: CallOutcome,
  options: CommandLineOptions,
  stops: StopListener,
): number {
  report(out, result, options);
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
export function fail(
  out: CommandOutput,
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
    out.sayReport("stdout", record, jsonFile);
  }
  if (json) {
    // Said in the object alone.
  } else if (outcome === "internal_error") {
    out.say("stderr", `internal error: ${message}`);
  } else if (error instanceof UsageError) {
    out.say("stderr", `error: ${message}; run with --help for usage`);
  } else {
    out.say("stderr", `error: ${message}`);
  }
  return outcome === "internal_error" ? 3 : 2;
}

/** What the run was doing when its deadline passed, while it loaded the `--imports` module. */
export const IMPORTS_PHASE = "loading the --imports module";

/** The report of a run that its backstop ends (see `cli_backstop.ts`). */
export function backstopReport(
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
