/**
 * A guard against a test that would spin forever: a Worker that sets a
 * flag after a long delay, without the watchdog's help, so that a broken
 * watchdog fails its test instead of hanging it.
 */
import { StopSignal } from "../../mod.ts";
import { GUARD_MS } from "./guarded.ts";

/**
 * Starts a Worker that sets `flag[0]` after {@linkcode GUARD_MS}.
 *
 * @param flag The flag, element 0 of an `Int32Array` over shared memory.
 * @returns Dispose it to end the guard.
 */
export async function guardFlag(flag: Int32Array): Promise<Disposable> {
  const worker = new Worker(new URL("./stopper.ts", import.meta.url), {
    type: "module",
  });
  await new Promise((resolve) => (worker.onmessage = resolve));
  const signal = new StopSignal(flag.buffer as SharedArrayBuffer);
  worker.postMessage({ buffer: signal.buffer, after: GUARD_MS });
  return { [Symbol.dispose]: () => worker.terminate() };
}
