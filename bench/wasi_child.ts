/**
 * One fresh-process run of a WASI command, for `bench/wasi.ts`: `plain`
 * through `node:wasi` alone, `metered` through `runWasi` with an unlimited
 * budget, `metered-load` only loads it as `runWasi` does (rewrite and
 * compile), `metered-sync` runs it metered as a plain (not async) guest
 * with `node:wasi`'s own imports, which shows what the async guest's yields
 * and JSPI cost. Prints the process's CPU time, and for `plain` the part spent
 * compiling, as JSON.
 */
import process from "node:process";
import { WASI } from "node:wasi";
import { loadGuest, runWasi } from "../mod.ts";

const [mode, path, ...args] = Deno.args;
const cpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};
const start = cpuMs();
let loaded: number;
if (mode === "plain") {
  const wasi = new WASI({ version: "preview1", args: [path, ...args] });
  const module = await WebAssembly.compile(await Deno.readFile(path));
  const instance = await WebAssembly.instantiate(
    module,
    wasi.getImportObject() as WebAssembly.Imports,
  );
  loaded = cpuMs();
  wasi.start(instance);
} else if (mode === "metered-load") {
  const module = await WebAssembly.compile(await Deno.readFile(path));
  const stubs = Object.fromEntries(
    WebAssembly.Module.imports(module).map((i) => [i.name, () => 0]),
  );
  const start = cpuMs();
  await loadGuest(path, {
    imports: { wasi_snapshot_preview1: stubs },
    async: true,
    fuel: Infinity,
  });
  loaded = cpuMs() - start;
  console.log(JSON.stringify({ total: loaded, load: loaded }));
  Deno.exit(0);
} else if (mode === "metered-sync") {
  const wasi = new WASI({
    version: "preview1",
    args: [path, ...args],
    returnOnExit: true,
  });
  const guest = await loadGuest(path, {
    imports: wasi.getImportObject() as WebAssembly.Imports,
    fuel: Infinity,
  });
  loaded = cpuMs();
  wasi.initialize({ exports: { memory: guest.instance.exports.memory } });
  const result = guest.invoke("_start");
  if (result.outcome !== "returned") throw new Error(result.outcome);
} else {
  loaded = NaN;
  const result = await runWasi(path, { args, fuel: Infinity });
  if (result.outcome !== "exited") throw new Error(result.outcome);
}
const end = cpuMs();
console.log(JSON.stringify({ total: end - start, load: loaded - start }));
