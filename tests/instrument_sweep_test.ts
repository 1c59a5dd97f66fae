/**
 * Real-world and conformance sweeps: esbuild.wasm, and every module of the
 * spec test suite that wabt assembles and V8 accepts, must stay valid once
 * metered. Each is skipped, saying so, where its inputs are missing.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { instrument } from "../src/wasm/instrument.ts";
import { findNpmFile } from "../bench/npm.ts";
import { FEATURES, validateWat, wabt } from "./support/instrument.ts";
import type { Bytes } from "./support/module_bytes.ts";
import { suiteFiles } from "./support/testsuite.ts";
import { parseScript } from "./support/wast/mod.ts";

const esbuildWasm = await findNpmFile("esbuild-wasm", "esbuild.wasm");

Deno.test({
  name: "instrument() rewrites esbuild.wasm into a valid module",
  ignore: esbuildWasm === undefined,
  fn() {
    const bytes = Deno.readFileSync(esbuildWasm!);
    const metered = instrument(bytes);
    assert.ok(WebAssembly.validate(metered.bytes));
  },
});

/** The suite's top-level scripts (the legacy ones add no new operators). */
const { files } = suiteFiles({ legacy: false });

/** The text of each `(module …)` command of a script, as wabt takes it. */
function* textModules(script: string): Generator<string> {
  for (const command of parseScript(script)) {
    if (
      command.type === "module" && !command.module.definition &&
      command.module.source.kind === "text"
    ) yield command.module.source.text;
  }
}

Deno.test({
  name: "instrument() keeps every spec testsuite module valid",
  ignore: files.length === 0,
  async fn() {
    const w = await wabt();
    let checked = 0;
    for (const file of files) {
      for (const source of textModules(Deno.readTextFileSync(file))) {
        let bytes: Bytes;
        try {
          const module = w.parseWat("spec.wat", source, FEATURES);
          try {
            validateWat(module);
            bytes = module.toBinary({ write_debug_names: true })
              .buffer as Bytes;
          } finally {
            module.destroy();
          }
        } catch {
          continue; // wabt cannot parse every proposal's text
        }
        if (!WebAssembly.validate(bytes)) continue;
        const metered = instrument(bytes);
        assert.ok(
          WebAssembly.validate(metered.bytes),
          `${file}: ${source.slice(0, 80)}`,
        );
        checked++;
      }
    }
    assert.ok(checked > 1000, `only ${checked} modules checked`);
  },
});
