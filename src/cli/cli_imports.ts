/**
 * `--imports MODULE`: the guest's other imports, from a module whose default
 * export is the imports object or a function that builds it. Every way the
 * module can be unusable is one line naming it, never a stack trace.
 *
 * @module
 */

import type { GuestOptions } from "../../mod.ts";
import { UsageError } from "./cli_arguments.ts";
import { checkImportsValue } from "../option_checks.ts";
import { describeThrown } from "../thrown_values.ts";
import { importFailure } from "../import_failure.ts";

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
    const failure = importFailure(error, resolveSpecifier(text).href);
    const fix = {
      json:
        ": give a JavaScript or TypeScript module whose default export is the imports object",
      missing: "; check the path (from the working directory) or URL",
      dependency: "; the module imports it: check that import",
      threw: "",
    }[failure.kind];
    throw new UsageError(
      `--imports ${text}: cannot import it: ${failure.why}${fix}`,
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
