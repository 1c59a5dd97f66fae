/**
 * Instantiates a guest's module with its import object, naming what went
 * wrong: a missing or unusable import, a stop or a trap in the start
 * function, or a start function that ran out of fuel.
 *
 * @module
 */

import type { CallState } from "../call/call_state.ts";
import { FuelExhausted, OutOfMemory, withoutStack } from "../errors.ts";
import { toImportError } from "./imports.ts";
import { classifyThrown } from "../call/outcome.ts";
import type { ImportDescriptor } from "../module/signatures.ts";
import { noteExports } from "../module/handed_out.ts";
import { noteInstance } from "../call/outside_call.ts";
import { countMemories } from "../module/mapped_regions.ts";

/**
 * Whether `error` is the engine's refusal of the memories of the instance
 * it makes (the system refused it address space): a RangeError in its
 * words, which no host import threw (a start function's import may throw
 * anything).
 */
function refusedMemories(error: unknown, state: CallState): boolean {
  return error instanceof RangeError &&
    !(state.thrownBy !== undefined && error === state.thrown) &&
    /^WebAssembly\.instantiate\(\): Out of memory/.test(error.message);
}

/**
 * Instantiates `module`, and attaches the guest's fuel meter to the instance.
 *
 * @param module The compiled module.
 * @param imports Its import object.
 * @param state The guest's call state, which the start function runs in.
 * @param needed The imports the module needs, to name a failing one.
 * @param label The guest's name in messages.
 * @param definedMemories How many memories the module defines (see
 *   `mapped_regions.ts`); `undefined` counts none (an isolated child, which
 *   holds one guest and has no caps).
 * @returns The instance.
 * @throws {ImportError} When an import is unusable (see `toImportError`).
 * @throws {FuelExhausted} When the start function runs out of fuel.
 * @throws {GuestLoadError} With reason `limits`, when the guests of this
 *   process would hold too many memories and calls with this one.
 * @throws {OutOfMemory} When the system refused the engine the memory or
 *   address space of the guest's memories.
 */
export async function instantiate(
  module: WebAssembly.Module,
  imports: WebAssembly.Imports,
  state: CallState,
  needed: ImportDescriptor[],
  label: string,
  definedMemories: number | undefined,
): Promise<WebAssembly.Instance> {
  const memories = definedMemories === undefined
    ? undefined
    : await countMemories(module, imports, definedMemories, label);
  let instance: WebAssembly.Instance;
  try {
    instance = await WebAssembly.instantiate(module, imports);
  } catch (error) {
    memories?.cancel();
    const stop = state.stop;
    state.stop = undefined;
    const meter = state.meter;
    if (meter?.exhausted) {
      const consumed = meter.consumed;
      meter.settle();
      throw new FuelExhausted(consumed + meter.remaining, consumed);
    }
    if (stop) throw withoutStack(stop);
    if (refusedMemories(error, state)) {
      throw new OutOfMemory(undefined, undefined, "instantiating");
    }
    throw toImportError(error, needed) ?? classifyThrown(error, state);
  }
  memories?.hold(instance);
  noteExports(instance.exports, label, imports, state.meter);
  noteInstance(instance, label, state);
  state.meter?.attach(instance);
  return instance;
}
