import assert from "./support/assert.ts";
import { wat } from "./support/instrument.ts";
import { allRuns, runMain } from "./support/cli.ts";
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
    // Each code has its own file and processes: they run at once.
    const cases = [
      [0, 0],
      [3, 3],
      [255, 255],
      [256, 1],
      [512, 1],
      [1000, 1],
      [0xffffffff, 1],
      [-256, 1],
    ];
    await allRuns(cases.map(async ([code, status], i) => {
      const path = `${directory}/exit-${i}.wasm`;
      await Deno.writeFile(path, await exiting(code));
      const [run, json] = await allRuns([
        runMain([`--allow-read=${directory}`], [path]),
        runMain([`--allow-read=${directory}`], ["--json", path]),
      ]);
      assert.equal(run.code, status, `proc_exit(${code}): ${run.stderr}`);
      assert.equal(json.code, status, `--json, proc_exit(${code})`);
      assert.equal(JSON.parse(json.stderr).code, code | 0);
    }));
  }));
