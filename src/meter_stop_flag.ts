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
 * instantiation. A module that imports its memory already (QuickJS's build
 * takes the one its glue creates) keeps that import as it was.
 *
 * @module
 */

import { startWatchdog } from "./watchdog.ts";
import type { StopFlagImports } from "./wasm/mod.ts";

/** The flag word, and the imports that give it to an instance. */
export interface MeterStopFlag {
  /** The flag word, over the shared flag memory. */
  flag: Int32Array;
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
  for (const { name, descriptor } of stopFlag.memories) {
    const type = descriptor as WebAssembly.MemoryDescriptor;
    if (name === stopFlag.memory) {
      const shared = new WebAssembly.Memory(type);
      flag = new Int32Array(shared.buffer as SharedArrayBuffer, 0, 1);
      imports[name] = shared;
    } else {
      Object.defineProperty(imports, name, {
        enumerable: true,
        get: () => new WebAssembly.Memory(type),
      });
    }
  }
  return { flag: flag!, imports };
}
