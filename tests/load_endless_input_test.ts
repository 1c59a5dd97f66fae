/**
 * A guest source that never ends and is not wasm at all (`/dev/zero`, a
 * writer that keeps writing to a FIFO, a server that keeps sending a page)
 * is refused at its first bytes, not read on to the 1 GiB cap: that took
 * a gigabyte of memory and many seconds for a one-line refusal.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { isInvalidModule, loadGuest } from "../mod.ts";
import { runMain } from "./support/cli.ts";
import { withGuestFifo } from "./support/fifo.ts";

/** At most this much may be read before the refusal. */
const READ_BOUND = 64 * 2 ** 20;

Deno.test("main.ts refuses /dev/zero and /dev/urandom at their first bytes, in one line with status 2", async () => {
  for (const device of ["/dev/zero", "/dev/urandom"]) {
    const run = await runMain(["--allow-read"], [device]);
    assert.equal(run.code, 2, run.stderr);
    const lines = run.stderr.trimEnd().split("\n");
    assert.equal(lines.length, 1, run.stderr);
    assert.match(
      lines[0],
      new RegExp(
        `^error: ${device} is not a WebAssembly module: it does not start with \\\\0asm`,
      ),
    );
  }
});

/** Serves `byte` for ever (up to 1.5 GiB), counting what it sent. */
function serveEndless(type: string, byte: number) {
  let sent = 0;
  const chunk = new Uint8Array(1 << 20).fill(byte);
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => {
      sent = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent > 1.5 * 2 ** 30) return controller.close();
          sent += chunk.length;
          controller.enqueue(chunk);
        },
      });
      return new Response(body, { headers: { "content-type": type } });
    },
  );
  return {
    url: new URL(`http://127.0.0.1:${server.addr.port}/page`),
    sent: () => sent,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

for (const type of ["text/html", "application/wasm"]) {
  for (const options of [{}, { fuel: 1000 }]) {
    Deno.test(`a URL that sends a page for ever is refused at its first bytes (${type}, ${JSON.stringify(options)})`, async () => {
      await using server = serveEndless(type, 0x3c);
      await assert.rejects(
        loadGuest(server.url, options),
        (error: unknown) =>
          isInvalidModule(error) &&
          /does not start with \\0asm/.test(error.message),
      );
      assert.ok(
        server.sent() < READ_BOUND,
        `the loader read on to ${server.sent()} bytes`,
      );
    });
  }
}

Deno.test("a FIFO whose writer keeps writing something else is refused at its first bytes", () =>
  withGuestFifo(async (fifo) => {
    let written = 0;
    const writer = (async () => {
      const file = await Deno.open(fifo, { write: true });
      const chunk = new TextEncoder().encode("y\n".repeat(32768));
      try {
        // Until the reader goes away: a broken pipe.
        while (written < 1.5 * 2 ** 30) written += await file.write(chunk);
      } catch {
        // The reader closed its end.
      } finally {
        file.close();
      }
    })();
    // A signal sends the read to its own thread, as a load that can be stopped.
    await assert.rejects(
      loadGuest(fifo, { signal: new AbortController().signal }),
      (error: unknown) =>
        isInvalidModule(error) &&
        /does not start with \\0asm/.test(error.message),
    );
    await writer;
    assert.ok(written < READ_BOUND, `the loader read on to ${written} bytes`);
  }));
