import assert from "./support/assert.ts";
import { wat } from "./support/instrument.ts";
import { withDirectory } from "./support/temp_directory.ts";
import { reportErrnoWat, text } from "./support/wasi_guests.ts";
import { runWasi } from "../mod.ts";
import { MAX_OPEN_FILES } from "../src/wasi/wasi_files.ts";
import { MAX_GUEST_DESCRIPTORS } from "../src/wasi/wasi_open_descriptors.ts";

const MFILE = 33;
const NFILE = 41;

/** Sleeps 100 ms on the monotonic clock. */
const SLEEP = `
    (i32.store8 (i32.const 408) (i32.const 0))
    (i32.store (i32.const 416) (i32.const 1))
    (i64.store (i32.const 424) (i64.const 100000000))
    (drop (call $poll (i32.const 400) (i32.const 500) (i32.const 1) (i32.const 600)))`;

/** Reads a byte of stdin, waiting until one comes or it ends. */
const READ_STDIN = `
    (i32.store (i32.const 400) (i32.const 500))
    (i32.store (i32.const 404) (i32.const 1))
    (drop (call $read (i32.const 0) (i32.const 400) (i32.const 1) (i32.const 408)))`;

/**
 * A command that opens `f.txt` in its preopen until an open fails, never
 * closing one, then waits (`wait`) and prints how many it opened, then the
 * errno of the open that failed.
 */
const opener = (wait: string) =>
  `(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read"
    (func $read (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "f.txt")
  (func $print (param $n i32) (local $at i32)
    (local.set $at (i32.const 300))
    (i32.store8 (i32.const 300) (i32.const 10))
    (loop $digits
      (local.set $at (i32.sub (local.get $at) (i32.const 1)))
      (i32.store8 (local.get $at)
        (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10))))
      (local.set $n (i32.div_u (local.get $n) (i32.const 10)))
      (br_if $digits (local.get $n)))
    (i32.store (i32.const 0) (local.get $at))
    (i32.store (i32.const 4) (i32.sub (i32.const 301) (local.get $at)))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_start") (local $n i32) (local $errno i32)
    (loop $again
      (local.set $errno (call $open (i32.const 3) (i32.const 1) (i32.const 100)
        (i32.const 5) (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0)
        (i32.const 20)))
      (if (i32.eqz (local.get $errno)) (then
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $again))))
    ${wait}
    (call $print (local.get $n))
    (call $print (local.get $errno))))`;

Deno.test("a WASI guest holds a bounded number of open files, and the host can open its own meanwhile", () =>
  withDirectory(async (directory) => {
    await Deno.writeTextFile(`${directory}/f.txt`, "f");
    const guest = await wat(opener(SLEEP));
    let hostOpened = false;
    const run = runWasi(guest, {
      preopens: [{ host: directory }],
      stdout: "capture",
      timeout: 60_000,
    });
    // While the guest sleeps, holding every file it could open.
    const probe = (async () => {
      await new Promise((resolve) => setTimeout(resolve, 50));
      for (let tries = 0; tries < 200 && !hostOpened; tries++) {
        try {
          (await Deno.open(`${directory}/f.txt`)).close();
          hostOpened = true;
        } catch {
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      }
    })();
    const result = await run;
    await probe;
    assert.equal(result.outcome, "exited");
    const [opened, errno] = text(result.stdout).trim().split("\n").map(Number);
    // The preopen is one of them.
    assert.equal(opened, MAX_OPEN_FILES - 1);
    assert.equal(errno, MFILE);
    assert.ok(hostOpened, "the host could not open a file during the run");
  }));

Deno.test("the WASI guests of a process together hold a bounded number of descriptors: past it an open fails with ENFILE, and the host's own succeed", () =>
  withDirectory(async (directory) => {
    await Deno.writeTextFile(`${directory}/f.txt`, "f");
    const guest = await wat(opener(READ_STDIN));
    // Enough runs that together, each within its own cap, they would pass
    // the process's.
    const runs = Math.ceil(MAX_GUEST_DESCRIPTORS / MAX_OPEN_FILES) + 2;
    // Each run's stdin is asked for bytes only once its guest has opened
    // all it could and reads: then every run holds its files at once.
    let reading = 0;
    let allReading!: () => void;
    const allRead = new Promise<void>((resolve) => allReading = resolve);
    const inputs: ReadableStreamDefaultController<Uint8Array>[] = [];
    const results = Array.from({ length: runs }, () =>
      runWasi(guest, {
        preopens: [{ host: directory }],
        stdin: new ReadableStream<Uint8Array>({
          start: (controller) => void inputs.push(controller),
          pull: () => {
            if (++reading === runs) allReading();
            return new Promise<void>(() => {});
          },
        }, { highWaterMark: 0 }),
        stdout: "capture",
        timeout: 120_000,
      }));
    await allRead;
    (await Deno.open(`${directory}/f.txt`)).close();
    for (const input of inputs) input.close();
    let held = 0;
    const errnos = new Set<number>();
    for (const result of await Promise.all(results)) {
      assert.equal(result.outcome, "exited");
      const [opened, errno] = text(result.stdout).trim().split("\n")
        .map(Number);
      // Its preopen is one.
      held += opened + 1;
      errnos.add(errno);
      assert.ok(errno === MFILE || errno === NFILE, `errno ${errno}`);
    }
    assert.equal(held, MAX_GUEST_DESCRIPTORS);
    assert.ok(errnos.has(NFILE));
    // And all are given back: a run alone has its own cap again.
    const alone = await runWasi(await wat(opener(SLEEP)), {
      preopens: [{ host: directory }],
      stdout: "capture",
      timeout: 60_000,
    });
    assert.deepEqual(text(alone.stdout).trim().split("\n").map(Number), [
      MAX_OPEN_FILES - 1,
      MFILE,
    ]);
  }));

/**
 * A command that opens `f.txt` 2000 times with the descriptor's address
 * past the end of its memory, and exits with the errno of the last open.
 */
const LOST_OPENER = `(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "f.txt")
  (func (export "_start") (local $n i32) (local $errno i32)
    (loop $again
      (local.set $errno (call $open (i32.const 3) (i32.const 1) (i32.const 100)
        (i32.const 5) (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0)
        (i32.const 65534)))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $n) (i32.const 2000))))
    (call $exit (local.get $errno))))`;

const FAULT = 21;

/** How many descriptors this process holds, where the system tells. */
function hostDescriptors(): number | undefined {
  try {
    return [...Deno.readDirSync("/proc/self/fd")].length;
  } catch {
    return undefined;
  }
}

Deno.test("path_open with the descriptor's address outside memory opens nothing: no descriptor of the host's is left behind", () =>
  withDirectory(async (directory) => {
    await Deno.writeTextFile(`${directory}/f.txt`, "f");
    const guest = await wat(LOST_OPENER);
    const before = hostDescriptors();
    const result = await runWasi(guest, {
      preopens: [{ host: directory }],
      timeout: 60_000,
    });
    assert.equal(result.outcome, "exited");
    if (result.outcome === "exited") assert.equal(result.code, FAULT);
    const after = hostDescriptors();
    if (before !== undefined && after !== undefined) {
      // A few of the host's own come and go; 2000 would be the guest's.
      assert.ok(after - before < 50, `${before} descriptors, then ${after}`);
    }
  }));

Deno.test("fd_renumber needs both descriptors open, and a read-only preopen renumbered stays read-only", () =>
  withDirectory(async (directory) => {
    await Deno.mkdir(`${directory}/ro`);
    await Deno.mkdir(`${directory}/rw`);
    // node:wasi renumbered onto any number, growing its table of
    // descriptors to it: 10 million took half a gigabyte, 2^31 - 1 ran the
    // machine out of memory.
    const guest = await wat(`(module
      (import "wasi_snapshot_preview1" "fd_renumber"
        (func $renumber (param i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "path_create_directory"
        (func $mkdir (param i32 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "fd_write"
        (func $write (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (data (i32.const 100) "d")
      ${reportErrnoWat("write")}
      (func (export "_start")
        (call $report (call $renumber (i32.const 3) (i32.const 10000000)))
        (call $report (call $renumber (i32.const 3) (i32.const 5)))
        (call $report (call $renumber (i32.const 3) (i32.const 4)))
        (call $report (call $mkdir (i32.const 4) (i32.const 100) (i32.const 1)))
        (call $report (call $mkdir (i32.const 3) (i32.const 100) (i32.const 1)))))`);
    const result = await runWasi(guest, {
      preopens: [
        { host: `${directory}/ro`, guest: "/ro", mode: "read-only" },
        { host: `${directory}/rw`, guest: "/rw" },
      ],
      stdout: "capture",
      timeout: 30_000,
    });
    assert.equal(result.outcome, "exited");
    // EBADF twice, then the read-only preopen in the writable one's place:
    // EROFS, and its old number EBADF.
    assert.equal(text(result.stdout), "08 08 00 69 08 ");
    assert.deepEqual([...Deno.readDirSync(`${directory}/rw`)], []);
  }));

/**
 * A command given the host's own stderr that tries to change that
 * descriptor (its flags, size, offset, times, blocks), to treat it as a
 * socket, and to signal the host, printing each errno: the first with no
 * effect on the host's descriptor, the rest refused.
 */
const STDIO_TAMPERER = `(module
  (import "wasi_snapshot_preview1" "fd_fdstat_set_flags"
    (func $set_flags (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_filestat_set_size"
    (func $set_size (param i32 i64) (result i32)))
  (import "wasi_snapshot_preview1" "fd_seek"
    (func $seek (param i32 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_pwrite"
    (func $pwrite (param i32 i32 i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_allocate"
    (func $allocate (param i32 i64 i64) (result i32)))
  (import "wasi_snapshot_preview1" "fd_filestat_set_times"
    (func $set_times (param i32 i64 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_sync" (func $sync (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "sock_shutdown"
    (func $shutdown (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "sock_accept"
    (func $accept (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_raise" (func $raise (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ${reportErrnoWat("fd_write")}
  (func (export "_start")
    ;; APPEND | NONBLOCK | SYNC: the host's stderr would fail its writes
    (call $report (call $set_flags (i32.const 2) (i32.const 0x11)))
    (call $report (call $set_size (i32.const 2) (i64.const 0)))
    (call $report (call $seek (i32.const 2) (i64.const 0) (i32.const 0) (i32.const 64)))
    (i32.store (i32.const 80) (i32.const 96))
    (i32.store (i32.const 84) (i32.const 4))
    (call $report (call $pwrite (i32.const 2) (i32.const 80) (i32.const 1)
      (i64.const 0) (i32.const 64)))
    (call $report (call $allocate (i32.const 2) (i64.const 0) (i64.const 0x40000000)))
    (call $report (call $set_times (i32.const 2) (i64.const 0) (i64.const 0) (i32.const 5)))
    (call $report (call $sync (i32.const 2)))
    (call $report (call $shutdown (i32.const 2) (i32.const 3)))
    (call $report (call $accept (i32.const 2) (i32.const 0) (i32.const 64)))
    ;; SIGINT, SIGKILL, SIGTERM in preview1's numbering
    (call $report (call $raise (i32.const 2)))
    (call $report (call $raise (i32.const 9)))
    (call $report (call $raise (i32.const 15)))))`;

/** The flags of this process's descriptor `fd`, where the system tells. */
function descriptorFlags(fd: number): string | undefined {
  try {
    return Deno.readTextFileSync(`/proc/self/fdinfo/${fd}`)
      .split("\n").find((line) => line.startsWith("flags"));
  } catch {
    return undefined;
  }
}

Deno.test("a command cannot change, truncate, seek, write at an offset, sync or shut down the host's stderr, nor signal the host", async () => {
  const before = descriptorFlags(2);
  const result = await runWasi(await wat(STDIO_TAMPERER), {
    stdout: "capture",
    stderr: "inherit",
    timeout: 60_000,
  });
  assert.equal(result.outcome, "exited");
  // fd_fdstat_set_flags answers success and changes nothing; the file
  // calls are EBADF for a descriptor that is not a file, sock_shutdown and
  // proc_raise ENOSYS, sock_accept ENOTSOCK.
  assert.deepEqual(text(result.stdout).trim().split(" "), [
    "00",
    ...Array(6).fill("08"),
    "52",
    "57",
    ...Array(3).fill("52"),
  ]);
  assert.equal(descriptorFlags(2), before);
});
