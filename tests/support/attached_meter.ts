/** A guest rewritten by a `FuelMeter`, instantiated with its imports and attached. */

import { FuelMeter, type FuelMeterOptions } from "../../mod.ts";
import type { InstrumentOptions } from "../../src/wasm/mod.ts";

/**
 * Meters `bytes` with `options` (and `costs`), instantiates the result with
 * `host`'s imports beside the meter's, and attaches the instance.
 */
export async function attachedMeter<Export = CallableFunction>(
  bytes: Uint8Array,
  options?: FuelMeterOptions,
  costs?: InstrumentOptions,
  host: WebAssembly.Imports = {},
): Promise<{ meter: FuelMeter; exports: Record<string, Export> }> {
  const meter = new FuelMeter(bytes, options, costs);
  const { instance } = await WebAssembly.instantiate(meter.bytes, {
    ...host,
    ...meter.imports,
  });
  meter.attach(instance);
  return {
    meter,
    exports: instance.exports as Record<string, Export>,
  };
}
