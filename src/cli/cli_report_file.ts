/**
 * The command line's `--json-file FILE`: the run's one JSON object written
 * to a file of its own, so that a script reads it without parsing the
 * guest's output, and stdout and stderr carry what they carry without
 * `--json`. The file is checked before the guest is read (a permission or
 * a directory missing is a usage error, with nothing run) and written once,
 * whole, when the run ends.
 *
 * @module
 */

import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { UsageError } from "./cli_arguments.ts";

/**
 * The `--json-file` given before `--`, if it is given once with a name:
 * known before the options are parsed, so that a usage error is reported
 * there too. A file the run may not write is left out (that is the usage
 * error itself, said on stderr).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { reportFileIn } from "./cli_report_file.ts";
 *
 * assert.equal(reportFileIn(["x.wasm", "--", "--json-file=out.json"]), undefined);
 * ```
 *
 * @param argv The command line's arguments.
 * @returns The file's name, if the run may write it.
 */
export function reportFileIn(argv: readonly string[]): string | undefined {
  const end = argv.indexOf("--");
  const options = end === -1 ? argv : argv.slice(0, end);
  const named: string[] = [];
  for (const [index, word] of options.entries()) {
    // A next word that starts with a dash is no name to the parser (it
    // says the option needs a value), nor to this.
    if (
      word === "--json-file" && index + 1 < options.length &&
      !options[index + 1].startsWith("-")
    ) {
      named.push(options[index + 1]);
    } else if (word.startsWith("--json-file=")) {
      named.push(word.slice("--json-file=".length));
    }
  }
  if (named.length !== 1) return undefined;
  try {
    checkReportFile(named[0]);
  } catch {
    return undefined;
  }
  return named[0];
}

/**
 * Throws a {@linkcode UsageError} when the run could not write its report
 * to `path`: no write permission for it, its directory missing (when the
 * run may read that directory), or a directory by that name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkReportFile } from "./cli_report_file.ts";
 *
 * assert.throws(() => checkReportFile(""), /needs a file name/);
 * ```
 *
 * @param path The `--json-file` given.
 * @throws {UsageError} When the report could not be written there.
 */
export function checkReportFile(path: string): void {
  if (path === "") {
    throw new UsageError(
      "--json-file needs a file name to write the report to, such as --json-file report.json; got an empty name",
    );
  }
  if (path === "-") {
    throw new UsageError(
      "--json-file - would write the report to a file named -: for the report on stdout use --json; else name a file, such as --json-file report.json",
    );
  }
  if (Deno.permissions.querySync({ name: "write", path }).state !== "granted") {
    throw new UsageError(
      `--json-file ${path} needs permission to write that file: run deno with --allow-write=${path}`,
    );
  }
  const readable = (name: string) =>
    Deno.permissions.querySync({ name: "read", path: name }).state ===
      "granted";
  if (readable(path)) {
    let found: Deno.FileInfo | undefined;
    try {
      found = Deno.statSync(path);
    } catch {
      // Not there yet, as a report's file usually is not.
    }
    if (found?.isDirectory) {
      throw new UsageError(
        `--json-file ${path} is a directory; name a file to write the report to, such as ${path}/report.json`,
      );
    }
    if (found !== undefined) return;
  }
  const directory = dirname(resolve(path));
  if (!readable(directory)) return;
  try {
    Deno.statSync(directory);
  } catch {
    throw new UsageError(
      `--json-file ${path}: its directory ${directory} does not exist; make it first, or name a file in a directory that exists`,
    );
  }
}

/**
 * Writes the report to `path`, replacing what the file held, in one write.
 *
 * @param path The `--json-file` given, checked by {@linkcode checkReportFile}.
 * @param json The report, one JSON object.
 * @returns Why it could not be written, or `undefined` once it is.
 */
export function writeReportFile(
  path: string,
  json: string,
): string | undefined {
  try {
    Deno.writeTextFileSync(path, `${json}\n`);
    return undefined;
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    return `cannot write the report to --json-file ${path}: ${why}; the report is lost: check that file's directory and permissions`;
  }
}

/**
 * Whether the report's file is one of the run's inputs (the guest, the
 * `--imports` module), which the report, written at the run's end, would
 * replace. An input is a path or a URL; one that is not a local file (`-`,
 * an `http:` URL) is none.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { reportReplaces } from "./cli_report_file.ts";
 *
 * assert.equal(reportReplaces("./g.wasm", "g.wasm"), true);
 * assert.equal(reportReplaces("report.json", "g.wasm"), false);
 * ```
 *
 * @param path The `--json-file` given.
 * @param input The guest or the `--imports` module, as given.
 * @returns True when they are the same file.
 */
export function reportReplaces(
  path: string,
  input: string | URL | undefined,
): boolean {
  if (input === undefined || input === "-") return false;
  const file = fileOf(input);
  const report = fileOf(path);
  if (file === undefined || report === undefined) return false;
  if (file.path === report.path) return true;
  // The same file by another path: a link, or a hard link.
  return file.info !== undefined && report.info !== undefined &&
    file.info.ino !== null && file.info.dev === report.info.dev &&
    file.info.ino === report.info.ino;
}

/** A local file's absolute path, and what it is when it may be looked at. */
function fileOf(
  input: string | URL,
): { path: string; info?: Deno.FileInfo } | undefined {
  let path: string;
  try {
    const url = input instanceof URL
      ? input
      : /^[a-z][a-z0-9+.-]+:/i.test(input)
      ? new URL(input)
      : undefined;
    if (url !== undefined && url.protocol !== "file:") return undefined;
    path = resolve(url === undefined ? input as string : fileURLToPath(url));
  } catch {
    return undefined;
  }
  if (Deno.permissions.querySync({ name: "read", path }).state !== "granted") {
    return { path };
  }
  try {
    return { path, info: Deno.statSync(path) };
  } catch {
    return { path };
  }
}
