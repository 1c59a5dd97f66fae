import assert from "./support/assert.ts";
import {
  FuelMeter,
  isAborted,
  isDeadlineExceeded,
  isFuelExhausted,
} from "../mod.ts";
import { expectOutcome } from "./support/outcome.ts";
import {
  ESBUILD_GLUE,
  ESBUILD_WASM,
  generatedTypeScript,
  type MeteredEsbuild,
  meteredEsbuild,
  plainEsbuild,
} from "./support/esbuild.ts";
import { stopFromWorker } from "./support/worker_stop.ts";

// The rewrite of the 14 MB module takes about a second: once for the file.
const meter = new FuelMeter(await Deno.readFile(ESBUILD_WASM));

/** Enough TypeScript to keep esbuild busy for seconds, metered. */
const LARGE = generatedTypeScript(20_000);
const SMALL = "let a: number = 1";

/** Runs `work` on `metered` under `options`, and returns what it threw. */
async function rejection(
  metered: MeteredEsbuild,
  options: Parameters<MeteredEsbuild["within"]>[0],
  input = LARGE,
): Promise<unknown> {
  try {
    await metered.within(
      options,
      () => metered.esbuild.transform(input, { loader: "ts" }),
    );
  } catch (error) {
    return error;
  }
  throw new Error("the transform was not stopped");
}

/** Transforms SMALL on `metered` with no stop, and returns the code. */
async function small(metered: MeteredEsbuild): Promise<string> {
  const { code } = await metered.within(
    {},
    () => metered.esbuild.transform(SMALL, { loader: "ts" }),
  );
  return code;
}

Deno.test("esbuild-wasm: the same output metered and not", async () => {
  const plain = await plainEsbuild();
  const metered = await meteredEsbuild(meter);
  const cases: [string, { loader: string; minify?: boolean }][] = [
    [generatedTypeScript(300), { loader: "ts" }],
    // esbuild's own browser glue (130 kB of JavaScript), minified.
    [await Deno.readTextFile(ESBUILD_GLUE), { loader: "js", minify: true }],
  ];
  for (const [input, options] of cases) {
    const before = metered.outcomes.length;
    const consumed = meter.consumed;
    const { code } = await metered.within(
      {},
      () => metered.esbuild.transform(input, options),
    );
    assert.equal(code, (await plain.transform(input, options)).code);
    const entries = metered.outcomes.slice(before);
    assert.ok(entries.length > 0, "the glue entered the guest");
    for (const entry of entries) expectOutcome(entry, "returned");
    assert.ok(meter.consumed > consumed, "fuel was counted");
  }
  assert.equal(meter.remaining, Infinity);
  await metered.esbuild.stop();
  await plain.stop();
});

Deno.test("esbuild-wasm: a fuel budget stops a large transform; later calls on that service fail with the same error, and a new instance on the same meter works", async () => {
  const metered = await meteredEsbuild(meter);
  const fuel = 50_000_000;
  const before = metered.outcomes.length;
  const error = await rejection(metered, { fuel, grace: 0 });
  assert.ok(isFuelExhausted(error), String(error));
  // The whole transform ran in one entry of the glue, which the budget ended.
  const entries = metered.outcomes.slice(before);
  const stopped = expectOutcome(entries.at(-1)!, "fuel_exhausted");
  assert.equal(stopped.error, error);
  const spent = entries.reduce((sum, entry) => sum + entry.fuel!.consumed, 0);
  assert.ok(spent <= fuel && spent > fuel / 2, `spent ${spent}`);
  assert.equal(meter.stopReason, "fuel");

  // esbuild's glue rejects every later call on this service with the error
  // that came out of the guest, and the Go runtime inside was cut short:
  // its later entries are refused without running Go.
  const count = metered.outcomes.length;
  assert.equal(await rejection(metered, {}, SMALL), error);
  assert.equal(metered.outcomes.length, count);

  // esbuild's stop() and initialize() make a new Go instance; the books
  // carry on on the same meter.
  const consumed = meter.consumed;
  await metered.restart();
  assert.equal(await small(metered), "let a = 1;\n");
  assert.ok(meter.consumed > consumed);
  assert.equal(meter.remaining, Infinity);
  await metered.esbuild.stop();
});

Deno.test("esbuild-wasm: a large transform stopped by a deadline, by a StopSignal from a Worker and by an aborted AbortSignal; a new instance works after each", async () => {
  const metered = await meteredEsbuild(meter);
  // Metered, LARGE takes seconds: 100 ms leaves a wide margin.
  const late = await rejection(metered, { timeout: 100, grace: 0 });
  assert.ok(isDeadlineExceeded(late), String(late));
  expectOutcome(metered.outcomes.at(-1)!, "timeout");
  assert.equal(meter.stopReason, "deadline");
  await metered.restart();
  assert.equal(await small(metered), "let a = 1;\n");

  const stopped = await stopFromWorker((stop, started) =>
    rejection(metered, { stop, grace: 0, onEntry: started })
  );
  assert.ok(isAborted(await stopped), String(await stopped));
  expectOutcome(metered.outcomes.at(-1)!, "aborted");
  assert.equal(meter.stopReason, "stop");
  await metered.restart();
  assert.equal(await small(metered), "let a = 1;\n");

  // The entry holds the thread, so an AbortSignal stops it only when it was
  // aborted before.
  const aborted = await rejection(metered, {
    signal: AbortSignal.abort("no"),
    grace: 0,
  });
  assert.ok(isAborted(aborted), String(aborted));
  assert.equal(meter.stopReason, "abort");
  await metered.restart();
  assert.equal(await small(metered), "let a = 1;\n");
  await metered.esbuild.stop();
});
