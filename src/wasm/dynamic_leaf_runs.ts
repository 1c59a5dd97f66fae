/**
 * Deadline-only (a stop flag, no fuel): per function type, the most code a
 * call through a table or reference of that type may run in a function
 * that lost its entry check (see `entry_checks.ts`).
 *
 * @module
 */

import type { FunctionSignature, ModuleInfo } from "./module.ts";

/** The value types of the function types that only match themselves. */
const PLAIN_VALUE_TYPES = new Set([
  "i32",
  "i64",
  "f32",
  "f64",
  "v128",
  "funcref",
  "externref",
]);

/**
 * Per type index, the most code a call through a table or reference of
 * that type may run in a function without an entry check: the largest
 * `runs(index)` over the functions a table, a reference or the host can
 * call (`runs` gives 0 for one that keeps its check). When every type of
 * the module is a function type outside any recursion group, without
 * `sub`, and of numeric, vector, `funcref` and `externref` values only, a
 * call of a type can reach only functions of an identical type; otherwise
 * (subtyping, or types equal through recursion groups) every call counts
 * the largest of all.
 */
export function dynamicLeafRuns(
  info: ModuleInfo,
  runs: (index: number) => number,
): Int32Array {
  const types = info.typeCount;
  const signatures = info.typeSignatures;
  const offsets = info.typeOffsets;
  let plain = true;
  for (let t = 0; t < types && plain; t++) {
    const signature = signatures[t];
    plain = offsets[t]! >= 0 && signature !== undefined &&
      signature.params.every((v) => PLAIN_VALUE_TYPES.has(v)) &&
      signature.results.every((v) => PLAIN_VALUE_TYPES.has(v));
  }
  // Identical function types share one signature object.
  const bySignature = new Map<FunctionSignature | undefined, number>();
  let most = 0;
  for (const index of info.hostCallable) {
    const bytes = runs(index);
    if (bytes === 0) continue;
    if (bytes > most) most = bytes;
    const signature = signatures[info.functionTypes[index]!];
    if (bytes > (bySignature.get(signature) ?? 0)) {
      bySignature.set(signature, bytes);
    }
  }
  const result = new Int32Array(types);
  for (let t = 0; t < types; t++) {
    result[t] = plain ? bySignature.get(signatures[t]) ?? 0 : most;
  }
  return result;
}
