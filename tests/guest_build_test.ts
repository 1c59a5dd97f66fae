import assert from "./support/assert.ts";
import { assembleWat, listWatGuests } from "../guest/build.ts";
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
