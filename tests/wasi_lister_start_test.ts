/**
 * runWasi starts its listing thread as a run starts only when a stop can
 * end that run (a timeout, an AbortSignal or a StopSignal), so that its
 * first large listing does not wait for the thread to boot; a run under
 * fuel alone leaves it to the first work that needs it, which a one-shot
 * command seldom has (its start cost flite's run 50 to 100 ms of CPU).
 */
import assert from "./support/assert.ts";
import { jsonFromChild } from "./support/json_child.ts";

const CHILD = new URL("./support/lister_start_child.ts", import.meta.url);

Deno.test("a runWasi with preopens under fuel alone does not start the listing thread; one with a timeout does", async () => {
  const verdict = await jsonFromChild(
    CHILD,
    ["--allow-read", "--allow-write"],
    ["timeout"],
  );
  assert.deepEqual(verdict, {
    fuelOnly: { outcome: "exited", lister: false },
    deadline: { outcome: "exited", lister: true },
  });
});
