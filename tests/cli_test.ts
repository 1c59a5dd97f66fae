import assert from "./support/assert.ts";
import { withDirectory } from "./support/temp_directory.ts";
import {
  allRuns,
  type Finished,
  runMain,
  runMainHere,
  sameAsProcess,
  untilTheGuestRuns,
} from "./support/cli.ts";
import { pressCtrlC } from "./support/sigint.ts";
import { assembleWat } from "../guest/build.ts";

const TRANSCRIPT = [
  "interrupt_execution called!",
  "Error from exit_early: guest interrupted by host import env.interrupt_execution",
  "Success!",
  "",
].join("\n");

function assertOneLineError(stderr: string, pattern: RegExp): void {
  const lines = stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `expected one line on stderr, got:\n${stderr}`);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(stderr, /\bat .*:\d+:\d+/, "no stack trace");
}

Deno.test("deno run --allow-read main.ts prints the seed's transcript and exits 0", async () => {
  const run = await runMain(["--allow-read"]);
  assert.equal(run.stdout, TRANSCRIPT);
  assert.equal(run.stderr, "");
  assert.equal(run.code, 0);
});

Deno.test("least privilege: --allow-read=guest is enough", async () => {
  const run = await runMain(["--allow-read=guest"]);
  assert.equal(run.stdout, TRANSCRIPT);
  assert.equal(run.code, 0);
});

Deno.test("the Rust build of the seed guest runs the same way", async () => {
  const run = await runMainHere(["guest/early_exit_guest_rust.wasm"]);
  assert.equal(run.stdout, TRANSCRIPT);
  assert.equal(run.code, 0);
});

Deno.test("without read permission: one line naming the flag, exit 2", async () => {
  const run = await runMain([]);
  assert.equal(run.code, 2);
  assert.equal(run.stdout, "");
  assertOneLineError(
    run.stderr,
    /run again with --allow-read=guest\/early_exit_guest\.wasm/,
  );
});

Deno.test("a missing file, a directory and a non-wasm file each give one line and exit 2", async () => {
  const cases: [string, RegExp][] = [
    ["missing.wasm", /guest file not found: missing\.wasm; check the path/],
    ["guest", /guest is a directory, not a \.wasm file/],
    ["deno.json", /deno\.json is not a WebAssembly module/],
  ];
  // In this process: the messages need no permission missing, and the
  // other tests here show that main.ts answers alike as a process.
  const runs: Finished[] = [];
  for (const [path] of cases) runs.push(await runMainHere([path]));
  cases.forEach(([path, pattern], i) => {
    assert.equal(runs[i].code, 2, path);
    assertOneLineError(runs[i].stderr, pattern);
  });
});

Deno.test("a corrupt module gives one line and exit 2", async () => {
  const path = await Deno.makeTempFile({ suffix: ".wasm" });
  try {
    await Deno.writeFile(
      path,
      new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 9, 9]),
    );
    const run = await runMainHere([path]);
    assert.equal(run.code, 2);
    assertOneLineError(run.stderr, /is not a valid WebAssembly module/);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("--json prints one object", async () => {
  const run = await runMainHere(["--json"]);
  assert.equal(run.code, 0);
  assert.deepEqual(JSON.parse(run.stdout), {
    outcome: "interrupted",
    export: "exit_early",
    message: "guest interrupted by host import env.interrupt_execution",
  });
  assert.equal(run.stdout.trimEnd().split("\n").length, 1);
});

Deno.test("a guest whose exit_early returns: 'did not error', exit 1; other exports expect returned", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/returns.wasm`;
    await Deno.writeFile(
      path,
      await assembleWat(`(module
        (import "env" "interrupt_execution" (func $stop))
        (func (export "exit_early") (result i32) (i32.const 42))
        (func (export "add") (param i32 i64) (result i64) (i64.add (i64.extend_i32_s (local.get 0)) (local.get 1)))
        (func (export "boom") (unreachable)))`),
    );
    const seedLike = await sameAsProcess([path]);
    assert.equal(seedLike.code, 1);
    assert.equal(seedLike.stdout, "");
    assert.equal(
      seedLike.stderr,
      "exit_early did not error. Returned the value: 42\n",
    );

    const add = await runMainHere([
      path,
      "--invoke",
      "add",
      "--arg",
      "2",
      "--arg",
      "9007199254740993",
    ]);
    assert.equal(add.code, 0, add.stderr);
    assert.equal(add.stdout, "add returned: 9007199254740995\nSuccess!\n");

    const addJson = await runMainHere([
      path,
      "--invoke=add",
      "--arg=1",
      "--arg=2",
      "--json",
    ]);
    assert.deepEqual(JSON.parse(addJson.stdout), {
      outcome: "returned",
      export: "add",
      value: 3,
      message: "add returned 3",
    });

    const boom = await runMainHere([
      path,
      "--invoke",
      "boom",
      "--json",
    ]);
    assert.equal(boom.code, 1);
    assert.equal(JSON.parse(boom.stdout).outcome, "trap");
    assert.equal(JSON.parse(boom.stdout).trap, "unreachable");

    const boomExpected = await runMainHere([
      path,
      "--invoke",
      "boom",
      "--expect",
      "trap",
    ]);
    assert.equal(boomExpected.code, 0);
    assert.match(
      boomExpected.stdout,
      /^Error from boom: guest trapped \(unreachable\): unreachable\nSuccess!\n$/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an export whose name holds control characters is named in one line, escaped", () =>
  withDirectory(async (dir) => {
    const path = `${dir}/names.wasm`;
    // wat strings take bytes as \hh: a newline, an escape and a bell.
    const raw = "two\nlines\u001b[2J\u0007";
    await Deno.writeFile(
      path,
      await assembleWat(`(module
        (func (export "two\\0alines\\1b[2J\\07") (unreachable))
        (func (export "also\\0aok") (result i32) (i32.const 7)))`),
    );
    const trapped = await runMainHere([path, "--invoke", raw]);
    assert.equal(trapped.code, 1);
    assert.equal(
      trapped.stdout,
      "Error from two\\nlines\\u001b[2J\\u0007: guest trapped (unreachable): unreachable\n",
    );
    assert.equal(
      trapped.stderr,
      "expected outcome returned, got trap\n",
    );
    const returned = await runMainHere([path, "--invoke", "also\nok"]);
    assert.equal(returned.code, 0, returned.stderr);
    assert.equal(returned.stdout, "also\\nok returned: 7\nSuccess!\n");
    const unexpected = await runMainHere([
      path,
      "--invoke",
      "also\nok",
      "--expect",
      "trap",
    ]);
    assert.equal(unexpected.code, 1);
    assert.equal(
      unexpected.stderr,
      "also\\nok did not error. Returned the value: 7\n",
    );
  }));

Deno.test("usage errors exit 2 with one line; --help documents outcomes and exit codes", async () => {
  const usage = [
    [
      ["--bogus"],
      /^error: unknown option --bogus; run with --help for usage$/,
    ],
    [
      ["--expect", "maybe"],
      /--expect must be one of returned, interrupted, fuel_exhausted, timeout, trap, error, aborted, out_of_memory;/,
    ],
    [
      ["--invoke", "nope"],
      /has no export named "nope"; its function exports are: exit_early/,
    ],
    [["--arg", "1"], /takes 0 argument/],
    [
      ["a.wasm", "b.wasm"],
      /expected at most one guest, got 2: a\.wasm b\.wasm; a WASI command's arguments go after --, as in: main\.ts a\.wasm -- b\.wasm;/,
    ],
    [["--fuel"], /^error: --fuel needs a value, such as --fuel=VALUE;/],
    [["--invoke", "--fuel", "9"], /^error: --invoke needs a value, such/],
    [["--json=1"], /^error: --json takes no value: give --json alone;/],
  ] as [string[], RegExp][];
  // The first as a process too, the others in this process alone.
  const [help, ...runs] = await allRuns([
    runMain([], ["--help"]),
    sameAsProcess(usage[0]![0]),
  ]);
  for (const [args] of usage.slice(1)) runs.push(await runMainHere(args));
  usage.forEach(([args, pattern], i) => {
    assert.equal(runs[i].code, 2, args.join(" "));
    assertOneLineError(runs[i].stderr, pattern);
  });
  assert.equal(help.code, 0);
  for (
    const word of [
      "--invoke",
      "--arg",
      "--json",
      "--expect",
      "Exit status",
      "--allow-read",
    ]
  ) {
    assert.ok(help.stdout.includes(word), word);
  }
});

Deno.test("--fuel meters the call: fuel_exhausted with the fuel in --json", async () => {
  const run = await runMainHere([
    "guest/compute.wasm",
    "--invoke=fib",
    "--arg=30",
    "--fuel=100000",
    "--json",
  ]);
  assert.equal(run.code, 1);
  const result = JSON.parse(run.stdout);
  assert.equal(result.outcome, "fuel_exhausted");
  assert.equal(result.fuel.consumed + result.fuel.remaining, 100_000);
  const enough = await runMainHere([
    "guest/compute.wasm",
    "--invoke=sum_to",
    "--arg=10",
    "--fuel=1000",
    "--json",
  ]);
  assert.equal(enough.code, 0);
  assert.deepEqual(JSON.parse(enough.stdout).fuel, {
    consumed: 155,
    remaining: 845,
  });
});

Deno.test("--timeout stops a runaway guest: outcome timeout with elapsed time and fuel", async () => {
  const { run, timeout } = await untilTheGuestRuns(
    (timeoutFlag) =>
      runMainHere([
        "guest/runaway.wasm",
        "--invoke=spin",
        timeoutFlag,
        "--expect=timeout",
        "--json",
      ]),
    // A report without the call's fuel: the deadline passed before it.
    (run) => JSON.parse(run.stdout).fuel !== undefined,
  );
  assert.equal(run.code, 0, run.stderr);
  const result = JSON.parse(run.stdout);
  assert.equal(result.outcome, "timeout");
  assert.ok(
    result.elapsed_ms >= timeout,
    `stopped early: ${result.elapsed_ms}`,
  );
  assert.ok(result.fuel.consumed > 0);
  assert.equal(result.fuel.remaining, null);
});

Deno.test("Ctrl-C (SIGINT) stops a long guest call cleanly: outcome aborted, exit 130", async () => {
  // Ctrl-C is pressed once the CLI listens for it: it adds the listener
  // right before it starts the call, and the call never ends by itself.
  const run = await pressCtrlC([
    "guest/runaway.wasm",
    "--invoke=count_forever",
  ]);
  assert.equal(run.code, 130, run.stderr);
  assert.equal(
    run.stdout,
    "Error from count_forever: guest call aborted: Ctrl-C (SIGINT)\n",
  );
});

Deno.test("SIGTERM and SIGHUP stop a guest call as Ctrl-C does: outcome aborted, the report whole, exit 128 + the signal's number", async () => {
  const [term, hangUp] = await allRuns([
    pressCtrlC(["guest/runaway.wasm", "--invoke=spin", "--json"], "SIGTERM"),
    pressCtrlC(["guest/runaway.wasm", "--invoke=spin"], "SIGHUP"),
  ]);
  assert.equal(term.code, 143, term.stderr);
  assert.deepEqual(JSON.parse(term.stdout), {
    outcome: "aborted",
    export: "spin",
    message: "guest call aborted: SIGTERM",
  });
  assert.equal(hangUp.code, 129, hangUp.stderr);
  assert.equal(
    hangUp.stdout,
    "Error from spin: guest call aborted: SIGHUP (the terminal closed)\n",
  );
});

/** Runs main.ts with `input` on its stdin and the permissions in `flags`. */
async function runWithStdin(
  flags: string[],
  args: string[],
  input: Uint8Array,
) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", ...flags, "main.ts", ...args],
    cwd: new URL("../", import.meta.url),
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(input).catch(() => {});
  await writer.close().catch(() => {});
  const output = await child.output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

Deno.test("- reads the guest from stdin, with no permission; /dev/stdin says to use it", async () => {
  const compute = await Deno.readFile(
    new URL("../guest/compute.wasm", import.meta.url),
  );
  const [piped, device] = await allRuns([
    runWithStdin([], ["-", "--invoke", "fib", "--arg", "6", "--json"], compute),
    // Deno opens a device only with --allow-all, --allow-read or not.
    runWithStdin(["--allow-read"], ["/dev/stdin"], compute),
  ]);
  assert.equal(piped.code, 0, piped.stderr);
  assert.deepEqual(JSON.parse(piped.stdout), {
    outcome: "returned",
    export: "fib",
    value: 8,
    message: "fib returned 8",
  });
  assert.equal(device.code, 2);
  assertOneLineError(
    device.stderr,
    /^error: cannot read \/dev\/stdin: .*; give the path of a file, or - to read the guest from stdin$/,
  );
});
