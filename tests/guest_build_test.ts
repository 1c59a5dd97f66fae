import assert from "./support/assert.ts";
import {
  assembleWat,
  compileInterpreter,
  compileWasiGuest,
  INTERPRETER_URL,
  listWatGuests,
  WASI_GUESTS,
  wasiGuestUrl,
} from "../guest/build.ts";
import { SEED_RUST } from "./support/guests.ts";

Deno.test("every committed WAT guest is byte-identical to a fresh build", async () => {
  const names = await listWatGuests();
  assert.ok(names.includes("early_exit_guest.wat"));
  for (const name of names) {
    const source = await Deno.readTextFile(
      new URL(`../guest/${name}`, import.meta.url),
    );
    const fresh = await assembleWat(source, name);
    const committed = await Deno.readFile(
      new URL(`../guest/${name.replace(/\.wat$/, ".wasm")}`, import.meta.url),
    );
    assert.deepEqual(
      committed,
      fresh,
      `guest/${name} is stale: run deno task build:guest`,
    );
  }
});

Deno.test("the Rust guest exports exit_early and imports env.interrupt_execution, like the seed", async () => {
  const bytes = await Deno.readFile(
    SEED_RUST,
  );
  const module = new WebAssembly.Module(bytes);
  assert.deepEqual(WebAssembly.Module.imports(module), [
    { module: "env", name: "interrupt_execution", kind: "function" },
  ]);
  assert.ok(
    WebAssembly.Module.exports(module).some((e) =>
      e.name === "exit_early" && e.kind === "function"
    ),
  );
});

/**
 * Fresh builds made while probing the toolchains, by source: the test of
 * that source compares this build rather than making another.
 */
const probeBuilds = new Map<string, Uint8Array>();

/** Why each language's toolchain cannot build, or `undefined` when it can. */
async function missingToolchain(probe: string): Promise<string | undefined> {
  try {
    const built = await compileWasiGuest(probe);
    if (!(built instanceof Uint8Array)) return built.missing;
    probeBuilds.set(probe, built);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

const missing = {
  c: await missingToolchain("loop.c"),
  rs: await missingToolchain("sleep_rust.rs"),
};
for (const [language, why] of Object.entries(missing)) {
  if (why !== undefined) {
    console.log(
      `skipping the rebuild check of the WASI guests in .${language}: ${why}; the committed modules serve`,
    );
  }
}

for (const source of WASI_GUESTS) {
  const why = missing[source.endsWith(".c") ? "c" : "rs"];
  Deno.test({
    name: `guest/wasi/${source} rebuilds to the committed module byte for byte${
      why === undefined ? "" : ` (skipped: ${why})`
    }`,
    ignore: why !== undefined,
    fn: async () => {
      const fresh = probeBuilds.get(source) ?? await compileWasiGuest(source);
      assert.ok(fresh instanceof Uint8Array);
      const committed = await Deno.readFile(wasiGuestUrl(source));
      assert.deepEqual(
        committed,
        fresh,
        `guest/wasi/${source} is stale: run deno task build:guest`,
      );
    },
  });
}

Deno.test("every WASI guest is a command that imports only wasi_snapshot_preview1 and holds no absolute path", async () => {
  for (const source of WASI_GUESTS) {
    const bytes = await Deno.readFile(wasiGuestUrl(source));
    const module = new WebAssembly.Module(bytes);
    assert.ok(
      WebAssembly.Module.imports(module).every((i) =>
        i.module === "wasi_snapshot_preview1"
      ),
      source,
    );
    const exports = WebAssembly.Module.exports(module).map((e) => e.name);
    assert.ok(exports.includes("_start") && exports.includes("memory"), source);
    const text = new TextDecoder("latin1").decode(bytes);
    assert.doesNotMatch(text, /\/(usr|home|root|tmp|build|rustc)\//, source);
  }
});

/** The interpreter built while probing its toolchain: the test's first build. */
let interpreterProbe: Uint8Array | undefined;
const interpreterMissing = await (async () => {
  try {
    const built = await compileInterpreter();
    if (!(built instanceof Uint8Array)) return built.missing;
    interpreterProbe = built;
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
})();
if (interpreterMissing !== undefined) {
  console.log(
    `skipping the rebuild check of guest/interp/interp.wasm: ${interpreterMissing}; the committed module serves`,
  );
}

Deno.test({
  name: `guest/interp/interp.c rebuilds to the committed module byte for byte${
    interpreterMissing === undefined ? "" : ` (skipped: ${interpreterMissing})`
  }`,
  ignore: interpreterMissing !== undefined,
  fn: async () => {
    const first = interpreterProbe ?? await compileInterpreter();
    const second = await compileInterpreter();
    assert.ok(first instanceof Uint8Array && second instanceof Uint8Array);
    assert.deepEqual(first, second, "two builds differ");
    assert.deepEqual(
      await Deno.readFile(INTERPRETER_URL),
      first,
      "guest/interp/interp.wasm is stale: run deno task build:guest",
    );
  },
});

Deno.test("the interpreter guest counts primes, exports only run and memory, imports nothing, and holds no absolute path", async () => {
  const bytes = await Deno.readFile(INTERPRETER_URL);
  const module = new WebAssembly.Module(bytes);
  assert.deepEqual(WebAssembly.Module.imports(module), []);
  assert.deepEqual(
    WebAssembly.Module.exports(module).map((e) => e.name).sort(),
    ["memory", "run"],
  );
  const run = new WebAssembly.Instance(module).exports.run as (
    n: number,
  ) => number;
  // pi(x), the number of primes below x.
  assert.deepEqual([0, 2, 3, 10, 100, 1000, 10_000].map(run), [
    0,
    0,
    1,
    4,
    25,
    168,
    1229,
  ]);
  const text = new TextDecoder("latin1").decode(bytes);
  assert.doesNotMatch(text, /\/(usr|home|root|tmp|build)\//);
});
