/**
 * `node:wasi` without its ExperimentalWarning, which Deno prints on stderr
 * each time one is made: the guest's stderr may be the host's.
 *
 * @module
 */

import process from "node:process";

/** Runs `make` without `node:wasi`'s ExperimentalWarning on stderr. */
export function quietly<T>(make: () => T): T {
  const emitWarning = process.emitWarning;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const type = typeof rest[0] === "string"
      ? rest[0]
      : (rest[0] as { type?: string } | undefined)?.type;
    if (type === "ExperimentalWarning" && String(warning).includes("WASI")) {
      return;
    }
    return Reflect.apply(emitWarning, process, [warning, ...rest]);
  }) as typeof process.emitWarning;
  try {
    return make();
  } finally {
    process.emitWarning = emitWarning;
  }
}
