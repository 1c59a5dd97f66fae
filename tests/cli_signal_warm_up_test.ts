/**
 * Before a `--timeout` run's deadline starts, the command line readies
 * Deno's signal handling by listening for SIGHUP and letting it go, so that
 * the run's own listeners, added once the guest is read, cost little inside
 * the deadline. Let go, SIGHUP keeps its default: it still ends a process
 * that does not listen for it.
 *
 * @module
 */

import assert from "./support/assert.ts";

const WASI_CLI = new URL("../src/cli/wasi_cli.ts", import.meta.url).href;

Deno.test("after the signal warm-up, SIGHUP still ends a process that does not listen for it", async () => {
  const { code, signal, stdout } = await new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `import { warmStopListeners } from ${JSON.stringify(WASI_CLI)};
      warmStopListeners();
      setTimeout(() => console.log("SIGHUP ignored"), 5_000);
      Deno.kill(Deno.pid, "SIGHUP");`,
    ],
    stdout: "piped",
    stderr: "null",
  }).output();
  assert.equal(new TextDecoder().decode(stdout), "");
  assert.equal(signal, "SIGHUP");
  assert.equal(code, 129);
});
