/**
 * A fresh process whose first large stoppable load has the compile thread
 * created, for tests/compile_thread_spawn_test.ts: the watchdog's thread
 * creates it, and this thread turns its event loop meanwhile. A loop of
 * `setImmediate` counts the turns that come while it is being created (the
 * watchdog's thread has not yet taken in the message that asks for it,
 * which it does once the thread exists), and the first of them aborts the
 * load's signal (`abort`) or sets its StopSignal (`stop`).
 *
 * Prints one line of JSON: whether the watchdog's thread was caught up
 * before the load (and no thread asked for), whether any turns came during
 * the creation, how the load ended, whether the guest's start function
 * ran, and whether the compile thread runs. The process then ends on its
 * own: neither thread keeps it alive.
 *
 * Usage: compile_spawn_child.ts abort|stop
 */
import { loadGuest, StopSignal } from "../../mod.ts";
import { compileThreadStarted } from "../../src/compile_thread.ts";
import {
  threadSpawning,
  watchdogCaughtUp,
  watchdogReady,
} from "../../src/watchdog.ts";
import { largeGuest } from "./large_guest.ts";

const kind = Deno.args[0];
if (kind !== "abort" && kind !== "stop") {
  throw new Error(`expected abort or stop, got ${kind}`);
}

await watchdogReady(60_000);
const caughtUpBefore = watchdogCaughtUp() && !compileThreadStarted() &&
  !threadSpawning();

const controller = new AbortController();
const stop = new StopSignal();
let turnsWhileCreating = 0;
let turning = true;
const turn = () => {
  if (!turning) return;
  if (threadSpawning() && turnsWhileCreating++ === 0) {
    if (kind === "abort") controller.abort("enough");
    else stop.stop("enough");
  }
  setImmediate(turn);
};
setImmediate(turn);

let entered = false;
let ended = "loaded";
try {
  await loadGuest(largeGuest(), {
    fuel: 1e9,
    imports: { host: { started: () => void (entered = true) } },
    ...(kind === "abort" ? { signal: controller.signal } : { stop }),
  });
} catch (error) {
  ended = (error as Error).name;
}
turning = false;
console.log(JSON.stringify({
  caughtUpBefore,
  turnsWhileCreating: turnsWhileCreating > 0 ? "some" : "none",
  ended,
  entered,
  compileThread: compileThreadStarted(),
}));
