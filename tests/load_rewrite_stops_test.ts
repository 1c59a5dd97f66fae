/**
 * A stop that comes while a metered guest is rewritten ends the load then,
 * not when the rewrite ends. The rewrite of esbuild.wasm (14 MB of Go)
 * holds the thread for 100 ms or more, and an abort, a timed-out signal or
 * a StopSignal that came meanwhile used to wait it out: the rewrite runs in
 * steps, with a turn of the event loop about every half millisecond while a stop
 * is watched.
 *
 * How soon is compared with a whole load of the same module in the same
 * process, both timed in this thread's CPU time: a busy machine stretches
 * the wall time of one more than the other, but the rewrite's work on this
 * thread stays what it is.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { setImmediate } from "node:timers";
import {
  isAborted,
  isDeadlineExceeded,
  loadGuest,
  StopSignal,
} from "../mod.ts";
import { esbuildToLoad } from "./support/esbuild.ts";
import { threadCpuMs } from "./support/thread_cpu.ts";

/** esbuild.wasm, and imports for its glue that are never called. */
const { bytes: esbuild, imports } = await esbuildToLoad();

/**
 * How much of this thread's CPU time a whole metered load of esbuild.wasm
 * takes here, warm, with a signal that never aborts (which also starts the watchdog's thread, as the
 * process's first stoppable load does).
 */
async function wholeLoad() {
  const signal = new AbortController().signal;
  let best = Infinity;
  for (let i = 0; i < 2; i++) {
    const started = threadCpuMs();
    const guest = await loadGuest(esbuild, { fuel: 1e12, imports, signal });
    best = Math.min(best, threadCpuMs() - started);
    assert.ok(guest.meter !== undefined);
  }
  return best;
}

/**
 * Loads esbuild with `options`, stopped by `stopNow` at the event loop's
 * fifth turn (the load may take one before its rewrite begins), and gives
 * the CPU time this thread spent on it.
 */
async function stoppedLoad(
  options: { signal?: AbortSignal; stop?: StopSignal },
  stopNow: () => void,
  check: (error: unknown) => boolean,
) {
  const started = threadCpuMs();
  let turns = 0;
  const turn = () => ++turns === 5 ? stopNow() : setImmediate(turn);
  setImmediate(turn);
  await assert.rejects(
    loadGuest(esbuild, { fuel: 1e12, imports, ...options }),
    check,
  );
  return threadCpuMs() - started;
}

/**
 * That a load stopped during its rewrite took well under a whole one's CPU
 * time: one that waited for the rewrite to end did its work.
 */
function assertCutShort(how: string, took: number, whole: number): void {
  assert.ok(
    took < whole / 3,
    `the ${how} load ran for ${took.toFixed(1)} ms of CPU time, a whole one ${
      whole.toFixed(1)
    } ms`,
  );
}

Deno.test("loadGuest: an abort during a large guest's rewrite ends the load then", async () => {
  const whole = await wholeLoad();
  const controller = new AbortController();
  const took = await stoppedLoad(
    { signal: controller.signal },
    () => controller.abort(new Error("not now")),
    (error) => isAborted(error) && /not now/.test(error.message),
  );
  assertCutShort("aborted", took, whole);
});

Deno.test("loadGuest: a StopSignal set during a large guest's rewrite ends the load then", async () => {
  const whole = await wholeLoad();
  const stop = new StopSignal();
  const took = await stoppedLoad(
    { stop },
    () => stop.stop("enough"),
    (error) => isAborted(error) && /enough/.test(error.message),
  );
  assertCutShort("stopped", took, whole);
});

Deno.test("loadGuest: a signal that times out during a large guest's rewrite ends the load as a deadline", async () => {
  const whole = await wholeLoad();
  // Of two such loads the faster counts: in a full suite on a machine busy
  // with other work, one such load once ran 195 ms of CPU time against a
  // whole one's 277, and a load that waits out its rewrite does so twice.
  let took = Infinity;
  for (let run = 0; run < 2; run++) {
    const started = threadCpuMs();
    await assert.rejects(
      loadGuest(esbuild, {
        fuel: 1e12,
        imports,
        signal: AbortSignal.timeout(1),
      }),
      isDeadlineExceeded,
    );
    took = Math.min(took, threadCpuMs() - started);
  }
  assertCutShort("timed-out", took, whole);
});

Deno.test("loadGuest: a rewrite in steps reads the load's copy of the caller's bytes, not the changes the caller makes after it", async () => {
  // Both loads watch a signal, so both rewrite in steps with the same
  // options; in the second the caller overwrites its buffer from the turn
  // after the load copied it (seen as the copy reads it) to its end.
  const signal = new AbortController().signal;
  const untouched = await loadGuest(esbuild.slice(), {
    fuel: 1e12,
    imports,
    signal,
  });
  const input = esbuild.slice();
  let copied = false;
  const set = Uint8Array.prototype.set;
  Uint8Array.prototype.set = function (
    this: Uint8Array,
    source: ArrayLike<number>,
    offset?: number,
  ) {
    // The copy reads the caller's buffer a piece at a time, at once.
    if ((source as Uint8Array).buffer === input.buffer) {
      copied = true;
      Uint8Array.prototype.set = set;
    }
    return set.call(this, source, offset);
  };
  let loaded = false;
  const loading = loadGuest(input, { fuel: 1e12, imports, signal })
    .finally(() => {
      loaded = true;
      Uint8Array.prototype.set = set;
    });
  let turns = 0;
  await new Promise<void>((resolve) => {
    const turn = () => {
      if (copied) input.fill(0, 8, 4096 + turns++);
      if (!loaded && turns < 20) setImmediate(turn);
      else resolve();
    };
    setImmediate(turn);
  });
  assert.ok(copied, "the load did not copy the caller's bytes");
  assert.ok(turns > 0, "the rewrite gave the event loop no turn");
  const touched = await loading;
  const [a, b] = [untouched.meter!.bytes, touched.meter!.bytes];
  assert.equal(a.length, b.length);
  assert.ok(a.every((byte, i) => byte === b[i]), "the rewrites differ");
});
