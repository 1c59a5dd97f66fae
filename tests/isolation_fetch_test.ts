/**
 * An isolated call of a guest given by URL: the host fetches it, and a
 * server that never answers, or stops halfway through the body, holds
 * neither the call past its deadline or abort, nor the wait for its
 * children after it.
 */

import assert from "./support/assert.ts";
import { invokeIsolated, isolatedChildrenExited } from "../mod.ts";

/** How long a wait that should end at once may take, on a busy machine. */
const HANG_MS = 20_000;

/**
 * A server on 127.0.0.1 that accepts connections and holds them, writing
 * `reply` (if any) first and then nothing more.
 */
function holdingServer(reply?: string) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    try {
      for await (const connection of listener) {
        held.push(connection);
        if (reply !== undefined) {
          await connection.write(new TextEncoder().encode(reply)).catch(
            () => {},
          );
        }
      }
    } catch {
      // Closed.
    }
  })();
  const { port } = listener.addr as Deno.NetAddr;
  return {
    url: `http://127.0.0.1:${port}/guest.wasm`,
    async close() {
      listener.close();
      for (const connection of held) connection.close();
      await accepting;
    },
  };
}

/** Whether `promise` settles within {@linkcode HANG_MS}. */
async function settles(promise: Promise<unknown>): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), HANG_MS);
  });
  try {
    return await Promise.race([promise.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

const REPLIES = {
  "never answers": undefined,
  "stops halfway through the body":
    "HTTP/1.1 200 OK\r\ncontent-type: application/wasm\r\ncontent-length: 1000\r\n\r\n\0asm",
};

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
