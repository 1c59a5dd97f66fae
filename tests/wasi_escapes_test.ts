import assert from "./support/assert.ts";
import { wat } from "./support/instrument.ts";
import { withDirectory } from "./support/temp_directory.ts";
import { reportErrnoWat, sandboxErrnos, text } from "./support/wasi_guests.ts";
import { wasiFunctionType } from "../src/wasi/wasi_abi.ts";
import { runWasi } from "../mod.ts";

/**
 * An argument of a WASI call: an i32, an i64, a string (passed as its
 * address and length), or the i32 stored at an address (a descriptor an
 * earlier `path_open` wrote there).
 */
type Arg = number | bigint | { string: string } | { load: number };

/** A WASI call the guest makes: the function's name and its arguments. */
type Call = [string, ...Arg[]];

/**
 * A command that makes the calls in order and prints the errno of each on
 * stdout, two digits and a space.
 */
async function caller(calls: Call[]): Promise<Uint8Array> {
  let at = 4096;
  const data: string[] = [];
  const names = new Set(["fd_write", ...calls.map(([name]) => name)]);
  const imports = [...names].map((name) => {
    const { params, results } = wasiFunctionType(name)!;
    return `(import "wasi_snapshot_preview1" "${name}" (func $${name}
      (param ${params.join(" ")}) (result ${results.join(" ")})))`;
  });
  const operand = (arg: Arg) => {
    if (typeof arg === "bigint") return `(i64.const ${arg})`;
    if (typeof arg === "number") return `(i32.const ${arg})`;
    if ("load" in arg) return `(i32.load (i32.const ${arg.load}))`;
    const bytes = new TextEncoder().encode(arg.string);
    const hex = [...bytes].map((b) => `\\${b.toString(16).padStart(2, "0")}`);
    data.push(`(data (i32.const ${at}) "${hex.join("")}")`);
    const operands = `(i32.const ${at}) (i32.const ${bytes.length})`;
    at += bytes.length + 8;
    return operands;
  };
  const body = calls.map(([name, ...args]) =>
    `(call $report (call $${name} ${args.map(operand).join(" ")}))`
  ).join("\n");
  return await wat(`(module
    ${imports.join("\n")}
    (memory (export "memory") 1)
    ${data.join("\n")}
    ${reportErrnoWat("fd_write")}
    (func (export "_start") ${body}))`);
}

/** Runs the calls with `directory/inside` preopened, and returns the errnos. */
async function run(directory: string, calls: Call[]): Promise<string[]> {
  return await sandboxErrnos(await caller(calls), directory);
}

const O_CREAT = 1;
const O_DIRECTORY = 2;
const PREOPEN = 3;
/** Where `path_open` stores the descriptor it opens. */
const OPENED = 64;

Deno.test("a directory opened by an empty path does not let links at the end of a path lead out of the preopen", () =>
  withDirectory(async (directory) => {
    await Deno.mkdir(`${directory}/inside`);
    await Deno.mkdir(`${directory}/outside`);
    await Deno.writeTextFile(`${directory}/outside/secret`, "host");
    await Deno.symlink(
      `${directory}/outside/secret`,
      `${directory}/inside/secret`,
    );
    await Deno.symlink(
      `${directory}/outside/made`,
      `${directory}/inside/made`,
    );
    const open = (dir: Arg, path: string, oflags: number): Call => [
      "path_open",
      dir,
      0,
      { string: path },
      oflags,
      -1n,
      -1n,
      0,
      OPENED + 4,
    ];
    const errnos = await run(directory, [
      ["path_open", PREOPEN, 0, { string: "" }, O_DIRECTORY, -1n, -1n, 0, 64],
      open({ load: OPENED }, "secret", 0),
      open({ load: OPENED }, "made", O_CREAT),
    ]);
    // No descriptor for an empty path (ENOENT, as openat gives), and so
    // none to open through.
    assert.deepEqual(errnos, ["44", "08", "08"]);
    await assert.rejects(
      () => Deno.lstat(`${directory}/outside/made`),
      Deno.errors.NotFound,
    );
  }));

Deno.test("a directory the guest renamed and replaced with a link out of the preopen cannot be listed or looked at through its old descriptor", () =>
  withDirectory(async (directory) => {
    await Deno.mkdir(`${directory}/inside/sub`, { recursive: true });
    await Deno.mkdir(`${directory}/inside/kept`);
    await Deno.mkdir(`${directory}/outside`);
    await Deno.writeTextFile(`${directory}/outside/secret`, "host");
    const sub = OPENED;
    const kept = OPENED + 4;
    const errnos = await run(directory, [
      [
        "path_open",
        PREOPEN,
        0,
        { string: "sub" },
        O_DIRECTORY,
        -1n,
        -1n,
        0,
        sub,
      ],
      [
        "path_open",
        PREOPEN,
        0,
        { string: "kept" },
        O_DIRECTORY,
        -1n,
        -1n,
        0,
        kept,
      ],
      ["path_rename", PREOPEN, { string: "sub" }, PREOPEN, { string: "sub2" }],
      ["path_symlink", { string: "../outside" }, PREOPEN, { string: "sub" }],
      // The buffer at 1024, its size at 72.
      ["fd_readdir", { load: sub }, 1024, 1024, 0n, 72],
      ["fd_filestat_get", { load: sub }, 1024],
      ["fd_readdir", { load: kept }, 1024, 1024, 0n, 72],
      ["fd_filestat_get", { load: kept }, 1024],
    ]);
    assert.deepEqual(errnos, ["00", "00", "00", "00", "76", "76", "00", "00"]);
  }));

Deno.test("a preopen cannot be removed, or moved into another, through `.` or `..`: its entry is in its parent", () =>
  withDirectory(async (directory) => {
    const [a, b] = [`${directory}/a`, `${directory}/b`];
    await Deno.mkdir(a);
    await Deno.mkdir(b);
    const [first, second] = [PREOPEN, PREOPEN + 1];
    const rename = (from: string, to: string): Call => [
      "path_rename",
      first,
      { string: from },
      second,
      { string: to },
    ];
    const result = await runWasi(
      await caller([
        ["path_remove_directory", first, { string: "." }],
        ["path_remove_directory", first, { string: "" }],
        rename(".", "moved"),
        ["path_create_directory", first, { string: "q" }],
        rename("q/..", "moved"),
        rename("q", "."),
        // What stays inside the preopens still goes.
        rename("q", "moved"),
        ["path_remove_directory", second, { string: "moved" }],
      ]),
      {
        preopens: [{ host: a, guest: "/a" }, { host: b, guest: "/b" }],
        stdout: "capture",
      },
    );
    assert.equal(result.outcome, "exited");
    assert.deepEqual(text(result.stdout).trim().split(" "), [
      ...["76", "44", "76", "00", "76", "76", "00", "00"],
    ]);
    const names = async (path: string) =>
      (await Array.fromAsync(Deno.readDir(path))).map((e) => e.name).sort();
    assert.deepEqual(await names(directory), ["a", "b"]);
    assert.deepEqual(await names(a), []);
    assert.deepEqual(await names(b), []);
  }));

Deno.test("a preopen named by a link cannot be moved from its subdirectory by `..`", () =>
  withDirectory(async (directory) => {
    await Deno.mkdir(`${directory}/real/sub`, { recursive: true });
    await Deno.mkdir(`${directory}/b`);
    await Deno.symlink(`${directory}/real`, `${directory}/a`);
    const result = await runWasi(
      await caller([
        [
          "path_open",
          PREOPEN,
          0,
          { string: "sub" },
          O_DIRECTORY,
          -1n,
          -1n,
          0,
          OPENED,
        ],
        [
          "path_rename",
          { load: OPENED },
          { string: ".." },
          PREOPEN + 1,
          { string: "moved" },
        ],
      ]),
      {
        preopens: [
          { host: `${directory}/a`, guest: "/a" },
          { host: `${directory}/b`, guest: "/b" },
        ],
        stdout: "capture",
      },
    );
    assert.equal(result.outcome, "exited");
    assert.deepEqual(text(result.stdout).trim().split(" "), ["00", "76"]);
    assert.equal((await Deno.stat(`${directory}/real/sub`)).isDirectory, true);
    assert.deepEqual(await Array.fromAsync(Deno.readDir(`${directory}/b`)), []);
  }));
