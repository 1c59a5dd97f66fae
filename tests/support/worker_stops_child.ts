/**
 * Runs in a Deno Worker, for tests/worker_stops_test.ts: the worker's first
 * stoppable load (whose watchdog thread starts inside the worker) and a
 * deadline on a runaway start function and on a runaway export. Posts one
 * object: how each ended.
 */
import { isDeadlineExceeded, loadGuest } from "../../mod.ts";
import { assembleWat } from "../../guest/build.ts";

const runawayStart = await assembleWat(`(module
  (func $spin (loop $again (br $again)))
  (start $spin))`);
let start = "loaded";
try {
  await loadGuest(runawayStart, { timeout: 50 });
} catch (error) {
  start = isDeadlineExceeded(error) ? "DeadlineExceeded" : String(error);
}
const guest = await loadGuest(
  new URL("../../guest/runaway.wasm", import.meta.url),
  { timeout: 50 },
);
const call = guest.invoke("spin").outcome;
(self as unknown as Worker).postMessage({ start, call });
self.close();
