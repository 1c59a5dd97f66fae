/**
 * A WASI guest pays for the host's work on its behalf: the bytes a call
 * moves through its memory (`perByte` each) and the vectors, subscriptions
 * and strings it names (`perElement` each), at the default cost table's
 * rates, as `memory.copy` and `memory.fill` are charged. When the budget
 * cannot pay, the run ends at once with `FuelExhausted`, its whole budget
 * consumed. A path longer than PATH_MAX is refused unread.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { wat } from "./support/instrument.ts";
import { withDirectory } from "./support/temp_directory.ts";
import { threadCpuMs } from "./support/thread_cpu.ts";
import { reportErrnoWat, text } from "./support/wasi_guests.ts";
import { runWasi, type WasiOptions, type WasiResult } from "../mod.ts";
import {
  ERRNO,
  MAX_SUBSCRIPTIONS,
  MAX_TRANSFER,
  MAX_TRANSFER_VECTORS,
  PATH_MAX,
} from "../src/wasi/wasi_abi.ts";

const MiB = 1 << 20;
const W = "wasi_snapshot_preview1";

/** An import of WASI function `name`, as `$name`. */
const use = (name: string, params: string) =>
  `(import "${W}" "${name}" (func $${name} (param ${params}) (result i32)))`;

/**
 * A command whose `_start` runs `setup`, then `body` `times` times
 * (`$i` counts, `$e` is free for errnos), with `pages` of memory. With
 * `start`, it also has a start function, which makes its fuel checks ask
 * the host rather than trap.
 */
function command(
  imports: string,
  setup: string,
  body: string,
  times: number,
  pages = 1,
  start = false,
): Promise<Uint8Array> {
  return wat(`(module
    ${imports}
    (memory (export "memory") ${pages})
    ${start ? "(func $init) (start $init)" : ""}
    (func (export "_start") (local $i i32) (local $e i32)
      ${setup}
      (block $done (loop $again
        (br_if $done (i32.ge_u (local.get $i) (i32.const ${times})))
        ${body}
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $again)))))`);
}

/**
 * Runs a guest, timing the run in this thread's CPU time: the host's work
 * that a run which went on would do is done on this thread, and a busy
 * machine that pauses the thread does not add to it.
 */
async function timed(
  guest: Uint8Array,
  options: WasiOptions,
): Promise<{ result: WasiResult; ms: number }> {
  const started = threadCpuMs();
  const result = await runWasi(guest, { stdout: "capture", ...options });
  return { result, ms: threadCpuMs() - started };
}

/** The fuel a run consumed. */
function consumed(result: WasiResult): number {
  assert.ok(result.fuel !== undefined, "the run reports its fuel");
  return result.fuel.consumed;
}

/**
 * The fuel `body` costs beyond the same guest with `free` in its place
 * (a call that moves nothing), over `times` calls.
 */
async function charged(
  imports: string,
  setup: string,
  body: string,
  free: string,
  times: number,
  pages: number,
  options: WasiOptions = {},
): Promise<number> {
  const dear = await runWasi(
    await command(imports, setup, body, times, pages),
    {
      stdout: "capture",
      fuel: Number.MAX_SAFE_INTEGER,
      ...options,
    },
  );
  const cheap = await runWasi(
    await command(imports, setup, free, times, pages),
    { stdout: "capture", fuel: Number.MAX_SAFE_INTEGER, ...options },
  );
  assert.equal(dear.outcome, "exited");
  assert.equal(cheap.outcome, "exited");
  return consumed(dear) - consumed(cheap);
}

const randomGet = use("random_get", "i32 i32");
const fdWrite = use("fd_write", "i32 i32 i32 i32");

for (const start of [false, true]) {
  const kind = start
    ? "a guest whose checks ask for fuel"
    : "a guest whose checks trap";

  Deno.test(`random_get is paid per byte, in ${kind}`, async () => {
    const guest = (length: number) =>
      command(
        randomGet,
        "",
        `(drop (call $random_get (i32.const 0) (i32.const ${length})))`,
        4,
        64,
        start,
      );
    const run = async (length: number) =>
      consumed(
        await runWasi(await guest(length), { fuel: Number.MAX_SAFE_INTEGER }),
      );
    // Four calls of 4 MiB each: 16 MiB at 1 fuel a byte.
    assert.equal((await run(4 * MiB)) - (await run(0)), 16 * MiB);
    // The same input, the same fuel.
    assert.equal(await run(4 * MiB), await run(4 * MiB));
  });

  Deno.test(`random_get past the budget ends the run at once with FuelExhausted, in ${kind}`, async () => {
    // 64 MiB a call, for ever: about 11 fuel a call when unpaid.
    const guest = await command(
      randomGet,
      "",
      `(drop (call $random_get (i32.const 0) (i32.const ${64 * MiB})))`,
      1_000_000,
      1025,
      start,
    );
    const { result, ms } = await timed(guest, { fuel: 1_000_000 });
    assert.equal(result.outcome, "fuel_exhausted");
    assert.equal(
      result.outcome === "fuel_exhausted" && result.error.budget,
      1_000_000,
    );
    assert.equal(
      result.outcome === "fuel_exhausted" && result.error.consumed,
      1_000_000,
    );
    assert.deepEqual(result.fuel, { consumed: 1_000_000, remaining: 0 });
    assert.ok(ms < 2_000, `ended after ${ms} ms of CPU time`);
  });

  Deno.test(`a guest that catches the stop of an unpaid call still ends with FuelExhausted, in ${kind}`, async () => {
    const guest = await wat(`(module
      ${randomGet}
      (memory (export "memory") 64)
      ${start ? "(func $init) (start $init)" : ""}
      (func (export "_start")
        (try_table (catch_all 0)
          (drop (call $random_get (i32.const 0) (i32.const ${MiB}))))))`);
    const result = await runWasi(guest, { fuel: 1000 });
    assert.equal(result.outcome, "fuel_exhausted");
    assert.deepEqual(result.fuel, { consumed: 1000, remaining: 0 });
  });
}

Deno.test("fd_write to captured stdout is paid per byte written and per vector", async () => {
  // One vector of 4 MiB: a short write of MAX_TRANSFER bytes a call.
  const setup = `(i32.store (i32.const 0) (i32.const 65536))
    (i32.store (i32.const 4) (i32.const ${4 * MiB}))
    (i32.store (i32.const 8) (i32.const 65536))
    (i32.store (i32.const 12) (i32.const 0))`;
  const cost = await charged(
    fdWrite,
    setup,
    `(drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16)))`,
    `(drop (call $fd_write (i32.const 1) (i32.const 8) (i32.const 1) (i32.const 16)))`,
    8,
    66,
  );
  assert.equal(cost, 8 * MAX_TRANSFER);
  for (const stdout of ["capture", "ignore"] as const) {
    assert.equal(
      await charged(
        fdWrite,
        setup,
        `(drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16)))`,
        `(drop (call $fd_write (i32.const 1) (i32.const 8) (i32.const 1) (i32.const 16)))`,
        8,
        66,
        { stdout },
      ),
      8 * MAX_TRANSFER,
      `the same fuel with stdout: ${stdout}`,
    );
  }
});

Deno.test("1024 empty vectors a write are paid for, one fuel each", async () => {
  const cost = await charged(
    fdWrite,
    "",
    `(drop (call $fd_write (i32.const 1) (i32.const 64) (i32.const 1024) (i32.const 16)))`,
    `(drop (call $fd_write (i32.const 1) (i32.const 64) (i32.const 0) (i32.const 16)))`,
    1000,
    1,
  );
  assert.equal(cost, 1000 * 1024);
});

Deno.test("writes of a gibibyte to captured stdout past the budget end the run at once", async () => {
  const guest = await command(
    fdWrite,
    `(i32.store (i32.const 0) (i32.const 0))
      (i32.store (i32.const 4) (i32.const ${1024 * MiB - 64}))`,
    `(drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16)))`,
    1_000_000,
    16384,
  );
  const { result, ms } = await timed(guest, { fuel: 5 * MiB });
  assert.equal(result.outcome, "fuel_exhausted");
  assert.deepEqual(result.fuel, { consumed: 5 * MiB, remaining: 0 });
  // Four calls of a MiB each were paid for, with the guest's own work; the
  // fifth ran out paying for what it wrote, which stays written.
  assert.equal(result.stdout?.length, MiB);
  assert.equal(result.dropped.stdout, 4 * MiB);
  assert.ok(ms < 2_000, `ended after ${ms} ms of CPU time`);
});

Deno.test("file reads and writes are paid per byte moved", async () => {
  await withDirectory(async (directory) => {
    await Deno.writeFile(`${directory}/f`, new Uint8Array(4 * MiB));
    const imports = use("path_open", "i32 i32 i32 i32 i32 i64 i64 i32 i32") +
      use("fd_pread", "i32 i32 i32 i64 i32") +
      use("fd_pwrite", "i32 i32 i32 i64 i32") +
      use("fd_read", "i32 i32 i32 i32") +
      use("fd_write", "i32 i32 i32 i32");
    // "f" at 100, its descriptor at 200; vector 0: 3 MiB at 64 KiB; vector
    // 1 (at 8): nothing.
    const setup = `(i32.store8 (i32.const 100) (i32.const 102))
      (drop (call $path_open (i32.const 3) (i32.const 0) (i32.const 100)
        (i32.const 1) (i32.const 0) (i64.const 0x42) (i64.const 0x42)
        (i32.const 0) (i32.const 200)))
      (i32.store (i32.const 0) (i32.const 65536))
      (i32.store (i32.const 4) (i32.const ${3 * MiB}))
      (i32.store (i32.const 8) (i32.const 65536))`;
    const fd = "(i32.load (i32.const 200))";
    const preopens = [{ host: directory, guest: "/d" }];
    for (
      const [op, offset] of [["fd_pread", true], ["fd_pwrite", true], [
        "fd_read",
        false,
      ], ["fd_write", false]] as const
    ) {
      const call = (vector: number) =>
        `(drop (call $${op} ${fd} (i32.const ${vector}) (i32.const 1) ${
          offset ? "(i64.const 0) " : ""
        }(i32.const 16)))`;
      const cost = await charged(imports, setup, call(0), call(8), 3, 50, {
        preopens,
      });
      // At most MAX_TRANSFER a call, of a 4 MiB file.
      assert.equal(cost, 3 * MAX_TRANSFER, op);
    }
  });
});

/**
 * A directory of 100 empty files named `entry-000` to `entry-099`, and the
 * imports of a guest that lists it with `fd_readdir`.
 */
function withListedDirectory(
  body: (directory: string, imports: string) => Promise<void>,
): Promise<void> {
  return withDirectory(async (directory) => {
    for (let i = 0; i < 100; i++) {
      await Deno.writeTextFile(
        `${directory}/entry-${String(i).padStart(3, "0")}`,
        "",
      );
    }
    await body(
      directory,
      use("fd_readdir", "i32 i32 i32 i64 i32") +
        `(import "${W}" "proc_exit" (func $exit (param i32)))`,
    );
  });
}

Deno.test("fd_readdir is paid per byte of entries it writes", async () => {
  await withListedDirectory(async (directory, imports) => {
    const readdir = (length: number) =>
      `(drop (call $fd_readdir (i32.const 3) (i32.const 4096) (i32.const ${length}) (i64.const 0) (i32.const 16)))`;
    const preopens = [{ host: directory, guest: "/d" }];
    const cost = await charged(imports, "", readdir(MiB), readdir(0), 10, 20, {
      preopens,
    });
    // node:wasi lists no . and ..: a 24-byte header and the name each.
    assert.equal(cost, 10 * 100 * (24 + "entry-000".length));
  });
});

Deno.test("fd_readdir pays for each listing it reads afresh: a few bytes from cookie 0, call after call, are paid the whole listing each time", async () => {
  await withListedDirectory(async (directory, imports) => {
    const readdir = (cookie: number) =>
      `(drop (call $fd_readdir (i32.const 3) (i32.const 4096) (i32.const 32) (i64.const ${cookie}) (i32.const 16)))`;
    const preopens = [{ host: directory, guest: "/d" }];
    // Both read the listing once first; then each call at cookie 0 reads
    // it again, where cookie 1 goes on in the one kept. Both write 32
    // bytes a call.
    const cost = await charged(
      imports,
      readdir(0),
      readdir(0),
      readdir(1),
      10,
      1,
      {
        preopens,
      },
    );
    assert.equal(cost, 10 * 100 * (24 + "entry-000".length));
  });
});

Deno.test("a path is paid for the targets of the links it leads through, as the host reads them", async () => {
  await withDirectory(async (directory) => {
    await Deno.writeTextFile(`${directory}/f`, "");
    // The link's target: a run of slashes the walk reads, then the file.
    const target = `.${"/".repeat(600)}f`;
    await Deno.symlink(target, `${directory}/l`);
    const imports = use("path_open", "i32 i32 i32 i32 i32 i64 i64 i32 i32") +
      use("fd_close", "i32") +
      `(import "${W}" "proc_exit" (func $exit (param i32)))` +
      `(data (i32.const 100) "lf")`;
    // Opens `l` (following it) or `f`, one byte of path each, and closes
    // what it opened; exits 1 if an open fails.
    const open = (at: number) =>
      `(if (call $path_open (i32.const 3) (i32.const 1) (i32.const ${at}) (i32.const 1)
          (i32.const 0) (i64.const -1) (i64.const -1) (i32.const 0) (i32.const 200))
        (then (call $exit (i32.const 1))))
       (drop (call $fd_close (i32.load (i32.const 200))))`;
    const cost = await charged(imports, "", open(100), open(101), 10, 1, {
      preopens: [{ host: directory, guest: "/d" }],
    });
    // Each open reads the link at least once (it looks again once opened).
    assert.ok(cost >= 10 * target.length, `${cost}`);
    assert.equal(cost % (10 * target.length), 0, `${cost}`);
  });
});

Deno.test("a path pays for the targets of the links among its directories, once each time it is resolved, in every mode", async () => {
  await withDirectory(async (directory) => {
    // `l1` leads through `l2`, ... `l5` to `dd`, each target 600 bytes:
    // `l1/f` and `dd/f` name the same file in as many bytes.
    const links = 5;
    const length = 600;
    await Deno.mkdir(`${directory}/dd`);
    await Deno.writeTextFile(`${directory}/dd/f`, "");
    for (let i = 1; i <= links; i++) {
      const next = i === links ? "dd" : `l${i + 1}`;
      const target = `.${"/".repeat(length - 1 - next.length)}${next}`;
      await Deno.symlink(target, `${directory}/l${i}`);
    }
    const imports = use("path_open", "i32 i32 i32 i32 i32 i64 i64 i32 i32") +
      use("fd_close", "i32") +
      `(import "${W}" "proc_exit" (func $exit (param i32)))` +
      `(data (i32.const 100) "l1/f dd/f l1/g dd/g")`;
    // Opens the path at `at` (4 bytes), following links; exits 1 when the
    // errno is not `errno`, and closes what it opened.
    const open = (at: number, errno: number) =>
      `(if (i32.ne (call $path_open (i32.const 3) (i32.const 1) (i32.const ${at}) (i32.const 4)
          (i32.const 0) (i64.const -1) (i64.const -1) (i32.const 0) (i32.const 200))
          (i32.const ${errno}))
        (then (call $exit (i32.const 1))))
       ${
        errno === 0 ? "(drop (call $fd_close (i32.load (i32.const 200))))" : ""
      }`;
    const preopens = [{ host: directory, guest: "/d" }];
    const times = 10;
    for (
      const mode of [{}, { async: true }, { timeout: 600_000 }] as const
    ) {
      // An open that succeeds resolves the path twice: before node:wasi
      // opens it, and again once opened (another process may have changed
      // what is there).
      const opened = await charged(
        imports,
        "",
        open(100, 0),
        open(105, 0),
        times,
        1,
        {
          preopens,
          ...mode,
        },
      );
      assert.equal(opened, times * 2 * links * length, JSON.stringify(mode));
      // One that finds nothing there resolves it once.
      const missing = await charged(
        imports,
        "",
        open(110, ERRNO.NOENT),
        open(115, ERRNO.NOENT),
        times,
        1,
        { preopens, ...mode },
      );
      assert.equal(missing, times * links * length, JSON.stringify(mode));
    }
  });
});

Deno.test("a path node:wasi resolves pays for the links among its directories and, when it follows it, its last part's", async () => {
  await withDirectory(async (directory) => {
    // `l1` leads through `l2` and `l3` to `dd`, each target 300 bytes.
    const links = 3;
    const length = 300;
    await Deno.mkdir(`${directory}/dd/ee`, { recursive: true });
    for (let i = 1; i <= links; i++) {
      const next = i === links ? "dd" : `l${i + 1}`;
      const target = `.${"/".repeat(length - 1 - next.length)}${next}`;
      await Deno.symlink(target, `${directory}/l${i}`);
    }
    const imports = use("path_filestat_get", "i32 i32 i32 i32 i32") +
      `(import "${W}" "proc_exit" (func $exit (param i32)))` +
      `(data (i32.const 100) "l1/ee dd/ee l1 dd")`;
    // A stat of the path at `at`, `length` bytes long, following a link at
    // its end when `follow`; exits 1 unless it succeeds.
    const stat = (at: number, bytes: number, follow: boolean) =>
      `(if (call $path_filestat_get (i32.const 3) (i32.const ${
        follow ? 1 : 0
      }) (i32.const ${at}) (i32.const ${bytes}) (i32.const 200))
        (then (call $exit (i32.const 1))))`;
    const preopens = [{ host: directory, guest: "/d" }];
    const times = 10;
    const cost = (dear: string, cheap: string) =>
      charged(imports, "", dear, cheap, times, 1, { preopens });
    // The links on the way: paid whether or not the call follows a link at
    // the end.
    for (const follow of [false, true]) {
      assert.equal(
        await cost(stat(100, 5, follow), stat(106, 5, follow)),
        times * links * length,
      );
    }
    // The links at the end: paid when followed, not when the stat is of
    // the link itself.
    assert.equal(
      await cost(stat(112, 2, true), stat(115, 2, true)),
      times * links * length,
    );
    assert.equal(await cost(stat(112, 2, false), stat(115, 2, false)), 0);
  });
});

Deno.test("a directory's descriptor whose path a link now leads through pays for the link at each look", async () => {
  const length = 500;
  const target = `.${"/".repeat(length - 3)}ee`;
  const imports = use("path_open", "i32 i32 i32 i32 i32 i64 i64 i32 i32") +
    use("path_rename", "i32 i32 i32 i32 i32 i32") +
    use("path_symlink", "i32 i32 i32 i32 i32") +
    use("fd_filestat_get", "i32 i32") +
    `(import "${W}" "proc_exit" (func $exit (param i32)))` +
    `(data (i32.const 100) "dd ee")` +
    `(data (i32.const 1000) "${target}")`;
  // Opens `dd` as a directory, renames it `ee`, and puts a link to `ee` in
  // its place: the descriptor's path now leads through the link. Then
  // stats the descriptor whose number is at `fd` (the one it opened, or
  // the preopen's, which no link leads to) `times` times; exits 1 when a
  // call fails.
  const setup = `
    (i32.store (i32.const 204) (i32.const 3))
    (if (i32.or (i32.or
        (call $path_open (i32.const 3) (i32.const 0) (i32.const 100) (i32.const 2)
          (i32.const 2) (i64.const -1) (i64.const -1) (i32.const 0) (i32.const 200))
        (call $path_rename (i32.const 3) (i32.const 100) (i32.const 2)
          (i32.const 3) (i32.const 103) (i32.const 2)))
        (call $path_symlink (i32.const 1000) (i32.const ${length})
          (i32.const 3) (i32.const 100) (i32.const 2)))
      (then (call $exit (i32.const 1))))`;
  const times = 10;
  const run = (fd: number) =>
    withDirectory(async (directory) => {
      await Deno.mkdir(`${directory}/dd`);
      const guest = await command(
        imports,
        setup,
        `(if (call $fd_filestat_get (i32.load (i32.const ${fd})) (i32.const 300))
          (then (call $exit (i32.const 1))))`,
        times,
      );
      const result = await runWasi(guest, {
        fuel: Number.MAX_SAFE_INTEGER,
        preopens: [{ host: directory, guest: "/d" }],
      });
      assert.equal(result.outcome, "exited");
      assert.equal(result.outcome === "exited" && result.code, 0);
      fuel.push(consumed(result));
    });
  const fuel: number[] = [];
  await run(200);
  await run(204);
  // Each stat looks first whether the path now leads out of the preopen.
  assert.equal(fuel[0] - fuel[1], times * length);
});

Deno.test("paths are paid per byte, and one longer than PATH_MAX is refused with NAMETOOLONG", async () => {
  await withDirectory(async (directory) => {
    await Deno.mkdir(`${directory}/inside`);
    const guest = await wat(`(module
      ${use("path_filestat_get", "i32 i32 i32 i32 i32")}
      ${use("fd_write", "i32 i32 i32 i32").replace("$fd_write", "$write")}
      (memory (export "memory") 2)
      ${reportErrnoWat("write")}
      (func (export "_start")
        (call $report (call $path_filestat_get (i32.const 3) (i32.const 0)
          (i32.const 1024) (i32.const ${PATH_MAX + 1}) (i32.const 9000)))
        (call $report (call $path_filestat_get (i32.const 3) (i32.const 0)
          (i32.const 1024) (i32.const -1) (i32.const 9000)))))`);
    const result = await runWasi(guest, {
      preopens: [{ host: `${directory}/inside`, guest: "/sandbox" }],
      stdout: "capture",
    });
    assert.equal(result.outcome, "exited");
    assert.deepEqual(text(result.stdout).trim().split(" "), [
      String(ERRNO.NAMETOOLONG),
      String(ERRNO.NAMETOOLONG),
    ]);
    const stat = (length: number) =>
      `(drop (call $path_filestat_get (i32.const 3) (i32.const 0) (i32.const 1024) (i32.const ${length}) (i32.const 9000)))`;
    const cost = await charged(
      use("path_filestat_get", "i32 i32 i32 i32 i32"),
      "(memory.fill (i32.const 1024) (i32.const 97) (i32.const 4096))",
      stat(PATH_MAX),
      stat(0),
      10,
      2,
      { preopens: [{ host: `${directory}/inside`, guest: "/sandbox" }] },
    );
    assert.equal(cost, 10 * PATH_MAX);
  });
});

Deno.test("a deadline lands in a loop of calls naming a 512 MiB path", async () => {
  // Each call took 2.5 s of the host's thread when node:wasi read the path.
  await withDirectory(async (directory) => {
    const guest = await wat(`(module
      ${use("path_filestat_get", "i32 i32 i32 i32 i32")}
      (memory (export "memory") ${512 * 16 + 1})
      (func (export "_start")
        (loop $l
          (drop (call $path_filestat_get (i32.const 3) (i32.const 0)
            (i32.const 65536) (i32.const ${512 * MiB}) (i32.const 0)))
          (br $l))))`);
    const { result, ms } = await timed(guest, {
      preopens: [{ host: directory, guest: "/d" }],
      timeout: 100,
    });
    assert.equal(result.outcome, "timeout");
    assert.ok(ms < 2_000, `stopped after ${ms} ms of CPU time`);
  });
});

Deno.test("a deadline lands inside a random_get of a gibibyte", async () => {
  const guest = await command(
    randomGet,
    "",
    `(drop (call $random_get (i32.const 0) (i32.const ${1024 * MiB})))`,
    1_000_000,
    16384,
  );
  const { result, ms } = await timed(guest, { timeout: 50 });
  assert.equal(result.outcome, "timeout");
  assert.ok(ms < 2_000, `stopped after ${ms} ms of CPU time`);
});

Deno.test("a write or read of a file passes at most MAX_TRANSFER_VECTORS vectors: the rest is a short one", async () => {
  // node:wasi writes a vector at a time: 1024 vectors of 1 KiB held the
  // thread 9 ms a call. The guest exits with the bytes moved, in KiB.
  await withDirectory(async (directory) => {
    await Deno.writeFile(`${directory}/f`, new Uint8Array(4 * MiB));
    for (const op of ["fd_pwrite", "fd_pread"]) {
      const guest = await wat(`(module
        ${use("path_open", "i32 i32 i32 i32 i32 i64 i64 i32 i32")}
        ${use(op, "i32 i32 i32 i64 i32")}
        (import "${W}" "proc_exit" (func $exit (param i32)))
        (memory (export "memory") 32)
        (func (export "_start") (local $i i32)
          (loop $vectors
            (i32.store offset=8192 (i32.shl (local.get $i) (i32.const 3))
              (i32.const 65536))
            (i32.store offset=8196 (i32.shl (local.get $i) (i32.const 3))
              (i32.const 1024))
            (br_if $vectors (i32.lt_u
              (local.tee $i (i32.add (local.get $i) (i32.const 1)))
              (i32.const 1024))))
          (i32.store8 (i32.const 100) (i32.const 102))
          (drop (call $path_open (i32.const 3) (i32.const 0) (i32.const 100)
            (i32.const 1) (i32.const 0) (i64.const 0x42) (i64.const 0x42)
            (i32.const 0) (i32.const 200)))
          (drop (call $${op} (i32.load (i32.const 200)) (i32.const 8192)
            (i32.const 1024) (i64.const 0) (i32.const 16)))
          (call $exit (i32.shr_u (i32.load (i32.const 16)) (i32.const 10)))))`);
      const result = await runWasi(guest, {
        preopens: [{ host: directory, guest: "/d" }],
      });
      assert.equal(result.outcome, "exited");
      assert.equal(
        result.outcome === "exited" && result.code,
        MAX_TRANSFER_VECTORS,
        op,
      );
    }
  });
});

Deno.test("poll_oneoff takes at most MAX_SUBSCRIPTIONS subscriptions", async () => {
  // 65,536 held the thread 5 ms a call. Clock subscriptions of 0 ns at
  // 65536, 48 bytes each; the guest prints the errno.
  const poll = (count: number) =>
    wat(`(module
      ${use("poll_oneoff", "i32 i32 i32 i32")}
      ${use("fd_write", "i32 i32 i32 i32").replace("$fd_write", "$write")}
      (memory (export "memory") 160)
      ${reportErrnoWat("write")}
      (func (export "_start")
        (call $report (call $poll_oneoff (i32.const 65536)
          (i32.const ${8 * MiB}) (i32.const ${count}) (i32.const 9000)))))`);
  const errno = async (count: number) =>
    text((await runWasi(await poll(count), { stdout: "capture" })).stdout)
      .trim();
  assert.equal(MAX_SUBSCRIPTIONS, 4096);
  assert.equal(await errno(MAX_SUBSCRIPTIONS), "00");
  assert.equal(await errno(MAX_SUBSCRIPTIONS + 1), String(ERRNO.INVAL));
});

Deno.test("a write to stdout passes at most MAX_TRANSFER_VECTORS vectors, in every mode", async () => {
  // 1024 vectors of a byte; the guest exits with the count written.
  const guest = await wat(`(module
    ${fdWrite}
    (import "${W}" "proc_exit" (func $exit (param i32)))
    (memory (export "memory") 1)
    (func (export "_start") (local $i i32)
      (loop $vectors
        (i32.store offset=8192 (i32.shl (local.get $i) (i32.const 3))
          (i32.const 100))
        (i32.store offset=8196 (i32.shl (local.get $i) (i32.const 3))
          (i32.const 1))
        (br_if $vectors (i32.lt_u
          (local.tee $i (i32.add (local.get $i) (i32.const 1)))
          (i32.const 1024))))
      (drop (call $fd_write (i32.const 1) (i32.const 8192) (i32.const 1024)
        (i32.const 16)))
      (call $exit (i32.load (i32.const 16)))))`);
  for (const stdout of ["capture", "ignore"] as const) {
    const result = await runWasi(guest, { stdout });
    assert.equal(result.outcome, "exited");
    assert.equal(
      result.outcome === "exited" && result.code,
      MAX_TRANSFER_VECTORS,
      stdout,
    );
  }
});

Deno.test("args_get and environ_get are paid per string and byte they copy", async () => {
  const guest = await command(
    use("args_get", "i32 i32") + use("environ_get", "i32 i32"),
    "",
    `(drop (call $args_get (i32.const 1024) (i32.const 2048)))
      (drop (call $environ_get (i32.const 1024) (i32.const 2048)))`,
    10,
  );
  const run = async (options: WasiOptions) =>
    consumed(
      await runWasi(guest, { fuel: Number.MAX_SAFE_INTEGER, ...options }),
    );
  const bare = await run({});
  // "ab" and "cde": 2 strings, 7 bytes with their NULs; "A=xyz": 1, 6.
  assert.equal(await run({ args: ["ab", "cde"] }) - bare, 10 * (2 + 7));
  assert.equal(await run({ env: { A: "xyz" } }) - bare, 10 * (1 + 6));
});

Deno.test("reads of a stdin stream are paid per byte read, in an async run", async () => {
  // 20 reads of 64 KiB: the first 16 take the stream's 1 MiB.
  const guest = await command(
    use("fd_read", "i32 i32 i32 i32"),
    `(i32.store (i32.const 0) (i32.const 65536))
      (i32.store (i32.const 4) (i32.const 65536))`,
    `(drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 16)))`,
    20,
    2,
  );
  const run = async (bytes: number) => {
    const result = await runWasi(guest, {
      fuel: Number.MAX_SAFE_INTEGER,
      stdin: new Blob([new Uint8Array(bytes)]).stream(),
    });
    assert.equal(result.outcome, "exited");
    return consumed(result);
  };
  assert.equal(await run(MiB) - await run(0), MiB);
});

Deno.test("fd_readdir fills the buffer when the next entry's header does not fit, so that the listing goes on", async () => {
  // Ten entries of 24 + 16 bytes; a buffer of 100 holds two and 20 bytes,
  // too few for a header, where node:wasi stops: a count under the
  // buffer's size tells the guest the directory ended. It exits with the
  // count.
  await withDirectory(async (directory) => {
    for (let i = 0; i < 10; i++) {
      await Deno.writeTextFile(
        `${directory}/f${String(i).padStart(15, "0")}`,
        "",
      );
    }
    const guest = await wat(`(module
      ${use("fd_readdir", "i32 i32 i32 i64 i32")}
      (import "${W}" "proc_exit" (func $exit (param i32)))
      (memory (export "memory") 1)
      (func (export "_start")
        (drop (call $fd_readdir (i32.const 3) (i32.const 1024) (i32.const 100)
          (i64.const 0) (i32.const 16)))
        (call $exit (i32.load (i32.const 16)))))`);
    const result = await runWasi(guest, {
      preopens: [{ host: directory, guest: "/d" }],
    });
    assert.equal(result.outcome, "exited");
    assert.equal(result.outcome === "exited" && result.code, 100);
  });
});
