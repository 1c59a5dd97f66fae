/**
 * Refuses an option whose name the function does not know. Left alone, a
 * misspelt option is dropped without a word: `{ timeot: 50 }` gives a call
 * with no deadline at all, which the caller believes stopped.
 *
 * @module
 */

import {
  describeValue,
  unreadableOption,
  unreadableOptions,
} from "./option_checks.ts";

/**
 * The known name closest to `given`, when it is plausibly a slip of the
 * keys: the same letters in another case, or at most two edits away.
 */
function closest(given: string, known: readonly string[]): string | undefined {
  const lower = given.toLowerCase();
  let best: string | undefined;
  let bestDistance = 3;
  for (const name of known) {
    if (name.toLowerCase() === lower) return name;
    const distance = editDistance(lower, name.toLowerCase());
    if (distance < bestDistance) {
      best = name;
      bestDistance = distance;
    }
  }
  return best;
}

/** Levenshtein distance; the names compared are a few letters long. */
function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(
        row[j]! + 1,
        next[j - 1]! + 1,
        row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    row = next;
  }
  return row[b.length]!;
}

/**
 * Checks that every own property of an options object is a name the
 * function takes. A property set to `undefined` counts too: it is as much a
 * slip as one with a value.
 *
 * @param options The options object, or `undefined` when left out.
 * @param known The names the function takes.
 * @param where The function they were given to, e.g. `invoke`.
 * @param elsewhere Names that belong to another function, each with a hint
 *   of where it goes.
 * @throws {TypeError} When the options are not an object (`null`
 *   included); or naming the unknown option, the known name it is likely
 *   meant to be, and the names the function takes.
 *
 * @example Usage
 * ```ts
 * import { checkOptionNames } from "./option_names.ts";
 * import assert from "node:assert/strict";
 *
 * checkOptionNames({ fuel: 10 }, ["fuel", "timeout"], "invoke");
 * assert.throws(
 *   () => checkOptionNames({ timeot: 50 }, ["fuel", "timeout"], "invoke"),
 *   /did you mean "timeout"/,
 * );
 * ```
 */
export function checkOptionNames(
  options: unknown,
  known: readonly string[],
  where: string,
  elsewhere: Readonly<Record<string, string>> = {},
): void {
  if (options === undefined) return;
  if (typeof options !== "object" || options === null) {
    throw new TypeError(
      `${where}'s options must be an object; got ${describeValue(options)}`,
    );
  }
  let name: string | undefined;
  try {
    for (const key in options) {
      if (Object.hasOwn(options, key) && !known.includes(key)) {
        name = key;
        break;
      }
    }
  } catch (error) {
    throw unreadableOptions(where, error);
  }
  if (name !== undefined) {
    const guess = closest(name, known);
    const hint = Object.hasOwn(elsewhere, name)
      ? elsewhere[name]
      : guess === undefined
      ? undefined
      : `did you mean "${guess}"?`;
    throw new TypeError(
      `${where} has no option ${JSON.stringify(name)}${
        hint === undefined ? "" : ` (${hint})`
      }; its options are: ${known.join(", ")}`,
    );
  }
}

/**
 * {@linkcode checkOptionNames}, then each option the function takes read
 * once into a plain object, which is what the function checks and uses: a
 * getter or a proxy's trap that throws is one line naming the option, not
 * its own error, and a getter cannot give the checks one value and the
 * call another.
 *
 * @param options The options object, or `undefined` when left out.
 * @param known The names the function takes.
 * @param where The function they were given to, e.g. `invoke`.
 * @param elsewhere As for {@linkcode checkOptionNames}.
 * @returns The options read, without those that read as `undefined`
 *   (frozen, and shared, when none is set).
 * @throws {TypeError} As {@linkcode checkOptionNames} does, or naming the
 *   option that cannot be read.
 *
 * @example Usage
 * ```ts
 * import { readOptions } from "./option_names.ts";
 * import assert from "node:assert/strict";
 *
 * const given = Object.defineProperty({}, "fuel", {
 *   get() {
 *     throw new Error("no");
 *   },
 *   enumerable: true,
 * });
 * assert.throws(
 *   () => readOptions(given, ["fuel"], "invoke"),
 *   /^TypeError: invoke's fuel cannot be read/,
 * );
 * assert.deepEqual(readOptions({ fuel: 5 }, ["fuel", "timeout"], "invoke"), {
 *   fuel: 5,
 * });
 * ```
 */
export function readOptions<T extends object>(
  options: T | undefined,
  known: readonly string[],
  where: string,
  elsewhere: Readonly<Record<string, string>> = {},
): T {
  checkOptionNames(options, known, where, elsewhere);
  if (options === undefined) return NO_OPTIONS as T;
  const given = options as Record<string, unknown>;
  // Most calls give no options: they share one empty object, not a new one.
  let read: Record<string, unknown> | undefined;
  for (const name of known) {
    let value: unknown;
    try {
      value = given[name];
    } catch (error) {
      throw unreadableOption(`${where}'s ${name}`, "a plain value", error);
    }
    if (value !== undefined) (read ??= {})[name] = value;
  }
  return (read ?? NO_OPTIONS) as T;
}

/** What {@linkcode readOptions} gives for options that set nothing. */
const NO_OPTIONS: Readonly<Record<string, unknown>> = Object.freeze({});
