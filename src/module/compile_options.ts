/**
 * A guest's compile options (the JS String Builtins proposal): what they
 * may name, and the import modules they make the engine supply, which the
 * guest's imports are then not looked up in.
 *
 * @module
 */

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
 * @returns The options, checked.
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
  for (const key of Object.keys(options)) {
    if (key !== "builtins" && key !== "importedStringConstants") {
      throw new TypeError(
        `${where}'s compile has no option ${
          JSON.stringify(key)
        }; its options are: builtins, importedStringConstants`,
      );
    }
  }
  const { builtins, importedStringConstants } = options as CompileOptions;
  if (builtins !== undefined) {
    if (!Array.isArray(builtins)) {
      throw new TypeError(
        `${where}'s compile.builtins must be an array such as ["js-string"]; got ${typeof builtins}`,
      );
    }
    for (const set of builtins as unknown[]) {
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
  return options as CompileOptions;
}
