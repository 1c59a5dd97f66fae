/**
 * A fresh process, run with `--allow-read` alone, for
 * tests/env_prompt_test.ts. It counts the reads of the whole environment
 * (what a `node:worker_threads` Worker's default `env` does, and what makes
 * Deno ask for --allow-env in a terminal) while the module starts each of its
 * threads: the watchdog, the directory lister and the pipe reader. Prints one
 * line of JSON: the count and how the deadline call ended.
 */
const reads: string[] = [];
const toObject = Deno.env.toObject;
Deno.env.toObject = () => {
  reads.push(new Error().stack ?? "");
  return toObject.call(Deno.env);
};

const { loadGuest } = await import("../../mod.ts");
const { startLister } = await import("../../src/wasi/wasi_lister.ts");
const { readPipe } = await import("../../src/load/load_pipe.ts");

const guest = await loadGuest(
  new URL("../../guest/runaway.wasm", import.meta.url),
  { timeout: 20 },
);
const outcome = guest.invoke("spin").outcome;
startLister();
const read = await readPipe(
  new URL("../../guest/runaway.wasm", import.meta.url),
  1 << 20,
  new AbortController().signal,
);
console.log(JSON.stringify({
  reads: reads.length,
  outcome,
  piped: read instanceof Uint8Array,
}));
