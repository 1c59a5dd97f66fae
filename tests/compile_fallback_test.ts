/**
 * When no compile thread can start, a stoppable load of a large guest
 * compiles its rewrite on the main thread, streamed a chunk at a time
 * (`compileBytes` in `src/load/load.ts`): the guest still loads and runs, and a
 * stop that comes during that compile still ends the load, before the
 * start function.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { largeGuest } from "./support/large_guest.ts";
import { isAborted, loadGuest, StopSignal } from "../mod.ts";
import { refuseCompileThread } from "../src/load/compile_thread.ts";
import { STREAM_CHUNK } from "../src/load/load.ts";

const guest = largeGuest();

/**
 * Runs `body` with compiles kept off the compile thread, calling `onStream`
 * as each streamed compile on this thread begins (its `Response` is made).
 */
async function withoutThread(
  onStream: () => void,
  body: () => Promise<void>,
): Promise<number> {
  let streamed = 0;
  const Original = globalThis.Response;
  globalThis.Response = class extends Original {
    constructor(body?: BodyInit | null, init?: ResponseInit) {
      super(body, init);
      if (
        new Headers(init?.headers).get("content-type") === "application/wasm"
      ) {
        streamed++;
        onStream();
      }
    }
  };
  refuseCompileThread(true);
  try {
    await body();
  } finally {
    refuseCompileThread(false);
    globalThis.Response = Original;
  }
  return streamed;
}

Deno.test("without the compile thread, a stoppable load of a large guest compiles on the main thread and runs", async () => {
  let started = 0;
  const streamed = await withoutThread(() => {}, async () => {
    const loaded = await loadGuest(guest, {
      fuel: 1e9,
      imports: { host: { started: () => void started++ } },
      signal: new AbortController().signal,
    });
    assert.ok(loaded.meter!.bytes.length > STREAM_CHUNK);
    assert.equal(loaded.call("answer"), 42);
    // Instantiation wrote the data segment the rewrite carried.
    const memory = loaded.instance.exports.memory as WebAssembly.Memory;
    assert.equal(new Uint8Array(memory.buffer)[STREAM_CHUNK], 7);
  });
  assert.equal(streamed, 1, "the compile was not streamed on this thread");
  assert.equal(started, 1);
});

for (const kind of ["an abort", "a StopSignal"] as const) {
  Deno.test(`without the compile thread, ${kind} that comes as the main thread's compile begins ends the load before the start function`, async () => {
    let started = 0;
    const controller = new AbortController();
    const stop = new StopSignal();
    const streamed = await withoutThread(() => {
      if (kind === "an abort") {
        controller.abort(new Error("during the compile"));
      } else stop.stop("during the compile");
    }, async () => {
      const loading = loadGuest(guest, {
        fuel: 1e9,
        imports: { host: { started: () => void started++ } },
        ...(kind === "an abort" ? { signal: controller.signal } : { stop }),
      });
      await assert.rejects(loading, (error) => {
        assert.ok(isAborted(error), String(error));
        assert.match((error as Error).message, /during the compile/);
        return true;
      });
    });
    assert.equal(streamed, 1, "the compile was not streamed on this thread");
    assert.equal(started, 0, "the start function ran");
  });
}
