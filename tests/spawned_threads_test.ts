/**
 * The compile thread and runWasi's listing thread are created by the
 * watchdog's thread, not by the JavaScript thread, whose event loop keeps
 * turning meanwhile (creating a thread holds the thread that does it until
 * the new one's runtime exists: tens of milliseconds on a quiet machine,
 * hundreds on a busy one). A stop that comes during the compile thread's
 * creation ends a process's first large stoppable load with its branded
 * error, before the start function, and the process then ends on its own.
 * A listing thread that fails ends its channel: nothing waits for it
 * forever. (`prepareStops()` settles once
 * the threads exist: tests/prepare_stops_test.ts.)
 *
 * @module
 */

import assert from "./support/assert.ts";
import { runDeno } from "./support/cli.ts";

const HANG_MS = 120_000;

async function child(kind: string): Promise<unknown> {
  const run = await runDeno(
    [
      "run",
      "--no-prompt",
      "--allow-read",
      // node:wasi, which lists directories, asks for it.
      ...(kind === "lister" ? ["--allow-write"] : []),
      "tests/support/spawned_threads_child.ts",
      kind,
    ],
    { signal: AbortSignal.timeout(HANG_MS) },
  );
  assert.equal(run.signal, null, `killed after ${HANG_MS} ms: it hung`);
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout.trim());
}

for (const [kind, what] of [["abort", "An abort"], ["stop", "A StopSignal"]]) {
  Deno.test(`${what} that comes while the compile thread is created, the event loop turning, ends the first large load with Aborted, before the start function`, async () => {
    assert.deepEqual(await child(kind), {
      caughtUpBefore: true,
      turnsWhileCreating: "some",
      ended: "Aborted",
      entered: false,
      compileThread: true,
    });
  });
}

Deno.test("runWasi's listing thread is created while the event loop turns, and when it fails its channel ends: work posted meanwhile is answered or failed, never left waiting", async () => {
  assert.deepEqual(await child("lister"), {
    turnsWhileCreating: "some",
    meanwhile: "listed or failed",
    ended: true,
  });
});
