/**
 * The wire format between a host and its isolated child: outcomes and
 * branded errors as JSON, with the values JSON cannot hold (bigints, NaN,
 * infinities) spelled out, and each error rebuilt in the host as the same
 * branded class the child made.
 *
 * @module
 */

import {
  type EarlyExitErrorKind,
  ExportError,
  FuelExhausted,
  GuestLoadError,
  GuestTrap,
  HostImportError,
  ImportError,
  Interrupted,
  InvalidModule,
  isEarlyExitError,
  unwoundError,
} from "./errors.ts";
import type { CallOutcome, FuelUsage } from "./guest.ts";

/** What the host asks its child to run. */
export interface IsolatedRequest {
  /** The export to call. */
  export: string;
  /** Its arguments; i64 arguments as decimal strings. */
  args: (string | number)[];
  /** The fuel budget, when the child should meter. */
  fuel?: number;
  /** A module whose default export is the guest's imports. */
  imports?: string;
  /** The guest's name in messages. */
  label: string;
}

/** An error, as the child saw it. */
export interface WireError {
  kind: EarlyExitErrorKind | "Error";
  message: string;
  fields: Record<string, unknown>;
}

/** One line of the child's answer. */
export type WireResult =
  | {
    type: "outcome";
    outcome: CallOutcome["outcome"];
    export: string;
    value?: unknown;
    error?: WireError;
    fuel?: FuelUsage;
  }
  | { type: "thrown"; error: WireError };

function encodeValue(value: unknown): unknown {
  if (typeof value === "bigint") return { $bigint: value.toString() };
  if (typeof value === "number" && !Number.isFinite(value)) {
    return { $number: String(value) };
  }
  if (Array.isArray(value)) return value.map(encodeValue);
  return value ?? null;
}

/** Turns a value encoded by the child back into what the guest returned. */
export function decodeValue(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(decodeValue);
  if (value !== null && typeof value === "object") {
    const record = value as { $bigint?: string; $number?: string };
    if (record.$bigint !== undefined) return BigInt(record.$bigint);
    if (record.$number !== undefined) return Number(record.$number);
  }
  return value === null ? undefined : value;
}

function encodeError(error: unknown): WireError {
  if (!isEarlyExitError(error)) {
    return {
      kind: "Error",
      message: error instanceof Error ? error.message : String(error),
      fields: {},
    };
  }
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(error)) {
    if (key !== "name" && key !== "message") fields[key] = encodeValue(value);
  }
  const cause = (error as { cause?: unknown }).cause;
  if (cause !== undefined) {
    fields.cause = cause instanceof Error
      ? `${cause.name}: ${cause.message}`
      : String(cause);
  }
  return { kind: error.kind, message: error.message, fields };
}

/** Encodes an outcome, or an error the runner threw, for the wire. */
export function toWire(result: CallOutcome | unknown): WireResult {
  if (
    result !== null && typeof result === "object" && "outcome" in result &&
    "export" in result
  ) {
    const outcome = result as CallOutcome;
    return {
      type: "outcome",
      outcome: outcome.outcome,
      export: outcome.export,
      value: "value" in outcome ? encodeValue(outcome.value) : undefined,
      error: "error" in outcome ? encodeError(outcome.error) : undefined,
      fuel: outcome.fuel,
    };
  }
  return { type: "thrown", error: encodeError(result) };
}

const CLASSES: Partial<
  Record<EarlyExitErrorKind, abstract new (...args: never[]) => Error>
> = {
  Interrupted,
  GuestTrap,
  HostImportError,
  FuelExhausted,
  InvalidModule,
  GuestLoadError,
  ImportError,
  ExportError,
};

/** Rebuilds the branded error the child made, as this copy's class. */
export function fromWireError(wire: WireError): Error {
  const type = CLASSES[wire.kind as EarlyExitErrorKind];
  if (type === undefined) return new Error(wire.message);
  const { cause, ...fields } = wire.fields;
  const decoded = Object.fromEntries(
    Object.entries(fields).map(([key, value]) => [key, decodeValue(value)]),
  );
  const error = unwoundError(
    type as never,
    wire.kind as EarlyExitErrorKind,
    wire.message,
    decoded as never,
  ) as Error;
  if (cause !== undefined) {
    Object.defineProperty(error, "cause", {
      value: new Error(String(cause)),
      writable: true,
      configurable: true,
    });
  }
  return error;
}
