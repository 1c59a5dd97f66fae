/**
 * The first stop in a process ran its host-side path (the trap's
 * classification, the stop error, the outcome, the watchdog's firing) for
 * the first time, unoptimised: it came back about 1.5 ms later than later
 * stops did. So the first stoppable load stops a tiny guest of its own
 * once, by a deadline, before it returns: about a millisecond spent at
 * load, once per process, so that the first deadline a caller sets lands
 * as late as later ones do.
 *
 * @module
 */

import type { Guest } from "./guest.ts";

/** `(module (func (export "w") (loop (br 0))))` */
// deno-fmt-ignore
const SPIN = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
  0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type: () -> ()
  0x03, 0x02, 0x01, 0x00, // function 0 of type 0
  0x07, 0x05, 0x01, 0x01, 0x77, 0x00, 0x00, // export "w"
  0x0a, 0x09, 0x01, 0x07, 0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b, // loop br 0
]);

/** How long the warm-up's deadline is, in milliseconds. */
const WARM_UP_TIMEOUT_MS = 0.5;

let warmed = false;

/**
 * Stops a tiny guest once per process, by a deadline, so that the host's
 * stop path is compiled before a caller's first stop.
 *
 * @param load How a guest is loaded (the loader itself, so that this file
 * imports no loader).
 */
export async function warmStopPath(
  load: (bytes: Uint8Array) => Promise<Guest>,
): Promise<void> {
  if (warmed) return;
  warmed = true;
  const guest = await load(SPIN);
  guest.invoke("w", [], { timeout: WARM_UP_TIMEOUT_MS });
}
