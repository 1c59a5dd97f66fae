/**
 * A WASI command that imports a WASI function with another type than WASI
 * preview1 gives it, or a function WASI preview1 does not have, is refused
 * as it loads, with an `ImportError` that says so in one line: run, it got
 * values of the wrong kind (an exit code that is a bigint or a fraction).
 */

import assert from "./support/assert.ts";
import { wat } from "./support/instrument.ts";
import { runMainHere, sameAsProcess } from "./support/cli.ts";
import { withDirectory } from "./support/temp_directory.ts";
import { isImportError, runWasi } from "../mod.ts";

/** A command that imports `name` with `params` and calls it with `args`. */
function importing(name: string, params: string, args: string) {
  return wat(`(module
    (import "wasi_snapshot_preview1" "${name}" (func $f (param ${params})))
    (memory (export "memory") 1)
    (func (export "_start") (call $f ${args})))`);
}

const CASES: [string, string, string, RegExp][] = [
  ["proc_exit", "i64", "(i64.const 5)", /function \(i32\) -> nil/],
  ["proc_exit", "f64", "(f64.const 3.7)", /function \(i32\) -> nil/],
  ["fd_close", "i32", "(i32.const 9)", /function \(i32\) -> i32/],
  ["fd_frobnicate", "i32", "(i32.const 1)", /WASI preview1/],
];

Deno.test("runWasi refuses a WASI import of the wrong type, or of no WASI function, with one line", async () => {
  for (const [name, params, args, said] of CASES) {
    await assert.rejects(
      async () => runWasi(await importing(name, params, args)),
      (error: Error) => {
        assert.ok(isImportError(error), String(error));
        assert.match(error.message, new RegExp(name));
        assert.match(error.message, said);
        assert.doesNotMatch(error.message, /imports option/);
        assert.equal(error.message.split("\n").length, 1);
        return true;
      },
      name,
    );
  }
});

Deno.test("main.ts refuses a WASI import of the wrong type with status 2 and one line", () =>
  withDirectory(async (directory) => {
    const path = `${directory}/exit.wasm`;
    await Deno.writeFile(
      path,
      await importing("proc_exit", "i64", "(i64.const 5)"),
    );
    for (const json of [[], ["--json"]]) {
      // Plain as a process too, with --json in this process alone.
      const run = json.length > 0
        ? await runMainHere([...json, path])
        : await sameAsProcess([path]);
      assert.equal(run.code, 2, run.stderr + run.stdout);
      const said = json.length > 0 ? run.stdout : run.stderr;
      assert.match(said, /proc_exit/);
      assert.doesNotMatch(said, /--imports/);
      assert.equal(said.trimEnd().split("\n").length, 1, said);
    }
  }));

Deno.test("runWasi refuses an import from outside WASI by saying it supplies only WASI, not by pointing at an imports option it lacks", async () => {
  const bytes = await wat(`(module
    (import "env" "log" (func $log (param i32)))
    (import "wasi_snapshot_preview1" "proc_exit" (func (param i32)))
    (memory (export "memory") 1)
    (func (export "_start") (call $log (i32.const 1))))`);
  await assert.rejects(
    () => runWasi(bytes),
    (error: Error) => {
      assert.ok(isImportError(error), String(error));
      assert.match(
        error.message,
        /^guest import env\.log is not from WASI preview1, and runWasi supplies nothing else: expected function \(i32\) -> nil; build the guest as a WASI command .*or load it with loadGuest/,
      );
      assert.doesNotMatch(error.message, /supply it in the imports option/);
      return true;
    },
  );
});

Deno.test("runWasi's own name is in the message about a wrong fuel or timeout", async () => {
  const bytes = await importing("proc_exit", "i32", "(i32.const 0)");
  await assert.rejects(
    () => runWasi(bytes, { fuel: -1 }),
    RangeError,
    "runWasi's fuel must be",
  );
  await assert.rejects(
    // deno-lint-ignore no-explicit-any
    () => runWasi(bytes, { timeout: "5" as any }),
    TypeError,
    "runWasi's timeout must be",
  );
});

Deno.test("main.ts refuses a WASI command's import from outside WASI with status 2, not by pointing at --imports", () =>
  withDirectory(async (directory) => {
    const path = `${directory}/env.wasm`;
    await Deno.writeFile(
      path,
      await wat(`(module
        (import "env" "log" (func $log (param i32)))
        (import "wasi_snapshot_preview1" "proc_exit" (func (param i32)))
        (memory (export "memory") 1)
        (func (export "_start") (call $log (i32.const 1))))`),
    );
    for (const json of [[], ["--json"]]) {
      // Plain as a process too, with --json in this process alone.
      const run = json.length > 0
        ? await runMainHere([...json, path])
        : await sameAsProcess([path]);
      assert.equal(run.code, 2, run.stderr + run.stdout);
      const said = json.length > 0 ? run.stdout : run.stderr;
      assert.match(
        said,
        /guest import env\.log is not from WASI preview1, the only imports the command line gives a WASI command: .*; build the guest to import only wasi_snapshot_preview1/,
      );
      assert.doesNotMatch(said, /--imports|runWasi|loadGuest/);
      assert.equal(said.trimEnd().split("\n").length, 1, said);
    }
  }));
