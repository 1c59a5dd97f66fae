/**
 * `runWasi`'s checks of what it hands the guest: the command line and
 * environment (C strings for the guest), where stdout and stderr go, and
 * what stdin reads. Each wrong value is one `TypeError` line naming the
 * option, before anything runs, rather than a failure in the guest's first
 * read or a lost output.
 *
 * @module
 */

import { readOption, showValue } from "./option_checks.ts";
import type { WasiOptions } from "./wasi.ts";

/**
 * Checks the arguments and environment: the guest gets them as C strings,
 * so a NUL byte would cut one short, and an `=` in a variable's name would
 * make it another variable.
 *
 * @throws {TypeError} Naming the string that cannot be passed.
 */
export function checkCommandLine(options: WasiOptions): void {
  if (options.args !== undefined && !Array.isArray(options.args)) {
    throw new TypeError(
      `runWasi's args must be an array of strings; got ${typeof options.args}`,
    );
  }
  const env: unknown = options.env;
  if (
    env !== undefined &&
    (typeof env !== "object" || env === null || Array.isArray(env))
  ) {
    throw new TypeError(
      `runWasi's env must be an object of strings, { NAME: "value" }; got ${
        Array.isArray(env) ? "an array" : String(env)
      }`,
    );
  }
  const strings: [string, unknown][] = [
    ["program", options.program ?? ""],
    ...(options.args ?? []).map((arg, i): [string, unknown] => [
      `args[${i}]`,
      arg,
    ]),
    ...Object.entries(options.env ?? {}).flatMap((
      [name, value],
    ): [string, unknown][] => [
      [`the name of env.${JSON.stringify(name)}`, name],
      [`env.${JSON.stringify(name)}`, value],
    ]),
  ];
  for (const [what, value] of strings) {
    if (typeof value !== "string") {
      throw new TypeError(
        `runWasi's ${what} must be a string; got ${typeof value}`,
      );
    }
    if (value.includes("\0")) {
      throw new TypeError(
        `runWasi's ${what} holds a NUL byte, which would end it there for the guest (it gets C strings); remove it`,
      );
    }
  }
  for (const name of Object.keys(options.env ?? {})) {
    if (name === "" || name.includes("=")) {
      throw new TypeError(
        `runWasi's env has a variable named ${
          JSON.stringify(name)
        }: a name must be non-empty and hold no "=", or the guest would read another variable; rename it`,
      );
    }
  }
}

/**
 * Checks where an output stream goes: any other value would pass neither
 * through nor into the result, and the guest's output would be lost.
 *
 * @throws {TypeError} Naming the stream and the three modes.
 */
export function checkOutputMode(mode: unknown, stream: string): void {
  if (
    mode === undefined || mode === "inherit" || mode === "capture" ||
    mode === "ignore"
  ) {
    return;
  }
  throw new TypeError(
    `runWasi's ${stream} must be "inherit", "capture" or "ignore"; got ${
      showValue(mode)
    }`,
  );
}

/** The getter of a stream's `locked`, which takes only a real stream. */
const STREAM_LOCKED = Object.getOwnPropertyDescriptor(
  ReadableStream.prototype,
  "locked",
)!.get!;

/**
 * Checks the guest's stdin, which would otherwise fail in the guest's first
 * read (a string, say, which is neither bytes nor `"inherit"`).
 *
 * @throws {TypeError} Saying what stdin may be.
 */
export function checkInput(stdin: unknown): void {
  const expected =
    'bytes (a Uint8Array), a ReadableStream of them or "inherit"';
  const fits = readOption("runWasi's stdin", expected, () => {
    if (stdin instanceof Uint8Array) {
      // A proxy of bytes passes instanceof and fails at the first read.
      Uint8Array.prototype.subarray.call(stdin, 0, 0);
      return true;
    }
    if (stdin instanceof ReadableStream) {
      STREAM_LOCKED.call(stdin);
      return true;
    }
    return stdin === undefined || stdin === "inherit";
  });
  if (fits) return;
  throw new TypeError(
    `runWasi's stdin must be ${expected}; got ${
      typeof stdin === "string" ? JSON.stringify(stdin) : typeof stdin
    }: encode a string with new TextEncoder().encode()`,
  );
}
