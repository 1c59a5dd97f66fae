/**
 * Importing the API runs a stoppable load's synchronous work once
 * (`src/warmup/load_warmup.ts`), so that V8 compiling the loader's and the
 * rewriter's code does not fall in the process's first load, where it held
 * that load's stops. The warm-up must run, once, without an error (which it
 * would swallow), on the bytes its text assembles to, and must make a
 * fresh isolate's first rewrite of another guest cheaper than a cold one.
 */
import assert from "./support/assert.ts";
import { docWatBytes } from "./support/doc_wat.ts";
import { assembleWat } from "../guest/build.ts";
import "../mod.ts";
import {
  FEATURES_WARM_UP_GUEST,
  loadWarmUpStatus,
  WARM_UP_GUEST,
} from "../src/warmup/load_warmup.ts";
import { loadGuest } from "../mod.ts";

Deno.test("importing the API runs the load's warm-up once, without an error", () => {
  const { runs, error } = loadWarmUpStatus();
  assert.deepEqual({ runs, error }, { runs: 1, error: undefined });
});

Deno.test("the warm-up guest's bytes are its text, assembled", async () => {
  const source = new URL("../src/warmup/load_warmup.ts", import.meta.url);
  assert.deepEqual(await docWatBytes(source), [...WARM_UP_GUEST]);
});

Deno.test("the command line's features warm-up guest is its text, and loads metered, async and plain", async () => {
  const source = new URL("../src/warmup/load_warmup.ts", import.meta.url);
  const bytes = new Uint8Array(FEATURES_WARM_UP_GUEST);
  assert.deepEqual(await docWatBytes(source, 1, { exceptions: true }), [
    ...bytes,
  ]);
  // Its start function runs every operator; a failure would be swallowed
  // by the warm-up, so the test loads it as the command line does.
  for (const async of [true, false]) {
    const guest = await loadGuest(bytes, {
      label: "the features warm-up",
      fuel: Infinity,
      signal: new AbortController().signal,
      ...(async ? { async } : { interruptible: true }),
    });
    assert.ok(guest.instance instanceof WebAssembly.Instance);
  }
});

/** A guest unlike the warm-up's: a start function that loops. */
const OTHER = `(module (import "host" "mark" (func $mark))
  (func $s (call $mark) (loop $l (br $l))) (start $s))`;

async function firstRewriteCpu(warm: boolean, bytes: Uint8Array) {
  const worker = new Worker(
    new URL("./support/load_warmup_worker.ts", import.meta.url),
    { type: "module" },
  );
  try {
    return await new Promise<number>((resolve, reject) => {
      worker.onmessage = (event) => resolve(event.data);
      worker.onerror = (event) => reject(event.error ?? event.message);
      worker.postMessage({ warm, bytes });
    });
  } finally {
    worker.terminate();
  }
}

Deno.test("after the warm-up, a fresh isolate's first rewrite of another guest takes less than half a cold one's CPU", async () => {
  const bytes = await assembleWat(OTHER);
  // Summed over a few isolates each, run side by side (CPU time is what
  // is compared): the thread's clock moves in ticks of a few
  // milliseconds, about what a cold rewrite takes.
  const runs = [false, false, false, true, true, true].map((warm) =>
    firstRewriteCpu(warm, bytes)
  );
  const [cold, warmed] = await Promise.all(
    [0, 1].map(async (half) =>
      (await Promise.all(runs.slice(half * 3, half * 3 + 3))).reduce(
        (sum, cpu) => sum + cpu,
      )
    ),
  );
  assert.ok(
    warmed < cold / 2,
    `the first rewrites took ${
      warmed.toFixed(1)
    } ms of CPU after the warm-up, ${cold.toFixed(1)} cold`,
  );
});

Deno.test("the warm-up runs loadGuest's entry with a StopSignal set and an AbortSignal aborted, and each load ends there, aborted", async () => {
  // The rejections settle after the import, a turn of the event loop on.
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.deepEqual(loadWarmUpStatus().entryStops, ["Aborted", "Aborted"]);
});
