/**
 * A WASI command given by URL, on a server that never answers or stops
 * halfway through the body: an abort ends the run while it is fetched,
 * and the command line's `--timeout` ends the fetch (a FIFO's read:
 * `cli_deadline_test.ts`).
 */

import assert from "./support/assert.ts";
import { isAborted, runWasi } from "../mod.ts";
import { runDeno } from "./support/cli.ts";
import {
  HANG_MS,
  holdingServer,
  REPLIES,
  settles,
} from "./support/holding_server.ts";

for (const [how, reply] of Object.entries(REPLIES)) {
  Deno.test(`runWasi: an abort ends the run of a command whose server ${how}`, async () => {
    const server = holdingServer(reply);
    try {
      const controller = new AbortController();
      const run = runWasi(server.url, { signal: controller.signal });
      const timer = setTimeout(() => controller.abort("enough"), 200);
      try {
        assert.ok(
          await settles(run),
          `the run still waits ${HANG_MS} ms after the abort`,
        );
      } finally {
        clearTimeout(timer);
      }
      const result = await run;
      assert.equal(result.outcome, "aborted");
      if (result.outcome === "aborted") {
        assert.ok(isAborted(result.error));
        assert.equal(result.error.cause, "enough");
      }
    } finally {
      await server.close();
    }
  });
}

Deno.test("main.ts --timeout ends the fetch of a guest URL that never arrives: a timeout while reading the guest", async () => {
  for (const reply of Object.values(REPLIES)) {
    const server = holdingServer(reply);
    try {
      const run = await runDeno([
        "run",
        "--no-prompt",
        "--allow-net=127.0.0.1",
        "main.ts",
        "--timeout",
        "300",
        "--expect=timeout",
        server.url,
      ], { signal: AbortSignal.timeout(HANG_MS) });
      assert.equal(run.signal, null, "still fetching when killed");
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stderr, "");
      assert.match(
        run.stdout,
        /^Error from exit_early: guest stopped at its deadline: 300 ms allowed, stopped after [\d.]+ ms, while reading the guest\nSuccess!\n$/,
      );
    } finally {
      await server.close();
    }
  }
});

Deno.test("runWasi: an abort while the command is fetched names _start, not (start): no start function has run", async () => {
  const server = holdingServer(REPLIES["never answers"]);
  try {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), 200);
    const result = await runWasi(server.url, { signal: controller.signal });
    clearTimeout(timer);
    assert.equal(result.outcome, "aborted");
    assert.equal(result.export, "_start");
  } finally {
    await server.close();
  }
});
