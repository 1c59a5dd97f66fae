/**
 * Instantiates a guest's module with its import object, naming what went
 * wrong: a missing or unusable import, a stop or a trap in the start
 * function, or a start function that ran out of fuel.
 *
 * @module
 */

import type { CallState } from "../call/call_state.ts";
import { FuelExhausted, withoutStack } from "../errors.ts";
import { toImportError } from "./imports.ts";
import { classifyThrown } from "../call/outcome.ts";
import type { ImportDescriptor } from "../module/signatures.ts";
import { noteExports } from "../module/handed_out.ts";
import { noteInstance } from "../call/outside_call.ts";

/**
 * Instantiates `module`, and attaches the guest's fuel meter to the instance.
 *
 * @param module The compiled module.
 * @param imports Its import object.
 * @param state The guest's call state, which the start function runs in.
 * @param needed The imports the module needs, to name a failing one.
 * @param label The guest's name in messages.
 * @returns The instance.
 * @throws {ImportError} When an import is unusable (see `toImportError`).
 * @throws {FuelExhausted} When the start function runs out of fuel.
 */
export async function instantiate(
  module: WebAssembly.Module,
  imports: WebAssembly.Imports,
  state: CallState,
  needed: ImportDescriptor[],
  label: string,
): Promise<WebAssembly.Instance> {
  let instance: WebAssembly.Instance;
  try {
    instance = await WebAssembly.instantiate(module, imports);
  } catch (error) {
    const stop = state.stop;
    state.stop = undefined;
    const meter = state.meter;
    if (meter?.exhausted) {
      const consumed = meter.consumed;
      meter.settle();
      throw new FuelExhausted(consumed + meter.remaining, consumed);
    }
    throw stop
      ? withoutStack(stop)
      : toImportError(error, needed) ?? classifyThrown(error, state);
  }
  noteExports(instance.exports, label, imports, state.meter);
  noteInstance(instance, label, state);
  state.meter?.attach(instance);
  return instance;
}
