/**
 * Finds the function export a call names, and checks its arguments against
 * its signature, so that a wrong name or argument count gets a message that
 * says what the guest does export and take.
 *
 * @module
 */

import { ExportError } from "../errors.ts";
import { oneLineText } from "../early_exit_error.ts";
import type { HostFunction } from "./imports.ts";
import { describeValue } from "../option_checks.ts";
import { describeThrown } from "../thrown_values.ts";
import {
  describeSignature,
  type FunctionSignature,
  unpassableType,
} from "../module/signatures.ts";

/**
 * The function export `name` of `instance`.
 *
 * @param instance The live instance.
 * @param module Its module, to list the function exports.
 * @param label The guest's name, for messages.
 * @param name The export.
 * @param added The function exports the rewrite added, which are not the
 *   guest's: named, they are missing.
 * @returns The exported function.
 * @throws {ExportError} When there is no such export, or it is not a function.
 */
export function exportedFunction(
  instance: WebAssembly.Instance,
  module: WebAssembly.Module,
  label: string,
  name: string,
  added: ReadonlySet<string> = new Set(),
): HostFunction {
  const value = added.has(name)
    ? undefined
    : (instance.exports as Record<string, unknown>)[name];
  if (typeof value === "function") return value as HostFunction;
  const known = listExports(module, added);
  const shown = oneLineText(name, SHOWN_NAME);
  if (value === undefined) {
    throw new ExportError(
      `${label} has no export named "${shown}"; its function exports are: ${known}`,
    );
  }
  throw new ExportError(
    `export "${shown}" of ${label} is a ${
      describeExport(value)
    }, not a function; its function exports are: ${known}`,
  );
}

/** The most function exports a message lists, and of each name, characters. */
const SHOWN_EXPORTS = 10;
const SHOWN_NAME = 60;

/**
 * The module's function exports, for a message: the guest chose them, as
 * many (up to `MAX_BINDINGS` in this process) and as long as it liked.
 */
function listExports(
  module: WebAssembly.Module,
  added: ReadonlySet<string>,
): string {
  const functions = WebAssembly.Module.exports(module)
    .filter((entry) => entry.kind === "function" && !added.has(entry.name));
  if (functions.length === 0) return "none";
  // The empty name is a name too: shown bare, it read as a stray comma.
  const shown = functions.slice(0, SHOWN_EXPORTS)
    .map((entry) =>
      entry.name === "" ? '""' : oneLineText(entry.name, SHOWN_NAME)
    );
  const more = functions.length - shown.length;
  return shown.join(", ") + (more > 0 ? ` and ${more} more` : "");
}

/**
 * Checks that a call names its export with a string: a symbol would fail
 * deep inside with the engine's words, and a number or an object would be
 * turned into a name silently.
 *
 * @param name What the caller gave as the export's name.
 * @throws {ExportError} When `name` is not a string.
 */
export function checkExportName(name: unknown): asserts name is string {
  if (typeof name === "string") return;
  throw new ExportError(
    `an export's name must be a string, e.g. invoke("run"); got ${
      describeValue(name)
    }`,
  );
}

/**
 * The most arguments a call may be given: the engine's limit on a
 * function's parameters. A longer list is refused before it is read, so a
 * sparse array of a length in the billions is not walked.
 */
export const MAX_ARGUMENTS = 1000;

/**
 * Reads a call's arguments once, into an array of the host's own: what the
 * checks pass is what the call is given. A caller's array may be a proxy,
 * or hold an element getter, that throws or gives the checks one value and
 * the call another (an i64 checked as a bigint, then passed as a number).
 * They must come as an array: a string would pass its characters as
 * arguments, and a lone number none.
 *
 * @param name The export, for messages.
 * @param args What the caller gave as the arguments.
 * @param call The function called, for the message's example.
 * @returns The arguments, copied.
 * @throws {ExportError} When `args` is not an array, is longer than
 *   {@linkcode MAX_ARGUMENTS}, or cannot be read.
 */
export function readArgumentList(
  name: string,
  args: unknown,
  call = "invoke",
): unknown[] {
  let list: unknown[] | undefined;
  try {
    if (Array.isArray(args)) list = args;
  } catch {
    // A revoked proxy: the engine's TypeError would name no export.
  }
  if (list === undefined) {
    const example = call === "invokeIsolated"
      ? `invokeIsolated(guest, "${name}", [1, 2])`
      : `${call}("${name}", [1, 2])`;
    throw new ExportError(
      `the arguments of export "${name}" go in an array, e.g. ${example}; got ${
        describeValue(args)
      }`,
    );
  }
  try {
    const count = list.length;
    if (count > MAX_ARGUMENTS) {
      throw new ExportError(
        `export "${name}" was given ${count} arguments; a WebAssembly function takes at most ${MAX_ARGUMENTS}: pass the arguments its signature lists`,
      );
    }
    const copy = new Array<unknown>(count);
    for (let at = 0; at < count; at++) copy[at] = list[at];
    return copy;
  } catch (error) {
    if (error instanceof ExportError) throw error;
    throw new ExportError(
      `the arguments of export "${name}" cannot be read (a revoked proxy, or a getter or trap that throws): ${
        oneLineText(describeThrown(error))
      }; pass a plain array`,
    );
  }
}

/**
 * Checks a call's arguments against the export's signature, when known.
 *
 * @param signature The export's signature, if the guest's bytes were known.
 * @param name The export.
 * @param args The call's arguments.
 * @throws {ExportError} When the count is wrong, or the export uses v128 or an exception reference.
 */
export function checkArguments(
  signature: FunctionSignature | undefined,
  name: string,
  args: unknown[],
): void {
  if (signature === undefined) return;
  // First: no count of arguments would make such a call possible.
  const unpassable = unpassableType(signature);
  if (unpassable !== undefined) {
    throw new ExportError(
      `export "${name}" (${
        describeSignature(signature)
      }) uses ${unpassable}, which JavaScript cannot pass or receive`,
    );
  }
  if (args.length !== signature.params.length) {
    const count = signature.params.length;
    throw new ExportError(
      `export "${name}" takes ${count} argument${count === 1 ? "" : "s"} (${
        describeSignature(signature)
      }), got ${args.length}${
        lonelyArray(name, args, count)
      }; give one for each parameter`,
    );
  }
}

/**
 * The hint for `call("add", [1, 2])`: `call` takes the arguments
 * themselves, and one array of as many as the export takes (two or more)
 * is most likely meant for `invoke`.
 */
function lonelyArray(name: string, args: unknown[], count: number): string {
  const only = args.length === 1 ? args[0] : undefined;
  if (count < 2 || !Array.isArray(only) || only.length !== count) return "";
  const shown = Array.from({ length: count }, (_, i) => i + 1).join(", ");
  return ` (an array of ${count}: call("${name}", ${shown}) takes the arguments themselves, invoke("${name}", [${shown}]) an array)`;
}

const I32_MIN = -(2 ** 31);
const U32_MAX = 2 ** 32 - 1;
const I64_MIN = -(1n << 63n);
const U64_MAX = (1n << 64n) - 1n;

/**
 * What a parameter of each numeric type takes. An integer type takes its
 * signed and its unsigned range (an i32 of 4294967295 is -1), and nothing
 * past them, which JavaScript's conversions would wrap or truncate
 * silently. Reference types are left to the engine, which checks them.
 */
const PARAMETER_RULES: Record<string, [(value: unknown) => boolean, string]> = {
  i32: [
    (v) =>
      typeof v === "number" && Number.isInteger(v) && v >= I32_MIN &&
      v <= U32_MAX,
    "a whole number from -2147483648 to 4294967295",
  ],
  i64: [
    (v) => typeof v === "bigint" && v >= I64_MIN && v <= U64_MAX,
    "a BigInt from -(2n ** 63n) to 2n ** 64n - 1n (e.g. 5n)",
  ],
  f32: [(v) => typeof v === "number", "a number"],
  f64: [(v) => typeof v === "number", "a number"],
};

/**
 * Checks each argument's value against its parameter's type, when the
 * signature is known: a string where an i32 goes would become 0, and an
 * i32 of 2^32 + 5 would become 5.
 *
 * @param signature The export's signature, if the guest's bytes were known.
 * @param name The export.
 * @param args The call's arguments, as many as it takes.
 * @throws {ExportError} When an argument does not fit its parameter.
 */
export function checkArgumentValues(
  signature: FunctionSignature | undefined,
  name: string,
  args: unknown[],
): void {
  if (signature === undefined) return;
  const { params } = signature;
  for (let index = 0; index < params.length; index++) {
    const rule = PARAMETER_RULES[params[index]!];
    if (rule === undefined || rule[0](args[index])) continue;
    throw new ExportError(
      `argument ${index} of export "${name}" (${
        describeSignature(signature)
      }) is ${params[index]}: expected ${rule[1]}; got ${
        describeValue(args[index])
      }`,
    );
  }
}

function describeExport(value: unknown): string {
  if (value instanceof WebAssembly.Memory) return "memory";
  if (value instanceof WebAssembly.Table) return "table";
  if (value instanceof WebAssembly.Global) return "global";
  return typeof value;
}
