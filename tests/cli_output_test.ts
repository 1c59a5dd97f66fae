/**
 * The command line's report, when stdout cannot take it (a full disk): one
 * line on stderr and status 2, never an internal error with a stack trace,
 * whatever the run was to print.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { allRuns, REPO_ROOT } from "./support/cli.ts";

/** Runs main.ts with stdout going to /dev/full, where every write fails. */
async function runToFullDisk(args: string[]) {
  const quoted = args.map((arg) => `'${arg}'`).join(" ");
  const output = await new Deno.Command("sh", {
    args: [
      "-c",
      `exec '${Deno.execPath()}' run --no-prompt --allow-read main.ts ${quoted} >/dev/full`,
    ],
    cwd: REPO_ROOT,
    stdin: "null",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  return { code: output.code, stderr: new TextDecoder().decode(output.stderr) };
}

Deno.test("main.ts: a report stdout cannot take is one line on stderr with status 2", async () => {
  const cases = [
    [], // the seed guest, whose interrupt prints from inside the call
    ["guest/compute.wasm", "--invoke", "fib", "--arg", "5", "--json"],
    ["--no-such-option", "--json"],
  ];
  const runs = await allRuns(cases.map(runToFullDisk));
  runs.forEach((run, i) => {
    const what = cases[i].join(" ");
    assert.equal(run.code, 2, `${what}: ${run.stderr}`);
    const lines = run.stderr.trimEnd().split("\n");
    assert.equal(lines.length, 1, `${what}: ${run.stderr}`);
    assert.match(
      lines[0],
      /^error: cannot write to stdout: No space left on device.*; the report is lost: check where stdout goes/,
      what,
    );
  });
});
