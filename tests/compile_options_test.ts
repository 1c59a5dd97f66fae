/**
 * A guest that needs compile options (JS String Builtins) loads metered and
 * not, and an immutable reference-typed global import takes any value.
 */

import assert from "./support/assert.ts";
import { assembleWat } from "../guest/build.ts";
import { isImportError, loadGuest } from "../mod.ts";
import { expectOutcome } from "./support/outcome.ts";
import { runDeno } from "./support/cli.ts";

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

Deno.test("loadGuest refuses builtin sets it does not know, and malformed compile options", async () => {
  const bytes = await assembleWat(STRINGS);
  const refusals: [unknown, RegExp][] = [
    [{ builtins: ["text-decoder"] }, /compile\.builtins names "text-decoder"/],
    [{ builtins: ["js-string", "foo"] }, /compile\.builtins names "foo"/],
    [{ builtins: "js-string" }, /compile\.builtins must be an array/],
    [{ builtins: [7] }, /compile\.builtins names number/],
    [
      { importedStringConstants: 1 },
      /importedStringConstants must be a string/,
    ],
    [{ builtin: ["js-string"] }, /compile has no option "builtin"/],
    [5, /compile must be an object/],
  ];
  for (const [compile, message] of refusals) {
    for (const fuel of [undefined, 1_000]) {
      await assert.rejects(
        loadGuest(bytes, { compile: compile as never, fuel }),
        (error: unknown) =>
          error instanceof TypeError && message.test(error.message) &&
          !error.message.includes("\n"),
      );
    }
  }
});

/**
 * Script text that builds `bytes`: a guest importing the text decoder that
 * `--experimental-wasm-imported-strings-utf8` adds, in a loop.
 */
const DECODER_GUEST = `
    // (type $bytes (array (mut i8)))
    // (import "wasm:text-decoder" "decodeStringFromUTF8Array"
    //   (func $decode (param (ref null $bytes) i32 i32) (result (ref extern))))
    // (func (export "f") (local $a (ref null $bytes))
    //   (local.set $a (array.new_default $bytes (i32.const 1024)))
    //   (loop (drop (call $decode (local.get $a) (i32.const 0)
    //     (i32.const 1024))) (br 0)))
    const name = (text) => [text.length, ...new TextEncoder().encode(text)];
    const body = [
      0x01, 0x01, 0x63, 0x00, 0x41, 0x80, 0x08, 0xfb, 0x07, 0x00, 0x21, 0x00,
      0x03, 0x40, 0x20, 0x00, 0x41, 0x00, 0x41, 0x80, 0x08, 0x10, 0x00, 0x1a,
      0x0c, 0x00, 0x0b, 0x0b,
    ];
    const imports = [
      0x01, ...name("wasm:text-decoder"), ...name("decodeStringFromUTF8Array"),
      0x00, 0x01,
    ];
    const bytes = new Uint8Array([
      0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
      0x01, 0x10, 0x03, 0x5e, 0x78, 0x01, 0x60, 0x03, 0x63, 0x00, 0x7f, 0x7f,
      0x01, 0x64, 0x6f, 0x60, 0x00, 0x00,
      0x02, imports.length, ...imports,
      0x03, 0x02, 0x01, 0x02,
      0x07, 0x05, 0x01, 0x01, 0x66, 0x00, 0x01,
      0x0a, body.length + 2, 0x01, body.length, ...body,
    ]);
`;

/**
 * Runs `script` in a process whose engine adds the text decoder's builtins,
 * and gives what it printed as JSON.
 */
async function printedUnderFlag(script: string) {
  const run = await runDeno([
    "eval",
    "--v8-flags=--experimental-wasm-imported-strings-utf8",
    `${script}\nDeno.exit(0);`,
  ]);
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout);
}

Deno.test("a builtin set that an engine flag adds is refused, not run unpaid", async () => {
  // Under --experimental-wasm-imported-strings-utf8, the engine supplies
  // wasm:text-decoder, whose calls the rewriter does not price: a loop
  // decoding a 2 MiB array per turn ran 23 s on a budget of 3 * 10^6.
  const script = `
    import { loadGuest } from "./mod.ts";
    ${DECODER_GUEST}
    const compile = { builtins: ["text-decoder"] };
    const accepted = WebAssembly.validate(bytes, compile);
    let refused = "";
    try { await loadGuest(bytes, { fuel: 1_000_000, compile }); }
    catch (error) { refused = String(error); }
    console.log(JSON.stringify({ accepted, refused }));
  `;
  const { accepted, refused } = await printedUnderFlag(script);
  assert.ok(accepted, "the engine takes the set under the flag");
  assert.match(refused, /^TypeError: .*compile\.builtins names "text-decoder"/);
});

Deno.test("compile.builtins is read once: a getter cannot show the check one set and the engine another", async () => {
  // The same guest as above, under the same flag, its set named by a getter
  // that says "js-string" to the first look and "text-decoder" after. It
  // was read four times, so the check and the engine could see different
  // sets (the rewriter's own refusal of a metered guest's import of the
  // text decoder held meanwhile).
  const script = `
    import { loadGuest } from "./mod.ts";
    ${DECODER_GUEST}
    let reads = 0;
    const builtins = Object.defineProperty([""], "0", {
      get: () => reads++ === 0 ? "js-string" : "text-decoder",
    });
    let refused = "";
    try { await loadGuest(bytes, { fuel: 1_000_000, compile: { builtins } }); }
    catch (error) { refused = String(error); }
    console.log(JSON.stringify({ reads, refused }));
  `;
  const { reads, refused } = await printedUnderFlag(script);
  assert.equal(reads, 1);
  // Compiled with the set the check saw, whose imports do not include the
  // text decoder's: the guest's import of it is missing.
  assert.match(refused, /^ImportError: .*wasm:text-decoder/);
});

Deno.test("string constants under the rewriter's module name leave its added imports alone", async () => {
  // V8 takes every import of the constants' module as a string constant: the
  // rewriter's added imports under that name failed the compile ("String
  // constant import ... out_of_fuel must be an immutable global"), or took the
  // stop machinery with them.
  const cases: [string, string, string][] = [
    // The guest imports nothing from it: the rewriter's default name.
    ["early-exit", `(import "env" "s" (global $s externref))`, "x"],
    // The guest imports a function from "early-exit": the rewriter suffixes
    // its own with -1, the constants' module.
    [
      "early-exit-1",
      `(import "early-exit" "f" (func $f))
       (import "early-exit-1" "hello" (global $s externref))`,
      "hello",
    ],
  ];
  for (const [module, imports, text] of cases) {
    const bytes = await assembleWat(`(module
      (import "wasm:js-string" "length" (func $length (param externref) (result i32)))
      ${imports}
      (func (export "length") (result i32) (call $length (global.get $s)))
      (func (export "spin") (loop (br 0))))`);
    const compile = {
      builtins: ["js-string"],
      importedStringConstants: module,
    };
    const supplied = {
      env: { s: "x" as unknown as number },
      "early-exit": { f: () => {} },
    };
    for (const async of [false, true]) {
      for (const options of [{ fuel: 1_000 }, { timeout: 50 }]) {
        const guest = await loadGuest(bytes, {
          ...options,
          async,
          compile,
          imports: supplied,
        });
        const call = (name: string) =>
          async
            ? guest.invokeAsync(name, [], options)
            : Promise.resolve(guest.invoke(name, [], options));
        const length = expectOutcome(await call("length"), "returned");
        assert.equal(length.value, text.length, module);
        expectOutcome(
          await call("spin"),
          "fuel" in options ? "fuel_exhausted" : "timeout",
        );
      }
    }
  }
});
