/**
 * The fuel rewriter: rewrites a WebAssembly module so that it counts its
 * own work against a fuel counter and calls the host when the counter runs
 * dry. The runner (`loadGuest` with `fuel`, `timeout` or `async`, and
 * `FuelMeter`) uses it; import it from here to meter a module yourself.
 *
 * @example Usage
 * ```ts
 * import { instrument } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const bytes = await Deno.readFile(new URL("../../guest/compute.wasm", import.meta.url));
 * const metered = instrument(bytes, { costs: { default: 1 } });
 * assert.ok(WebAssembly.validate(metered.bytes));
 * assert.equal(metered.importName, "out_of_fuel");
 * ```
 *
 * @module
 */

export {
  type AddedMemory,
  type AddedMemoryDescriptor,
  type CostTable,
  instrument,
  type InstrumentedModule,
  type InstrumentOptions,
  type StopFlagImports,
} from "./instrument.ts";
