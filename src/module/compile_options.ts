/**
 * A guest's compile options (the JS String Builtins proposal): what they
 * may name, and the import modules they make the engine supply, which the
 * guest's imports are then not looked up in.
 *
 * @module
 */

import { readOption } from "../option_checks.ts";

/**
 * Options for compiling a guest, as `WebAssembly.compile` takes them (the
 * JS String Builtins proposal).
 *
 * @example Usage
 * ```ts
 * import type { CompileOptions } from "@early-exit/early-exit";
 *
 * const options: CompileOptions = {
 *   builtins: ["js-string"],
 *   importedStringConstants: "'",
 * };
 * console.log(options.builtins);
 * ```
 */
export interface CompileOptions {
  /**
   * Builtin sets the engine supplies as imports: `"js-string"`, the one
   * set early-exit knows (`loadGuest` refuses others).
   */
  builtins?: string[];
  /** The import module whose globals the engine fills with their names as strings. */
  importedStringConstants?: string;
}

/**
 * The import modules that compile options make the engine supply itself.
 *
 * @param options The compile options.
 * @returns Their module names.
 */
export function engineModules(options: CompileOptions = {}): Set<string> {
  const modules = new Set<string>();
  for (const set of options.builtins ?? []) modules.add(`wasm:${set}`);
  if (options.importedStringConstants !== undefined) {
    modules.add(options.importedStringConstants);
  }
  return modules;
}

/** The rewriter's preferred module name for the imports it adds. */
const ADDED_IMPORT_MODULE = "early-exit";

/**
 * The module name to ask the rewriter for its added imports under (its
 * `importModule` option), or `undefined` for its default. The engine would
 * take the imports of a module the compile options name (the string
 * constants' module) as its own: the rewriter's `out_of_fuel` then failed
 * the compile ("must be an immutable global"). The rewriter suffixes the
 * name it is given with `-1`, `-2`, … when the guest imports from it, so a
 * name the options name with such a suffix is passed over too.
 *
 * @param options The compile options.
 * @returns The name, when the default would collide.
 *
 * @example Usage
 * ```ts
 * import { addedImportModule } from "./compile_options.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(addedImportModule({ importedStringConstants: "'" }), undefined);
 * assert.equal(
 *   addedImportModule({ importedStringConstants: "early-exit" }),
 *   "early-exit~1",
 * );
 * ```
 */
export function addedImportModule(
  options: CompileOptions = {},
): string | undefined {
  const taken = [...engineModules(options)];
  const collides = (name: string) =>
    taken.some((module) =>
      module === name ||
      (module.startsWith(`${name}-`) &&
        /^[0-9]+$/.test(module.slice(name.length + 1)))
    );
  if (!collides(ADDED_IMPORT_MODULE)) return undefined;
  for (let i = 1;; i++) {
    const name = `${ADDED_IMPORT_MODULE}~${i}`;
    if (!collides(name)) return name;
  }
}

/**
 * The builtin sets early-exit knows: V8 supplies `js-string` without flags,
 * and the rewriter pays for its calls by length. A set an engine flag adds
 * (`text-decoder` and `text-encoder` with
 * `--experimental-wasm-imported-strings-utf8`) would run a guest's calls of
 * it unpaid: a metered loop decoding a 2 MiB array per turn ran 23 s (18 s
 * of CPU) on a budget of 3 * 10^6.
 */
const KNOWN_BUILTINS: readonly string[] = ["js-string"];

/**
 * Checks compile options: an object with at most `builtins` (known sets
 * only) and `importedStringConstants` (a string).
 *
 * @param options The compile options given.
 * @param where Who was given them, for the message.
 * @returns The options as read (once) and checked: give these to the
 *   engine, not the caller's object.
 * @throws {TypeError} For anything else, naming it and what to give.
 *
 * @example Usage
 * ```ts
 * import { checkCompileOptions } from "./compile_options.ts";
 * import assert from "node:assert/strict";
 *
 * checkCompileOptions({ builtins: ["js-string"] }, "loadGuest");
 * assert.throws(() =>
 *   checkCompileOptions({ builtins: ["text-decoder"] }, "loadGuest")
 * );
 * ```
 */
export function checkCompileOptions(
  options: unknown,
  where: string,
): CompileOptions | undefined {
  if (options === undefined) return undefined;
  const expected = `{ builtins: ["js-string"], importedStringConstants: "'" }`;
  if (typeof options !== "object" || options === null) {
    throw new TypeError(
      `${where}'s compile must be an object such as ${expected}; got ${
        options === null ? "null" : typeof options
      }`,
    );
  }
  // Read once, into options of the host's own, which are what the engine
  // is given: a getter or a proxy could show the check one set of builtins
  // and the engine another, whose calls would run unpaid.
  const { keys, builtins, importedStringConstants } = readOption(
    `${where}'s compile`,
    expected,
    () => {
      const given = options as Record<string, unknown>;
      return {
        keys: Object.keys(given),
        builtins: readBuiltins(given.builtins),
        importedStringConstants: given.importedStringConstants,
      };
    },
  );
  for (const key of keys) {
    if (key !== "builtins" && key !== "importedStringConstants") {
      throw new TypeError(
        `${where}'s compile has no option ${
          JSON.stringify(key)
        }; its options are: builtins, importedStringConstants`,
      );
    }
  }
  if (typeof builtins === "string") {
    throw new TypeError(
      `${where}'s compile.builtins must be an array such as ["js-string"]; got ${builtins}`,
    );
  }
  if (typeof builtins === "number") {
    throw new TypeError(
      `${where}'s compile.builtins lists ${builtins} sets; give at most ${MAX_BUILTIN_SETS}, such as ["js-string"]`,
    );
  }
  if (builtins !== undefined) {
    for (const set of builtins) {
      if (typeof set !== "string" || !KNOWN_BUILTINS.includes(set)) {
        throw new TypeError(
          `${where}'s compile.builtins names ${
            typeof set === "string" ? JSON.stringify(set) : typeof set
          }, a set early-exit does not know: it knows ${
            KNOWN_BUILTINS.map((known) => JSON.stringify(known)).join(", ")
          }, whose calls a metered guest pays for; leave the others out (the engine would run their calls unpaid and unchecked)`,
        );
      }
    }
  }
  if (
    importedStringConstants !== undefined &&
    typeof importedStringConstants !== "string"
  ) {
    throw new TypeError(
      `${where}'s compile.importedStringConstants must be a string, the import module of the string constants, such as "'"; got ${typeof importedStringConstants}`,
    );
  }
  const read: CompileOptions = {};
  if (builtins !== undefined) read.builtins = builtins as string[];
  if (importedStringConstants !== undefined) {
    read.importedStringConstants = importedStringConstants;
  }
  return read;
}

/**
 * The most builtin sets a compile may name: there are few, and a longer
 * list (a sparse array of a length in the billions) is refused unread.
 */
const MAX_BUILTIN_SETS = 16;

/**
 * A copy of `compile.builtins`, read element by element, once; or what is
 * wrong with it: the type it has when not an array, or its length when
 * that is too long.
 */
function readBuiltins(
  builtins: unknown,
): unknown[] | undefined | string | number {
  if (builtins === undefined) return undefined;
  if (!Array.isArray(builtins)) return typeof builtins;
  const count = builtins.length;
  if (count > MAX_BUILTIN_SETS) return count;
  const copy: unknown[] = [];
  for (let at = 0; at < count; at++) copy.push(builtins[at]);
  return copy;
}
