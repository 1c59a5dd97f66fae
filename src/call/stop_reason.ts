/**
 * Why a metered guest was stopped, as a meter records it and a call's
 * watch reports it.
 *
 * @module
 */

/**
 * Why a metered guest was stopped: its fuel ran out (`fuel`), its deadline
 * passed (`deadline`), its `AbortSignal` aborted (`abort`), its
 * `StopSignal` was set (`stop`), or the host called
 * {@linkcode FuelMeter.stop} (`host`).
 *
 * @example Reading why a call stopped
 * ```ts
 * import { FuelMeter, type StopReason } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * const bytes = await Deno.readFile(new URL("../../guest/runaway.wasm", import.meta.url));
 * const meter = new FuelMeter(bytes);
 * const { instance } = await WebAssembly.instantiate(meter.bytes, meter.imports);
 * meter.attach(instance);
 * meter.run(instance.exports.spin as () => void, { timeout: 5 });
 * const reason: StopReason | undefined = meter.stopReason;
 * assert.equal(reason, "deadline");
 * ```
 */
export type StopReason = "fuel" | "deadline" | "abort" | "stop" | "host";
