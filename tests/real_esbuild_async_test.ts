/**
 * esbuild-wasm under `runAsync`, in a file of its own: its second rewrite of
 * the 14 MB module and Go's start-up took 4 to 11 s after the other esbuild
 * tests (in the same process, on a loaded machine), and under 1 s alone.
 */

import assert from "./support/assert.ts";
import { type CallOutcome, FuelMeter } from "../mod.ts";
import { expectOutcome } from "./support/outcome.ts";
import { ESBUILD_GLUE, ESBUILD_WASM } from "./support/esbuild.ts";

/**
 * Starts esbuild with Go's start-up under `runAsync`: how that run ended.
 * The glue is imported afresh each time (`attempt` in its URL).
 */
async function startUnderRunAsync(
  suspending: FuelMeter,
  attempt: number,
): Promise<CallOutcome> {
  const { promising } = WebAssembly as unknown as {
    promising(fn: unknown): (...args: unknown[]) => Promise<unknown>;
  };
  const esbuild = await import(
    `${ESBUILD_GLUE.href}?runAsync${attempt}`
  ) as typeof import("npm:esbuild-wasm@0.28.2/esm/browser.js");
  let started!: Promise<CallOutcome>;
  const instantiate = WebAssembly.instantiate;
  WebAssembly.instantiate = (async (
    module: WebAssembly.Module,
    imports: WebAssembly.Imports,
  ) => {
    WebAssembly.instantiate = instantiate;
    const instance = await instantiate(module, {
      ...imports,
      ...suspending.imports,
    });
    suspending.attach(instance);
    const run = promising(instance.exports.run);
    const exports = {
      ...instance.exports,
      // Go's start-up: the glue ignores what it returns.
      run: (...args: unknown[]) => {
        started = suspending.runAsync(() => run(...args));
      },
    };
    return Object.create(WebAssembly.Instance.prototype, {
      exports: { value: exports },
    });
  }) as typeof WebAssembly.instantiate;
  try {
    await esbuild.initialize({
      wasmModule: await WebAssembly.compile(suspending.bytes),
      worker: false,
    });
  } finally {
    WebAssembly.instantiate = instantiate;
  }
  const outcome = await started;
  await esbuild.stop();
  return outcome;
}

Deno.test("esbuild-wasm: runAsync cannot drive it: Go re-enters itself through the glue's JavaScript, which JSPI cannot suspend across", async () => {
  const suspending = new FuelMeter(await Deno.readFile(ESBUILD_WASM), {
    suspend: true,
  });
  // Whether a suspension falls inside one of the start-up's re-entries
  // depends on Go's scheduler, which reads the clock: on a loaded machine a
  // start-up once ran its 9 M units without one there, and returned.
  let outcome = await startUnderRunAsync(suspending, 0);
  for (
    let attempt = 1;
    attempt < 3 && outcome.outcome === "returned";
    attempt++
  ) {
    outcome = await startUnderRunAsync(suspending, attempt);
  }
  const failed = expectOutcome(outcome, "error");
  assert.match(
    String(failed.error.cause),
    /SuspendError: trying to suspend JS frames/,
  );
});
