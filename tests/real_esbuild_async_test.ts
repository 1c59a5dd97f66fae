/**
 * esbuild-wasm under `runAsync`, in a file of its own: its second rewrite of
 * the 14 MB module and Go's start-up took 4 to 11 s after the other esbuild
 * tests (in the same process, on a loaded machine), and under 1 s alone.
 */

import assert from "./support/assert.ts";
import { type CallOutcome, FuelMeter } from "../mod.ts";
import { expectOutcome } from "./support/outcome.ts";
import { ESBUILD_GLUE, ESBUILD_WASM } from "./support/esbuild.ts";

Deno.test("esbuild-wasm: runAsync cannot drive it: Go re-enters itself through the glue's JavaScript, which JSPI cannot suspend across", async () => {
  const suspending = new FuelMeter(await Deno.readFile(ESBUILD_WASM), {
    suspend: true,
  });
  const { promising } = WebAssembly as unknown as {
    promising(fn: unknown): (...args: unknown[]) => Promise<unknown>;
  };
  const esbuild = await import(
    `${ESBUILD_GLUE.href}?runAsync`
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
  const outcome = expectOutcome(await started, "error");
  assert.match(
    String(outcome.error.cause),
    /SuspendError: trying to suspend JS frames/,
  );
  await esbuild.stop();
});
