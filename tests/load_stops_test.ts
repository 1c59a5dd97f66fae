/**
 * `loadGuest`'s `signal` and `stop` end loading wherever it waits, not only
 * in the start function: a server that sends a module's first bytes and
 * then nothing, and a named pipe no one writes to, held a load for ever.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { makeFifo } from "./support/fifo.ts";
import {
  isAborted,
  isDeadlineExceeded,
  loadGuest,
  runWasi,
  StopSignal,
} from "../mod.ts";
import { withDirectory } from "./support/temp_directory.ts";
import { stalledServer } from "./support/holding_server.ts";

/** How late a stop may land here: generous, for a loaded machine. */
const SLACK_MS = 3000;

async function rejectsInTime(
  load: Promise<unknown>,
  check: (error: unknown) => boolean,
) {
  const started = performance.now();
  await assert.rejects(load, check);
  const took = performance.now() - started;
  assert.ok(took < SLACK_MS, `the load ended ${took.toFixed(0)} ms in`);
}

for (const type of ["application/wasm", "application/octet-stream"]) {
  Deno.test(`loadGuest: an AbortSignal ends the fetch of a module that never ends (${type})`, async () => {
    const server = stalledServer(type);
    try {
      const controller = new AbortController();
      setTimeout(() => controller.abort(new Error("enough")), 50);
      await rejectsInTime(
        loadGuest(server.url, { signal: controller.signal }),
        (error) => isAborted(error) && /enough/.test(error.message),
      );
      await rejectsInTime(
        loadGuest(server.url, { signal: AbortSignal.timeout(50) }),
        isDeadlineExceeded,
      );
    } finally {
      await server.close();
    }
  });
}

Deno.test("loadGuest and runWasi: a StopSignal ends the fetch of a module that never ends", async () => {
  const server = stalledServer("application/wasm");
  try {
    const stop = new StopSignal();
    setTimeout(() => stop.stop("no more"), 50);
    await rejectsInTime(
      loadGuest(server.url, { stop }),
      (error) => isAborted(error) && /no more/.test(error.message),
    );
    // runWasi reports every ending as an outcome.
    const late = new StopSignal();
    setTimeout(() => late.stop("no more"), 50);
    const started = performance.now();
    const result = await runWasi(server.url, { stop: late });
    assert.ok(performance.now() - started < SLACK_MS);
    assert.equal(result.outcome, "aborted");
    assert.ok(
      result.outcome === "aborted" && /no more/.test(result.error.message),
    );
  } finally {
    await server.close();
  }
});

Deno.test("loadGuest: an AbortSignal ends the read of a named pipe no one writes to", async () => {
  await withDirectory(async (dir) => {
    const fifo = `${dir}/guest.wasm`;
    await makeFifo(fifo);
    const controller = new AbortController();
    setTimeout(() => controller.abort("enough"), 50);
    await rejectsInTime(
      loadGuest(fifo, { signal: controller.signal }),
      (error) => isAborted(error) && /enough/.test(error.message),
    );
    // Let the abandoned open finish, so that the test leaves nothing open.
    const writer = await Deno.open(fifo, { write: true });
    writer.close();
  });
});
