/**
 * Instantiating modules instrumented with `stopFlag`: the memories the host
 * must create, the flag as an `Int32Array`, and an `on_stop_flag` whose
 * answers a test chooses.
 *
 * @module
 */

import {
  instrument,
  type InstrumentedModule,
} from "../../src/wasm/instrument.ts";
import type { Fn } from "./instrument.ts";

/** An instance of a module with a stop flag, and what its host made. */
export interface FlaggedInstance {
  instance: WebAssembly.Instance;
  /** The flag word. */
  flag: Int32Array;
  /** Every added memory, by field name. */
  memories: Record<string, WebAssembly.Memory>;
  /** How many times the guest called `on_stop_flag`. */
  calls: () => number;
}

/** Creates every memory the instrumented module imports. */
export function createMemories(
  metered: InstrumentedModule,
): Record<string, WebAssembly.Memory> {
  const memories: Record<string, WebAssembly.Memory> = {};
  for (const { name, descriptor } of metered.stopFlag!.memories) {
    memories[name] = new WebAssembly.Memory(
      descriptor as WebAssembly.MemoryDescriptor,
    );
  }
  return memories;
}

/**
 * The imports of an instrumented module: `imports` for the guest's own,
 * plenty of fuel, the added memories and `onStopFlag` as the callback.
 */
export function flaggedImports(
  metered: InstrumentedModule,
  memories: Record<string, WebAssembly.Memory>,
  onStopFlag: () => number,
  imports: WebAssembly.Imports = {},
): WebAssembly.Imports {
  return {
    ...imports,
    [metered.importModule]: {
      ...memories,
      // A budget no test can spend, even on a saturated run-time charge.
      [metered.importName]: () => 1n << 62n,
      [metered.stopFlag!.callback]: onStopFlag,
    },
  };
}

/**
 * The default answer: stop when the flag is set. A bulk operator also
 * asks with the flag clear, between its chunks (a poll), and goes on.
 */
export function stopWhenSet(flag: Int32Array): number {
  return Atomics.load(flag, 0) !== 0 ? 1 : 0;
}

/**
 * Instantiates an instrumented module; `onStopFlag` gets the flag word and
 * returns the callback's answer (the default stops when the flag is set).
 */
export async function instantiateFlagged(
  metered: InstrumentedModule,
  onStopFlag: (flag: Int32Array) => number = stopWhenSet,
  imports: WebAssembly.Imports = {},
): Promise<FlaggedInstance> {
  const memories = createMemories(metered);
  const flag = new Int32Array(
    memories[metered.stopFlag!.memory]!.buffer as SharedArrayBuffer,
  );
  let calls = 0;
  const { instance } = await WebAssembly.instantiate(
    metered.bytes,
    flaggedImports(metered, memories, () => {
      calls++;
      return onStopFlag(flag);
    }, imports),
  );
  return { instance, flag, memories, calls: () => calls };
}

/**
 * Instruments `bytes` with a stop flag and instantiates the result
 * ({@linkcode instantiateFlagged}), its exports as functions (`e`).
 */
export async function instantiateWithFlag(
  bytes: Uint8Array,
  onStopFlag: (flag: Int32Array) => number,
): Promise<FlaggedInstance & { e: Record<string, Fn> }> {
  const flagged = await instantiateFlagged(
    instrument(bytes, { stopFlag: true }),
    onStopFlag,
  );
  return { ...flagged, e: flagged.instance.exports as Record<string, Fn> };
}

/**
 * A metered module with its other added imports made fresh per instance,
 * as the spec and fuzz harnesses take them; `on_stop_flag` stops the
 * guest when called with the flag set, so a check that fires though the
 * flag was never set shows, and lets a bulk operator's poll (the flag
 * clear) go on. With `letGo`, the flag is set from the start and stays
 * set, and `on_stop_flag` lets the guest go on every time, counting its
 * calls in `letGo.answers`: every check of the flag then answers it.
 */
export function withAddedImports<T extends InstrumentedModule>(
  metered: T,
  letGo?: { answers: number },
): T & { addedImports: () => WebAssembly.ModuleImports } {
  return {
    ...metered,
    addedImports: () => {
      const memories = createMemories(metered);
      const flag = new Int32Array(
        memories[metered.stopFlag!.memory]!.buffer as SharedArrayBuffer,
      );
      if (letGo) flag[0] = 1;
      return {
        ...memories,
        [metered.stopFlag!.callback]: letGo
          ? () => {
            letGo.answers++;
            return 0;
          }
          : () => stopWhenSet(flag),
      };
    },
  };
}

/**
 * Instantiates an instrumented module with a stop flag when it was written
 * with one, and otherwise with a fuel import that refills whatever runs
 * out; either way, the instance and its fuel global.
 */
export async function instantiateWithFuel(
  metered: InstrumentedModule,
  stopFlag: boolean,
): Promise<{ instance: WebAssembly.Instance; fuel: WebAssembly.Global }> {
  const { instance } = stopFlag
    ? await instantiateFlagged(metered)
    : await WebAssembly.instantiate(metered.bytes, {
      [metered.importModule]: { out_of_fuel: () => 1n << 40n },
    });
  const fuel = instance.exports[metered.fuelExport] as WebAssembly.Global;
  return { instance, fuel };
}
