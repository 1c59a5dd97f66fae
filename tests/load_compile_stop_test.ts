/**
 * A stop that comes while a stoppable load compiles its rewritten guest (a
 * streamed compile) ends the engine's compile too: it used to run on to its
 * end for nothing, and to hold a process that had nothing left to do.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { withDirectory } from "./support/temp_directory.ts";
import { runDeno } from "./support/cli.ts";
import { ESBUILD_WASM } from "./support/esbuild.ts";

const MOD = new URL("../mod.ts", import.meta.url).href;

/**
 * A script that loads esbuild.wasm with a signal, aborted as soon as the
 * load hands its rewrite to the engine's streamed compile, and prints how
 * the load and that compile ended.
 */
const SCRIPT = `
const engine = WebAssembly.compileStreaming;
const controller = new AbortController();
let compile = "not started";
WebAssembly.compileStreaming = (...args) => {
  const compiling = engine(...args);
  compile = "running";
  compiling.then(() => compile = "finished", () => compile = "given up");
  controller.abort(new Error("during the compile"));
  return compiling;
};
// Imported only now, so that the loader sees the wrapper.
const { loadGuest } = await import(${JSON.stringify(MOD)});
const bytes = await Deno.readFile(Deno.args[0]);
const imports = {};
for (const { module, name } of WebAssembly.Module.imports(await WebAssembly.compile(bytes))) {
  (imports[module] ??= {})[name] = () => {};
}
const load = await loadGuest(bytes, { fuel: 1e12, imports, signal: controller.signal })
  .then(() => "loaded", (error) => error.name);
globalThis.addEventListener("unload", () => console.log(load, compile));
`;

Deno.test("loadGuest: an abort during the streamed compile of a large guest's rewrite ends the engine's compile", async () => {
  await withDirectory(async (dir) => {
    const script = `${dir}/load.mjs`;
    await Deno.writeTextFile(script, SCRIPT);
    const run = await runDeno(["run", "--allow-read", script, ESBUILD_WASM], {
      signal: AbortSignal.timeout(120_000),
    });
    assert.equal(run.signal, null, "still running when killed");
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout.trim(), "Aborted given up", run.stderr);
  });
});
