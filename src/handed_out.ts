/**
 * The function and table exports of the instances early-exit made, so that
 * one is not taken as another guest's import: a function runs that guest's
 * code, whose checks read its own stop flag and fuel counter, so the
 * importing guest's deadline, signal, stop and fuel never reach it (a 200
 * ms deadline on a guest that called another's `loop br 0` never landed,
 * and a guest with 1,000 fuel ran 500 million units of the other's work);
 * a table holds such functions, which `call_indirect` reaches.
 *
 * @module
 */

/** Which guest an export is of, and its name there. */
export interface ExportOwner {
  /** The guest's name in messages. */
  label: string;
  /** The export's name. */
  name: string;
}

const owners = new WeakMap<object, ExportOwner>();

/**
 * Notes the function and table exports of a guest's instance. A table it
 * imported and exports again is the host's (the engine hands out the same
 * object), and is not noted; a function it does so with is a fresh one.
 *
 * @param exports The instance's exports.
 * @param label The guest's name in messages.
 * @param imports The instance's import object, whose tables are left out;
 *   without it, no table is noted.
 */
export function noteExports(
  exports: WebAssembly.Exports,
  label: string,
  imports?: WebAssembly.Imports,
): void {
  let imported: Set<unknown> | undefined;
  for (const [name, value] of Object.entries(exports)) {
    if (owners.has(value as object)) continue;
    if (value instanceof WebAssembly.Table) {
      if (imports === undefined) continue;
      imported ??= new Set(
        Object.values(imports).flatMap((namespace) => Object.values(namespace)),
      );
      if (imported.has(value)) continue;
    } else if (typeof value !== "function") continue;
    owners.set(value, { label, name });
  }
}

/**
 * The guest whose export `value` is, if it is one.
 *
 * @param value An import's value.
 * @returns Its owner, or `undefined`.
 */
export function exportOwner(value: unknown): ExportOwner | undefined {
  return typeof value === "function" || value instanceof WebAssembly.Table
    ? owners.get(value)
    : undefined;
}
