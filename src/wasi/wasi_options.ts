/**
 * `runWasi`'s options, read once into plain values before anything checks
 * or uses them. A revoked proxy, or a getter or trap that throws, anywhere
 * in them (an option, `preopens[0]`, `env`, `args`) is one line naming the
 * option rather than the engine's `TypeError` or the trap's own error; and
 * an option read again later in the run is the value that was checked.
 *
 * Values that are objects of their own kind (a stdin stream, a
 * `StopSignal`, an `AbortSignal`, a `RewriteCache`, `limits`) are kept as
 * given: their checks look at them under the same guard.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { readOption } from "../option_checks.ts";
import { isInstance } from "../thrown_values.ts";
import { checkCommandLineCount } from "./wasi_option_checks.ts";
import { checkPreopenFields } from "./wasi_preopens.ts";
import { ownUrl } from "../caller_urls.ts";

/**
 * The options, each read once; `args`, `env` and `preopens` (each preopen
 * too) copied when they have the shape asked for, and left as given for
 * their checks' messages otherwise.
 *
 * @param options The options as given: an object, checked as one.
 * @param names The names of the options.
 * @returns The options read.
 * @throws {TypeError} Naming the option that cannot be read.
 * @throws {RangeError} When `args` and `env` hold too many strings.
 */
export function readWasiOptions<T extends object>(
  options: T,
  names: readonly string[],
): T {
  const given = options as Record<string, unknown>;
  const read: Record<string, unknown> = {};
  for (const name of names) {
    read[name] = readOption(
      `runWasi's ${name}`,
      "a plain value",
      () => given[name],
    );
  }
  // Counted before they are copied: a million would take seconds.
  checkCommandLineCount(
    readOption(
      "runWasi's args",
      "an array of strings",
      () => Array.isArray(read.args) ? read.args.length : 0,
    ),
    readOption(
      "runWasi's env",
      'a plain object of strings, { NAME: "value" }',
      () => isRecord(read.env) ? Object.keys(read.env).length : 0,
    ),
  );
  read.args = readOption(
    "runWasi's args",
    "an array of strings",
    () => Array.isArray(read.args) ? copyList(read.args) : read.args,
  );
  read.env = readOption(
    "runWasi's env",
    'a plain object of strings, { NAME: "value" }',
    () => isRecord(read.env) ? copyRecord(read.env) : read.env,
  );
  const preopens = readOption(
    "runWasi's preopens",
    "an array of { host, guest?, mode? }",
    () => Array.isArray(read.preopens) ? copyList(read.preopens) : undefined,
  );
  if (preopens !== undefined) {
    read.preopens = preopens.map((preopen, i) => {
      const at = `runWasi's preopens[${i}]`;
      // Before the copy, which keeps only the fields it knows.
      if (typeof preopen === "object" && preopen !== null) {
        checkPreopenFields(preopen, at);
      }
      return readOption(at, "a plain object { host, guest?, mode? }", () => {
        if (typeof preopen !== "object" || preopen === null) return preopen;
        const { host, guest, mode } = preopen as Record<string, unknown>;
        return { host: hostPath(host), guest, mode };
      });
    });
  }
  return read as T;
}

/**
 * A preopen's host as a path: a `file:` URL's (`new URL("./data",
 * import.meta.url)`), else as given, for the checks to judge.
 */
function hostPath(host: unknown): unknown {
  if (!isInstance(host, URL)) return host;
  const url = ownUrl(host as URL);
  if (url.protocol !== "file:") return url;
  try {
    return fileURLToPath(url);
  } catch {
    return host; // a file: URL of another machine (file://server/share)
  }
}

/** Whether a value is an object that is not an array; may throw. */
function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** An array's elements, read by index (no iterator of the caller's). */
function copyList(list: unknown[]): unknown[] {
  const copy: unknown[] = [];
  for (let i = 0; i < list.length; i++) copy.push(list[i]);
  return copy;
}

/**
 * An object's own enumerable string-keyed properties, in an object of no
 * prototype: made a property at a time, a plain object took 2 ms for 1,024
 * environment variables (a new shape for each), this one 0.1 to 0.3.
 */
function copyRecord(record: Record<string, unknown>): Record<string, unknown> {
  const copy: Record<string, unknown> = Object.create(null);
  for (const [name, value] of Object.entries(record)) copy[name] = value;
  return copy;
}
