/**
 * The function exports of the instances early-exit made, so that one is
 * not taken as another guest's import: it runs that guest's code, whose
 * checks read its own stop flag and fuel counter, so the importing guest's
 * deadline, signal, stop and fuel never reach it (a 200 ms deadline on a
 * guest that called another's `loop br 0` never landed, and a guest with
 * 1,000 fuel ran 500 million units of the other's work).
 *
 * @module
 */

/** Which guest a function export is of, and its name there. */
export interface ExportOwner {
  /** The guest's name in messages. */
  label: string;
  /** The export's name. */
  name: string;
}

const owners = new WeakMap<object, ExportOwner>();

/**
 * Notes the function exports of a guest's instance.
 *
 * @param exports The instance's exports.
 * @param label The guest's name in messages.
 */
export function noteExports(
  exports: WebAssembly.Exports,
  label: string,
): void {
  for (const [name, value] of Object.entries(exports)) {
    if (typeof value === "function" && !owners.has(value)) {
      owners.set(value, { label, name });
    }
  }
}

/**
 * The guest whose export `value` is, if it is one.
 *
 * @param value An import's value.
 * @returns Its owner, or `undefined`.
 */
export function exportOwner(value: unknown): ExportOwner | undefined {
  return typeof value === "function" ? owners.get(value) : undefined;
}
