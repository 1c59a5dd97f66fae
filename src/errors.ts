/**
 * Branded errors.
 *
 * Every error this module throws on purpose carries a brand: a property keyed
 * by `Symbol.for("early-exit.kind")` whose value names the error's kind. The
 * registry symbol is shared by every copy of this module in a process, so the
 * `is*` guards recognise an error made by another copy (say, one imported by
 * `file:` URL and one by `http:` URL), where `instanceof` would not.
 *
 * @module
 */

/** The registry key of the brand. Shared by every copy of early-exit. */
export const BRAND: unique symbol = Symbol.for("early-exit.kind") as never;

/** Every kind of branded error. */
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
  | "Aborted";

/**
 * The base of every branded error. Use the `is*` guards rather than
 * `instanceof`: they work across copies of the module.
 *
 * @example Usage
 * ```ts
 * import { EarlyExitError, isEarlyExitError } from "./errors.ts";
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
  readonly [BRAND]: EarlyExitErrorKind;

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
    super(message, options);
    this[BRAND] = kind;
    this.name = kind;
  }

  /** Which kind of stop or failure this is. */
  get kind(): EarlyExitErrorKind {
    return this[BRAND];
  }
}

function brandOf(value: unknown): unknown {
  if (typeof value !== "object" || value === null) return undefined;
  return (value as Record<symbol, unknown>)[BRAND];
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
 * import { isEarlyExitError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(isEarlyExitError(new Error("plain")), false);
 * ```
 */
export function isEarlyExitError(value: unknown): value is EarlyExitError {
  return typeof brandOf(value) === "string";
}

/** Where in a module's bytes a problem was found. */
export interface InvalidModuleOptions extends ErrorOptions {
  /** The byte offset, from the start of the module. */
  offset?: number;
}

/**
 * The guest's bytes are not a module this runner can compile or rewrite:
 * not wasm at all, truncated, corrupted, or using an operator it does not
 * know.
 *
 * @example Usage
 * ```ts
 * import { InvalidModule, isInvalidModule } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const error = new InvalidModule("unknown opcode 0xff", { offset: 42 });
 * assert.ok(isInvalidModule(error));
 * assert.equal(error.offset, 42);
 * ```
 */
export class InvalidModule extends EarlyExitError {
  /** The byte offset of the problem, when known. */
  readonly offset: number | undefined;

  /**
   * Creates the error.
   *
   * @param message What is wrong.
   * @param options The byte offset and cause.
   */
  constructor(message: string, options?: InvalidModuleOptions) {
    const at = options?.offset === undefined
      ? ""
      : ` (at byte offset ${options.offset})`;
    super("InvalidModule", `${message}${at}`, options);
    this.offset = options?.offset;
  }
}

/**
 * Whether `value` is an {@linkcode InvalidModule} error from any copy of
 * early-exit.
 *
 * @param value Anything caught.
 * @returns `true` for an invalid-module error.
 *
 * @example Usage
 * ```ts
 * import { isInvalidModule } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(isInvalidModule(new TypeError("x")), false);
 * ```
 */
export function isInvalidModule(value: unknown): value is InvalidModule {
  return brandOf(value) === "InvalidModule";
}

/** What an interrupt carries besides its message. */
export interface InterruptDetails {
  /** Why the host stopped the guest, in words. */
  reason?: string;
  /** A machine-readable code the host chose. */
  code?: string | number;
}

/**
 * The host stopped the guest: a host import (by default
 * `env.interrupt_execution`) was called and cut the call short.
 *
 * @example Usage
 * ```ts
 * import { Interrupted, isInterrupted } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const stop = new Interrupted("env.interrupt_execution", { code: 7 });
 * assert.ok(isInterrupted(stop));
 * assert.equal(stop.code, 7);
 * ```
 */
export class Interrupted extends EarlyExitError {
  /** The import that stopped the guest, as `module.name`. */
  readonly importName: string;
  /** The host's reason, if it gave one. */
  readonly reason: string | undefined;
  /** The host's code, if it gave one. */
  readonly code: string | number | undefined;

  /**
   * Creates the error.
   *
   * @param importName The import that stopped the guest, as `module.name`.
   * @param details The host's reason and code.
   */
  constructor(importName: string, details?: InterruptDetails) {
    super("Interrupted", interruptMessage(importName, details));
    this.importName = importName;
    this.reason = details?.reason;
    this.code = details?.code;
  }
}

/** The message of an {@linkcode Interrupted} error. */
export function interruptMessage(
  importName: string,
  details?: InterruptDetails,
): string {
  const why = details?.reason === undefined ? "" : `: ${details.reason}`;
  return `guest interrupted by host import ${importName}${why}`;
}

/**
 * Makes a stop error (an outcome, not a bug) after the guest has unwound,
 * without capturing a JavaScript stack: the stack would only show the
 * runner, and in Deno capturing it costs more than the whole stop. Such an
 * error is an `Error` of the given class, with the fields given.
 */
export function unwoundError<T extends EarlyExitError>(
  type: abstract new (...args: never[]) => T,
  kind: EarlyExitErrorKind,
  message: string,
  fields: Omit<T, keyof EarlyExitError>,
): T {
  // With a new.target whose constructor is not on the stack, V8 records no frames.
  const error = Reflect.construct(Error, [message], type) as T;
  Object.assign(error, fields);
  (error as { [BRAND]: EarlyExitErrorKind })[BRAND] = kind;
  error.name = kind;
  return error;
}

/**
 * The {@linkcode Interrupted} error for a stop that has already unwound the
 * guest (see {@linkcode unwoundError}).
 */
export function interruptedBy(
  importName: string,
  details?: InterruptDetails,
): Interrupted {
  return unwoundError(
    Interrupted,
    "Interrupted",
    interruptMessage(importName, details),
    { importName, reason: details?.reason, code: details?.code },
  );
}

/**
 * Whether `value` is an {@linkcode Interrupted} error from any copy of
 * early-exit, including one loaded from another URL.
 *
 * @param value Anything caught.
 * @returns `true` when the host interrupted the guest.
 *
 * @example Usage
 * ```ts
 * import { isInterrupted } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const foreign = { [Symbol.for("early-exit.kind")]: "Interrupted" };
 * assert.ok(isInterrupted(foreign));
 * ```
 */
export function isInterrupted(value: unknown): value is Interrupted {
  return brandOf(value) === "Interrupted";
}

/** The kinds of trap a guest can hit. */
export type TrapKind =
  | "unreachable"
  | "memory_out_of_bounds"
  | "table_out_of_bounds"
  | "divide_by_zero"
  | "integer_overflow"
  | "invalid_conversion"
  | "null_function"
  | "signature_mismatch"
  | "null_reference"
  | "bad_cast"
  | "array_out_of_bounds"
  | "unaligned_atomic"
  | "stack_overflow"
  | "uncaught_exception"
  | "other";

/**
 * The guest trapped: it ran `unreachable`, accessed memory out of bounds,
 * divided by zero, overflowed the stack, and so on.
 *
 * @example Usage
 * ```ts
 * import { GuestTrap, isGuestTrap } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const trap = new GuestTrap("divide_by_zero", "divide by zero");
 * assert.ok(isGuestTrap(trap));
 * assert.equal(trap.trap, "divide_by_zero");
 * ```
 */
export class GuestTrap extends EarlyExitError {
  /** Which trap it was. */
  readonly trap: TrapKind;

  /**
   * Creates the error.
   *
   * @param trap Which trap it was.
   * @param message The engine's description.
   * @param options The engine's original error as `cause`.
   */
  constructor(trap: TrapKind, message: string, options?: ErrorOptions) {
    super("GuestTrap", `guest trapped (${trap}): ${message}`, options);
    this.trap = trap;
  }
}

/**
 * Whether `value` is a {@linkcode GuestTrap} from any copy of early-exit.
 *
 * @param value Anything caught.
 * @returns `true` when the guest trapped.
 *
 * @example Usage
 * ```ts
 * import { isGuestTrap } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(isGuestTrap(new WebAssembly.RuntimeError("unreachable")), false);
 * ```
 */
export function isGuestTrap(value: unknown): value is GuestTrap {
  return brandOf(value) === "GuestTrap";
}

/**
 * A host import threw. The thrown value is kept, untouched, as `cause`.
 *
 * @example Usage
 * ```ts
 * import { HostImportError, isHostImportError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const original = new TypeError("bad input");
 * const error = new HostImportError("env.log", original);
 * assert.ok(isHostImportError(error));
 * assert.equal(error.cause, original);
 * ```
 */
export class HostImportError extends EarlyExitError {
  /** The import that threw, as `module.name`. */
  readonly importName: string;

  /**
   * Creates the error.
   *
   * @param importName The import that threw, as `module.name`.
   * @param cause What it threw.
   */
  constructor(importName: string, cause: unknown) {
    super(
      "HostImportError",
      `host import ${importName} threw: ${describe(cause)}`,
      { cause },
    );
    this.importName = importName;
  }
}

/**
 * Whether `value` is a {@linkcode HostImportError} from any copy of
 * early-exit.
 *
 * @param value Anything caught.
 * @returns `true` when a host import threw.
 *
 * @example Usage
 * ```ts
 * import { isHostImportError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(isHostImportError("x"), false);
 * ```
 */
export function isHostImportError(value: unknown): value is HostImportError {
  return brandOf(value) === "HostImportError";
}

/**
 * The guest could not be loaded: the file is missing, is a directory, read
 * permission is missing, or the URL could not be fetched. `hint` says how
 * to fix it.
 *
 * @example Usage
 * ```ts
 * import { GuestLoadError, isGuestLoadError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const error = new GuestLoadError("not_found", "no such file: a.wasm", "check the path");
 * assert.ok(isGuestLoadError(error));
 * assert.equal(error.reason, "not_found");
 * ```
 */
export class GuestLoadError extends EarlyExitError {
  /** Why loading failed. */
  readonly reason:
    | "not_found"
    | "permission"
    | "is_directory"
    | "fetch"
    | "io";
  /** What to do about it. */
  readonly hint: string;

  /**
   * Creates the error.
   *
   * @param reason Why loading failed.
   * @param message What failed.
   * @param hint How to fix it.
   * @param options The underlying error as `cause`.
   */
  constructor(
    reason: GuestLoadError["reason"],
    message: string,
    hint: string,
    options?: ErrorOptions,
  ) {
    super("GuestLoadError", `${message}; ${hint}`, options);
    this.reason = reason;
    this.hint = hint;
  }
}

/**
 * Whether `value` is a {@linkcode GuestLoadError} from any copy of early-exit.
 *
 * @param value Anything caught.
 * @returns `true` when the guest could not be loaded.
 *
 * @example Usage
 * ```ts
 * import { isGuestLoadError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(isGuestLoadError(null), false);
 * ```
 */
export function isGuestLoadError(value: unknown): value is GuestLoadError {
  return brandOf(value) === "GuestLoadError";
}

/**
 * The guest needs an import that nobody supplies, or one of the wrong kind.
 *
 * @example Usage
 * ```ts
 * import { ImportError, isImportError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const error = new ImportError("env.log", "function (i32) -> nil", "missing");
 * assert.ok(isImportError(error));
 * ```
 */
export class ImportError extends EarlyExitError {
  /** The import, as `module.name`. */
  readonly importName: string;
  /** What the guest expects there, e.g. `function (i32, i64) -> f64`. */
  readonly expected: string;

  /**
   * Creates the error.
   *
   * @param importName The import, as `module.name`.
   * @param expected What the guest expects there.
   * @param problem What is wrong with what was supplied.
   */
  constructor(importName: string, expected: string, problem: string) {
    super(
      "ImportError",
      `guest import ${importName} is ${problem}: expected ${expected}; supply it in the imports option`,
    );
    this.importName = importName;
    this.expected = expected;
  }
}

/**
 * Whether `value` is an {@linkcode ImportError} from any copy of early-exit.
 *
 * @param value Anything caught.
 * @returns `true` when an import was missing or of the wrong kind.
 *
 * @example Usage
 * ```ts
 * import { isImportError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(isImportError(undefined), false);
 * ```
 */
export function isImportError(value: unknown): value is ImportError {
  return brandOf(value) === "ImportError";
}

/**
 * The requested export does not exist, is not a function, or was given the
 * wrong arguments.
 *
 * @example Usage
 * ```ts
 * import { ExportError, isExportError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(isExportError(new ExportError("no export named run")));
 * ```
 */
export class ExportError extends EarlyExitError {
  /**
   * Creates the error.
   *
   * @param message What is wrong, and what the guest does export.
   */
  constructor(message: string) {
    super("ExportError", message);
  }
}

/**
 * Whether `value` is an {@linkcode ExportError} from any copy of early-exit.
 *
 * @param value Anything caught.
 * @returns `true` when the export was missing or not callable.
 *
 * @example Usage
 * ```ts
 * import { isExportError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(isExportError(new Error()), false);
 * ```
 */
export function isExportError(value: unknown): value is ExportError {
  return brandOf(value) === "ExportError";
}

function describe(value: unknown): string {
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/**
 * The guest spent its fuel budget. The guest was stopped before the block
 * it could not pay for, so `consumed` counts only work that ran.
 *
 * @example Usage
 * ```ts
 * import { FuelExhausted, isFuelExhausted } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const error = new FuelExhausted(1000, 998);
 * assert.ok(isFuelExhausted(error));
 * assert.equal(error.budget - error.consumed, 2);
 * ```
 */
export class FuelExhausted extends EarlyExitError {
  /** The fuel the call started with. */
  readonly budget: number;
  /** The fuel the call consumed before it was stopped. */
  readonly consumed: number;

  /**
   * Creates the error.
   *
   * @param budget The fuel the call started with.
   * @param consumed The fuel it consumed before it was stopped.
   */
  constructor(budget: number, consumed: number) {
    super("FuelExhausted", fuelExhaustedMessage(budget, consumed));
    this.budget = budget;
    this.consumed = consumed;
  }
}

/** The message of a {@linkcode FuelExhausted} error. */
export function fuelExhaustedMessage(budget: number, consumed: number): string {
  return `guest ran out of fuel: consumed ${consumed} of a budget of ${budget}`;
}

/**
 * Whether `value` is a {@linkcode FuelExhausted} error from any copy of
 * early-exit.
 *
 * @param value Anything caught.
 * @returns `true` when the guest ran out of fuel.
 *
 * @example Usage
 * ```ts
 * import { isFuelExhausted } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(isFuelExhausted(new RangeError("x")), false);
 * ```
 */
export function isFuelExhausted(value: unknown): value is FuelExhausted {
  return brandOf(value) === "FuelExhausted";
}

/**
 * The call ran past its deadline (the `timeout` option, or an
 * `AbortSignal.timeout`) and was stopped.
 *
 * @example Usage
 * ```ts
 * import { DeadlineExceeded, isDeadlineExceeded } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const error = new DeadlineExceeded(50, 50.4);
 * assert.ok(isDeadlineExceeded(error));
 * assert.equal(error.timeout, 50);
 * ```
 */
export class DeadlineExceeded extends EarlyExitError {
  /** The time the call was allowed, in milliseconds. */
  readonly timeout: number;
  /** The time from the call's start to the stop, in milliseconds. */
  readonly elapsed: number;

  /**
   * Creates the error.
   *
   * @param timeout The time the call was allowed, in milliseconds.
   * @param elapsed The time from the call's start to the stop, in milliseconds.
   * @param options The abort reason as `cause`, when an AbortSignal timed out.
   */
  constructor(timeout: number, elapsed: number, options?: ErrorOptions) {
    super("DeadlineExceeded", deadlineMessage(timeout, elapsed), options);
    this.timeout = timeout;
    this.elapsed = elapsed;
  }
}

/** The message of a {@linkcode DeadlineExceeded} error. */
export function deadlineMessage(timeout: number, elapsed: number): string {
  return `guest stopped at its deadline: ${timeout} ms allowed, stopped after ${
    elapsed.toFixed(1)
  } ms`;
}

/**
 * Whether `value` is a {@linkcode DeadlineExceeded} error from any copy of
 * early-exit.
 *
 * @param value Anything caught.
 * @returns `true` when the call ran past its deadline.
 *
 * @example Usage
 * ```ts
 * import { isDeadlineExceeded } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(isDeadlineExceeded({}), false);
 * ```
 */
export function isDeadlineExceeded(value: unknown): value is DeadlineExceeded {
  return brandOf(value) === "DeadlineExceeded";
}

/**
 * The call was aborted through its `AbortSignal`. `cause` is the signal's
 * reason.
 *
 * @example Usage
 * ```ts
 * import { Aborted, isAborted } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const error = new Aborted("user pressed stop");
 * assert.ok(isAborted(error));
 * assert.equal(error.cause, "user pressed stop");
 * ```
 */
export class Aborted extends EarlyExitError {
  /**
   * Creates the error.
   *
   * @param reason The signal's reason, kept as `cause`.
   */
  constructor(reason: unknown) {
    super("Aborted", abortedMessage(reason), { cause: reason });
  }
}

/** The message of an {@linkcode Aborted} error. */
export function abortedMessage(reason: unknown): string {
  return `guest call aborted: ${describe(reason)}`;
}

/**
 * Whether `value` is an {@linkcode Aborted} error from any copy of
 * early-exit.
 *
 * @param value Anything caught.
 * @returns `true` when the call was aborted.
 *
 * @example Usage
 * ```ts
 * import { isAborted } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(isAborted(new Error("x")), false);
 * ```
 */
export function isAborted(value: unknown): value is Aborted {
  return brandOf(value) === "Aborted";
}
