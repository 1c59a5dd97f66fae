/**
 * Finds the function export a call names, and checks its arguments against
 * its signature, so that a wrong name or argument count gets a message that
 * says what the guest does export and take.
 *
 * @module
 */

import { ExportError } from "./errors.ts";
import type { HostFunction } from "./imports.ts";
import { describeSignature, type FunctionSignature } from "./signatures.ts";

/**
 * The function export `name` of `instance`.
 *
 * @param instance The live instance.
 * @param module Its module, to list the function exports.
 * @param label The guest's name, for messages.
 * @param name The export.
 * @returns The exported function.
 * @throws {ExportError} When there is no such export, or it is not a function.
 */
export function exportedFunction(
  instance: WebAssembly.Instance,
  module: WebAssembly.Module,
  label: string,
  name: string,
): HostFunction {
  const value = (instance.exports as Record<string, unknown>)[name];
  if (typeof value === "function") return value as HostFunction;
  const functions = WebAssembly.Module.exports(module)
    .filter((entry) => entry.kind === "function")
    .map((entry) => entry.name);
  const known = functions.length ? functions.join(", ") : "none";
  if (value === undefined) {
    throw new ExportError(
      `${label} has no export named "${name}"; its function exports are: ${known}`,
    );
  }
  throw new ExportError(
    `export "${name}" of ${label} is a ${
      describeExport(value)
    }, not a function; its function exports are: ${known}`,
  );
}

/**
 * Checks a call's arguments against the export's signature, when known.
 *
 * @param signature The export's signature, if the guest's bytes were known.
 * @param name The export.
 * @param args The call's arguments.
 * @throws {ExportError} When the count is wrong, or the export uses v128.
 */
export function checkArguments(
  signature: FunctionSignature | undefined,
  name: string,
  args: unknown[],
): void {
  if (signature === undefined) return;
  if (args.length !== signature.params.length) {
    throw new ExportError(
      `export "${name}" takes ${signature.params.length} argument(s) (${
        describeSignature(signature)
      }), got ${args.length}`,
    );
  }
  if ([...signature.params, ...signature.results].includes("v128")) {
    throw new ExportError(
      `export "${name}" (${
        describeSignature(signature)
      }) uses v128, which JavaScript cannot pass or receive`,
    );
  }
}

function describeExport(value: unknown): string {
  if (value instanceof WebAssembly.Memory) return "memory";
  if (value instanceof WebAssembly.Table) return "table";
  if (value instanceof WebAssembly.Global) return "global";
  return typeof value;
}
