/**
 * What every in-process loader makes of one guest: `loadGuest` with each
 * kind of option that takes another path through loading, `runWasi` and
 * `FuelMeter`. Tests of the limits use it to show that no loader lets
 * through what the others refuse.
 */

import { FuelMeter, loadGuest, runWasi, StopSignal } from "../../mod.ts";

/**
 * How many verdicts come from `loadGuest` and `runWasi`, which name a guest
 * given as bytes "bytes"; the last, `FuelMeter`'s, names it "the module".
 */
export const LOADER_VERDICTS_NAMING_BYTES = 9;

/**
 * The place of `runWasi`'s verdict, whose refusals do not suggest
 * `invokeIsolated` (which runs no WASI command).
 */
export const RUN_WASI_VERDICT = 8;

/**
 * Every in-process loader's verdict on `bytes`: `"loaded"`, or what it threw.
 * @param bytes The guest.
 * @returns The verdicts: eight of `loadGuest`, then `runWasi`'s, then
 *   `FuelMeter`'s.
 */
export async function inProcessVerdicts(
  bytes: Uint8Array<ArrayBuffer>,
): Promise<unknown[]> {
  const seen: unknown[] = [];
  const settle = (load: Promise<unknown>) =>
    load.then(() => "loaded", (error) => error).then((v) => seen.push(v));
  for (
    const options of [
      {},
      { stop: new StopSignal() },
      { timeout: 10_000 },
      { signal: new AbortController().signal },
      { fuel: 1e9 },
      { fuel: false as const, timeout: 10_000 },
      { async: true },
      { limits: { memory: 65_536 } },
    ]
  ) {
    await settle(loadGuest(bytes, options));
  }
  await settle(runWasi(bytes, { stop: new StopSignal() }));
  try {
    new FuelMeter(bytes);
    seen.push("loaded");
  } catch (error) {
    seen.push(error);
  }
  return seen;
}
