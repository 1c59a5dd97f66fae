/**
 * Checks the values a user passes in options, before anything runs, so that
 * a wrong one gets a message that says what was expected and what was given
 * rather than a surprise later: `timeout: NaN` meaning no deadline, or
 * `fuel: -1` failing deep inside the rewriter.
 *
 * A value of the wrong type throws a `TypeError`, one out of range a
 * `RangeError`, as JavaScript's own APIs do.
 *
 * @module
 */

import { signalAborted } from "./call/abort_signal_reads.ts";
import { describeThrown } from "./thrown_values.ts";

/**
 * Describes a value for a message: its type, and the value when short.
 *
 * @param value Any value.
 * @returns E.g. `string "abc"`, `number -1`, `bigint 5n`, `null`.
 */
export function describeValue(value: unknown): string {
  switch (typeof value) {
    case "string":
      return `string ${
        JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)
      }`;
    case "number":
      return `number ${value}`;
    case "bigint":
      return `bigint ${value}n`;
    case "boolean":
      return `boolean ${value}`;
    case "undefined":
      return "undefined";
    case "function":
      return "a function";
    case "symbol":
      return "a symbol";
    default:
      if (value === null) return "null";
      try {
        if (Array.isArray(value)) return "an array";
        return `an object (${
          (value as object).constructor?.name ?? "no prototype"
        })`;
      } catch {
        return "an object"; // a proxy whose traps throw, or a revoked one
      }
  }
}

/**
 * Checks that a value is a number, and one that `fits`.
 *
 * @throws {TypeError} When it is not a number.
 * @throws {RangeError} When it does not fit.
 */
function checkNumber(
  value: unknown,
  what: string,
  expected: string,
  fits: (value: number) => boolean,
): void {
  const message = () =>
    `${what} must be ${expected}; got ${describeValue(value)}`;
  if (typeof value !== "number") throw new TypeError(message());
  if (!fits(value)) throw new RangeError(message());
}

/**
 * Checks a fuel budget: a non-negative safe integer, or `Infinity`.
 *
 * @param value The value given, or `undefined` when left out.
 * @param what Where it was given, e.g. `loadGuest's fuel`.
 * @param deadlineOnly Whether `false` (no count) is taken too.
 * @throws {TypeError} When it is not a number.
 * @throws {RangeError} When it is negative, fractional, or past 2^53 - 1.
 */
export function checkFuelValue(
  value: unknown,
  what: string,
  deadlineOnly = false,
): void {
  if (value === undefined || (deadlineOnly && value === false)) return;
  checkNumber(
    value,
    what,
    deadlineOnly
      ? "a whole number from 0 to 2^53 - 1, Infinity, or false (no count: deadline-only checks)"
      : "a whole number from 0 to 2^53 - 1, or Infinity",
    (fuel) => fuel === Infinity || (Number.isSafeInteger(fuel) && fuel >= 0),
  );
}

/**
 * Checks a timeout: a finite, non-negative number of milliseconds. Leaving
 * it out means no deadline; `NaN` and `Infinity` are refused rather than
 * read as that, and a negative one rather than read as "already passed".
 *
 * @param value The value given, or `undefined` when left out.
 * @param what Where it was given, e.g. `invoke's timeout`.
 * @throws {TypeError} When it is not a number.
 * @throws {RangeError} When it is negative, `NaN` or infinite.
 */
export function checkTimeoutValue(value: unknown, what: string): void {
  if (value === undefined) return;
  checkNumber(
    value,
    what,
    "a finite number of milliseconds, 0 or more (leave it out for no deadline)",
    (timeout) => Number.isFinite(timeout) && timeout >= 0,
  );
}

/**
 * Checks a `stop`: a `StopSignal` (of this copy of early-exit or another:
 * an object whose `buffer` is a `SharedArrayBuffer` and that says whether
 * it is `stopped`). Anything else would fail half-way through arming the
 * call's watch, or be ignored.
 *
 * @param value The value given, or `undefined` when left out.
 * @param what Where it was given, e.g. `invoke's stop`.
 * @returns The signal's buffer, read once, or `undefined` when left out.
 * @throws {TypeError} When it is not a StopSignal.
 */
export function checkStopValue(
  value: unknown,
  what: string,
): SharedArrayBuffer | undefined {
  if (value === undefined) return undefined;
  const candidate = value as { buffer?: unknown; stopped?: unknown } | null;
  const expected = "a StopSignal (new StopSignal())";
  const [buffer, isAbort] = readOption(
    what,
    expected,
    (): [SharedArrayBuffer | undefined, boolean] => {
      if (typeof value === "object" && value !== null) {
        // Each read once: a getter cannot pass the check with one buffer
        // and hand the call another.
        const buffer = candidate!.buffer;
        if (
          buffer instanceof SharedArrayBuffer && buffer.byteLength >= 4 &&
          typeof candidate!.stopped === "boolean"
        ) return [buffer, false];
      }
      return [undefined, value instanceof AbortSignal];
    },
  );
  if (buffer !== undefined) return buffer;
  const hint = isAbort ? "; an AbortSignal goes in signal" : "";
  throw new TypeError(
    `${what} must be ${expected}; got ${describeValue(value)}${hint}`,
  );
}

/**
 * Checks a `signal`: an `AbortSignal`.
 *
 * @param value The value given, or `undefined` when left out.
 * @param what Where it was given, e.g. `invokeAsync's signal`.
 * @throws {TypeError} When it is not an AbortSignal.
 */
export function checkSignalValue(value: unknown, what: string): void {
  const expected =
    "an AbortSignal (from an AbortController, or AbortSignal.timeout())";
  const candidate = value as { buffer?: unknown } | null;
  const [fits, isStop] = readOption(what, expected, () => {
    if (value === undefined) return [true, false];
    if (value instanceof AbortSignal) {
      // A proxy of a signal passes instanceof and fails when listened to:
      // the prototype's getter takes only a real signal.
      signalAborted(value);
      return [true, false];
    }
    return [
      false,
      typeof value === "object" && value !== null &&
      candidate!.buffer instanceof SharedArrayBuffer,
    ];
  });
  if (fits) return;
  const hint = isStop ? "; a StopSignal goes in stop" : "";
  throw new TypeError(
    `${what} must be ${expected}; got ${describeValue(value)}${hint}`,
  );
}

/**
 * The options every entry point shares: a fuel budget, a timeout, and the
 * signals that stop a call.
 */
export interface FuelAndTimeout {
  /** A fuel budget or cap. */
  fuel?: unknown;
  /** A timeout in milliseconds. */
  timeout?: unknown;
  /** A StopSignal. */
  stop?: unknown;
  /** An AbortSignal. */
  signal?: unknown;
}

/**
 * Checks the `fuel` and `timeout` of an options object.
 *
 * @param options The options, or `undefined`.
 * @param where The function they were given to, for messages.
 */
export function checkFuelAndTimeout(
  options: FuelAndTimeout | undefined,
  where: string,
): void {
  if (options === undefined) return;
  if (typeof options !== "object" || options === null) {
    throw new TypeError(
      `${where}'s options must be an object; got ${describeValue(options)}`,
    );
  }
  let fuel, timeout, stop, signal;
  try {
    ({ fuel, timeout, stop, signal } = options);
  } catch (error) {
    throw unreadableOptions(where, error);
  }
  checkFuelValue(fuel, `${where}'s fuel`);
  checkTimeoutValue(timeout, `${where}'s timeout`);
  checkStopValue(stop, `${where}'s stop`);
  checkSignalValue(signal, `${where}'s signal`);
}

/**
 * Checks a flag: `true`, `false`, or left out. Anything else (a string
 * `"yes"`, a 1) would be taken for true or false by how it reads, not by
 * what was meant.
 *
 * @param value The value given, or `undefined` when left out.
 * @param what Where it was given, e.g. `loadGuest's async`.
 * @throws {TypeError} When it is not a boolean.
 */
export function checkBooleanValue(value: unknown, what: string): void {
  if (value === undefined || typeof value === "boolean") return;
  throw new TypeError(
    `${what} must be true or false; got ${describeValue(value)}`,
  );
}

/**
 * Checks a callback option: a function. Another value would be found only
 * when the callback is due, in the middle of a call, as that call's error.
 *
 * @param value The value given, or `undefined` when left out.
 * @param what Where it was given, e.g. `new FuelMeter's poll`.
 * @param role When it is called, e.g. `each time the guest asks for fuel`.
 * @throws {TypeError} When it is not a function.
 *
 * @example Usage
 * ```ts
 * import { checkFunctionValue } from "./option_checks.ts";
 * import assert from "node:assert/strict";
 *
 * checkFunctionValue(() => false, "poll", "each time the guest asks for fuel");
 * assert.throws(
 *   () => checkFunctionValue(5, "poll", "each time the guest asks for fuel"),
 *   /^TypeError: poll must be a function, called each time the guest asks for fuel; got number 5$/,
 * );
 * ```
 */
export function checkFunctionValue(
  value: unknown,
  what: string,
  role: string,
): void {
  if (value === undefined || typeof value === "function") return;
  throw new TypeError(
    `${what} must be a function, called ${role}; got ${describeValue(value)}`,
  );
}

/**
 * Checks a name for messages (`label`): a string. Another value would be
 * written into messages as `String` gives it (`[object Object]`), and a
 * symbol would make the branded errors that name it throw a `TypeError` of
 * their own.
 *
 * @param value The value given, or `undefined` when left out.
 * @param what Where it was given, e.g. `loadGuest's label`.
 * @throws {TypeError} When it is not a string.
 *
 * @example Usage
 * ```ts
 * import { checkLabelValue } from "./option_checks.ts";
 * import assert from "node:assert/strict";
 *
 * checkLabelValue("worker", "loadGuest's label");
 * assert.throws(
 *   () => checkLabelValue(Symbol(), "loadGuest's label"),
 *   /^TypeError: loadGuest's label must be a string/,
 * );
 * ```
 */
export function checkLabelValue(value: unknown, what: string): void {
  if (value === undefined || typeof value === "string") return;
  throw new TypeError(
    `${what} must be a string, the name that messages give; got ${
      describeValue(value)
    }`,
  );
}

/**
 * Checks that a value is a plain object of named entries (not an array,
 * a string or a function, whose indices or characters would be read as
 * names).
 *
 * @param value The value given, or `undefined` when left out.
 * @param what Where it was given, e.g. `invokeIsolated's env`.
 * @param expected What it should be, e.g. `an object of variable names and values`.
 * @throws {TypeError} When it is not such an object.
 *
 * @example Usage
 * ```ts
 * import { checkRecordValue } from "./option_checks.ts";
 * import assert from "node:assert/strict";
 *
 * checkRecordValue({ A: "1" }, "env", "an object of names and values");
 * assert.throws(
 *   () => checkRecordValue("A=1", "env", "an object of names and values"),
 *   /^TypeError: env must be an object of names and values; got string "A=1"/,
 * );
 * ```
 */
export function checkRecordValue(
  value: unknown,
  what: string,
  expected: string,
): void {
  if (value === undefined) return;
  let isArray: boolean;
  try {
    isArray = Array.isArray(value);
  } catch {
    isArray = true; // a revoked proxy, which cannot be read either
  }
  if (typeof value === "object" && value !== null && !isArray) return;
  throw new TypeError(
    `${what} must be ${expected}; got ${describeValue(value)}`,
  );
}

/**
 * Checks an imports object: an object whose properties are the import
 * modules, each an object (or a function, as a namespace may be). A promise
 * (an async function's result) or a module left `null` would otherwise
 * show up as every import missing.
 *
 * @param value The imports object given or built.
 * @param what What it is, e.g. `loadGuest's imports`.
 * @param modules The modules to look at, when not all: those the guest
 *   imports (an object of a million modules took seconds to walk), or none
 *   for its shape alone.
 * @throws {TypeError} When it is not an object of import modules.
 */
export function checkImportsValue(
  value: unknown,
  what: string,
  modules?: Iterable<string>,
): void {
  const expected =
    "an object of import modules, such as { env: { log(n) {} } }";
  let problem: string | undefined;
  try {
    problem = importsProblem(value, what, expected, modules);
  } catch (error) {
    // A revoked proxy, a trap or a getter that throws: the engine's words
    // (or the trap's) would not say which option was wrong.
    throw new TypeError(
      `${what} must be ${expected}, which can be looked at; looking at it threw ${
        describeThrown(error)
      }`,
    );
  }
  if (problem !== undefined) throw new TypeError(problem);
}

/** What is wrong with an imports object, or `undefined`; may throw. */
function importsProblem(
  value: unknown,
  what: string,
  expected: string,
  modules: Iterable<string> | undefined,
): string | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return `${what} must be ${expected}; got ${describeValue(value)}`;
  }
  if (typeof (value as { then?: unknown }).then === "function") {
    return `${what} must be ${expected}, not a promise: build it without await (a function given as imports must not be async)`;
  }
  const entries = modules === undefined
    ? Object.entries(value)
    : [...new Set(modules)].filter((name) => Object.hasOwn(value, name))
      .map((name) => [name, (value as Record<string, unknown>)[name]]);
  for (const [name, module] of entries) {
    if (
      (typeof module === "object" && module !== null) ||
      typeof module === "function"
    ) {
      continue;
    }
    return `${what} must be ${expected}: its module ${
      JSON.stringify(name)
    } must be an object of that module's imports, such as { log(n) {} }; got ${
      describeValue(module)
    }`;
  }
  return undefined;
}

/**
 * The error for an options object that cannot be looked at: a revoked
 * proxy, or a trap or getter that throws, would otherwise throw the
 * engine's `TypeError` (or its own error), naming no option.
 *
 * @param where The function it was given to, for the message.
 * @param error What the look threw.
 * @returns The error to throw.
 */
export function unreadableOptions(where: string, error: unknown): TypeError {
  return unreadableOption(`${where}'s options`, "a plain object", error);
}

/**
 * The error for an option that cannot be looked at, as
 * {@linkcode unreadableOptions} for the whole object.
 *
 * @param what The option, e.g. `runWasi's preopens[0]`.
 * @param expected What to pass instead, e.g. `a plain object`.
 * @param error What the look threw.
 * @returns The error to throw.
 */
export function unreadableOption(
  what: string,
  expected: string,
  error: unknown,
): TypeError {
  return new TypeError(
    `${what} cannot be read (a revoked proxy, or a getter or trap that throws): ${
      describeThrown(error)
    }; pass ${expected}`,
  );
}

/**
 * Looks at an option: whatever the look throws (a revoked proxy, or a
 * getter or trap that throws) becomes {@linkcode unreadableOption}'s one
 * line naming the option.
 *
 * @param what The option, e.g. `runWasi's env`.
 * @param expected What to pass instead, e.g. `a plain object`.
 * @param look Reads the option; it throws nothing of its own.
 * @returns What `look` returns.
 */
export function readOption<T>(
  what: string,
  expected: string,
  look: () => T,
): T {
  try {
    return look();
  } catch (error) {
    throw unreadableOption(what, expected, error);
  }
}

/**
 * A value as a message shows it, for a value that may be any object: a
 * string quoted, an object described (`String` of a revoked proxy throws),
 * anything else as `String` writes it.
 *
 * @param value Any value.
 * @returns E.g. `"abc"`, `5`, `an object (Object)`.
 */
export function showValue(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "object" && value !== null) return describeValue(value);
  return typeof value === "symbol" ? "a symbol" : String(value);
}
