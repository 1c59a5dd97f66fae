/**
 * The checks of the values a meter is given at run time: fuel amounts, a
 * run's function, and what its hooks return. Each refuses a misuse with an
 * error that names it, never an outcome.
 *
 * @module
 */

import { describeValue } from "../option_checks.ts";

/** Refuses a `run`'s `fn` that is not a function: a misuse, not an outcome. */
export function checkRunFunction(fn: unknown, what: string): void {
  if (typeof fn === "function") return;
  throw new TypeError(
    `${what}: fn must be a function that calls into the attached instance, such as () => db.exec(sql); got ${
      describeValue(fn)
    }`,
  );
}

/**
 * Refuses a fuel amount the books cannot keep exact: a fraction, a
 * negative, or past 2^53. Returns it, for use in an assignment.
 */
export function checkFuel(fuel: number, what: string): number {
  if (fuel === Infinity) return fuel;
  if (typeof fuel !== "number") {
    throw new TypeError(
      `${what} must be a non-negative safe integer or Infinity; got ${
        describeValue(fuel)
      }`,
    );
  }
  if (!Number.isSafeInteger(fuel) || fuel < 0) {
    throw new RangeError(
      `${what} must be a non-negative safe integer or Infinity; got ${fuel}`,
    );
  }
  return fuel;
}

/**
 * Refuses fuel that would take what a meter holds past 2^53 - 1, where its
 * books stop being exact. `Infinity` always fits, and so does anything
 * added to a meter that holds `Infinity`.
 *
 * @param held What the meter holds besides the fuel given.
 * @param added The fuel given.
 * @param what Who gave it, for the message.
 * @throws {RangeError} When the sum is past 2^53 - 1.
 */
export function checkFuelRoom(held: number, added: number, what: string): void {
  if (added === Infinity || held === Infinity) return;
  if (held + added <= Number.MAX_SAFE_INTEGER) return;
  throw new RangeError(
    `${what}: ${added} more fuel would take the ${held} the meter holds past 2^53 - 1, where its count stops being exact; give at most ${
      Number.MAX_SAFE_INTEGER - held
    }, or Infinity for no limit`,
  );
}

/**
 * Checks what a meter's hook returned (or its promise gave): a coerced
 * answer would stop a guest, or fail deep inside, without saying why.
 *
 * @param value What the hook gave.
 * @param type What it must give.
 * @param hook The hook, for the message.
 * @param promised Whether a promise of it is also allowed.
 * @throws {TypeError} When `value` is not of `type`.
 */
export function checkHookResult(
  value: unknown,
  type: "boolean" | "number",
  hook: string,
  promised = false,
): void {
  const fits = type === "boolean"
    ? typeof value === "boolean"
    : typeof value === "number";
  if (fits) return;
  const what = type === "boolean"
    ? "a boolean (true to stop the guest)"
    : "a number (the fuel to add)";
  throw new TypeError(
    `FuelMeter's ${hook} must ${
      hook.endsWith("promise") ? "resolve to" : "return"
    } ${what}${promised ? ", or a promise of one" : ""}; got ${
      describeValue(value)
    }`,
  );
}
