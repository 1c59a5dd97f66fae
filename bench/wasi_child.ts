/**
 * One fresh-process run of a WASI command, for `bench/wasi.ts`:
 *
 * - `plain`: through `node:wasi` alone;
 * - `metered`: through `runWasi` with an unlimited budget and no deadline,
 *   which runs the guest as a plain call with trapping fuel checks;
 * - `watched`: through `runWasi` with an unlimited budget and an hour's
 *   deadline, as the command line runs it (an async guest with resumable
 *   fuel and a stop flag);
 * - `held`: as `watched`, with `async: false`: a plain call that holds
 *   the thread, stopped by the deadline through a stop flag that traps;
 * - `cli-warm`: through the command line's `main` with `--cache` (the
 *   directory in `WASI_BENCH_CACHE`) and no `--timeout`, as a user's
 *   second run of the command would be;
 * - `cli`: through the command line's `main`, with an hour's `--timeout`
 *   (held, unless the guest imports `fd_read`: then watched);
 * - `cli-fuel`: through the command line's `main` with neither `--timeout`
 *   nor `--cache`, as a user's first run of the command would be (no
 *   watchdog's thread: nothing but the process's end stops it);
 * - `metered-load`: only loads the guest as `runWasi` does without a
 *   deadline (rewrite and compile);
 * - `warm`: as `metered`, with the rewrite cache in `WASI_BENCH_CACHE`,
 *   whose entry an earlier process wrote (a user's second run);
 * - `cache-parts`: times the parts of a hit on that entry, one after the
 *   other, as a hit runs them: reading the input (with `Deno.readFile`, as
 *   the plain side does, then as `loadGuest` reads it for the cache, into a
 *   buffer with room after it), the key (finding the payloads, SHA-256 of
 *   the rest), reading and checking the entry, rebuilding the output in the
 *   input's buffer, and compiling it; then the rebuild in a fresh buffer, as
 *   a hit on bytes it was given does it. Prints them (CPU ms of the process,
 *   and of this thread) rather than the usual fields.
 *
 * Arguments: the mode, the guest path of a fresh temporary directory to
 * preopen (or `-` for none), the module, and the guest's arguments. Prints
 * the process's CPU time from after its imports (`total`), for `plain` the
 * part spent compiling (`load`), the wall time from after the imports, and
 * the whole process's CPU time, start-up and imports included
 * (`process`), and the JavaScript thread's CPU time from after the imports
 * (`main`; the rest of `total` is V8's own threads: compiling JavaScript,
 * and wasm in the background), as JSON.
 */
import process from "node:process";
import { WASI } from "node:wasi";
import { threadCpuMs } from "./fresh_cpu.ts";

const [mode, guest, path, ...args] = Deno.args;
const cacheDirectory = Deno.env.get("WASI_BENCH_CACHE");
// Only the metered side loads early-exit, so that the whole process's
// CPU time compares the two as a user would run them; the command line's
// modes load only main.ts, which readies stops only when a run needs them.
const cli = mode.startsWith("cli") ? await import("../main.ts") : undefined;
const { loadGuest, runWasi } = mode === "plain" || cli !== undefined
  ? {} as Partial<typeof import("../mod.ts")>
  : await import("../mod.ts");
const host = guest === "-" ? undefined : Deno.makeTempDirSync();
const cpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};
const start = cpuMs();
const startMain = threadCpuMs();
const startWall = performance.now();
let loaded: number;
if (mode === "plain") {
  const wasi = new WASI({
    version: "preview1",
    args: [path, ...args],
    preopens: host === undefined ? {} : { [guest]: host },
  });
  const module = await WebAssembly.compile(await Deno.readFile(path));
  const instance = await WebAssembly.instantiate(
    module,
    wasi.getImportObject() as WebAssembly.Imports,
  );
  loaded = cpuMs();
  const code = wasi.start(instance);
  if (code !== 0) throw new Error(`exit code ${code}`);
} else if (mode === "cache-parts") {
  const { entryKey, readEntry } = await import("../src/cache/rewrite_cache.ts");
  const { joinInPlace, joinOutput } = await import(
    "../src/cache/rewrite_splice.ts"
  );
  const { loadModule } = await import("../src/load/load.ts");
  const [entry] = [...Deno.readDirSync(cacheDirectory!)].filter((e) =>
    e.name.endsWith(".rewrite")
  );
  const entryPath = `${cacheDirectory}/${entry!.name}`;
  const key = Uint8Array.from(
    entry!.name.slice(0, 64).match(/../g)!,
    (pair) => parseInt(pair, 16),
  );
  const parts: Record<string, number> = {};
  const marks = () => [cpuMs(), threadCpuMs()];
  const time = (name: string, from: number[]) => {
    const [cpu, thread] = marks();
    parts[name] = cpu - from[0]!;
    parts[`${name} (thread)`] = thread - from[1]!;
  };
  let at = marks();
  await Deno.readFile(path);
  time("Deno.readFile", at);
  at = marks();
  const { bytes } = await loadModule(path, {
    compile: false,
    room: (size) => (size >> 2) + 65536,
  });
  time("read with room", at);
  at = marks();
  // The options' text does not change the cost.
  const { payloads, kept } = await entryKey(bytes!, "{}");
  time("key", at);
  at = marks();
  const stored = await readEntry(entryPath, key);
  time("read entry", at);
  if (typeof stored !== "object") throw new Error(`entry: ${stored}`);
  at = marks();
  const joined = joinInPlace(
    bytes!,
    payloads,
    kept,
    stored.stored,
    stored.splices,
  );
  time("rebuild in place", at);
  if (joined === undefined) throw new Error("the entry does not fit");
  at = marks();
  await WebAssembly.compile(joined.output);
  time("compile", at);
  joined.restore();
  at = marks();
  joinOutput(bytes!, payloads, stored.stored, stored.splices);
  time("rebuild, fresh buffer", at);
  console.log(JSON.stringify(parts));
  Deno.exit(0);
} else if (mode === "metered-load") {
  const module = await WebAssembly.compile(await Deno.readFile(path));
  const stubs = Object.fromEntries(
    WebAssembly.Module.imports(module).map((i) => [i.name, () => 0]),
  );
  const start = cpuMs();
  await loadGuest!(path, {
    imports: { wasi_snapshot_preview1: stubs },
    fuel: Infinity,
  });
  loaded = cpuMs() - start;
  if (host !== undefined) Deno.removeSync(host, { recursive: true });
  const wall = performance.now() - startWall;
  console.log(
    JSON.stringify({
      total: loaded,
      load: loaded,
      wall,
      process: cpuMs(),
      main: threadCpuMs() - startMain,
      loadavg: Deno.loadavg()[0],
    }),
  );
  Deno.exit(0);
} else if (cli !== undefined) {
  loaded = NaN;
  const status = await cli.main([
    ...(mode === "cli-warm"
      ? ["--cache", cacheDirectory!]
      : mode === "cli"
      ? ["--timeout", "3600000"]
      : []),
    ...(host === undefined ? [] : ["--dir", `${host}::${guest}`]),
    path,
    "--",
    ...args,
  ]);
  if (status !== 0) throw new Error(`exit status ${status}`);
} else {
  loaded = NaN;
  const result = await runWasi!(path, {
    args,
    fuel: Infinity,
    timeout: mode === "watched" || mode === "held" ? 3_600_000 : undefined,
    async: mode === "held" ? false : undefined,
    preopens: host === undefined ? [] : [{ host, guest }],
    cache: mode === "warm" ? cacheDirectory : undefined,
  });
  if (result.outcome !== "exited" || result.code !== 0) {
    throw new Error(JSON.stringify(result));
  }
}
const end = cpuMs();
const main = threadCpuMs() - startMain;
const wall = performance.now() - startWall;
if (host !== undefined) Deno.removeSync(host, { recursive: true });
console.log(
  JSON.stringify({
    total: end - start,
    load: loaded - start,
    wall,
    process: end,
    main,
    // The machine's 1-minute load average as the run ends: the parent
    // has no --allow-sys to read it.
    loadavg: Deno.loadavg()[0],
  }),
);
