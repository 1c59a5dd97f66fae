/**
 * A fresh process's first stoppable load, for
 * tests/load_first_stop_test.ts, whose stop falls as it begins (or, for
 * `imports`, as the guest's imports are built). Through the API (`mod.ts`,
 * the default), the watchdog's thread started as the API was imported;
 * through the loader's own module (`src`), the load starts it, and the stop
 * falls while it does. The guest's start function marks its entry and runs
 * away. Prints one line of JSON: how the load ended, whether the start
 * function was entered, and whether the watchdog's thread ran before the
 * load began.
 *
 * Usage: first_load_child.ts deadline|abort|stop|imports [api|src]
 */
import { assembleWat } from "../../guest/build.ts";
import type { GuestOptions } from "../../mod.ts";
import { watchdogStarted } from "../../src/watchdog/watchdog.ts";

const [kind, entry = "api"] = Deno.args;
const { isAborted, isDeadlineExceeded, loadGuest, StopSignal } = entry === "src"
  ? {
    ...await import("../../src/errors.ts"),
    ...await import("../../src/load/load_guest.ts"),
    ...await import("../../src/watchdog/stop_signal.ts"),
  }
  : await import("../../mod.ts");
const startedBeforeLoad = watchdogStarted();

const RUNAWAY_START = await assembleWat(`
(module
  (import "host" "mark" (func $mark))
  (func $start (call $mark) (loop $forever (br $forever)))
  (start $start))
`);

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
console.log(JSON.stringify({ ended, entered, startedBeforeLoad }));
