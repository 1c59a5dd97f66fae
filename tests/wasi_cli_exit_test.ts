import assert from "./support/assert.ts";
import { wat } from "./support/instrument.ts";
import { runMain } from "./support/cli.ts";
import { withDirectory } from "./support/temp_directory.ts";

/** A command that calls `proc_exit(code)`. */
function exiting(code: number): Promise<Uint8Array> {
  return wat(`(module
    (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
    (memory (export "memory") 1)
    (func (export "_start") (call $exit (i32.const ${code | 0}))))`);
}

Deno.test("main.ts: a WASI command's exit code is the exit status, and a code the system would cut to its low byte is never a success", () =>
  withDirectory(async (directory) => {
    for (
      const [code, status] of [
        [0, 0],
        [3, 3],
        [255, 255],
        [256, 1],
        [512, 1],
        [1000, 1],
        [0xffffffff, 1],
        [-256, 1],
      ]
    ) {
      const path = `${directory}/exit.wasm`;
      await Deno.writeFile(path, await exiting(code));
      const run = await runMain([`--allow-read=${directory}`], [path]);
      assert.equal(run.code, status, `proc_exit(${code}): ${run.stderr}`);
      const json = await runMain([`--allow-read=${directory}`], [
        "--json",
        path,
      ]);
      assert.equal(json.code, status, `--json, proc_exit(${code})`);
      assert.equal(JSON.parse(json.stderr).code, code | 0);
    }
  }));
