/**
 * Importing the API starts the watchdog's thread; `prepareStops()` starts
 * the compile thread and the listing thread ahead of the first load that
 * needs them, once per process.
 */
import assert from "./support/assert.ts";

const CHILD = new URL("./support/prepare_stops_child.ts", import.meta.url);
const ROOT = new URL("../", import.meta.url).pathname;

Deno.test("importing the API starts the watchdog's thread; prepareStops() starts the compile thread and runWasi's listing thread once, and later deadlines land", async () => {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", `--allow-read=${ROOT}`, CHILD.pathname],
    env: { NO_COLOR: "1" },
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  assert.equal(code, 0, decode(stderr));
  assert.deepEqual(JSON.parse(decode(stdout).trim()), {
    watchdogBefore: true,
    before: false,
    after: true,
    compileThread: true,
    listingThread: true,
    same: true,
    outcome: "timeout",
  });
});
