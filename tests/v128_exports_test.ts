/**
 * An export that takes or returns a v128 (or an exception reference)
 * cannot be called from JavaScript with any arguments: the refusal says so
 * first, rather than asking for an argument that would then be refused too.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { isExportError, isImportError, loadGuest } from "../mod.ts";
import { wat } from "./support/instrument.ts";
import { runMain } from "./support/cli.ts";

const V128 = await wat(`(module
  (func (export "takes") (param v128))
  (func (export "gives") (result v128) (v128.const i64x2 0 0))
  (func (export "both") (param v128 i32) (result v128) (local.get 0)))`);

const SAYS_V128 = /uses v128, which JavaScript cannot pass or receive/;

Deno.test("invoke of a v128 export says it uses v128, whatever arguments it is given", async () => {
  const guest = await loadGuest(V128);
  for (
    const [name, args] of [["takes", []], ["takes", [1]], ["gives", []], [
      "both",
      [],
    ], ["both", [1, 2, 3]]] as const
  ) {
    assert.throws(
      () => guest.invoke(name, [...args]),
      (error) => isExportError(error) && SAYS_V128.test(error.message),
      `${name}(${args.join(", ")})`,
    );
  }
});

Deno.test("invoke of an exnref export says it uses exnref, not the engine's words", async () => {
  const guest = await loadGuest(
    await wat(`(module
      (func (export "gives") (result exnref) (ref.null exn))
      (func (export "takes") (param i32 exnref))
      (func (export "pair") (param i32) (result i32 exnref)
        (local.get 0) (ref.null exn)))`),
    { fuel: 1_000 },
  );
  for (
    const [name, args] of [["gives", []], ["takes", [1, null]], ["pair", [
      1,
    ]]] as const
  ) {
    assert.throws(
      () => guest.invoke(name, [...args]),
      (error) =>
        isExportError(error) &&
        /uses exnref, which JavaScript cannot pass or receive/.test(
          error.message,
        ),
      name,
    );
  }
  // Refused before the guest runs.
  assert.equal(guest.meter!.consumed, 0);
});

Deno.test("CLI: a v128 export without --arg is one line that names v128, exit 2", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(`${dir}/v128.wasm`, V128);
    const run = await runMain(["--allow-read"], [
      `${dir}/v128.wasm`,
      "--invoke",
      "takes",
    ]);
    assert.equal(run.code, 2);
    assert.equal(run.stdout, "");
    assert.equal(run.stderr.trimEnd().split("\n").length, 1, run.stderr);
    assert.match(run.stderr, /v128/);
    assert.doesNotMatch(run.stderr, /give one for each parameter/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a host import that takes or returns v128 or exnref is an ImportError naming the import, at load", async () => {
  const imports = {
    env: {
      takes: () => {},
      gives: () => 0,
      catches: () => {},
      plain: () => 0,
    },
  };
  for (
    const [name, type, imported] of [
      ["takes", "v128", "(param i32 v128)"],
      ["gives", "v128", "(result v128)"],
      ["catches", "exnref", "(param exnref)"],
      // The runner's own import, which the imports do not supply.
      ["interrupt_execution", "v128", "(param v128)"],
    ] as const
  ) {
    // The export is fine: before, the engine's refusal at the import's call
    // was reported as this export's ExportError.
    const bytes = await wat(`(module
      (import "env" "plain" (func $plain (result i32)))
      (import "env" "${name}" (func $bad ${imported}))
      (func (export "run") (result i32) (call $plain)))`);
    for (const options of [{}, { fuel: 1_000 }, { async: true }]) {
      await assert.rejects(
        loadGuest(bytes, { ...options, imports }),
        (error) =>
          isImportError(error) && error.importName === `env.${name}` &&
          error.message.includes(`uses ${type}`) &&
          !error.message.includes('"run"') && !error.message.includes("\n"),
        `${name} ${JSON.stringify(options)}`,
      );
    }
  }
});
