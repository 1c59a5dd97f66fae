/**
 * Instantiates a guest's module with its import object, naming what went
 * wrong: a missing or unusable import, a stop or a trap in the start
 * function, or a start function that ran out of fuel.
 *
 * @module
 */

import type { CallState } from "./call_state.ts";
import { FuelExhausted, ImportError, withoutStack } from "./errors.ts";
import { toImportError } from "./imports.ts";
import { classifyThrown } from "./outcome.ts";
import type { ImportDescriptor } from "./signatures.ts";

/**
 * Instantiates `module`, and attaches the guest's fuel meter to the instance.
 *
 * @param module The compiled module.
 * @param imports Its import object.
 * @param state The guest's call state, which the start function runs in.
 * @param needed The imports the module needs, to name a failing one.
 * @returns The instance.
 * @throws {ImportError} When an import is unusable.
 * @throws {FuelExhausted} When the start function runs out of fuel.
 */
export async function instantiate(
  module: WebAssembly.Module,
  imports: WebAssembly.Imports,
  state: CallState,
  needed: ImportDescriptor[],
): Promise<WebAssembly.Instance> {
  let instance: WebAssembly.Instance;
  if (state.suspend) state.suspend.value = 0;
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
      : toImportError(error, needed) ?? suspendedInStart(error, state) ??
        classifyThrown(error, state);
  } finally {
    if (state.suspend) state.suspend.value = 1;
  }
  state.meter?.attach(instance);
  return instance;
}

/**
 * The start function runs during instantiation, outside any promising call,
 * where V8 refuses to call an async import at all: it throws a
 * `SuspendError` before the import runs, so the error cannot tell which
 * async import it was.
 */
function suspendedInStart(
  error: unknown,
  state: CallState,
): ImportError | undefined {
  const SuspendError = (WebAssembly as { SuspendError?: ErrorConstructor })
    .SuspendError;
  if (SuspendError === undefined || !(error instanceof SuspendError)) {
    return undefined;
  }
  const names = state.asyncImports;
  const which = names.length === 1 ? names[0] : `one of ${names.join(", ")}`;
  return new ImportError(
    which,
    "a synchronous function",
    "async, and was called by the start function, which runs while the guest loads, before it can suspend",
  );
}
