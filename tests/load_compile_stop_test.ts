/**
 * A stoppable load compiles a large guest's rewrite on the compile thread
 * (`src/compile_thread.ts`), which leaves the main thread free for the
 * stop. A stop that comes during that compile ends it too: it used to run
 * on to its end for nothing, and to hold a process that had nothing left
 * to do.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { withDirectory } from "./support/temp_directory.ts";
import { runDeno } from "./support/cli.ts";
import { ESBUILD_WASM, esbuildToLoad } from "./support/esbuild.ts";
import { loadGuest } from "../mod.ts";

const MOD = new URL("../mod.ts", import.meta.url).href;

/**
 * A script that loads esbuild.wasm with a signal, watching the compile
 * thread's port: a compile request (a SharedArrayBuffer of bytes) and the
 * thread's answer to it. With `abort`, the signal aborts as soon as the
 * request is posted. Prints how the load and that compile ended, and how
 * the guest's exports compare with the engine's own compile of the rewrite.
 */
const SCRIPT = `
import { MessagePort } from "node:worker_threads";
const abort = Deno.args[1] === "abort";
const controller = new AbortController();
let compile = "not started";
let answered;
const answer = new Promise((resolve) => answered = resolve);
const post = MessagePort.prototype.postMessage;
MessagePort.prototype.postMessage = function (message, ...rest) {
  if (message?.buffer instanceof SharedArrayBuffer) {
    compile = "running";
    const id = message.id;
    this.on("message", (reply) => {
      if (reply?.id !== id) return;
      compile = "module" in reply ? "finished" : "given up";
      answered();
    });
    if (abort) queueMicrotask(() => controller.abort(new Error("during the compile")));
  }
  return post.call(this, message, ...rest);
};
// Imported only now, so that the loader sees the wrapper.
const { loadGuest } = await import(${JSON.stringify(MOD)});
const bytes = await Deno.readFile(Deno.args[0]);
const imports = {};
for (const { module, name } of WebAssembly.Module.imports(await WebAssembly.compile(bytes))) {
  (imports[module] ??= {})[name] = () => {};
}
let exports = "";
const load = await loadGuest(bytes, { fuel: 1e12, imports, signal: controller.signal })
  .then((guest) => {
    const own = WebAssembly.Module.exports(new WebAssembly.Module(guest.meter.bytes));
    const got = WebAssembly.Module.exports(guest.module);
    exports = JSON.stringify(own) === JSON.stringify(got) ? " same exports" : " other exports";
    return "loaded";
  }, (error) => error.name);
if (compile === "running") {
  // The thread's answer to a given-up compile keeps nothing alive: wait for it here.
  const alive = setTimeout(() => {}, 60_000);
  await answer;
  clearTimeout(alive);
}
console.log(load + exports, compile);
`;

/** Runs the script on esbuild.wasm, and returns what it printed. */
async function loadEsbuild(mode: "abort" | "load"): Promise<string> {
  let printed = "";
  await withDirectory(async (dir) => {
    const script = `${dir}/load.mjs`;
    await Deno.writeTextFile(script, SCRIPT);
    const run = await runDeno(
      ["run", "--allow-read", script, ESBUILD_WASM, mode],
      { signal: AbortSignal.timeout(120_000) },
    );
    assert.equal(run.signal, null, "still running when killed");
    assert.equal(run.code, 0, run.stderr);
    printed = run.stdout.trim();
  });
  return printed;
}

Deno.test("loadGuest: an abort during the compile of a large guest's rewrite ends the compile thread's compile", async () => {
  assert.equal(await loadEsbuild("abort"), "Aborted given up");
});

Deno.test("loadGuest: a large guest loaded with a signal is compiled on the compile thread, into the same module", async () => {
  assert.equal(await loadEsbuild("load"), "loaded same exports finished");
});

Deno.test("loadGuest: compile options given as a proxy reach the compile thread as their values", async () => {
  const { bytes, imports } = await esbuildToLoad();
  const compile = new Proxy({ builtins: ["js-string"] }, {});
  const guest = await loadGuest(bytes, {
    fuel: 1e12,
    imports,
    signal: new AbortController().signal,
    compile,
  });
  assert.ok(guest.module instanceof WebAssembly.Module);
});
