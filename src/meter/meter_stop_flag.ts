/**
 * The stop flag of a {@linkcode FuelMeter}'s guest, supplied through
 * `meter.imports` so that a library's own loader (emscripten's
 * `instantiateWasm`, wasm-bindgen's init) passes it on with the meter's
 * other import.
 *
 * A guest rewritten with a stop flag imports the memories it defined (so
 * that the flag memory can come last without renumbering them). Each
 * instance needs memories of its own, so those imports are getters that
 * create a fresh memory each time the engine reads them: one per
 * instantiation, counted with the memories of every guest of the process
 * (`mapped_regions.ts`), and refused past them with `GuestLoadError`. A
 * module that imports its memory already (QuickJS's build takes the one its
 * glue creates) keeps that import as it was.
 *
 * @module
 */

import { countedMemory } from "../module/mapped_regions.ts";
import { startWatchdog } from "../watchdog/watchdog.ts";
import type { StopFlagImports } from "../wasm/mod.ts";

/** The flag word, and the imports that give it to an instance. */
export interface MeterStopFlag {
  /** The flag word, over the shared flag memory. */
  flag: Int32Array;
  /** The flag memory itself, which an instance of the meter's exports. */
  memory: WebAssembly.Memory;
  /** The callback, the flag memory and getters for the guest's memories. */
  imports: Record<string, WebAssembly.ImportValue>;
}

/**
 * Makes the flag memory and the imports for a meter's guest.
 *
 * @param stopFlag What the rewriter says the guest imports.
 * @param onStopFlag The guest's `on_stop_flag`: 1 stops it, 0 lets it go
 *   on (a function, or one wrapped to suspend the guest).
 * @returns The flag and the imports.
 */
export function meterStopFlag(
  stopFlag: StopFlagImports,
  onStopFlag: WebAssembly.ImportValue,
): MeterStopFlag {
  // Its thread starts now, not in the first call's deadline.
  startWatchdog();
  const imports: Record<string, WebAssembly.ImportValue> = {
    [stopFlag.callback]: onStopFlag,
  };
  let flag: Int32Array | undefined;
  let memory: WebAssembly.Memory | undefined;
  for (const { name, descriptor } of stopFlag.memories) {
    const type = descriptor as WebAssembly.MemoryDescriptor;
    if (name === stopFlag.memory) {
      const shared = new WebAssembly.Memory(type);
      flag = new Int32Array(shared.buffer as SharedArrayBuffer, 0, 1);
      imports[name] = memory = shared;
    } else {
      Object.defineProperty(imports, name, {
        enumerable: true,
        // Counted with every guest's memories: a host that kept thousands
        // of instances would otherwise pass the system's maps unrefused.
        get: () => countedMemory(type, "a FuelMeter's guest"),
      });
    }
  }
  return { flag: flag!, memory: memory!, imports };
}

/** Whether {@linkcode checkAttachedFlag} lets any flag memory through. */
let foreignFlags = false;

/**
 * Refuses an instance that does not read the meter's own flag: made with
 * another meter's imports (or a flag memory of the caller's), it reads a
 * flag that no deadline or StopSignal of this meter sets, and would never
 * stop. The rewrite exports the flag memory the instance was given.
 *
 * @param exports The instance's exports.
 * @param own The flag memory's export name and the meter's flag memory;
 *   `undefined` for a meter without a flag, or bytes without the export.
 * @throws {TypeError} When the instance's flag memory is not the meter's.
 *
 * @example Usage
 * ```ts
 * import { checkAttachedFlag } from "./meter_stop_flag.ts";
 * import assert from "node:assert/strict";
 *
 * const memory = new WebAssembly.Memory({ initial: 1 });
 * const own = { export: "early-exit:stop_flag", memory };
 * checkAttachedFlag({ "early-exit:stop_flag": memory }, own);
 * assert.throws(() => checkAttachedFlag({}, own), TypeError);
 * ```
 */
export function checkAttachedFlag(
  exports: WebAssembly.Exports,
  own: { export: string; memory: WebAssembly.Memory } | undefined,
): void {
  if (own === undefined || foreignFlags) return;
  if (exports[own.export] === own.memory) return;
  throw new TypeError(
    "the instance was not made with this meter's imports, so no stop of this meter would reach it: instantiate meter.bytes with { ...imports, ...meter.imports } of the meter you attach it to",
  );
}

/**
 * Lets meters attach instances given a flag memory of their own, for the
 * tests that play a watchdog whose flag never reaches the guest; `false`
 * refuses them again.
 *
 * @param allow Whether to let them through.
 *
 * @example Usage
 * ```ts
 * import { allowForeignFlags } from "./meter_stop_flag.ts";
 *
 * allowForeignFlags(true);
 * allowForeignFlags(false);
 * ```
 */
export function allowForeignFlags(allow: boolean): void {
  foreignFlags = allow;
}
