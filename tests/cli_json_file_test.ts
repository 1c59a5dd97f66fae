/**
 * The command line's `--json-file FILE`: the object `--json` prints, written
 * to a file instead, with stdout and stderr carrying what they carry
 * without `--json` (the seed's transcript, a WASI command's own output).
 * A file the run could not write is refused before the guest is read.
 */

import assert from "./support/assert.ts";
import { REPO_ROOT, runDeno, spawnDeno } from "./support/cli.ts";
import { runGuarded } from "./support/guarded.ts";
import { withDirectory } from "./support/temp_directory.ts";
import { wasiGuest } from "./support/wasi_guests.ts";
import { writeReportFile } from "../src/cli/cli_report_file.ts";

/** Runs `main.ts` able to read the repository and `directory`, and to write in `directory`. */
function runMain(directory: string, args: string[], write = directory) {
  return runGuarded([
    "run",
    "--no-prompt",
    `--allow-read=.,${directory}`,
    `--allow-write=${write}`,
    "main.ts",
    ...args,
  ]);
}

/** The report a file holds: one JSON object on one line. */
async function reportIn(path: string): Promise<Record<string, unknown>> {
  const text = await Deno.readTextFile(path);
  assert.ok(text.endsWith("}\n"), `one line, ended: ${JSON.stringify(text)}`);
  assert.equal(text.trimEnd().split("\n").length, 1, text);
  return JSON.parse(text);
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("main.ts --json-file: the seed's transcript stays on stdout, and the file holds what --json prints", () =>
  withDirectory(async (directory) => {
    const file = `${directory}/report.json`;
    const run = await runMain(directory, ["--json-file", file]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(
      run.stdout,
      "interrupt_execution called!\nError from exit_early: guest interrupted by host import env.interrupt_execution\nSuccess!\n",
    );
    assert.equal(run.stderr, "");
    const json = await runMain(directory, ["--json"]);
    assert.deepEqual(await reportIn(file), JSON.parse(json.stdout));
    // A second run replaces the report whole.
    const again = await runMain(directory, [
      `--json-file=${file}`,
      "guest/runaway.wasm",
      "--invoke=spin",
      "--fuel=1000",
      "--expect=fuel_exhausted",
    ]);
    assert.equal(again.code, 0, again.stderr);
    const report = await reportIn(file);
    assert.equal(report.outcome, "fuel_exhausted");
    assert.equal(report.export, "spin");
    assert.deepEqual(report.fuel, { consumed: 1000, remaining: 0 });
  }));

Deno.test("main.ts --json-file: a WASI command's stdout and stderr stay its own, and the file holds its exit code", () =>
  withDirectory(async (directory) => {
    const file = `${directory}/report.json`;
    const run = await runMain(directory, [
      "--json-file",
      file,
      "--env",
      "EXIT_CODE=7",
      wasiGuest("hello").pathname,
      "--",
      "a",
      "b",
    ]);
    assert.equal(run.code, 7, run.stderr);
    assert.equal(run.stdout, "hello, a!\nhello, b!\n");
    assert.equal(run.stderr, "2 arguments\n");
    const report = await reportIn(file);
    assert.equal(report.outcome, "exited");
    assert.equal(report.code, 7);
    assert.equal(typeof report.elapsed_ms, "number");
  }));

Deno.test("main.ts --json-file: a WASI command stopped at its deadline is reported in the file, its reason on stderr", () =>
  withDirectory(async (directory) => {
    const file = `${directory}/report.json`;
    const run = await runMain(directory, [
      "--json-file",
      file,
      "--timeout",
      "100",
      wasiGuest("sleep").pathname,
    ]);
    assert.equal(run.code, 124, run.stderr);
    assert.equal(run.stdout, "sleeping\n");
    assert.match(
      run.stderr,
      /^\S*sleep\.wasm: guest stopped at its deadline: 100 ms allowed, stopped after [\d.]+ ms\n$/,
    );
    const report = await reportIn(file);
    assert.equal(report.outcome, "timeout");
    assert.match(String(report.message), /^guest stopped at its deadline/);
  }));

Deno.test("main.ts --json-file: Ctrl-C stops a WASI command with a report in the file, and status 130", () =>
  withDirectory(async (directory) => {
    const file = `${directory}/report.json`;
    const child = spawnDeno([
      "run",
      "--no-prompt",
      `--allow-read=${REPO_ROOT.pathname},${directory}`,
      `--allow-write=${directory}`,
      new URL("main.ts", REPO_ROOT).pathname,
      "--json-file",
      file,
      wasiGuest("sleep").pathname,
    ]);
    let stdout = "";
    const decoder = new TextDecoder();
    for await (const chunk of child.stdout) {
      stdout += decoder.decode(chunk);
      if (stdout.includes("sleeping")) child.kill("SIGINT");
    }
    const stderr = await new Response(child.stderr).text();
    const { code } = await child.status;
    assert.equal(code, 130, stderr);
    assert.equal(stdout, "sleeping\n");
    assert.match(
      stderr,
      /sleep\.wasm: guest call aborted: Ctrl-C \(SIGINT\)\n$/,
    );
    const report = await reportIn(file);
    assert.equal(report.outcome, "aborted");
    assert.match(String(report.message), /Ctrl-C/);
  }));

Deno.test("main.ts --json-file: an --imports module that holds the thread past --timeout is reported in the file before the process is killed", () =>
  withDirectory(async (directory) => {
    const file = `${directory}/report.json`;
    const imports = `${directory}/imports.ts`;
    await Deno.writeTextFile(imports, "while (true) {}\nexport default {};\n");
    const run = await runMain(directory, [
      "--json-file",
      file,
      "guest/runaway.wasm",
      "--invoke=spin",
      "--timeout=100",
      `--imports=${imports}`,
    ]);
    assert.equal(run.signal, "SIGKILL", run.stderr);
    const report = await reportIn(file);
    assert.equal(report.outcome, "timeout");
    assert.equal(report.export, "spin");
    // The file and the console say the same moment.
    const said = /stopped after ([\d.]+) ms/.exec(run.stdout);
    assert.ok(said !== null, run.stdout);
    assert.equal(report.elapsed_ms, Number(said[1]));
    assert.match(String(report.message), /the process was killed\)$/);
  }));

Deno.test("main.ts --json-file: a usage error is said on stderr and written to the file", () =>
  withDirectory(async (directory) => {
    const file = `${directory}/report.json`;
    const run = await runMain(directory, ["--json-file", file, "--fuel=abc"]);
    assert.equal(run.code, 2);
    assert.equal(run.stdout, "");
    assert.match(
      run.stderr,
      /^error: --fuel abc: .*run with --help for usage\n$/,
    );
    const report = await reportIn(file);
    assert.equal(report.outcome, "usage_error");
    assert.match(String(report.message), /^--fuel abc: /);
  }));

Deno.test("main.ts --json-file: a file the run could not write is refused in one line before the guest runs, and nothing is written", () =>
  withDirectory(async (directory) => {
    const file = `${directory}/report.json`;
    const cases: [string[], string, RegExp][] = [
      [
        ["--json-file", file],
        `${directory}/elsewhere`,
        /^error: --json-file \S+ needs permission to write that file: run deno with --allow-write=\S+report\.json; run with --help for usage\n$/,
      ],
      [
        ["--json-file", `${directory}/missing/report.json`],
        directory,
        /^error: --json-file \S+: its directory \S+missing does not exist; make it first/,
      ],
      [
        ["--json-file", directory],
        directory,
        /^error: --json-file \S+ is a directory; name a file to write the report to/,
      ],
      [
        ["--json-file="],
        directory,
        /^error: --json-file needs a file name to write the report to/,
      ],
      [
        ["--json-file", file, "--json-file", file],
        directory,
        /^error: --json-file is given 2 times/,
      ],
    ];
    for (const [args, write, said] of cases) {
      const run = await runMain(directory, args, write);
      assert.equal(run.code, 2, `${args.join(" ")}: ${run.stderr}`);
      assert.equal(run.stdout, "", args.join(" "));
      assert.match(run.stderr, said, args.join(" "));
      assert.equal(run.stderr.split("\n").length, 2, run.stderr);
      assert.equal(await exists(file), false, args.join(" "));
    }
    // With --json as well, the refusal is --json's object on stdout.
    const both = await runMain(directory, ["--json", "--json-file", file]);
    assert.equal(both.code, 2);
    assert.equal(both.stderr, "");
    assert.deepEqual(JSON.parse(both.stdout), {
      outcome: "usage_error",
      message:
        "--json prints the report on the console and --json-file writes it to a file: give one of them",
    });
    assert.equal(await exists(file), false);
  }));

Deno.test("main.ts --json-file: a name that reads as an option, -, the guest or the --imports module is refused, and no file is written", () =>
  withDirectory(async (directory) => {
    const guest = `${directory}/guest.wasm`;
    await Deno.copyFile(new URL("guest/compute.wasm", REPO_ROOT), guest);
    const original = await Deno.readFile(guest);
    await Deno.symlink(guest, `${directory}/link.wasm`);
    const imports = `${directory}/imports.ts`;
    await Deno.writeTextFile(imports, "export default { env: {} };\n");
    const compute = ["--invoke", "fib", "--arg", "3", "guest.wasm"];
    const cases: [string[], RegExp][] = [
      // The parser takes none of these for a name: nor may the report.
      [
        ["--json-file", "--timeout", "5"],
        /^error: --json-file needs a value, such as --json-file=VALUE;/,
      ],
      [["--json-file", "-x"], /^error: --json-file needs a value/],
      [["--json-file", "-1"], /^error: --json-file needs a value/],
      [
        ["--json-file", "-"],
        /^error: --json-file - would write the report to a file named -: for the report on stdout use --json;/,
      ],
      [
        ["--json-file", "guest.wasm", ...compute],
        /^error: --json-file guest\.wasm is the guest, which the report would replace at the run's end: name another file, such as report\.json;/,
      ],
      [
        ["--json-file", "./link.wasm", ...compute],
        /^error: --json-file \.\/link\.wasm is the guest, /,
      ],
      [
        ["--json-file", "imports.ts", "--imports", "imports.ts", ...compute],
        /^error: --json-file imports\.ts is the --imports module, /,
      ],
    ];
    for (const [args, said] of cases) {
      const run = await runDeno([
        "run",
        "--no-prompt",
        `--allow-read=${directory},${REPO_ROOT.pathname}`,
        `--allow-write=${directory}`,
        new URL("main.ts", REPO_ROOT).pathname,
        ...args,
      ], { cwd: directory, signal: AbortSignal.timeout(60_000) });
      assert.equal(run.code, 2, `${args.join(" ")}: ${run.stderr}`);
      assert.equal(run.stdout, "", args.join(" "));
      assert.match(run.stderr, said, args.join(" "));
      assert.equal(run.stderr.split("\n").length, 2, run.stderr);
      assert.deepEqual(
        [...Deno.readDirSync(directory)].map((entry) => entry.name).sort(),
        ["guest.wasm", "imports.ts", "link.wasm"],
        `${args.join(" ")}: no file written`,
      );
      assert.deepEqual(await Deno.readFile(guest), original);
      assert.equal(
        await Deno.readTextFile(imports),
        "export default { env: {} };\n",
      );
    }
  }));

Deno.test("main.ts --json-file: a report file inside a read-write --dir is refused before the WASI command runs", () =>
  withDirectory(async (directory) => {
    const file = `${directory}/shared/report.json`;
    await Deno.mkdir(`${directory}/shared`);
    const run = await runMain(directory, [
      "--json-file",
      file,
      "--dir",
      `${directory}/shared::/data`,
      wasiGuest("hello").pathname,
      "--",
      "a",
    ]);
    assert.equal(run.code, 2, run.stderr);
    assert.equal(run.stdout, "", "the guest never ran");
    assert.match(
      run.stderr,
      /^error: --json-file \S+ is inside --dir \S+shared, where the guest could replace it with a link to another file before the report is written: keep the report elsewhere; run with --help for usage\n$/,
    );
  }));

Deno.test("writeReportFile says in one line why a report could not be written", () =>
  withDirectory(async (directory) => {
    const path = `${directory}/gone/report.json`;
    const why = writeReportFile(path, "{}");
    assert.match(
      why ?? "",
      /^cannot write the report to --json-file \S+report\.json: .+; the report is lost: check that file's directory and permissions$/,
    );
    assert.equal(writeReportFile(`${directory}/report.json`, "{}"), undefined);
    assert.equal(await Deno.readTextFile(`${directory}/report.json`), "{}\n");
  }));
