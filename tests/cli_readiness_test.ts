/**
 * The command line readies the process for stops (the watchdog's thread,
 * the load's warm-up) only when its run can be stopped by more than the
 * process's end: a WASI command run under fuel alone, whose Ctrl-C ends
 * the process, goes without them (they cost a one-shot run of flite about
 * 100 ms of CPU); `--timeout` readies them before the guest is read, and
 * any other guest once it is read, before its load. With no watchdog's
 * thread, no stop can be due, and the listing thread's work (here, the
 * truncation of a file the command writes over) is done on the spot.
 */
import assert from "./support/assert.ts";
import { jsonFromChild } from "./support/json_child.ts";

const CHILD = new URL("./support/cli_readiness_child.ts", import.meta.url);

async function child(...args: string[]): Promise<unknown> {
  return await jsonFromChild(CHILD, ["--allow-read", "--allow-write"], args);
}

Deno.test("a WASI command under fuel alone runs without the watchdog's thread, the listing thread or the load's warm-up, its disk work done on the spot; the bundled guest's call then starts the watchdog and warms the load", async () => {
  assert.deepEqual(await child(), {
    command: {
      status: 0,
      watchdog: false,
      lister: false,
      warmed: false,
      copied: true,
    },
    bundled: { status: 0, watchdog: true, lister: false, warmed: true },
  });
});

Deno.test("a WASI command with --timeout starts the watchdog's thread and warms the load before it runs", async () => {
  assert.deepEqual(await child("timeout"), {
    command: { status: 0, watchdog: true, lister: false, warmed: true },
  });
});
