/**
 * The first stop in a process ran its host-side path (the trap's
 * classification, the stop error, the outcome, the watchdog's firing) for
 * the first time, unoptimised: it came back about 1.5 ms later than later
 * stops did. So the first stoppable load stops a tiny guest of its own
 * once, by a deadline, before it returns: about a millisecond spent at
 * load, once per process, so that the first deadline a caller sets lands
 * as late as later ones do.
 *
 * An async call's stops take another path (the flag's call into the host,
 * the suspension for a turn of the event loop, the rejection): run first
 * in a caller's call, it spent 2 ms more of the thread's CPU and set V8's
 * own threads compiling beside it, on two cores. A fresh process's first
 * async call (every command-line call) came back a median of 9.7 ms past
 * its 5 ms deadline on a loaded 2-core machine, 0.85 ms once the path had
 * run. So the first async load stops a tiny async guest of its own once
 * instead (the first plain load still stops a plain one).
 *
 * @module
 */

import type { Guest } from "./guest.ts";

/**
 * The warm-up's guest. Its grows' added function asks the host at every
 * 256th (a poll of the host's clock), so the warm-up also runs the flag's
 * callback into the host, which a caller's stop reaches that way (a runtime
 * call's poll, a bulk operator's chunk, a slice's end); with a bare loop,
 * the callback's first run (its parse and compile among it) fell in the
 * caller's first stop.
 *
 * ```wat
 * (module
 *   (memory 1)
 *   (func (export "w")
 *     (loop (drop (memory.grow (i32.const 0))) (br 0))))
 * ```
 */
// deno-fmt-ignore
export const STOP_PATH_WARM_UP_GUEST: Uint8Array = Uint8Array.from([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
  0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type: () -> ()
  0x03, 0x02, 0x01, 0x00, // function 0 of type 0
  0x05, 0x03, 0x01, 0x00, 0x01, // memory 1
  0x07, 0x05, 0x01, 0x01, 0x77, 0x00, 0x00, // export "w"
  0x0a, 0x0e, 0x01, 0x0c, 0x00, 0x03, 0x40, // loop
  0x41, 0x00, 0x40, 0x00, 0x1a, // drop (memory.grow (i32.const 0))
  0x0c, 0x00, 0x0b, 0x0b, // br 0, end
]);

/** How long the warm-up's deadline is, in milliseconds. */
const WARM_UP_TIMEOUT_MS = 0.5;

/** Which stop paths this process has run: a plain call's, an async call's. */
const warmed = { plain: false, async: false };

/**
 * Stops a tiny guest once per process and kind of call, by a deadline, so
 * that the host's stop path for the calls of the guest being loaded is
 * compiled before a caller's first stop: an async guest's calls take the
 * async path, any other's the plain one.
 *
 * @param load How a guest is loaded, plain or async (the loader itself, so
 * that this file imports no loader).
 * @param async Whether the load is an async guest's.
 */
export async function warmStopPath(
  load: (bytes: Uint8Array, async: boolean) => Promise<Guest>,
  async: boolean,
): Promise<void> {
  const kind = async ? "async" : "plain";
  if (warmed[kind]) return;
  warmed[kind] = true;
  const guest = await load(STOP_PATH_WARM_UP_GUEST, async);
  if (async) await guest.invokeAsync("w", [], { timeout: WARM_UP_TIMEOUT_MS });
  else guest.invoke("w", [], { timeout: WARM_UP_TIMEOUT_MS });
}

/**
 * Which stop paths have run in this process (or are running): for tests.
 *
 * @returns Whether a plain call's and an async call's have.
 */
export function stopPathsWarmed(): { plain: boolean; async: boolean } {
  return { ...warmed };
}
