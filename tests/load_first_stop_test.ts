/**
 * A fresh process's first stoppable load: importing the API started the
 * watchdog's thread before it, so no thread's creation holds the load; a
 * load through the loader's own module starts the thread itself, and a
 * stop that falls meanwhile, or while the load waits for the thread, ends
 * the load with its branded error. Either way the start function never
 * runs.
 */
import assert from "./support/assert.ts";
import { jsonFromChild } from "./support/json_child.ts";

const CHILD = new URL("./support/first_load_child.ts", import.meta.url);
const ROOT = new URL("../", import.meta.url).pathname;

async function firstLoad(
  kind: string,
  entry: "api" | "src",
): Promise<{ ended: string; entered: boolean; startedBeforeLoad: boolean }> {
  return await jsonFromChild(CHILD, [`--allow-read=${ROOT}`], [kind, entry]);
}

Deno.test("a timed-out signal that falls as the first load starts the watchdog rejects with DeadlineExceeded, and the start function never runs", async () => {
  assert.deepEqual(await firstLoad("deadline", "src"), {
    ended: "DeadlineExceeded",
    entered: false,
    startedBeforeLoad: false,
  });
});

Deno.test("importing the API starts the watchdog's thread, and an abort as the first load begins rejects with Aborted, the start function never run", async () => {
  assert.deepEqual(await firstLoad("abort", "api"), {
    ended: "Aborted",
    entered: false,
    startedBeforeLoad: true,
  });
});

Deno.test("a StopSignal set as the first load starts the watchdog rejects with Aborted, and the start function never runs", async () => {
  assert.deepEqual(await firstLoad("stop", "src"), {
    ended: "Aborted",
    entered: false,
    startedBeforeLoad: false,
  });
});

Deno.test("a StopSignal set while the first load builds the imports rejects with Aborted, and the start function never runs", async () => {
  assert.deepEqual(await firstLoad("imports", "api"), {
    ended: "Aborted",
    entered: false,
    startedBeforeLoad: true,
  });
});
