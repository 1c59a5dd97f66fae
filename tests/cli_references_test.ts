/**
 * The command line names a reference result (a GC struct, a function) in
 * text and in JSON. A file of its own, away from `cli_args_test.ts`: its
 * guest is assembled with binaryen, which the files that load it share a
 * process to load once.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { runMainHere, sameAsProcess } from "./support/cli.ts";
import { watBinaryen } from "./support/instrument.ts";

Deno.test("CLI: a reference result (a GC struct, a function) is named, in text and in JSON, not an internal error", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(
      `${dir}/refs.wasm`,
      await watBinaryen(`(module
        (type $s (struct (field i32)))
        (func $f (export "f"))
        (func (export "struct") (result anyref) (struct.new $s (i32.const 5)))
        (func (export "func") (result funcref) (ref.func $f))
        (func (export "both") (result anyref funcref)
          (struct.new $s (i32.const 5)) (ref.func $f)))`),
    );
    const shown: [string, string, unknown][] = [
      [
        "struct",
        "a reference (a GC struct or array)",
        "a reference (a GC struct or array)",
      ],
      ["func", "a function reference", "a function reference"],
      ["both", "[a reference (a GC struct or array), a function reference]", [
        "a reference (a GC struct or array)",
        "a function reference",
      ]],
    ];
    for (const [i, [name, text, value]] of shown.entries()) {
      const args = [`${dir}/refs.wasm`, "--invoke", name];
      // The first as a process too, the others in this process alone.
      const plain = await (i === 0 ? sameAsProcess : runMainHere)(args);
      assert.equal(plain.code, 0, plain.stderr);
      assert.equal(plain.stdout, `${name} returned: ${text}\nSuccess!\n`);
      const json = await runMainHere([...args, "--json"]);
      assert.equal(json.code, 0, json.stderr);
      assert.deepEqual(JSON.parse(json.stdout).value, value, name);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
