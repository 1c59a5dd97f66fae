/**
 * A fresh process's first stoppable load, for
 * tests/load_first_stop_test.ts: the load starts the watchdog's thread,
 * and its stop falls while it does (or, for `imports`, as the guest's
 * imports are built). The guest's start function marks its entry and runs
 * away. Prints one line of JSON: how the load ended, and whether the start
 * function was entered.
 *
 * Usage: first_load_child.ts deadline|abort|stop|imports
 */
import { assembleWat } from "../../guest/build.ts";
import {
  type GuestOptions,
  isAborted,
  isDeadlineExceeded,
  loadGuest,
  StopSignal,
} from "../../mod.ts";

const RUNAWAY_START = await assembleWat(`
(module
  (import "host" "mark" (func $mark))
  (func $start (call $mark) (loop $forever (br $forever)))
  (start $start))
`);

const kind = Deno.args[0];
let entered = false;
const host = { mark: () => void (entered = true) };
const options: GuestOptions = { imports: { host } };
if (kind === "deadline") {
  options.signal = AbortSignal.timeout(1);
} else if (kind === "abort") {
  const controller = new AbortController();
  setTimeout(() => controller.abort("enough"), 1);
  options.signal = controller.signal;
} else if (kind === "stop") {
  const stop = new StopSignal();
  setTimeout(() => stop.stop("enough"), 1);
  options.stop = stop;
} else if (kind === "imports") {
  const stop = new StopSignal();
  options.stop = stop;
  options.imports = () => {
    stop.stop("enough");
    return { host };
  };
} else {
  throw new Error(`expected deadline, abort, stop or imports, got ${kind}`);
}

let ended: string;
try {
  await loadGuest(RUNAWAY_START, options);
  ended = "loaded";
} catch (error) {
  ended = isDeadlineExceeded(error)
    ? "DeadlineExceeded"
    : isAborted(error)
    ? "Aborted"
    : String(error);
}
console.log(JSON.stringify({ ended, entered }));
