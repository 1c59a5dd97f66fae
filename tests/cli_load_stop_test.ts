/**
 * Ctrl-C while the command line loads a guest (rewrites and compiles it):
 * the call is reported aborted, for the start function only when the guest
 * has one, else for the export it was loaded to call.
 */

import assert from "./support/assert.ts";
import { wat } from "./support/instrument.ts";
import { pressCtrlC } from "./support/sigint.ts";
import { withDirectory } from "./support/temp_directory.ts";

/**
 * A guest large enough that rewriting it takes a while (tens of
 * thousands of functions), with an export that spins and no start
 * function.
 */
async function largeGuest(): Promise<Uint8Array> {
  const body = "(local.get 0) (i32.const 3) (i32.mul) (drop) ".repeat(20);
  const functions = Array.from(
    { length: 20_000 },
    (_, i) => `(func $f${i} (param i32) (result i32) ${body} (local.get 0))`,
  ).join("\n");
  return await wat(`(module ${functions}
    (func (export "spin") (loop $again (br $again))))`);
}

Deno.test("main.ts: Ctrl-C while a guest without a start function loads names the export, not (start)", () =>
  withDirectory(async (directory) => {
    const path = `${directory}/large.wasm`;
    await Deno.writeFile(path, await largeGuest());
    const run = await pressCtrlC([path, "--invoke=spin"]);
    assert.equal(run.code, 130, run.stderr);
    assert.equal(
      run.stdout,
      "Error from spin: guest call aborted: Ctrl-C (SIGINT)\n",
    );
  }));
