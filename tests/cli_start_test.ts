import assert from "./support/assert.ts";
import { assembleWat } from "../guest/build.ts";
import { runGuarded } from "./support/guarded.ts";
import { untilTheGuestRuns } from "./support/cli.ts";

const SETS_GLOBAL = `
(module
  (global $g (mut i32) (i32.const 0))
  (func $s (global.set $g (i32.const 9)))
  (start $s)
  (func (export "get") (result i32) (global.get $g)))
`;

const RUNAWAY_START = `
(module
  (func $s (loop $forever (br $forever)))
  (start $s)
  (func (export "get") (result i32) (i32.const 1)))
`;

/** Writes the guest to a temporary file and runs the CLI on it. */
async function runOn(wat: string, args: string[]) {
  const path = await Deno.makeTempFile({ suffix: ".wasm" });
  try {
    await Deno.writeFile(path, await assembleWat(wat));
    return await runGuarded([
      "run",
      "--no-prompt",
      "--allow-read",
      "main.ts",
      ...args,
      path,
    ]);
  } finally {
    await Deno.remove(path);
  }
}

Deno.test("the CLI runs a guest with a start function", async () => {
  const run = await runOn(SETS_GLOBAL, ["--invoke", "get"]);
  assert.equal(run.stdout, "get returned: 9\nSuccess!\n", run.stderr);
  assert.equal(run.stderr, "");
  assert.equal(run.code, 0);
});

/** The CLI on the runaway start function, until that function began. */
async function untilTheStartRuns(
  args: string[],
  started: (stdout: string) => boolean,
) {
  const { run } = await untilTheGuestRuns(
    (timeoutFlag) => runOn(RUNAWAY_START, [...args, timeoutFlag]),
    (run) => started(run.stdout),
  );
  return run;
}

Deno.test("a runaway start function under --timeout ends as a timeout", async () => {
  const run = await untilTheStartRuns(
    ["--invoke", "get"],
    (stdout) => stdout.startsWith("Error from (start)"),
  );
  assert.equal(run.code, 1, run.stderr);
  assert.match(
    run.stdout,
    /^Error from \(start\): guest stopped at its deadline/,
  );
  assert.match(run.stderr, /^expected outcome returned, got timeout\n$/);
  const expected = await untilTheStartRuns(
    ["--invoke", "get", "--expect", "timeout", "--json"],
    (stdout) => JSON.parse(stdout).export === "(start)",
  );
  assert.equal(expected.code, 0, expected.stderr);
  const record = JSON.parse(expected.stdout);
  assert.equal(record.outcome, "timeout");
  assert.equal(record.export, "(start)");
});

Deno.test("a runaway start function under --fuel runs out of fuel", async () => {
  const run = await runOn(RUNAWAY_START, [
    "--invoke",
    "get",
    "--fuel",
    "1000",
    "--json",
  ]);
  assert.equal(run.code, 1, run.stderr);
  const record = JSON.parse(run.stdout);
  assert.equal(record.outcome, "fuel_exhausted");
});
