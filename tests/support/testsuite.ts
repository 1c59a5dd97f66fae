/**
 * Where the WebAssembly spec test suite is: `WASM_TESTSUITE` when set, else
 * `../shared/wasm-testsuite` beside the checkout. Tests that read it skip,
 * saying so, when it is not there.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { join, relative, resolve } from "node:path";

/** An environment variable, or `undefined` when unset or not permitted. */
export function envVar(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // no --allow-env: use the default
  }
}

/** The suite's directory. */
export const SUITE_DIR: string = resolve(
  envVar("WASM_TESTSUITE") ??
    fileURLToPath(new URL("../../../shared/wasm-testsuite", import.meta.url)),
);

/** A path as the user would type it: relative to the working directory. */
export function shown(path: string): string {
  try {
    return relative(Deno.cwd(), path) || ".";
  } catch {
    return path;
  }
}

/** The suite's files, and why there are none when there are none. */
export interface SuiteFiles {
  files: string[];
  problem?: string;
}

/**
 * The suite's `.wast` files, sorted: the top level, then `legacy/` when
 * `legacy` is set. When none are found, says so once on the console, with
 * how to point the tests at the suite.
 */
export function suiteFiles({ legacy = true } = {}): SuiteFiles {
  const found = listWast(SUITE_DIR, legacy);
  if (found.files.length === 0) {
    console.log(
      `spec suite not found at ${
        shown(SUITE_DIR)
      }; skipping (set WASM_TESTSUITE)` +
        (found.problem === undefined ? "" : `\n  (${found.problem})`),
    );
  }
  return found;
}

function listWast(dir: string, legacy: boolean): SuiteFiles {
  const list = (sub: string) =>
    [...Deno.readDirSync(join(dir, sub))]
      .filter((e) => e.isFile && e.name.endsWith(".wast"))
      .map((e) => join(dir, sub, e.name))
      .sort();
  try {
    const files = list(".");
    if (legacy) {
      try {
        files.push(...list("legacy"));
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
    }
    return { files };
  } catch (error) {
    return {
      files: [],
      problem: error instanceof Error ? error.message : String(error),
    };
  }
}
