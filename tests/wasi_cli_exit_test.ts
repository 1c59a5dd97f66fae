import assert from "./support/assert.ts";
import { wat } from "./support/instrument.ts";
import { allRuns, runMainHere, sameAsProcess } from "./support/cli.ts";
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
    // Each code has its own file. Two, 3 and 256, run as processes too,
    // which must exit as main() returns here; the rest in this process.
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
    const paths = await allRuns(cases.map(async ([code], i) => {
      const path = `${directory}/exit-${i}.wasm`;
      await Deno.writeFile(path, await exiting(code));
      return path;
    }));
    // proc_exit(3) and proc_exit(256) as processes too.
    await allRuns([1, 3].map((i) => sameAsProcess([paths[i]!])));
    for (const [i, [code, status]] of cases.entries()) {
      const path = paths[i]!;
      const run = await runMainHere([path]);
      const json = await runMainHere(["--json", path]);
      assert.equal(run.code, status, `proc_exit(${code}): ${run.stderr}`);
      assert.equal(json.code, status, `--json, proc_exit(${code})`);
      assert.equal(JSON.parse(json.stderr).code, code | 0);
    }
  }));
