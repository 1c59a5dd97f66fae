/**
 * A fresh process in which the watchdog's thread creates the compile
 * thread or runWasi's listing thread, for tests/spawned_threads_test.ts,
 * while this thread turns its event loop.
 *
 * With `abort` or `stop`, a large guest's first stoppable load has the
 * compile thread created. A loop of
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
 * With `lister`, the listing thread is asked for, and then given work it
 * fails on (disk work without its state word): it ends its channel, and
 * a listing posted meanwhile is answered or failed, never left waiting.
 * Prints whether turns came during the creation, how the listing posted
 * meanwhile ended, and whether the thread was seen to end (the next work
 * then asks for a new one).
 *
 * Usage: spawned_threads_child.ts abort|stop|lister
 */
import { loadGuest, StopSignal } from "../../mod.ts";
import { compileThreadStarted } from "../../src/load/compile_thread.ts";
import {
  threadSpawning,
  watchdogCaughtUp,
  watchdogReady,
} from "../../src/watchdog/watchdog.ts";
import {
  listerStarted,
  postToLister,
  startLister,
} from "../../src/wasi/wasi_lister.ts";
import { largeGuest } from "./large_guest.ts";

const kind = Deno.args[0];
if (kind !== "abort" && kind !== "stop" && kind !== "lister") {
  throw new Error(`expected abort, stop or lister, got ${kind}`);
}

/** Lists this directory on the listing thread: "listed", "failed", or an errno. */
async function listHere(): Promise<string> {
  const control = new Int32Array(new SharedArrayBuffer(12));
  const data = new SharedArrayBuffer(0, { maxByteLength: 1 << 20 });
  let failed = false;
  postToLister({ path: Deno.cwd(), control, data }, control, () => {
    failed = true;
    Atomics.store(control, 0, 2);
    Atomics.notify(control, 0);
  });
  // A pending wait does not keep the event loop alive: a timer does.
  const alive = setInterval(() => {}, 1 << 30);
  const waited = Atomics.waitAsync(control, 0, 0);
  if (waited.async) await waited.value;
  clearInterval(alive);
  if (failed) return "failed";
  return control[0] === 1 ? "listed" : `errno ${control[1]}`;
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

if (kind === "lister") {
  startLister();
  await new Promise((resolve) => setImmediate(resolve));
  const spawning = turnsWhileCreating > 0 ? "some" : "none";
  // Disk work without its state word: the thread's handler throws.
  postToLister({ work: "flush" });
  const meanwhile = await listHere();
  const alive = setInterval(() => {}, 1 << 30);
  while (listerStarted()) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  clearInterval(alive);
  turning = false;
  console.log(JSON.stringify({
    turnsWhileCreating: spawning,
    meanwhile: meanwhile === "listed" || meanwhile === "failed"
      ? "listed or failed"
      : meanwhile,
    ended: !listerStarted(),
  }));
  Deno.exit(0);
}

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
