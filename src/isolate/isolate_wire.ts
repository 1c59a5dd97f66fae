/**
 * The wire format between a host and its isolated child: outcomes and
 * branded errors as JSON, with the values JSON cannot hold (bigints, NaN,
 * infinities) spelled out, and each error rebuilt in the host as the same
 * branded class the child made.
 *
 * @module
 */

import {
  BRAND,
  type EarlyExitErrorKind,
  errorClassOf,
  isEarlyExitError,
} from "../errors.ts";
import {
  type CallOutcome,
  type FuelUsage,
  stoppedOutcome,
} from "../call/outcome.ts";
import { describeThrown } from "../thrown_values.ts";

/** What the host asks its child to run. */
export interface IsolatedRequest {
  /** The export to call. */
  export: string;
  /** Its arguments, encoded as results are (see {@linkcode encodeValue}). */
  args: unknown[];
  /** The fuel budget, when the child should meter. */
  fuel?: number;
  /** The guest's memory, table and array limits. */
  limits?: { memory?: number; tables?: number; arrays?: number };
  /** A module whose default export is the guest's imports. */
  imports?: string;
  /** The guest's name in messages. */
  label: string;
  /**
   * What the child's answer line starts with: chosen afresh by the host for
   * each call, so that no other output of the child can pass for it.
   */
  answerTag: string;
  /**
   * How many bytes the module has: those that follow the header line (the
   * child reads exactly these, as the host keeps the pipe open for the
   * whole call), or those of the file at `modulePath`.
   */
  moduleBytes: number;
  /**
   * The guest file's path, when the child reads it itself (nothing follows
   * the header line then); the child refuses a file that no longer has
   * `moduleBytes` bytes.
   */
  modulePath?: string;
  /**
   * With `modulePath`: the SHA-256 digest (hex) of the outline the host read
   * of the file (see `load_outline.ts`), which the child compares with its
   * own bytes' outline and refuses the file when they differ.
   */
  moduleOutline?: string;
  /**
   * How many milliseconds after the host wrote the request the call's
   * deadline comes (and the guard's few after it): the child's guard
   * kills the child that long after it has read the request, on its own
   * clock, so never before the host's deadline, only later by the time
   * the request took to reach it. Not a time of
   * `performance.timeOrigin + performance.now()`: each runtime reckons its
   * own origin from two clock reads a busy machine can hold apart, and a
   * child whose origin ran 68 ms ahead of its host's was killed that much
   * before the host's deadline.
   */
  deadlineAfterMs?: number;
}

/**
 * What the child writes after the answer tag, on a line of its own, once
 * the guest has loaded (its start function has returned) and the export is
 * about to be called: not JSON, so that no answer can be taken for it.
 */
export const LOADED_MARK = "loaded";

/** An error, as the child saw it. */
export interface WireError {
  /** An early-exit error's kind, or the engine's error type it was. */
  kind: EarlyExitErrorKind | StandardErrorName | "Error";
  message: string;
  fields: Record<string, unknown>;
  /** The error's `cause`, when it has one. */
  cause?: WireCause;
}

/** A `cause`: an error by its name and message, a primitive, or an object's text. */
export type WireCause =
  | { error: { name: string; message: string } }
  | { value: unknown };

/**
 * One line of the child's answer. A stopped call's outcome is not sent: the
 * host reads it off its error's kind, from the same table as in-process calls.
 */
export type WireResult =
  | { type: "returned"; export: string; value: unknown; fuel?: FuelUsage }
  | { type: "stopped"; export: string; error: WireError; fuel?: FuelUsage }
  | { type: "thrown"; error: WireError };

/**
 * Encodes a value for JSON: bigints, and the numbers JSON cannot hold
 * (NaN, the infinities, and -0, which it writes as 0), as records that
 * {@linkcode decodeValue} turns back into them.
 */
export function encodeValue(value: unknown): unknown {
  if (typeof value === "bigint") return { $bigint: value.toString() };
  if (Number.isNaN(value)) {
    // A NaN's payload reaches the guest in process: its bits too.
    const bits = nanBits(value as number);
    return bits === CANONICAL_NAN
      ? { $number: "NaN" }
      : { $number: "NaN", bits };
  }
  if (
    typeof value === "number" &&
    (!Number.isFinite(value) || Object.is(value, -0))
  ) {
    return { $number: Object.is(value, -0) ? "-0" : String(value) };
  }
  if (Array.isArray(value)) return value.map(encodeValue);
  return value ?? null;
}

/** The bits of the NaN JavaScript makes, as {@linkcode nanBits} writes them. */
const CANONICAL_NAN = "7ff8000000000000";

/** The bits of a float64, as 16 hex digits. */
function nanBits(value: number): string {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, value);
  return view.getBigUint64(0).toString(16).padStart(16, "0");
}

/** The float64 of 16 hex digits of bits (a NaN's, here). */
function nanOf(bits: string): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt(`0x${bits}`));
  return view.getFloat64(0);
}

/** Turns a value encoded by the child back into what the guest returned. */
export function decodeValue(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(decodeValue);
  if (value !== null && typeof value === "object") {
    const record = value as { $bigint?: string; $number?: string };
    // Only the child's own encoding makes these records; anything else in
    // one (a broken child) stays the text it was, rather than throwing here.
    if (typeof record.$bigint === "string") {
      return /^-?\d+$/.test(record.$bigint)
        ? BigInt(record.$bigint)
        : record.$bigint;
    }
    if (typeof record.$number === "string") {
      const bits = (value as { bits?: unknown }).bits;
      return record.$number === "NaN" && typeof bits === "string" &&
          /^[0-9a-f]{16}$/.test(bits)
        ? nanOf(bits)
        : Number(record.$number);
    }
  }
  return value === null ? undefined : value;
}

/**
 * The most characters of a text in an error that cross the wire (a field,
 * a cause's message): a host import may throw a message, or give a reason,
 * built from what the guest gave it, of any length, and the host reads an
 * answer of at most `ANSWER_CAP_BYTES`.
 */
export const MAX_WIRE_TEXT = 1024 * 1024;

/** `text`, cut to {@linkcode MAX_WIRE_TEXT}, its length said. */
function causeText(text: string): string {
  if (text.length <= MAX_WIRE_TEXT) return text;
  return `${text.slice(0, MAX_WIRE_TEXT)}… (${text.length} characters)`;
}

function encodeCause(cause: unknown): WireCause {
  try {
    return encodeReadCause(cause);
  } catch {
    // A proxy whose traps throw, a getter that throws: what can be shown.
    return { value: describeThrown(cause) };
  }
}

function encodeReadCause(cause: unknown): WireCause {
  if (cause instanceof Error) {
    return {
      error: {
        name: causeText(String(cause.name)),
        message: causeText(String(cause.message)),
      },
    };
  }
  // An object may not survive JSON (a cycle, a function); its text does.
  const plain = cause === null ||
    ["number", "boolean", "bigint", "undefined"].includes(typeof cause);
  return { value: plain ? encodeValue(cause) : causeText(String(cause)) };
}

function decodeCause(wire: WireCause): unknown {
  if ("value" in wire) return decodeValue(wire.value);
  const error = new Error(wire.error.message);
  error.name = wire.error.name;
  return error;
}

const NOT_FIELDS = new Set(["name", "message", "stack", "cause"]);

/**
 * Names a field from the child cannot have: the error's own parts, and
 * those that would stand in for its prototype, class or kind.
 */
const NOT_RECEIVED = new Set([
  ...NOT_FIELDS,
  "__proto__",
  "constructor",
  "kind",
]);

/**
 * A field of an error, for JSON: a number or text as it is, an object as
 * JSON makes it. A reason or code the host's imports gave may be anything:
 * what JSON cannot hold (a cycle, a symbol, a proxy whose traps throw)
 * crosses as its text, rather than failing the answer.
 */
function encodeField(value: unknown): unknown {
  if (typeof value === "string") return causeText(value);
  if (typeof value === "symbol" || typeof value === "function") {
    return causeText(describeThrown(value));
  }
  try {
    const encoded = encodeValue(value);
    if (typeof encoded !== "object" || encoded === null) return encoded;
    return JSON.parse(JSON.stringify(encoded)) ?? null;
  } catch {
    return causeText(describeThrown(value));
  }
}

function encodeError(error: unknown): WireError {
  if (!isEarlyExitError(error)) {
    // A TypeError or RangeError the child's runner threw (a caller's
    // mistake) stays one; anything else is an Error.
    const name = error instanceof Error ? error.constructor?.name : undefined;
    return {
      kind: name !== undefined && Object.hasOwn(STANDARD_ERRORS, name)
        ? name as StandardErrorName
        : "Error",
      message: error instanceof Error ? error.message : String(error),
      fields: {},
    };
  }
  const fields: Record<string, unknown> = {};
  // A stop's error has its message, stack and cause as enumerable fields.
  for (const [key, value] of Object.entries(error)) {
    if (!NOT_FIELDS.has(key)) fields[key] = encodeField(value);
  }
  const wire: WireError = { kind: error.kind, message: error.message, fields };
  if (Object.hasOwn(error, "cause")) wire.cause = encodeCause(error.cause);
  return wire;
}

/** Encodes an outcome, or an error the runner threw, for the wire. */
export function toWire(result: CallOutcome | unknown): WireResult {
  if (
    result !== null && typeof result === "object" && "outcome" in result &&
    "export" in result
  ) {
    const outcome = result as CallOutcome;
    const fuel = outcome.fuel === undefined ? {} : { fuel: outcome.fuel };
    return outcome.outcome === "returned"
      ? {
        type: "returned",
        export: outcome.export,
        value: encodeValue(outcome.value),
        ...fuel,
      }
      : {
        type: "stopped",
        export: outcome.export,
        error: encodeError(outcome.error),
        ...fuel,
      };
  }
  return { type: "thrown", error: encodeError(result) };
}

/** The engine's error types an error that is not early-exit's keeps across. */
type StandardErrorName =
  | "TypeError"
  | "RangeError"
  | "SyntaxError"
  | "URIError"
  | "ReferenceError"
  | "EvalError";

const STANDARD_ERRORS: Readonly<Record<StandardErrorName, ErrorConstructor>> = {
  TypeError,
  RangeError,
  SyntaxError,
  URIError,
  ReferenceError,
  EvalError,
};

/**
 * Rebuilds the error the child made, as this copy's class of the same kind,
 * with the child's message and fields; an error of no kind as an `Error`.
 */
export function fromWireError(wire: WireError): Error {
  const type = errorClassOf(wire.kind);
  // Rebuilt from its message and fields, which its constructor's arguments
  // cannot always be recovered from; like a stop, it carries no stack here.
  const standard = Object.hasOwn(STANDARD_ERRORS, wire.kind)
    ? STANDARD_ERRORS[wire.kind as StandardErrorName]
    : Error;
  const error = type === undefined
    ? new standard(wire.message)
    : Reflect.construct(Error, [wire.message], type) as Error;
  if (type !== undefined) {
    const fields = wire.fields !== null && typeof wire.fields === "object"
      ? wire.fields
      : {};
    for (const [key, value] of Object.entries(fields)) {
      // Defined, not assigned: a field named `__proto__` stays a field and
      // no setter runs; and none may stand in for the error's own parts.
      if (NOT_RECEIVED.has(key)) continue;
      Object.defineProperty(error, key, {
        value: decodeValue(value),
        writable: true,
        enumerable: true,
        configurable: true,
      });
    }
    (error as unknown as Record<symbol, unknown>)[BRAND] = wire.kind;
    error.name = wire.kind;
  }
  if (wire.cause !== undefined) {
    Object.defineProperty(error, "cause", {
      value: decodeCause(wire.cause),
      writable: true,
      configurable: true,
    });
  }
  return error;
}

/**
 * Turns the child's answer back into the outcome it reported.
 *
 * @throws The error the child's runner threw, rebuilt.
 */
export function fromWire(wire: WireResult): CallOutcome {
  if (wire.type === "thrown") throw fromWireError(wire.error);
  const fuel = wire.fuel === undefined ? {} : { fuel: wire.fuel };
  if (wire.type === "returned") {
    return {
      outcome: "returned",
      export: wire.export,
      value: decodeValue(wire.value),
      ...fuel,
    };
  }
  const error = fromWireError(wire.error);
  const outcome = stoppedOutcome(wire.export, error);
  if (outcome === undefined) throw error;
  return { ...outcome, ...fuel };
}
