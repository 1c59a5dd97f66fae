/**
 * The function and table exports of the instances early-exit made, so that
 * one is not taken as another guest's import: a function runs that guest's
 * code, whose checks read its own stop flag and fuel counter, so the
 * importing guest's deadline, signal, stop and fuel never reach it (a 200
 * ms deadline on a guest that called another's `loop br 0` never landed,
 * and a guest with 1,000 fuel ran 500 million units of the other's work);
 * a table holds such functions, which `call_indirect` reaches.
 *
 * The globals the rewriter added to a guest's exports (its fuel counter,
 * its zone count, its stack pointer) are noted too: another guest that
 * imported the counter could set it to 2^62 and run unmetered, or the zone
 * count, and put every stop off.
 *
 * @module
 */

/** Which guest an export is of, and its name there. */
export interface ExportOwner {
  /** The guest's name in messages. */
  label: string;
  /** The export's name. */
  name: string;
  /**
   * What early-exit added it as, if it did: a global of the guest's (its
   * fuel counter, zone count, stack pointer), or an import the meter gives
   * it (`out_of_fuel`, `on_stop_flag`, the stop flag's memory).
   */
  added?: "global" | "import";
}

const owners = new WeakMap<object, ExportOwner>();

/** The names of the globals the rewriter added to a meter's module. */
const addedGlobals = new WeakMap<object, readonly string[]>();

/**
 * Notes the export names of the globals the rewriter added to the module a
 * meter meters, so that {@linkcode noteExports} notes them in each instance.
 *
 * @param meter The meter.
 * @param names The fuel counter's export, and the zone count's and stack
 *   pointer's when there are.
 */
export function noteAddedGlobals(
  meter: object,
  names: readonly (string | undefined)[],
): void {
  addedGlobals.set(
    meter,
    names.filter((name): name is string => name !== undefined),
  );
}

/**
 * Notes the function and table exports of a guest's instance. A table it
 * imported and exports again is the host's (the engine hands out the same
 * object), and is not noted; a function it does so with is a fresh one.
 *
 * @param exports The instance's exports.
 * @param label The guest's name in messages.
 * @param imports The instance's import object, whose tables are left out;
 *   without it, no table is noted.
 * @param meter The meter of a metered instance, whose added globals (see
 *   {@linkcode noteAddedGlobals}) are noted, but for one the instance
 *   imported (the host's, exported again).
 */
export function noteExports(
  exports: WebAssembly.Exports,
  label: string,
  imports?: WebAssembly.Imports,
  meter?: object,
): void {
  let imported: Set<unknown> | undefined;
  const importedValues = () =>
    imported ??= new Set(
      Object.values(imports ?? {}).flatMap((namespace) =>
        Object.values(namespace)
      ),
    );
  for (const [name, value] of Object.entries(exports)) {
    if (owners.has(value as object)) continue;
    if (value instanceof WebAssembly.Table) {
      if (imports === undefined) continue;
      if (importedValues().has(value)) continue;
    } else if (typeof value !== "function") continue;
    owners.set(value, { label, name });
  }
  for (const name of (meter && addedGlobals.get(meter)) ?? []) {
    const value = Object.hasOwn(exports, name) ? exports[name] : undefined;
    if (!(value instanceof WebAssembly.Global) || owners.has(value)) continue;
    if (importedValues().has(value)) continue;
    owners.set(value, { label, name, added: "global" });
  }
}

/**
 * Notes the imports a meter gives its guest: its functions, which move the
 * meter's books (another guest that called `out_of_fuel` drained a budget of
 * 10,000 while the metered guest ran nothing), and the stop flag's memory.
 * A memory behind a getter is a fresh one each time, the guest's own.
 *
 * @param namespace The meter's import module.
 * @param label Whose they are, in messages.
 */
export function noteAddedImports(namespace: object, label: string): void {
  for (
    const [name, descriptor] of Object.entries(
      Object.getOwnPropertyDescriptors(namespace),
    )
  ) {
    const value: unknown = descriptor.value;
    if (typeof value === "function" || value instanceof WebAssembly.Memory) {
      owners.set(value, { label, name, added: "import" });
    }
  }
}

/** The globals handed to guests as imports, and the first guest of each. */
const importers = new WeakMap<object, string>();

/**
 * Notes that a guest imports a global, so that an instance attached to a
 * meter later, whose added global it is, is refused.
 *
 * @param value The global.
 * @param label The importing guest's name in messages.
 */
export function noteImportedGlobal(value: unknown, label: string): void {
  if (value instanceof WebAssembly.Global && !importers.has(value)) {
    importers.set(value, label);
  }
}

/**
 * Which of `names`, the globals the rewriter added to a meter's module,
 * `exports` holds as a global some guest already imports, and that guest.
 *
 * @param exports An instance's exports.
 * @param names The added globals' export names.
 * @returns The first such global's name and its importer, or `undefined`.
 */
export function importedAddedGlobal(
  exports: WebAssembly.Exports,
  names: readonly (string | undefined)[],
): { name: string; importer: string } | undefined {
  for (const name of names) {
    if (name === undefined || !Object.hasOwn(exports, name)) continue;
    const importer = importers.get(exports[name] as object);
    if (importer !== undefined) return { name, importer };
  }
  return undefined;
}

/**
 * The guest whose export `value` is, if it is one.
 *
 * @param value An import's value.
 * @returns Its owner, or `undefined`.
 */
export function exportOwner(value: unknown): ExportOwner | undefined {
  return typeof value === "function" || value instanceof WebAssembly.Table ||
      value instanceof WebAssembly.Global || value instanceof WebAssembly.Memory
    ? owners.get(value)
    : undefined;
}
