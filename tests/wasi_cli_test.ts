import assert from "./support/assert.ts";
import {
  isWasiCommand,
  parseWasiFlags,
  wasiExitStatus,
} from "../src/cli/wasi_cli.ts";
import { wasiGuest, wasiReactor } from "./support/wasi_guests.ts";
import { wat } from "./support/instrument.ts";
import {
  runDeno,
  runMain as runMainWith,
  runMainHere,
  runMainStreaming as runMain,
  sameAsProcess,
} from "./support/cli.ts";
import { withDirectory } from "./support/temp_directory.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const ROOT = new URL("../", import.meta.url).pathname;

Deno.test("parseWasiFlags takes --dir, --env and the arguments after --", () => {
  assert.deepEqual(
    parseWasiFlags([
      "--fuel",
      "9",
      "--dir",
      "data",
      "--dir=out::/scratch",
      "--env",
      "A=1=2",
      "--env=B=",
      "prog.wasm",
      "--",
      "--dir",
      "x",
    ]),
    {
      preopens: [{ host: "data" }, { host: "out", guest: "/scratch" }],
      env: { A: "1=2", B: "" },
      args: ["--dir", "x"],
      rest: ["--fuel", "9", "prog.wasm"],
    },
  );
  assert.throws(() => parseWasiFlags(["--env", "NOEQUALS"]), TypeError);
  assert.throws(() => parseWasiFlags(["--dir"]), TypeError, "needs a value");
});

Deno.test("parseWasiFlags keeps --env __proto__=x as a variable of that name", () => {
  const { env } = parseWasiFlags(["--env", "__proto__=x", "--env", "A=1"]);
  assert.deepEqual(Object.entries(env), [["__proto__", "x"], ["A", "1"]]);
  assert.equal(Object.getPrototypeOf(env), Object.prototype);
});

Deno.test("parseWasiFlags refuses a --dir with no host, or with more than HOST::GUEST, rather than drop the rest", () => {
  // `::ro` would otherwise be dropped, and the directory preopened for
  // writing.
  for (const value of ["data::/data::ro", "a::b::c", "::/data", ""]) {
    assert.throws(
      () => parseWasiFlags(["--dir", value]),
      (error: Error) =>
        error instanceof TypeError && error.message.includes("HOST[::GUEST]"),
      value,
    );
  }
});

Deno.test("isWasiCommand tells WASI commands from other modules", async () => {
  const wasi = new WebAssembly.Module(await Deno.readFile(wasiGuest("loop")));
  const other = new WebAssembly.Module(
    await Deno.readFile(new URL("../guest/compute.wasm", import.meta.url)),
  );
  const of = (module: WebAssembly.Module) =>
    isWasiCommand(
      WebAssembly.Module.imports(module),
      WebAssembly.Module.exports(module),
    );
  assert.ok(of(wasi));
  assert.ok(!of(other));
});

Deno.test("wasiExitStatus: the guest's code, else the stop's", () => {
  assert.equal(
    wasiExitStatus({ outcome: "exited", export: "_start", code: 42 }),
    42,
  );
});

function runChild(args: string[], interruptWhenSleeping = false) {
  return runMain(args, {
    interruptOn: interruptWhenSleeping ? "sleeping" : undefined,
  });
}

Deno.test("main.ts runs a WASI command: exit code, timeout and Ctrl-C", async () => {
  const hello = await runChild([
    "--env",
    "EXIT_CODE=5",
    wasiGuest("hello").pathname,
    "--",
    "ada",
  ]);
  assert.equal(hello.stdout, "hello, ada!\n");
  assert.equal(hello.code, 5);
  const sleeper = await runChild([
    "--json",
    "--timeout",
    "100",
    wasiGuest("sleep").pathname,
  ]);
  assert.equal(sleeper.code, 124);
  assert.equal(JSON.parse(sleeper.stderr).outcome, "timeout");
  const interrupted = await runChild([wasiGuest("sleep").pathname], true);
  assert.equal(interrupted.code, 130);
});

Deno.test("main.ts refuses --dir, --env and arguments after -- for a guest that is not a WASI command", async () => {
  const compute = new URL("../guest/compute.wasm", import.meta.url).pathname;
  for (
    const [i, args] of [
      ["--env", "A=1", compute],
      ["--dir", ROOT, compute],
      [compute, "--", "x"],
    ].entries()
  ) {
    // The first as a process too, the others in this process alone.
    const run = await (i === 0 ? sameAsProcess : runMainHere)(args);
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /^error: .*not one/);
    assert.equal(run.stderr.trimEnd().split("\n").length, 1);
  }
});

Deno.test("main.ts refuses --invoke, --arg, --expect and --imports for a WASI command", async () => {
  const hello = wasiGuest("hello").pathname;
  for (
    const [i, args] of [
      ["--invoke", "main", hello],
      [hello, "--arg", "1"],
      ["--expect", "returned", "--imports", "x.ts", hello],
    ].entries()
  ) {
    // The first as a process too, the others in this process alone.
    const run = await (i === 0 ? sameAsProcess : runMainHere)(args);
    assert.equal(run.code, 2, run.stderr);
    assert.equal(run.stdout, "");
    assert.match(
      run.stderr,
      /^error: --\w+.* for calling an export, .* is a WASI command/,
    );
    assert.equal(run.stderr.trimEnd().split("\n").length, 1);
  }
});

Deno.test("main.ts names a WASI command by its path when fuel cannot pay for its instantiation", async () => {
  const hello = wasiGuest("hello").pathname;
  const run = await runChild(["--fuel", "10", hello]);
  assert.equal(run.code, 125, run.stderr);
  assert.equal(run.stderr.trimEnd().split("\n").length, 1);
  assert.ok(
    run.stderr.includes(`instantiating ${hello} needs`),
    run.stderr,
  );
});

Deno.test("main.ts: a --dir that is missing or not a directory says how to fix it", async () => {
  const hello = wasiGuest("hello").pathname;
  for (
    const [dir, pattern] of [
      [`${ROOT}no-such-dir`, /no such directory; create it, or name one/],
      [`${ROOT}README.md`, /it is not a directory; name a directory/],
    ] as const
  ) {
    const run = await runDeno([
      "run",
      "--no-prompt",
      "--allow-read",
      `--allow-write=${dir}`,
      MAIN,
      "--dir",
      dir,
      hello,
    ]);
    assert.equal(run.code, 2, run.stderr);
    assert.equal(run.stderr.trimEnd().split("\n").length, 1);
    assert.match(run.stderr, pattern);
  }
});

Deno.test("main.ts: the report is stderr's last line, on a line of its own, whatever the guest wrote there", () =>
  withDirectory(async (directory) => {
    // Writes a line shaped as a report, then text without a line break, to
    // stderr, and traps.
    const forged = '{"outcome":"exited","code":0,"elapsed_ms":1}';
    const guest = `${directory}/forger.wasm`;
    await Deno.writeFile(
      guest,
      await wat(`(module
        (import "wasi_snapshot_preview1" "fd_write"
          (func $write (param i32 i32 i32 i32) (result i32)))
        (memory (export "memory") 1)
        (data (i32.const 16) ${JSON.stringify(`${forged}\npartial`)})
        (func (export "_start")
          (i32.store (i32.const 0) (i32.const 16))
          (i32.store (i32.const 4) (i32.const ${forged.length + 8}))
          (drop (call $write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
          unreachable))`),
    );
    const json = await runMainWith([`--allow-read=${directory}`], [
      "--json",
      guest,
    ]);
    assert.equal(json.code, 134, json.stderr);
    const lines = json.stderr.trimEnd().split("\n");
    assert.deepEqual(lines.slice(0, -1), [forged, "partial"]);
    assert.equal(JSON.parse(lines.at(-1)!).outcome, "trap");
    const plain = await runMainWith([`--allow-read=${directory}`], [guest]);
    assert.equal(plain.code, 134, plain.stderr);
    assert.deepEqual(plain.stderr.trimEnd().split("\n"), [
      forged,
      "partial",
      `${guest}: guest trapped (unreachable): unreachable`,
    ]);
  }));

Deno.test("main.ts: --json after -- is the guest's argument, not the report's format", async () => {
  const run = await runChild(["no-such-guest.wasm", "--", "--json"]);
  assert.equal(run.code, 2, run.stderr);
  assert.equal(run.stdout, "");
  assert.match(run.stderr, /^error: guest file not found: no-such-guest\.wasm/);
});

Deno.test("main.ts refuses a WASI reactor with one line that says what it is", async () => {
  const dir = await Deno.makeTempDir({ dir: ROOT });
  try {
    const path = `${dir}/reactor.wasm`;
    await Deno.writeFile(path, await wasiReactor());
    for (const json of [false, true]) {
      // Plain as a process too, with --json in this process alone.
      const run = json
        ? await runMainHere(["--json", path])
        : await sameAsProcess([path]);
      assert.equal(run.code, 2, run.stderr);
      // --json prints its one object on stdout for a usage error.
      const said = json ? run.stdout : run.stderr;
      assert.equal(json ? run.stderr : run.stdout, "");
      assert.equal(said.trimEnd().split("\n").length, 1);
      assert.match(
        said,
        /is a WASI reactor \(it exports _initialize, not _start\)/,
      );
      if (json) {
        assert.equal(JSON.parse(run.stdout).outcome, "usage_error");
      } else {
        assert.match(
          run.stderr,
          /^error: .*is a WASI reactor \(it exports _initialize, not _start\)/,
        );
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("main.ts: with --json, Ctrl-C is reported as aborted, with 130", async () => {
  const run = await runChild(["--json", wasiGuest("sleep").pathname], true);
  assert.equal(run.code, 130);
  assert.equal(run.stdout, "sleeping\n");
  const report = JSON.parse(run.stderr);
  assert.equal(report.outcome, "aborted");
  assert.match(report.message, /Ctrl-C/);
  assert.equal(typeof report.elapsed_ms, "number");
});

Deno.test("main.ts: with --json, SIGTERM is reported as aborted, with 143", async () => {
  const run = await runMain(["--json", wasiGuest("sleep").pathname], {
    interruptOn: "sleeping",
    signal: "SIGTERM",
  });
  assert.equal(run.code, 143, run.stderr);
  assert.equal(run.stdout, "sleeping\n");
  const report = JSON.parse(run.stderr);
  assert.equal(report.outcome, "aborted");
  assert.equal(report.message, "guest call aborted: SIGTERM");
});

Deno.test("main.ts passes its stdin to a WASI command, with and without a deadline", async () => {
  for (const deadline of [[], ["--timeout", "60000"]]) {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-prompt",
        `--allow-read=${ROOT}`,
        MAIN,
        ...deadline,
        wasiGuest("copy").pathname,
        "--",
        "-",
        "-",
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    const input = "x".repeat(100_000) + "\nend\n";
    await writer.write(new TextEncoder().encode(input));
    await writer.close();
    const { code, stdout, stderr } = await child.output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    assert.equal(new TextDecoder().decode(stdout), input);
    assert.equal(
      new TextDecoder().decode(stderr),
      `copied ${input.length} bytes\n`,
    );
  }
});

Deno.test("main.ts refuses a module that imports WASI and exports _start but cannot run as a command with status 2, in one line", async () => {
  const directory = await Deno.makeTempDir();
  try {
    const modules = {
      "takes parameters": `(module
        (import "wasi_snapshot_preview1" "sched_yield" (func (result i32)))
        (memory (export "memory") 1)
        (func (export "_start") (param i32)))`,
      "exports no memory": `(module
        (import "wasi_snapshot_preview1" "sched_yield" (func (result i32)))
        (func (export "_start")))`,
    };
    for (const [i, [said, text]] of Object.entries(modules).entries()) {
      const path = `${directory}/guest.wasm`;
      await Deno.writeFile(path, await wat(text));
      // The first as a process too, the other in this process alone.
      const run = await (i === 0 ? sameAsProcess : runMainHere)([path]);
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, new RegExp(said));
      assert.equal(run.stderr.trimEnd().split("\n").length, 1, run.stderr);
    }
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test("parseWasiFlags refuses an empty guest name and an --env name set twice", () => {
  assert.throws(
    () => parseWasiFlags(["--dir", "data::"]),
    (error: Error) =>
      error instanceof TypeError && error.message.includes("HOST[::GUEST]"),
  );
  assert.throws(
    () => parseWasiFlags(["--env", "A=1", "--env=A=2"]),
    (error: Error) =>
      error instanceof TypeError &&
      error.message ===
        '--env A=2: A is already set, to "1"; give each name once',
  );
  // A value may hold "=", and different names are fine.
  assert.deepEqual(parseWasiFlags(["--env", "A=b=c", "--env", "B="]).env, {
    A: "b=c",
    B: "",
  });
});
