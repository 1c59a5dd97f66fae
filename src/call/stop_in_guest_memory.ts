/**
 * Refuses a `StopSignal` whose flag lies in the memory of the guest it is
 * to stop. A StopSignal wraps any `SharedArrayBuffer` it is given, a shared
 * memory's too; but a guest writes its own memory, and one that stores 0 in
 * the flag's word clears every stop before the watchdog's thread reads it
 * (a call given such a signal ran on to its 2 s deadline), while one that
 * stores 1 stops its own calls and every other call the signal watches.
 *
 * The check is by identity: a memory's current `buffer`. A buffer taken
 * before the memory grew is another object over the same bytes, and is not
 * caught; the StopSignal's own documentation says never to wrap one.
 *
 * @module
 */

/** A memory a guest can write, and how the guest names it. */
type NamedMemory = readonly [where: string, memory: WebAssembly.Memory];

/**
 * The memories among a guest's imports, each named: listed once per guest
 * for {@linkcode checkStopOutsideGuest} at each of its calls.
 *
 * @param imports The guest's imports.
 * @returns Each memory and how the guest names it.
 */
export function importedMemories(
  imports: WebAssembly.Imports | undefined,
): NamedMemory[] {
  const found: NamedMemory[] = [];
  if (imports === undefined) return found;
  for (const [module, fields] of Object.entries(imports)) {
    if (typeof fields !== "object" || fields === null) continue;
    for (const [name, value] of Object.entries(fields)) {
      if (value instanceof WebAssembly.Memory) {
        found.push([`its import ${module}.${name}`, value]);
      }
    }
  }
  return found;
}

/** The memories each `FuelMeter`'s attached instance exports. */
const attached = new WeakMap<object, readonly NamedMemory[]>();

/**
 * Notes the memories an instance attached to a meter exports, for
 * {@linkcode attachedMemories}.
 *
 * @param meter The meter.
 * @param exports The attached instance's exports.
 */
export function noteAttachedMemories(
  meter: object,
  exports: WebAssembly.Exports,
): void {
  const found: NamedMemory[] = [];
  for (const [name, value] of Object.entries(exports)) {
    if (value instanceof WebAssembly.Memory) {
      found.push([`its export ${name}`, value]);
    }
  }
  attached.set(meter, found);
}

/**
 * The memories the instance attached to `meter` exports (none before one
 * is attached): the meter does not see the library's imports.
 *
 * @param meter The meter.
 * @returns Each memory and its export's name.
 */
export function attachedMemories(meter: object): readonly NamedMemory[] {
  return attached.get(meter) ?? [];
}

/**
 * Throws when `stop`'s buffer is a shared memory the guest imports or
 * exports.
 *
 * @param stop The StopSignal given, if any.
 * @param what Where it was given, e.g. `invoke's stop`.
 * @param guest Its label, for the message.
 * @param lists The guest's memories, each named: those its attached
 *   instance exports (see {@linkcode attachedMemories}) before those among
 *   its imports (see {@linkcode importedMemories}), since a memory the
 *   guest defines may be one the host made for it, under an import of
 *   early-exit's own, which says less.
 * @throws {TypeError} When the flag lies in the guest's memory.
 */
export function checkStopOutsideGuest(
  stop: { buffer: SharedArrayBuffer } | undefined,
  what: string,
  guest: string,
  ...lists: (readonly NamedMemory[])[]
): void {
  if (stop === undefined) return;
  for (const list of lists) {
    for (const [where, memory] of list) {
      if (memory.buffer !== stop.buffer) continue;
      throw new TypeError(
        `${what} is a StopSignal over the shared memory of ${guest} (${where}), which the guest can write: storing 0 there would clear the stop; give it a new StopSignal() and post that signal's buffer to the thread that stops`,
      );
    }
  }
}
