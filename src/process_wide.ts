/**
 * Counts that must be the process's, not one copy's. A process can hold
 * several copies of early-exit (one imported by `file:` URL and one by
 * `http:` URL, or two versions from a registry), and each copy's modules
 * have their own top-level state. The caps that protect the process (the
 * memory maps its guests hold, the descriptors its WASI guests hold, the
 * isolated children it runs) bound what every copy holds together only if
 * every copy counts into the same place: two copies each within a cap of
 * 16,384 maps would take 65,536 of the 65,530 Linux gives a process, and
 * the engine would end it.
 *
 * So each such count lives in an object kept on `globalThis` under a
 * registry symbol (`Symbol.for`, as the errors' brand is), which every copy
 * finds. The key names the object's shape and its version: a copy whose
 * shape differs uses another key, and so a count of its own, rather than
 * misread another's.
 *
 * @module
 */

/**
 * The object every copy of early-exit in this process shares under `name`,
 * made by `make` by the first copy that asks.
 *
 * @param name The count's name and shape version, as `mapped-regions@1`.
 * @param make Makes the object, when no copy has yet.
 * @param fits Whether a value found under the key is such an object: one
 *   that is not (put there by something else) is left alone, and this copy
 *   keeps its own.
 * @returns The shared object.
 *
 * @example Usage
 * ```ts
 * import { processWide } from "./process_wide.ts";
 * import assert from "node:assert/strict";
 *
 * const isCount = (value: unknown): value is { held: number } =>
 *   typeof (value as { held?: unknown })?.held === "number";
 * const a = processWide("example-count@1", () => ({ held: 0 }), isCount);
 * const b = processWide("example-count@1", () => ({ held: 0 }), isCount);
 * a.held++;
 * assert.equal(b.held, 1); // the same object, as a second copy would find
 * ```
 */
export function processWide<T extends object>(
  name: string,
  make: () => T,
  fits: (value: unknown) => value is T,
): T {
  const key = Symbol.for(`early-exit.process-wide.${name}`);
  const found = Reflect.get(globalThis, key);
  if (fits(found)) return found;
  const made = make();
  if (found === undefined) {
    // Not enumerable, and fixed: nothing that walks or assigns the global
    // object's properties replaces it.
    Reflect.defineProperty(globalThis, key, { value: made });
  }
  return made;
}
