/**
 * Loads a guest: reads and compiles its module, meters it when asked to,
 * builds its imports, and instantiates it.
 *
 * @module
 */

import { type CallState, requestStop } from "./call_state.ts";
import { type InterruptDetails, Interrupted } from "./errors.ts";
import { FuelMeter, HAS_JSPI } from "./fuel.ts";
import { assembleGuest, type Guest } from "./guest.ts";
import type { GuestOptions, HostControls } from "./guest_options.ts";
import { buildImports, describeImports } from "./imports.ts";
import { instantiate } from "./instantiate.ts";
import { compileBytes, type GuestSource, loadModule } from "./load.ts";
import { readSignatures } from "./signatures.ts";

/**
 * Loads, compiles and instantiates a guest.
 *
 * @param source A path, a `file:`/`http:`/`https:` URL, bytes, or a compiled module.
 * @param options The guest's imports, the interrupt import's settings, and fuel.
 * @returns The guest, ready to call.
 * @throws {GuestLoadError} When the source cannot be read or fetched.
 * @throws {InvalidModule} When the bytes are not a valid module, or cannot be metered.
 * @throws {ImportError} When the guest needs an import that is missing or of the wrong kind.
 * @throws {FuelExhausted} When a metered guest's start function runs out of fuel.
 *
 * @example Usage
 * ```ts
 * import { loadGuest } from "../mod.ts";
 * import assert from "node:assert/strict";
 *
 * const guest = await loadGuest(new URL("../guest/early_exit_guest.wasm", import.meta.url), {
 *   interrupt: { onCall: () => ({ reason: "stop here", code: 7 }) },
 * });
 * assert.throws(() => guest.call("exit_early"), /stop here/);
 * ```
 *
 * @example Metering
 * ```ts
 * import { loadGuest } from "../mod.ts";
 * import assert from "node:assert/strict";
 *
 * const guest = await loadGuest(new URL("../guest/compute.wasm", import.meta.url), { fuel: 1000 });
 * const result = guest.invoke("fib", [25]);
 * assert.equal(result.outcome, "fuel_exhausted");
 * assert.equal(result.fuel?.consumed, 1000 - (result.fuel?.remaining ?? 0));
 * guest.meter?.addFuel(10_000_000);
 * assert.equal(guest.call("fib", 20), 6765);
 * ```
 */
export async function loadGuest(
  source: GuestSource,
  options: GuestOptions = {},
): Promise<Guest> {
  const loaded = await loadModule(source);
  const { bytes } = loaded;
  const label = options.label ?? loaded.label;
  const metered = options.fuel !== undefined || options.costs !== undefined ||
    options.timeout !== undefined || options.async === true ||
    options.interruptible === true;
  if (options.async && !HAS_JSPI) {
    throw new TypeError(
      "async guests need JSPI (WebAssembly.Suspending), which Deno has from 2.4 on",
    );
  }
  const state: CallState = {
    stop: undefined,
    unwind: new Interrupted("(prepared)", { reason: "unwinding the guest" }),
    thrown: undefined,
    thrownBy: undefined,
    meter: undefined,
    poll: undefined,
    refuel: undefined,
    cancel: undefined,
  };
  let module = loaded.module;
  if (metered) {
    if (bytes === undefined) {
      throw new TypeError(
        "fuel metering rewrites the guest's bytes: pass bytes, a path or a URL rather than a compiled WebAssembly.Module",
      );
    }
    // A start function runs before the host can load the counter, so such a
    // guest must be able to ask for its fuel.
    const resumable = options.async === true ||
      options.timeout !== undefined || options.interruptible === true ||
      readSignatures(bytes).hasStart;
    state.meter = new FuelMeter(bytes, {
      fuel: options.fuel ?? Infinity,
      poll: () => state.poll?.() ?? false,
      refuel: (shortfall) =>
        state.refuel?.({ shortfall, consumed: state.meter!.consumed }) ?? 0,
      suspend: options.async,
      resumable,
    }, {
      costs: options.costs,
      // The guest's own bytes compiled already, so the rewrite is valid too;
      // compiling it below would catch a rewriter bug all the same.
      validate: false,
    });
    module = await compileBytes(state.meter.bytes, label);
  }
  const host: HostControls = {
    interrupt(importName: string, details?: InterruptDetails): never {
      return requestStop(state, () => new Interrupted(importName, details));
    },
  };
  const supplied = typeof options.imports === "function"
    ? options.imports(host)
    : options.imports ?? {};
  const needed = describeImports(loaded.module, bytes);
  const imports = {
    ...buildImports(needed, supplied, options.interrupt ?? {}, state, {
      async: options.async ?? false,
      asyncImports: options.asyncImports ?? [],
    }),
    ...state.meter?.imports,
  };
  const instance = await instantiate(module, imports, state, needed);
  const signatures = bytes === undefined
    ? new Map()
    : readSignatures(bytes).exports;
  return assembleGuest({
    module,
    label,
    instance,
    imports,
    signatures,
    state,
    needed,
    options,
  });
}
