/**
 * `loadGuest`'s `signal` and `stop` end loading wherever it waits, not only
 * in the start function: a server that sends a module's first bytes and
 * then nothing, and a named pipe no one writes to, held a load for ever.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { withGuestFifo } from "./support/fifo.ts";
import {
  isAborted,
  isDeadlineExceeded,
  isInvalidModule,
  loadGuest,
  runWasi,
  StopSignal,
} from "../mod.ts";
import { stalledServer } from "./support/holding_server.ts";
import { runDeno } from "./support/cli.ts";

const MOD = new URL("../mod.ts", import.meta.url).href;

/** How late a stop may land here: generous, for a loaded machine. */
const SLACK_MS = 5_000;

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
  await withGuestFifo(async (fifo) => {
    const controller = new AbortController();
    setTimeout(() => controller.abort("enough"), 50);
    await rejectsInTime(
      loadGuest(fifo, { signal: controller.signal }),
      (error) => isAborted(error) && /enough/.test(error.message),
    );
    // Nothing is left open: the op sanitizer would see a pending open.
  });
});

Deno.test("loadGuest: a process whose load of a named pipe was aborted exits", async () => {
  await withGuestFifo(async (fifo, dir) => {
    const script = `${dir}/load.ts`;
    await Deno.writeTextFile(
      script,
      `import { loadGuest } from ${JSON.stringify(MOD)};
await loadGuest(${JSON.stringify(fifo)}, { signal: AbortSignal.timeout(50) })
  .catch((error) => console.log(error.name));`,
    );
    // It waited for a writer before: killed at the end of this.
    const run = await runDeno(["run", `--allow-read`, script], {
      signal: AbortSignal.timeout(60_000),
    });
    assert.equal(run.signal, null, "still running when killed");
    assert.equal(run.stdout.trim(), "DeadlineExceeded", run.stderr);
    assert.equal(run.code, 0, run.stderr);
  });
});

Deno.test("loadGuest: a named pipe written to loads with a signal, and junk from one is an InvalidModule", async () => {
  await withGuestFifo(async (fifo) => {
    const bytes = await Deno.readFile(
      new URL("../guest/compute.wasm", import.meta.url),
    );
    const writing = Deno.writeFile(fifo, bytes);
    const guest = await loadGuest(fifo, {
      signal: new AbortController().signal,
    });
    await writing;
    assert.equal(guest.invoke("fib", [10]).outcome, "returned");
    // A pipe that is not a module is an InvalidModule, as from a file.
    const junk = Deno.writeFile(fifo, new Uint8Array([1, 2, 3]));
    await assert.rejects(
      loadGuest(fifo, { signal: new AbortController().signal }),
      (error) => isInvalidModule(error),
    );
    await junk;
  });
});

Deno.test("loadGuest: a signal aborted before a load that would fail anyway leaves no unhandled rejection", async () => {
  // The read of the missing file failed after the load had given it up,
  // and its error went unhandled: the process died of it.
  for (const source of ["./no/such/guest.wasm", new Uint8Array([1, 2, 3])]) {
    await assert.rejects(
      loadGuest(source, { signal: AbortSignal.abort(new Error("before")) }),
      (error) => isAborted(error) && /before/.test(error.message),
    );
    const stop = new StopSignal();
    stop.stop("before");
    await assert.rejects(
      loadGuest(source, { stop }),
      (error) => isAborted(error) && /before/.test(error.message),
    );
  }
  // An unhandled rejection would fail the test by now.
  await new Promise((resolve) => setTimeout(resolve, 100));
});

Deno.test("loadGuest: a StopSignal set while the load builds the imports ends it, though the guest has no start function", async () => {
  // `(module (func (export "f")))`
  // deno-fmt-ignore
  const bytes = new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
    0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type: () -> ()
    0x03, 0x02, 0x01, 0x00, // function 0 of type 0
    0x07, 0x05, 0x01, 0x01, 0x66, 0x00, 0x00, // export "f"
    0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b, // empty body
  ]);
  const stop = new StopSignal();
  const error = await loadGuest(bytes, {
    stop,
    imports: () => {
      stop.stop("enough");
      return {};
    },
  }).then(() => undefined, (error: unknown) => error);
  assert.ok(isAborted(error), String(error));
  assert.match((error as Error).message, /enough/);
});
