/**
 * A guest loaded from a URL is read up to the largest module the engine
 * compiles (1 GiB), not for as long as the server sends: a server that
 * never stops would otherwise fill this process's memory (the engine's
 * streaming compile buffered 22 GiB of one endless custom section).
 *
 * @module
 */

import assert from "./support/assert.ts";
import { isGuestLoadError, loadGuest } from "../mod.ts";
import { MAX_MODULE_BYTES } from "../src/load/load.ts";

/**
 * Serves a module whose custom section never ends, up to 1.5 GiB (so that
 * a loader that reads it all still finishes); counts what it sent.
 */
function serveEndless(type: string) {
  let sent = 0;
  const chunk = new Uint8Array(1 << 20);
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => {
      sent = 0;
      let first = true;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (first) {
            first = false;
            // The preamble, then a custom section "a" of 2^32 - 1 bytes.
            controller.enqueue(
              new Uint8Array([
                ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
                ...[0x00, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x61],
              ]),
            );
          } else if (sent > 1.5 * 2 ** 30) {
            controller.close();
          } else {
            sent += chunk.length;
            controller.enqueue(chunk);
          }
        },
      });
      return new Response(body, { headers: { "content-type": type } });
    },
  );
  return {
    url: new URL(`http://127.0.0.1:${server.addr.port}/endless.wasm`),
    sent: () => sent,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

for (
  const [what, type, options] of [
    ["compiled while it streams", "application/wasm", {}],
    ["compiled after it is read", "application/octet-stream", {}],
    ["metered", "application/wasm", { fuel: 1000 }],
  ] as const
) {
  Deno.test(`a URL guest that sends more than 1 GiB is cut off there (${what})`, async () => {
    await using server = serveEndless(type);
    await assert.rejects(
      loadGuest(server.url, options),
      (error: unknown) =>
        isGuestLoadError(error) && error.reason === "fetch" &&
        /sent more than 1073741824 bytes/.test(error.message),
    );
    assert.ok(
      server.sent() < MAX_MODULE_BYTES + 64 * 2 ** 20,
      `the loader read on to ${server.sent()} bytes`,
    );
  });
}
