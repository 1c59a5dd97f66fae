/**
 * The base of every branded error.
 *
 * Every error this module throws on purpose carries a brand: a property keyed
 * by `Symbol.for("early-exit.kind")` whose value names the error's kind. The
 * registry symbol is shared by every copy of this module in a process, so the
 * `is*` guards recognise an error made by another copy (say, one imported by
 * `file:` URL and one by `http:` URL), where `instanceof` would not.
 *
 * @module
 */

/**
 * The registry key of the brand. Shared by every copy of early-exit.
 *
 * @example Usage
 * ```ts
 * import { BRAND, DeadlineExceeded } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * // Every copy of early-exit marks its errors with the same symbol.
 * assert.equal(BRAND, Symbol.for("early-exit.kind"));
 * assert.equal(
 *   (new DeadlineExceeded(5, 6) as unknown as Record<symbol, unknown>)[BRAND],
 *   "DeadlineExceeded",
 * );
 * ```
 */
export const BRAND: unique symbol = Symbol.for("early-exit.kind") as never;

/**
 * Every kind of branded error.
 *
 * @example Usage
 * ```ts
 * import {
 *   type EarlyExitErrorKind,
 *   ExportError,
 * } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * const kind: EarlyExitErrorKind = new ExportError("no such export").kind;
 * assert.equal(kind, "ExportError");
 * ```
 */
export type EarlyExitErrorKind =
  | "Interrupted"
  | "GuestTrap"
  | "HostImportError"
  | "InvalidModule"
  | "GuestLoadError"
  | "ImportError"
  | "ExportError"
  | "FuelExhausted"
  | "DeadlineExceeded"
  | "Aborted"
  | "OutOfMemory";

/**
 * The base of every branded error. Use the `is*` guards rather than
 * `instanceof`: they work across copies of the module.
 *
 * @example Usage
 * ```ts
 * import { EarlyExitError, isEarlyExitError } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * class Demo extends EarlyExitError {
 *   constructor() {
 *     super("Interrupted", "demo");
 *   }
 * }
 * assert.ok(isEarlyExitError(new Demo()));
 * ```
 */
export class EarlyExitError extends Error {
  /** The brand, also readable as {@linkcode EarlyExitError.kind}. */
  declare readonly [BRAND]: EarlyExitErrorKind;

  /**
   * Creates the error.
   *
   * @param kind The brand this error carries.
   * @param message What happened, and where it can, how to fix it.
   * @param options Standard error options (`cause`).
   */
  constructor(
    kind: EarlyExitErrorKind,
    message: string,
    options?: ErrorOptions,
  ) {
    // One short line, whatever a guest named its imports and exports (a
    // message made of parts that were made so is not looked at again: a
    // stop makes one, and looking costs a third of a stop).
    if (options !== ONE_LINE_PARTS) {
      message = shortMessage(message);
      if (LINE_BREAKING.test(message)) message = escapeControls(message);
    }
    if (stackless) {
      return stoplessError(new.target, kind, message, options);
    }
    super(message, options);
    this[BRAND] = kind;
    this.name = kind;
  }

  /** Which kind of stop or failure this is. */
  get kind(): EarlyExitErrorKind {
    return this[BRAND];
  }
}

/**
 * Characters that break a message's line, or hide or reorder part of it:
 * the C0 and C1 controls but a tab (a terminal acts on `ESC` and on `CSI`,
 * `U+009B`; `U+0085` ends a line), the line and paragraph separators, and
 * the marks that reorder text shown right to left.
 */
const LINE_BREAKING =
  // deno-lint-ignore no-control-regex -- the control characters are the point
  /[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/;
const LINE_BREAKING_ALL = new RegExp(LINE_BREAKING.source, "g");

/**
 * What an early-exit error's constructor is given, instead of no options,
 * for a message made only of parts that went through {@linkcode oneLineText}
 * (or that early-exit wrote itself).
 */
export const ONE_LINE_PARTS: ErrorOptions = Object.freeze({});

/**
 * The longest text {@linkcode oneLineText} keeps whole: an import's or an
 * export's name, a reason. A guest's names can be megabytes long.
 */
const MAX_PART = 400;

/**
 * The longest message an early-exit error keeps whole: a longer one keeps
 * its start and its end (what went wrong, how to fix it).
 */
const MAX_MESSAGE = 4_000;

/**
 * `text` as one short line: cut to `max` characters, with its length said,
 * and its line breaks and other control characters written as escapes.
 *
 * @param text Any text.
 * @param max The most characters kept (before escaping).
 * @returns The text, or its cut or escaped copy.
 */
export function oneLineText(text: string, max = MAX_PART): string {
  // The same import name and reason come back at every stop of a guest.
  if (max === MAX_PART && (text === clean[0] || text === clean[1])) {
    return text;
  }
  if (text.length > max) {
    text = `${cutAt(text, max)}… (${text.length} characters)`;
  } else if (!LINE_BREAKING.test(text)) {
    if (max === MAX_PART) {
      clean[next] = text;
      next ^= 1;
    }
    return text;
  }
  return LINE_BREAKING.test(text) ? escapeControls(text) : text;
}

/** `text`'s first `length` characters, never ending on half a surrogate pair. */
function cutAt(text: string, length: number): string {
  const last = text.charCodeAt(length - 1);
  return text.slice(0, last >= 0xd800 && last <= 0xdbff ? length - 1 : length);
}

/** A message of at most about {@linkcode MAX_MESSAGE} characters. */
function shortMessage(message: string): string {
  if (message.length <= MAX_MESSAGE) return message;
  const tail = MAX_MESSAGE / 4;
  const head = cutAt(message, MAX_MESSAGE - tail);
  let end = message.length - tail;
  const first = message.charCodeAt(end);
  if (first >= 0xdc00 && first <= 0xdfff) end++;
  const left = end - head.length;
  return `${head}… (${left} characters left out) …${message.slice(end)}`;
}

/** The last two texts {@linkcode oneLineText} found clean. */
const clean: (string | undefined)[] = [undefined, undefined];
let next = 0;

/**
 * `text` with its line breaks and other control characters written as
 * escapes (`\n`, `\r`, `\u001b`), so that it prints as one line.
 *
 * @param text Any text.
 * @returns The text, escaped.
 */
function escapeControls(text: string): string {
  return text.replace(
    LINE_BREAKING_ALL,
    (char) =>
      char === "\n"
        ? "\\n"
        : char === "\r"
        ? "\\r"
        : `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** The brand `value` carries, if it is an object that carries one. */
export function brandOf(value: unknown): unknown {
  if (typeof value !== "object" || value === null) return undefined;
  try {
    return (value as Record<symbol, unknown>)[BRAND];
  } catch {
    return undefined; // a proxy whose trap throws carries no brand
  }
}

/**
 * Whether `value` is any early-exit error, from this or another copy of the
 * module.
 *
 * @param value Anything caught.
 * @returns `true` when `value` carries the early-exit brand.
 *
 * @example Usage
 * ```ts
 * import { isEarlyExitError } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * assert.equal(isEarlyExitError(new Error("plain")), false);
 * ```
 */
export function isEarlyExitError(value: unknown): value is EarlyExitError {
  return typeof brandOf(value) === "string";
}

/** Set while {@linkcode withoutStack} makes an error. */
let stackless = false;

/**
 * An object of `type`'s prototype with the properties of an error (`stack`,
 * `message`, `cause`), made without the `Error` constructor. Deno has V8
 * record a detailed stack for every `Error` made, whatever
 * `Error.stackTraceLimit` says and whichever frames are skipped: about 1 µs
 * at the top of a stack, more below it, three times the cost of throwing a
 * prepared error through a wasm frame; and defining the properties as the
 * constructor does (not enumerable) costs half as much again. A stop's
 * error is made for every stop, so it is a plain object of its class, its
 * properties assigned: `instanceof`, `constructor`, `name`, `message` and
 * `stack` read as an error's, but it is no native error (`Error.isError`
 * says false) and `message` and `stack` are enumerable.
 */
function stoplessError(
  type: abstract new (...args: never[]) => unknown,
  kind: EarlyExitErrorKind,
  message: string,
  options: ErrorOptions | undefined,
): EarlyExitError {
  const error = Object.create(type.prototype) as {
    [BRAND]: EarlyExitErrorKind;
    name: string;
    stack: string;
    message: string;
    cause?: unknown;
  };
  error.stack = `${kind}: ${message}`;
  error.message = message;
  if (options !== undefined && "cause" in options) error.cause = options.cause;
  error[BRAND] = kind;
  error.name = kind;
  return error as EarlyExitError;
}

/**
 * Makes an early-exit error without capturing a JavaScript stack. Stops (an
 * interrupt, running out of fuel, a deadline, an abort) are outcomes, not
 * bugs, and their errors are made after the guest has unwound: the stack
 * would only show the runner, and in Deno capturing it costs more than the
 * whole stop.
 *
 * @param make Constructs the error, with its class's own constructor.
 * @returns What `make` returned.
 */
export function withoutStack<T extends EarlyExitError>(make: () => T): T {
  stackless = true;
  try {
    return make();
  } finally {
    stackless = false;
  }
}
