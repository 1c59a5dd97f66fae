/**
 * The fuel-metering rewriter: {@linkcode instrument} turns a WebAssembly
 * module into one that counts its own work in an exported `i64` global and
 * calls the host (or traps) when the count runs out. See `docs/rewriter.md`
 * for where the checks go and what they cost.
 *
 * @example Metering a module
 * ```ts
 * import { instrument } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * // (module (func (export "answer") (result i32) (i32.const 42)))
 * const guest = new Uint8Array([
 *   0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60,
 *   0x00, 0x01, 0x7f, 0x03, 0x02, 0x01, 0x00, 0x07, 0x0a, 0x01, 0x06, 0x61,
 *   0x6e, 0x73, 0x77, 0x65, 0x72, 0x00, 0x00, 0x0a, 0x06, 0x01, 0x04, 0x00,
 *   0x41, 0x2a, 0x0b,
 * ]);
 * const metered = instrument(guest, { costs: { default: 2 } });
 * const { instance } = await WebAssembly.instantiate(metered.bytes, {
 *   [metered.importModule]: { [metered.importName]: () => 1n << 62n },
 * });
 * assert.equal((instance.exports.answer as () => number)(), 42);
 * ```
 *
 * @module
 */

export type { CostTable } from "./costs.ts";
export {
  instrument,
  type InstrumentedModule,
  type InstrumentOptions,
} from "./instrument.ts";
