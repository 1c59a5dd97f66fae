/**
 * `--imports MODULE`: the guest's other imports, from a module whose default
 * export is the imports object or a function that builds it. Every way the
 * module can be unusable is one line naming it, never a stack trace.
 *
 * @module
 */

import type { GuestOptions } from "../mod.ts";
import { UsageError } from "./cli_arguments.ts";
import { checkImportsValue } from "./option_checks.ts";
import { describeThrown, oneLine } from "./thrown_values.ts";

/** Where a path or URL given on the command line points. */
export function resolveSpecifier(text: string): URL {
  if (/^[a-z][a-z0-9+.-]+:/i.test(text)) return new URL(text);
  return new URL(text, `file://${Deno.cwd()}/`);
}

/** The imports object, or the function that builds it, that `--imports` names. */
export async function importsModule(
  text: string,
): Promise<GuestOptions["imports"]> {
  let module;
  try {
    module = await import(resolveSpecifier(text).href);
  } catch (error) {
    throw new UsageError(
      `--imports ${text}: cannot import it: ${importFailure(error, text)}`,
    );
  }
  const imports = module.default;
  if (
    imports === null ||
    (typeof imports !== "object" && typeof imports !== "function")
  ) {
    throw new UsageError(
      `--imports ${text}: its default export must be the imports object (export default { env: { ... } }) or a function that returns it; got ${
        imports === null ? "null" : typeof imports
      }`,
    );
  }
  // The command line supplies the interrupt import itself.
  return (host) => {
    let made;
    try {
      made = typeof imports === "function" ? imports(host) : imports;
    } catch (error) {
      throw new UsageError(
        `--imports ${text}: its default export, a function, threw: ${
          describeThrown(error)
        }; fix the function, or export the imports object itself`,
      );
    }
    try {
      checkImportsValue(
        made,
        typeof imports === "function"
          ? "what its default export returned"
          : "its default export",
      );
    } catch (error) {
      throw new UsageError(`--imports ${text}: ${(error as Error).message}`);
    }
    let supplied;
    try {
      const env = made?.env;
      supplied = typeof env === "object" && env !== null &&
        Object.hasOwn(env, "interrupt_execution");
    } catch (error) {
      // A proxy whose traps throw: the module's to fix, not a bug here.
      throw new UsageError(
        `--imports ${text}: its module "env" cannot be looked at: ${
          describeThrown(error)
        }; export a plain object`,
      );
    }
    if (supplied) {
      throw new UsageError(
        `--imports ${text}: it supplies env.interrupt_execution, which the command line supplies itself; remove it from the module`,
      );
    }
    return made;
  };
}

// Deno colours the places in its messages for a terminal.
// deno-lint-ignore no-control-regex
const COLOURS = /\u001b\[[0-9;]*m/g;
// A syntax error's excerpt of the source: "  |", "1 | export …", "  |   ~".
const SOURCE_EXCERPT = /^\s*\d*\s*\|/;
const PLACE = /^\s*at\s+(.*?)\)?$/;

/**
 * Why `import()` of the module failed, as one line: every line of the
 * message (a module's own throw may have several), the place in the user's
 * code it names (Deno's own code is not theirs to read), and what to fix.
 */
function importFailure(error: unknown, text: string): string {
  if (!(error instanceof Error)) return `it threw ${describeThrown(error)}`;
  let message, name, stack;
  try {
    message = String(error.message);
    name = String(error.name);
    stack = String(error.stack ?? "");
  } catch {
    return describeThrown(error);
  }
  const lines: string[] = [];
  const places: string[] = [];
  for (const line of message.replace(COLOURS, "").split("\n")) {
    const place = PLACE.exec(line)?.[1];
    if (place !== undefined) {
      if (!/^(ext|node):/.test(place)) places.push(place);
    } else if (!SOURCE_EXCERPT.test(line) && line.trim() !== "") {
      lines.push(line.trim());
    }
  }
  // A throw while the module ran has the module's line in its stack, and
  // says what it threw; Deno's errors in loading it have only this file's.
  const ran = places.length === 0 && userPlace(stack);
  if (ran) {
    places.push(ran);
    if (name !== "Error") lines.unshift(`${name}:`);
  }
  let why = oneLine(lines.join(" ")).replace(/\.$/, "");
  if (places.length > 0) why += ` (at ${places[0]})`;
  if (/JSON module/i.test(why)) {
    return `it is JSON, which holds no functions: give a JavaScript or TypeScript module whose default export is the imports object`;
  }
  const missing = /Module not found "([^"]+)"/.exec(why)?.[1];
  if (missing === undefined) return why;
  return missing === resolveSpecifier(text).href
    ? `${why}; check the path (from the working directory) or URL`
    : `${why}; the module imports it: check that import`;
}

/** The command line's own code, which a failed `import()` has in its stack. */
const OWN_CODE = [
  new URL("./", import.meta.url).href,
  new URL("../main.ts:", import.meta.url).href,
];

/**
 * The place in a module the stack's first frame outside Deno's own code is,
 * unless that frame is the command line's (Deno failed to load the module).
 */
function userPlace(stack: string): string | undefined {
  for (const line of stack.replace(COLOURS, "").split("\n")) {
    const place = PLACE.exec(line)?.[1]?.replace(/^.*\(/, "");
    if (place === undefined || !/^(file|https?):/.test(place)) continue;
    return OWN_CODE.some((own) => place.startsWith(own)) ? undefined : place;
  }
  return undefined;
}
