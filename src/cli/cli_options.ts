/**
 * The command line's own options, for a call to an export: what
 * `main.ts --help` lists, read into one record, each refused in one line
 * when it cannot be used (an unknown flag, a value missing or given twice).
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  joinDashValues,
  parseFuel,
  parseTimeout,
  UsageError,
} from "./cli_arguments.ts";
import { OUTCOMES } from "../call/outcome.ts";

/** What the command line was asked to do. */
export interface CommandLineOptions {
  guest: string | URL;
  /** Whether the guest was named, rather than the bundled one run. */
  guestGiven: boolean;
  invoke: string;
  args: string[];
  expect: string;
  json: boolean;
  /** `--json-file`: the file the JSON object goes to, the streams keeping their text. */
  jsonFile: string | undefined;
  fuel: number | undefined;
  timeout: number | undefined;
  imports: string | undefined;
  cache: string | undefined;
  /** The options given that only a call to an export uses, as typed. */
  callOptions: string[];
}

/**
 * Reads the options that are left once the WASI flags are taken out.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseOptions } from "./cli_options.ts";
 *
 * const options = parseOptions(["guest.wasm", "--invoke=fib", "--arg=20"]);
 * assert.ok(typeof options === "object");
 * assert.equal(options.invoke, "fib");
 * assert.equal(options.expect, "returned");
 * ```
 */
export function parseOptions(
  argv: string[],
): CommandLineOptions | "help" | "version" {
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
        "json-file": { type: "string" },
        help: { type: "boolean", short: "h", default: false },
        version: { type: "boolean", short: "V", default: false },
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
  if (values.version) return "version";
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
      }; a WASI command's arguments go after --, as in: main.ts ${
        positionals[0]
      } -- ${positionals.slice(1).join(" ")}`,
    );
  }
  // An empty guest names no file (loadGuest throws a TypeError for it,
  // which would read as a bug in early-exit).
  if (positionals[0] === "") {
    throw new UsageError(
      "the guest's path is empty: name a .wasm file, or leave the guest out to run the bundled one",
    );
  }
  if (values.imports === "") {
    throw new UsageError(
      "--imports needs a module whose default export is the guest's imports, such as --imports ./imports.ts; got an empty name",
    );
  }
  // An empty --cache names no directory (RewriteCache throws a TypeError
  // for it, which would read as a bug in early-exit).
  if (values.cache === "") {
    throw new UsageError(
      `--cache needs a directory to keep rewrites in, such as --cache .cache; got an empty name`,
    );
  }
  if (values.json && values["json-file"] !== undefined) {
    throw new UsageError(
      `--json prints the report on the console and --json-file writes it to a file: give one of them`,
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
      new URL("../../guest/early_exit_guest.wasm", import.meta.url),
    guestGiven: positionals[0] !== undefined,
    invoke,
    args: values.arg,
    expect,
    json: values.json,
    jsonFile: values["json-file"],
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
