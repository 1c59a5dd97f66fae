/**
 * How the command line reads the numbers it is given: `--arg` by the
 * export's parameter type, `--fuel` and `--timeout`. One rule for every
 * integer type: a decimal integer with an optional sign, inside the type's
 * range, so that nothing wraps or rounds silently. Hexadecimal is refused,
 * rather than taken by one type and not another.
 *
 * @module
 */

import type { FunctionSignature } from "../module/signatures.ts";

/** A command-line value the program cannot use; exit status 2. */
export class UsageError extends Error {}

const INTEGER = /^[+-]?\d+$/;
const FLOAT = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$|^[+-]?(Infinity|NaN)$/i;

/** Each integer type's range, as the wasm JS API takes it: signed or unsigned. */
const INTEGER_RANGES: Record<string, [bigint, bigint]> = {
  i32: [-(1n << 31n), (1n << 32n) - 1n],
  i64: [-(1n << 63n), (1n << 64n) - 1n],
};

/**
 * Converts one `--arg` to what its parameter takes.
 *
 * @param text The argument as typed.
 * @param index Its position.
 * @param type The parameter's type, if the export has one there.
 * @returns A number, or a bigint for i64.
 * @throws {UsageError} When it is not of the type, or out of its range.
 */
export function convertArgument(
  text: string,
  index: number,
  type: string | undefined,
): unknown {
  const range = type === undefined ? undefined : INTEGER_RANGES[type];
  if (range !== undefined) {
    const [min, max] = range;
    const value = INTEGER.test(text) ? BigInt(text) : undefined;
    if (value === undefined || value < min || value > max) {
      throw new UsageError(
        `--arg ${text}: parameter ${index} is ${type}, which takes a decimal integer from ${min} to ${max}`,
      );
    }
    return type === "i64" ? value : Number(value);
  }
  if (type === "f32" || type === "f64" || type === undefined) {
    if (!FLOAT.test(text)) {
      throw new UsageError(
        `--arg ${text}: parameter ${index} is ${
          type ?? "unknown"
        }, which takes a decimal number (such as -1.5, 2e10, Infinity or NaN)`,
      );
    }
    const value = Number(text);
    // A finite literal past the type's range would arrive as an infinity.
    const stored = type === "f32" ? Math.fround(value) : value;
    if (Math.abs(stored) === Infinity && !/infinity/i.test(text)) {
      throw new UsageError(
        `--arg ${text}: parameter ${index} is ${
          type ?? "unknown"
        }, whose largest finite value is ${
          type === "f32" ? "3.4028234663852886e+38" : Number.MAX_VALUE
        }; give a smaller number, or Infinity`,
      );
    }
    return value;
  }
  throw new UsageError(
    `--arg ${text}: parameter ${index} is ${type}, which the command line cannot pass; call the export from TypeScript instead`,
  );
}

/**
 * Converts the `--arg` values to what the export's parameters take. With no
 * signature (no such export) or more values than parameters, the values are
 * passed as given, and the call says what is wrong.
 *
 * @param raw The values as typed.
 * @param signature The export's signature.
 * @returns The arguments.
 */
export function convertArguments(
  raw: string[],
  signature: FunctionSignature | undefined,
): unknown[] {
  if (signature === undefined || raw.length !== signature.params.length) {
    return raw;
  }
  return raw.map((text, index) =>
    convertArgument(text, index, signature.params[index])
  );
}

/**
 * Reads `--fuel`: a whole number, in digits or with an exponent (`1e6`).
 *
 * @param text The value as typed, if given.
 * @returns The budget.
 * @throws {UsageError} When it is not a whole number from 0 to 2^53 - 1.
 */
export function parseFuel(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = FLOAT.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new UsageError(
      `--fuel ${text}: expected a whole number of fuel units from 0 to 9007199254740991, such as 1000000 or 1e6`,
    );
  }
  return value;
}

/**
 * Reads `--timeout`: milliseconds, 0 or more, fractions allowed.
 *
 * @param text The value as typed, if given.
 * @returns The timeout.
 * @throws {UsageError} When it is not a finite number, 0 or more.
 */
export function parseTimeout(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = FLOAT.test(text) ? Number(text) : NaN;
  if (!Number.isFinite(value) || value < 0) {
    throw new UsageError(
      `--timeout ${text}: expected a number of milliseconds, 0 or more, such as 500 or 2.5`,
    );
  }
  return value;
}

/** The options that take a value, which may start with a dash (`--arg -1`). */
const VALUE_OPTIONS = new Set([
  "--arg",
  "--fuel",
  "--timeout",
  "--invoke",
  "--expect",
  "--imports",
  "--cache",
]);

/**
 * Joins an option that takes a value to a value that starts with a dash,
 * as `--arg=-1`, which the option parser would otherwise read as an option.
 *
 * @param argv The arguments.
 * @returns The arguments, with such pairs joined.
 */
export function joinDashValues(argv: string[]): string[] {
  const joined: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    const next = argv[i + 1];
    if (
      VALUE_OPTIONS.has(word) && next !== undefined && /^-[^-]/.test(next) &&
      next !== "-h"
    ) {
      joined.push(`${word}=${next}`);
      i++;
    } else {
      joined.push(word);
    }
  }
  return joined;
}
