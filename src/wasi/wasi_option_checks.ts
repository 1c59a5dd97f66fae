/**
 * `runWasi`'s checks of what it hands the guest: the command line and
 * environment (C strings for the guest), where stdout and stderr go, and
 * what stdin reads. Each wrong value is one `TypeError` line naming the
 * option, before anything runs, rather than a failure in the guest's first
 * read or a lost output.
 *
 * @module
 */

import { readOption, showValue } from "../option_checks.ts";

/**
 * The most arguments and environment variables a run takes, together.
 * `node:wasi` copies each (and early-exit checks each) before the guest
 * runs, where no stop reaches: about 3 µs an argument and 9 a variable on a
 * 2-core machine at load average 5, so that 100,000 variables held an abort
 * 0.7 s, and 1,000,000 held one 9.5 s.
 */
export const MAX_COMMAND_LINE_STRINGS = 1_024;

/**
 * The most bytes the program's name, the arguments and the environment
 * take, together, as the guest gets them (UTF-8, each string with its NUL,
 * a variable as `NAME=value`). `node:wasi` copies them before the guest
 * runs, and `args_get` and `environ_get` each in one call: about 20 ms a
 * MiB of the calling thread's time on a 2-core machine at load average 5.
 */
export const MAX_COMMAND_LINE_BYTES = 262_144;

/** The options of `runWasi` that make the guest's command line. */
export interface CommandLine {
  /** The arguments after the program's name. */
  args?: string[];
  /** The environment's variables. */
  env?: Record<string, string>;
  /** The program's name, the guest's `argv[0]`. */
  program?: string;
}

/**
 * Checks the arguments and environment: the guest gets them as C strings,
 * so a NUL byte would cut one short, and an `=` in a variable's name would
 * make it another variable; and there may be at most
 * {@linkcode MAX_COMMAND_LINE_STRINGS} of them, of at most
 * {@linkcode MAX_COMMAND_LINE_BYTES}.
 *
 * @throws {TypeError} Naming the string that cannot be passed.
 * @throws {RangeError} When there are too many strings, or too many bytes.
 */
export function checkCommandLine(options: CommandLine): void {
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
  const args = options.args ?? [];
  checkCommandLineCount(args.length, Object.keys(options.env ?? {}).length);
  const variables = Object.entries(options.env ?? {});
  let bytes = checkString(options.program ?? "main.wasm", () => "program");
  args.forEach((arg, i) => {
    bytes += checkString(arg, () => `args[${i}]`);
  });
  for (const [name, value] of variables) {
    bytes += checkString(
      name,
      () => `the name of env.${JSON.stringify(name)}`,
    );
    bytes += checkString(value, () => `env.${JSON.stringify(name)}`);
    if (name === "" || name.includes("=")) {
      throw new TypeError(
        `runWasi's env has a variable named ${
          JSON.stringify(name)
        }: a name must be non-empty and hold no "=", or the guest would read another variable; rename it`,
      );
    }
  }
  if (bytes > MAX_COMMAND_LINE_BYTES) {
    throw new RangeError(
      `runWasi's program, args and env take ${bytes} bytes as the guest gets them, more than ${MAX_COMMAND_LINE_BYTES} (256 KiB): they are copied before the guest runs, where no stop reaches it; pass the rest in a file or on stdin`,
    );
  }
}

/**
 * Refuses more than {@linkcode MAX_COMMAND_LINE_STRINGS} arguments and
 * variables together, before they are copied or looked at one by one.
 *
 * @param args How many arguments there are.
 * @param variables How many environment variables there are.
 * @throws {RangeError} When there are too many.
 */
export function checkCommandLineCount(args: number, variables: number): void {
  if (args + variables <= MAX_COMMAND_LINE_STRINGS) return;
  throw new RangeError(
    `runWasi's args and env hold ${args} arguments and ${variables} variables, more than ${MAX_COMMAND_LINE_STRINGS} together: each is copied before the guest runs, where no stop reaches it; pass the rest in a file or on stdin`,
  );
}

/**
 * Checks one string of the command line or environment; returns the bytes
 * it takes the guest, in UTF-8 with its NUL (a variable's name and value
 * together take their `=` for the name's NUL).
 */
function checkString(value: unknown, what: () => string): number {
  if (typeof value !== "string") {
    throw new TypeError(
      `runWasi's ${what()} must be a string; got ${typeof value}`,
    );
  }
  if (value.includes("\0")) {
    throw new TypeError(
      `runWasi's ${what()} holds a NUL byte, which would end it there for the guest (it gets C strings); remove it`,
    );
  }
  return utf8Length(value) + 1;
}

/**
 * The bytes of `text` in UTF-8 (a lone surrogate as U+FFFD, 3 bytes), as
 * `TextEncoder` makes them, without making them.
 *
 * @param text The text.
 * @returns Its length in UTF-8.
 */
export function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) continue;
    if (unit < 0x800) bytes += 1;
    else if (
      unit >= 0xd800 && unit < 0xdc00 && i + 1 < text.length &&
      (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00
    ) {
      // A pair: two units, four bytes.
      bytes += 2;
      i++;
    } else bytes += 2;
  }
  return bytes;
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
)!.get! as (this: ReadableStream) => boolean;

/**
 * Whether `stream` is locked, read through `ReadableStream.prototype`: a
 * stream's own `locked` runs none of the caller's code.
 */
export function streamLocked(stream: ReadableStream): boolean {
  return STREAM_LOCKED.call(stream);
}

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
