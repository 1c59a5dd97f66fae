import assert from "./support/assert.ts";
import { wat } from "./support/instrument.ts";
import { withDirectory } from "./support/temp_directory.ts";
import { text, wasiGuest } from "./support/wasi_guests.ts";
import { runWasi, type WasiPreopen } from "../mod.ts";
import { runMain } from "./support/cli.ts";

const ROFS = 69;

/**
 * A command that prints, for descriptors 3 and 4, the preopen's name and
 * the errno of creating `new.txt` in it, a line each.
 */
const CREATOR = `(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_dir_name"
    (func $name (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "new.txt")
  (func $try (param $fd i32) (local $errno i32)
    (i64.store (i32.const 200) (i64.const 0x2020202020202020))
    (drop (call $name (local.get $fd) (i32.const 200) (i32.const 5)))
    (local.set $errno (call $open (local.get $fd) (i32.const 1) (i32.const 100)
      (i32.const 7) (i32.const 1) (i64.const -1) (i64.const -1) (i32.const 0)
      (i32.const 20)))
    (i32.store8 (i32.const 206)
      (i32.add (i32.const 48) (i32.div_u (local.get $errno) (i32.const 10))))
    (i32.store8 (i32.const 207)
      (i32.add (i32.const 48) (i32.rem_u (local.get $errno) (i32.const 10))))
    (i32.store8 (i32.const 208) (i32.const 10))
    (i32.store (i32.const 0) (i32.const 200))
    (i32.store (i32.const 4) (i32.const 9))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_start") (call $try (i32.const 3)) (call $try (i32.const 4))))`;

Deno.test("a read-only preopen stays read-only whatever the guest names of the preopens", () =>
  withDirectory(async (directory) => {
    const [readWrite, readOnly] = [`${directory}/rw`, `${directory}/ro`];
    await Deno.mkdir(readWrite);
    await Deno.mkdir(readOnly);
    // A name that reads as an array index goes first in an object's keys.
    for (const name of ["0", "7", "/ro"]) {
      const result = await runWasi(await wat(CREATOR), {
        preopens: [
          { host: readWrite, guest: "/rw" },
          { host: readOnly, guest: name, mode: "read-only" },
        ],
        stdout: "capture",
      });
      assert.equal(result.outcome, "exited");
      const lines = text(result.stdout).trim().split("\n").map((line) => {
        const [guest, errno] = line.trim().split(/ +/);
        return [guest, Number(errno)];
      });
      assert.deepEqual(
        Object.fromEntries(lines),
        { "/rw": 0, [name]: ROFS },
        `read-only preopen named ${name}`,
      );
      assert.deepEqual([...Deno.readDirSync(readOnly)], []);
      await Deno.remove(`${readWrite}/new.txt`);
    }
  }));

Deno.test("runWasi refuses two preopens with the same guest name, in one line", () =>
  withDirectory(async (directory) => {
    const preopens: WasiPreopen[] = [
      { host: directory, guest: "/data" },
      { host: directory, guest: "/data", mode: "read-only" },
    ];
    await assert.rejects(
      () => runWasi(wasiGuest("hello"), { preopens }),
      (error: Error) => {
        assert.ok(error instanceof TypeError, String(error));
        assert.match(error.message, /\/data/);
        assert.equal(error.message.split("\n").length, 1);
        return true;
      },
    );
  }));

Deno.test("runWasi refuses arguments and environment the guest could not see as given, in one line", async () => {
  for (
    const options of <Parameters<typeof runWasi>[1][]> [
      { args: ["a\0b"] },
      { program: "main\0.wasm" },
      { env: { "A\0B": "x" } },
      { env: { GREETING: "h\0i" } },
      { env: { "A=B": "x" } },
      { env: { "": "x" } },
    ]
  ) {
    await assert.rejects(
      () => runWasi(wasiGuest("hello"), options),
      (error: Error) => {
        assert.ok(error instanceof TypeError, JSON.stringify(options));
        assert.equal(error.message.split("\n").length, 1, error.message);
        return true;
      },
    );
  }
});

Deno.test("main.ts refuses two --dir with the same guest name as a usage error, in one line", () =>
  withDirectory(async (directory) => {
    const run = await runMain(["--allow-read", `--allow-write=${directory}`], [
      "--dir",
      `${directory}::/data`,
      "--dir",
      `${directory}/..::/data`,
      wasiGuest("hello").pathname,
    ]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /--dir .*\/data/);
    assert.equal(run.stderr.trimEnd().split("\n").length, 1, run.stderr);
  }));

Deno.test("main.ts refuses a --dir it cannot preopen with status 2 and one line that says why", () =>
  withDirectory(async (directory) => {
    await Deno.writeTextFile(`${directory}/file`, "");
    for (
      const [flags, dir, said] of [
        [["--allow-read"], directory, /--allow-write=/],
        [["--allow-read", "--allow-write"], `${directory}/none`, /no such/],
        [["--allow-read", "--allow-write"], `${directory}/file`, /not a dir/],
      ] as const
    ) {
      const run = await runMain([...flags], [
        "--dir",
        dir,
        wasiGuest("hello").pathname,
      ]);
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, said);
      assert.equal(run.stderr.trimEnd().split("\n").length, 1, run.stderr);
    }
  }));

Deno.test("runWasi refuses an outputLimit that is not a whole number of bytes, in one line", async () => {
  for (const outputLimit of [-1, NaN, 1.5, "10" as unknown as number]) {
    await assert.rejects(
      () => runWasi(wasiGuest("hello"), { outputLimit, stdout: "capture" }),
      (error: Error) => {
        assert.ok(error instanceof RangeError, String(error));
        assert.match(error.message, /outputLimit/);
        assert.equal(error.message.split("\n").length, 1);
        return true;
      },
      String(outputLimit),
    );
  }
  for (const outputLimit of [0, 5, Infinity]) {
    const result = await runWasi(wasiGuest("hello"), {
      args: ["limit"],
      outputLimit,
      stdout: "capture",
      stderr: "ignore",
    });
    assert.equal(
      text(result.stdout),
      "hello, limit!\n".slice(0, outputLimit),
    );
  }
});

Deno.test("runWasi refuses preopens, stdio and arguments of the wrong shape in one line, before the guest runs", () =>
  withDirectory(async (directory) => {
    await Deno.writeTextFile(`${directory}/kept.txt`, "host");
    // Each would otherwise run: a read-only preopen misspelled as read-write
    // (the guest could write), output silently dropped, a stdin that fails
    // in the guest's first read.
    const wrong = <[string, Parameters<typeof runWasi>[1]][]> [
      ["mode", { preopens: [{ host: directory, mode: "readonly" }] }],
      ["mode", { preopens: [{ host: directory, mode: "ro" }] }],
      // A field of another name would be dropped, the preopen writable.
      [
        'has no option "readOnly" \\(a read-only preopen is \\{ host, mode: "read-only" \\}\\)',
        { preopens: [{ host: directory, readOnly: true }] },
      ],
      ['has no option "readonly"', {
        preopens: [{ host: directory, readonly: true }],
      }],
      ['has no option "hots" \\(did you mean "host"\\?\\)', {
        preopens: [{ hots: directory, host: directory }],
      }],
      ["stdout", { stdout: "captured" }],
      ["stderr", { stderr: null }],
      ["stdin", { stdin: "hello" }],
      ["stdin", { stdin: [1, 2, 3] }],
      ["preopens", { preopens: { host: directory } }],
      ["preopens\\[0\\]", { preopens: [null] }],
      ["host", { preopens: [{ host: 5 }] }],
      ["host", { preopens: [{ host: "" }] }],
      ["guest", { preopens: [{ host: directory, guest: 7 }] }],
      // An empty name, or one a NUL would cut short, names no path.
      ['guest must be the path the guest sees, such as /data; got ""', {
        preopens: [{ host: directory, guest: "" }],
      }],
      ["guest holds a NUL byte", {
        preopens: [{ host: directory, guest: "/data\0" }],
      }],
      ["host holds a NUL byte", { preopens: [{ host: `${directory}\0` }] }],
      ["host must be the path of a directory, or a file: URL; got http:", {
        preopens: [{ host: new URL("http://127.0.0.1/data") }],
      }],
      ["args", { args: "hello" }],
      ["env", { env: ["A=B"] }],
    ];
    for (const [what, options] of wrong) {
      await assert.rejects(
        () => runWasi(wasiGuest("hello"), { ...options, timeout: 30_000 }),
        (error: Error) => {
          assert.ok(error instanceof TypeError, String(error));
          assert.match(error.message, new RegExp(what));
          assert.match(error.message, /runWasi/);
          assert.equal(error.message.split("\n").length, 1);
          return true;
        },
        JSON.stringify(options),
      );
    }
    assert.equal(await Deno.readTextFile(`${directory}/kept.txt`), "host");
  }));

Deno.test("runWasi refuses a cache inside a read-write preopen, where the guest could change what the next run runs, in one line", () =>
  withDirectory(async (directory) => {
    for (const cache of [`${directory}/cache`, directory]) {
      await assert.rejects(
        () =>
          runWasi(wasiGuest("hello"), {
            cache,
            preopens: [{ host: directory, guest: "/data" }],
            stdout: "ignore",
          }),
        (error: Error) => {
          assert.ok(error instanceof TypeError, String(error));
          assert.match(error.message, /cache/);
          assert.match(error.message, /read-only/);
          assert.equal(error.message.split("\n").length, 1);
          return true;
        },
        cache,
      );
    }
    // Read-only, or beside the preopen, it is the host's alone.
    await Deno.mkdir(`${directory}/data`);
    for (
      const preopens of <WasiPreopen[][]> [
        [{ host: directory, mode: "read-only" }],
        [{ host: `${directory}/data` }],
      ]
    ) {
      const result = await runWasi(wasiGuest("hello"), {
        cache: `${directory}/cache`,
        preopens,
        stdout: "ignore",
        stderr: "ignore",
      });
      assert.equal(result.outcome, "exited");
    }
  }));

Deno.test("runWasi refuses a cache not made yet that a link leads into a read-write preopen, and makes nothing there", () =>
  withDirectory(async (directory) => {
    await Deno.mkdir(`${directory}/data`);
    await Deno.mkdir(`${directory}/home`);
    await Deno.symlink("../data", `${directory}/home/link`);
    await Deno.symlink("../data/cache", `${directory}/home/dangling`);
    for (
      const cache of [
        `${directory}/home/link/cache`,
        `${directory}/home/link/deeper/cache`,
        `${directory}/home/dangling`,
      ]
    ) {
      await assert.rejects(
        () =>
          runWasi(wasiGuest("hello"), {
            cache,
            preopens: [{ host: `${directory}/data`, guest: "/data" }],
            stdout: "ignore",
          }),
        (error: Error) => {
          assert.ok(error instanceof TypeError, String(error));
          assert.match(error.message, /is inside the read-write preopen/);
          return true;
        },
        cache,
      );
    }
    // The guest never ran, and no entry was written where it could change it.
    assert.deepEqual([...Deno.readDirSync(`${directory}/data`)], []);
    // Beside the preopen, through a link too, it is the host's alone.
    const result = await runWasi(wasiGuest("hello"), {
      cache: `${directory}/home/cache`,
      preopens: [{ host: `${directory}/data`, guest: "/data" }],
      stdout: "ignore",
      stderr: "ignore",
    });
    assert.equal(result.outcome, "exited");
  }));

Deno.test("main.ts refuses a --cache inside a --dir as a usage error, in one line", () =>
  withDirectory(async (directory) => {
    const run = await runMain(["--allow-read", `--allow-write=${directory}`], [
      "--cache",
      `${directory}/cache`,
      "--dir",
      `${directory}::/data`,
      wasiGuest("hello").pathname,
    ]);
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /--cache .* is inside --dir/);
    assert.equal(run.stderr.trimEnd().split("\n").length, 1, run.stderr);
  }));

Deno.test("runWasi refuses a preopen of a missing directory, or of a file, with a NotFound that says which", () =>
  withDirectory(async (directory) => {
    await Deno.writeTextFile(`${directory}/file`, "x");
    for (
      const [host, said] of [
        [`${directory}/missing`, "no such directory; create it"],
        [`${directory}/file`, "it is not a directory; name a directory"],
      ]
    ) {
      await assert.rejects(
        () => runWasi(wasiGuest("hello"), { preopens: [{ host }] }),
        Deno.errors.NotFound,
        `cannot preopen ${host} for the WASI guest: ${said}`,
      );
    }
  }));

Deno.test("a preopen's host may be a file: URL, as Deno's own file APIs take", () =>
  withDirectory(async (directory) => {
    await Deno.writeTextFile(`${directory}/in.txt`, "through a URL");
    const copied = await runWasi(wasiGuest("copy"), {
      args: ["/data/in.txt", "/data/out.txt"],
      preopens: [{ host: new URL(`file://${directory}/`), guest: "/data" }],
      stderr: "capture",
      timeout: 30_000,
    });
    assert.equal(copied.outcome, "exited");
    assert.equal(copied.code, 0, text(copied.stderr));
    assert.equal(
      await Deno.readTextFile(`${directory}/out.txt`),
      "through a URL",
    );
  }));
