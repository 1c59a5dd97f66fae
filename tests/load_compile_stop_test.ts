/**
 * A stoppable load compiles a large guest's rewrite on the compile thread
 * (`src/load/compile_thread.ts`), which leaves the main thread free for the
 * stop. A stop that comes during that compile ends it too: it used to run
 * on to its end for nothing, and to hold a process that had nothing left
 * to do.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { withDirectory } from "./support/temp_directory.ts";
import { runDeno } from "./support/cli.ts";
import { ESBUILD_WASM } from "./support/esbuild.ts";
import { loadGuest } from "../mod.ts";
import { STREAM_CHUNK } from "../src/load/load.ts";
import {
  concatBytes,
  encodeLeb,
  PREAMBLE,
  section,
} from "./support/module_bytes.ts";

const MOD = new URL("../mod.ts", import.meta.url).href;

/**
 * The start of a child script that watches the compile thread's port while
 * `watching` is true: a compile request (a SharedArrayBuffer of bytes) sets
 * `compile` to "running", and the thread's answer to "finished" or "given
 * up". With the argument `abort`, `controller` aborts as soon as the request
 * is posted. `compileSettled()` waits for the answer to a running compile.
 */
const WATCH_COMPILE_THREAD = `
import { MessagePort } from "node:worker_threads";
const abort = Deno.args[1] === "abort";
const controller = new AbortController();
let watching = true;
let compile = "not started";
let answered;
const answer = new Promise((resolve) => answered = resolve);
const post = MessagePort.prototype.postMessage;
MessagePort.prototype.postMessage = function (message, ...rest) {
  if (watching && message?.buffer instanceof SharedArrayBuffer) {
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
async function compileSettled() {
  if (compile !== "running") return;
  // The thread's answer to a given-up compile keeps nothing alive: wait for it here.
  const alive = setTimeout(() => {}, 60_000);
  await answer;
  clearTimeout(alive);
}
`;

/**
 * A script that loads esbuild.wasm with a signal, watching the compile
 * thread's port: a compile request (a SharedArrayBuffer of bytes) and the
 * thread's answer to it. With `abort`, the signal aborts as soon as the
 * request is posted. Prints how the load and that compile ended, and how
 * the guest's exports compare with the engine's own compile of the rewrite.
 */
const SCRIPT = `${WATCH_COMPILE_THREAD}
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
await compileSettled();
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
  // A memory and a 2 MiB data segment: a rewrite over STREAM_CHUNK, which
  // a load with a signal compiles on the compile thread, at a fraction of
  // esbuild's rewrite.
  const data = new Uint8Array(2 * STREAM_CHUNK).fill(7);
  const segment = concatBytes(
    [0x01, 0x00, 0x41, 0x00, 0x0b],
    encodeLeb(data.length),
    data,
  );
  const bytes = concatBytes(
    PREAMBLE,
    section(5, [0x01, 0x00, 0x40]),
    [0x0b],
    encodeLeb(segment.length),
    segment,
  );
  const compile = new Proxy({ builtins: ["js-string"] }, {});
  const guest = await loadGuest(bytes, {
    fuel: 1e12,
    signal: new AbortController().signal,
    compile,
  });
  assert.ok(guest.meter!.bytes.length > STREAM_CHUNK);
  assert.ok(guest.module instanceof WebAssembly.Module);
});

/**
 * A script that loads a generated 1.5 MB guest twice through a rewrite
 * cache, the second time (a hit) with a signal, watching the compile
 * thread's port during that second load as SCRIPT does. With `abort`, the
 * signal aborts as soon as the compile is posted. Prints how the second
 * load ended, how its compile ended (or, with `abort`, where it ran), and
 * the cache's hits and misses.
 */
const CACHED_SCRIPT = `${WATCH_COMPILE_THREAD}
watching = false;
const { loadGuest, RewriteCache } = await import(${JSON.stringify(MOD)});
// A function and 1.5 MB of data: more than a compile the main thread does.
const data = 1_500_000;
const leb = (n) => { const out = []; do { let b = n & 127; n >>>= 7; if (n) b |= 128; out.push(b); } while (n); return out; };
const section = (id, body) => [id, ...leb(body.length), ...body];
const segment = [0, 0x41, 0, 0x0b, ...leb(data)];
const header = [
  0, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
  ...section(1, [1, 0x60, 0, 0]),
  ...section(3, [1, 0]),
  ...section(5, [1, 0, 32]),
  ...section(7, [1, 3, 0x72, 0x75, 0x6e, 0, 0]),
  ...section(10, [1, 2, 0, 0x0b]),
  11, ...leb(1 + segment.length + data), 1, ...segment,
];
const bytes = new Uint8Array(header.length + data);
bytes.set(header);
bytes.fill(7, header.length);
const cache = new RewriteCache(Deno.args[0]);
await loadGuest(bytes.slice(), { fuel: 1e9, cache, signal: new AbortController().signal });
watching = true;
const load = await loadGuest(bytes.slice(), { fuel: 1e9, cache, signal: controller.signal })
  .then((guest) => guest.invoke("run").outcome, (error) => error.name);
await compileSettled();
// A small compile may finish before the abort reaches the thread.
const where = abort ? (compile === "not started" ? "main thread" : "compile thread") : compile;
console.log(load, where, "hits " + cache.hits, "misses " + cache.misses);
`;

/** Runs CACHED_SCRIPT, and returns what it printed. */
async function loadCached(mode: "abort" | "load"): Promise<string> {
  let printed = "";
  await withDirectory(async (dir) => {
    const script = `${dir}/load.mjs`;
    await Deno.writeTextFile(script, CACHED_SCRIPT);
    await Deno.mkdir(`${dir}/cache`);
    const run = await runDeno(
      [
        "run",
        `--allow-read=${dir}`,
        `--allow-write=${dir}/cache`,
        script,
        `${dir}/cache`,
        mode,
      ],
      { signal: AbortSignal.timeout(120_000) },
    );
    assert.equal(run.signal, null, "still running when killed");
    assert.equal(run.code, 0, run.stderr);
    printed = run.stdout.trim();
  });
  return printed;
}

Deno.test("loadGuest: a large guest's rewrite read from the cache is compiled on the compile thread when the load can be stopped", async () => {
  assert.equal(
    await loadCached("load"),
    "returned finished hits 1 misses 1",
  );
});

Deno.test("loadGuest: an abort during the compile of a cached rewrite ends the load, and the entry is not rewritten", async () => {
  assert.equal(
    await loadCached("abort"),
    "Aborted compile thread hits 1 misses 1",
  );
});
