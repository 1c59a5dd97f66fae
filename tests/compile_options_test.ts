/**
 * A guest that needs compile options (JS String Builtins) loads metered and
 * not, and an immutable reference-typed global import takes any value.
 */

import assert from "./support/assert.ts";
import { assembleWat } from "../guest/build.ts";
import { isImportError, loadGuest } from "../mod.ts";
import { expectOutcome } from "./support/outcome.ts";

const STRINGS = `(module
  (import "wasm:js-string" "length" (func $length (param externref) (result i32)))
  (import "'" "hello, world" (global $greeting externref))
  (func (export "greeting_length") (result i32)
    (call $length (global.get $greeting))))`;

const COMPILE = { builtins: ["js-string"], importedStringConstants: "'" };

for (const metered of [false, true]) {
  Deno.test(`loadGuest passes compile options on (${metered ? "metered" : "plain"})`, async () => {
    const bytes = await assembleWat(STRINGS);
    const guest = await loadGuest(bytes, {
      compile: COMPILE,
      ...(metered ? { fuel: 1_000, timeout: 60_000 } : {}),
    });
    const result = expectOutcome(guest.invoke("greeting_length"), "returned");
    assert.equal(result.value, "hello, world".length);
  });
}

Deno.test("without the compile options, the builtins are missing imports", async () => {
  await assert.rejects(
    loadGuest(await assembleWat(STRINGS)),
    (error: unknown) =>
      isImportError(error) && /wasm:js-string\.length/.test(error.message),
  );
});

Deno.test("an immutable externref global import takes a plain value", async () => {
  const bytes = await assembleWat(`(module
    (import "env" "label" (global $label externref))
    (func (export "label") (result externref) (global.get $label)))`);
  for (const fuel of [undefined, 1_000]) {
    const guest = await loadGuest(bytes, {
      // TypeScript's WebAssembly.ImportValue lacks the values V8 takes here.
      imports: { env: { label: "a plain string" as unknown as number } },
      ...(fuel === undefined ? {} : { fuel }),
    });
    const result = expectOutcome(guest.invoke("label"), "returned");
    assert.equal(result.value, "a plain string");
  }
});

Deno.test("a numeric global import still refuses a value of the wrong kind", async () => {
  const bytes = await assembleWat(
    `(module (import "env" "n" (global i32)))`,
  );
  await assert.rejects(
    loadGuest(bytes, {
      imports: { env: { n: "not a number" as unknown as number } },
    }),
    (error: unknown) => isImportError(error) && /env\.n/.test(error.message),
  );
});
