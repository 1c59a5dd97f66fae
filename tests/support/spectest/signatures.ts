/**
 * The signatures of a module's exports, read from its binary, in the kinds
 * the harness works with.
 *
 * @module
 */

import {
  readSignatures,
  type ValueType,
} from "../../../src/module/signatures.ts";

/** The numeric value types: these fit in the harness's memory slots. */
export type NumericKind = "i32" | "i64" | "f32" | "f64" | "v128";

/**
 * A value type, as far as crossing into JS goes. `exnref` is apart because
 * it cannot cross at all.
 */
export type ValKind = NumericKind | "ref" | "exnref";

/** An exported function's parameter and result types. */
export interface FuncSignature {
  params: ValKind[];
  results: ValKind[];
}

/** Reference types that cannot cross into JS, by their names in signatures. */
const EXN_TYPES = new Set([
  "exnref",
  "nullexnref",
  "(ref exn)",
  "(ref null exn)",
  "(ref noexn)",
  "(ref null noexn)",
]);

function valKind(type: ValueType): ValKind {
  switch (type) {
    case "i32":
    case "i64":
    case "f32":
    case "f64":
    case "v128":
      return type;
  }
  return EXN_TYPES.has(type) ? "exnref" : "ref";
}

/**
 * The signature of every exported function.
 *
 * @param bytes A module V8 accepts.
 * @returns Export name to signature.
 * @throws {InvalidModule} On an encoding the signature reader does not know.
 */
export function exportSignatures(
  bytes: Uint8Array,
): Map<string, FuncSignature> {
  const exports = new Map<string, FuncSignature>();
  for (const [name, { params, results }] of readSignatures(bytes).exports) {
    exports.set(name, {
      params: params.map(valKind),
      results: results.map(valKind),
    });
  }
  return exports;
}
