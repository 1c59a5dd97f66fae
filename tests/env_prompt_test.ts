/**
 * The module's threads are `node:worker_threads` Workers, whose default copies
 * the whole environment: in a terminal, Deno then stops a program run with
 * `--allow-read` alone to ask for --allow-env. The threads read no variable,
 * so they are started with an empty one, and no permission beyond the ones the
 * README names is asked for.
 */

import assert from "./support/assert.ts";

Deno.test("starting the module's threads reads no environment", async () => {
  const child = new URL("./support/env_reads_child.ts", import.meta.url);
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", "--allow-read", child.href],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  assert.equal(code, 0, text.decode(stderr));
  assert.deepEqual(JSON.parse(text.decode(stdout)), {
    reads: 0,
    outcome: "timeout",
    piped: true,
  });
});
