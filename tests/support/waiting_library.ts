/**
 * A guest metered for `runAsync` whose "library" import `lib.wait` waits on
 * a promise the test settles: what a library's own async import does.
 */

import { FuelMeter } from "../../mod.ts";

const { promising, Suspending } = WebAssembly as unknown as {
  promising(fn: unknown): (...args: unknown[]) => Promise<unknown>;
  Suspending: new (fn: () => Promise<unknown>) => object;
};

/** The metered instance, its `run` export through JSPI, and the wait's key. */
export interface WaitingLibrary {
  meter: FuelMeter;
  instance: WebAssembly.Instance;
  /** The guest's `run`, called through `WebAssembly.promising`. */
  run: (...args: unknown[]) => Promise<unknown>;
  /** Settles the wait the guest is in (or the next one it starts). */
  release(): void;
  /** How many times the guest has called `lib.wait`. */
  waits(): number;
}

/**
 * Meters `bytes` (which import `lib.wait` and export `run`) with
 * `suspend: true`, and instantiates it.
 *
 * @param bytes The guest.
 * @param fuel The meter's budget; default, unlimited.
 * @returns The library.
 */
export async function waitingLibrary(
  bytes: Uint8Array,
  fuel?: number,
): Promise<WaitingLibrary> {
  const meter = new FuelMeter(bytes, { suspend: true, fuel });
  let release = () => {};
  let waits = 0;
  const wait = () => {
    waits++;
    return new Promise<void>((resolve) => (release = resolve));
  };
  const { instance } = await WebAssembly.instantiate(meter.bytes, {
    ...meter.imports,
    lib: { wait: new Suspending(wait) as WebAssembly.ImportValue },
  });
  meter.attach(instance);
  return {
    meter,
    instance,
    run: promising(instance.exports.run),
    release: () => release(),
    waits: () => waits,
  };
}
