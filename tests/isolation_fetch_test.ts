/**
 * An isolated call of a guest given by URL: the host fetches it, and a
 * server that never answers, or stops halfway through the body, holds
 * neither the call past its deadline or abort, nor the wait for its
 * children after it.
 */

import assert from "./support/assert.ts";
import { withGuestFifo } from "./support/fifo.ts";
import { invokeIsolated, isolatedChildrenExited } from "../mod.ts";
import {
  HANG_MS,
  holdingServer,
  REPLIES,
  settles,
} from "./support/holding_server.ts";

for (const [how, reply] of Object.entries(REPLIES)) {
  Deno.test(`isolation: a guest URL whose server ${how} ends at the deadline or abort, and leaves nothing to wait for`, async () => {
    const server = holdingServer(reply);
    try {
      const timedOut = await invokeIsolated(server.url, "spin", [], {
        timeout: 200,
      });
      assert.equal(timedOut.outcome, "timeout");
      const controller = new AbortController();
      const aborted = invokeIsolated(server.url, "spin", [], {
        signal: controller.signal,
      });
      setTimeout(() => controller.abort(), 200);
      assert.equal((await aborted).outcome, "aborted");
      assert.ok(
        await settles(isolatedChildrenExited()),
        `isolatedChildrenExited() still waits ${HANG_MS} ms after the calls ended`,
      );
    } finally {
      await server.close();
    }
  });
}

Deno.test({
  name:
    "isolation: a guest path that is a FIFO no one writes to ends at the deadline, and leaves nothing to wait for",
  ignore: Deno.build.os === "windows",
  async fn() {
    await withGuestFifo(async (fifo) => {
      const result = await invokeIsolated(fifo, "spin", [], { timeout: 200 });
      assert.equal(result.outcome, "timeout");
      assert.ok(
        await settles(isolatedChildrenExited()),
        `isolatedChildrenExited() still waits ${HANG_MS} ms after the call ended`,
      );
    });
  },
});
