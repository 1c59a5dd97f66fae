/**
 * The listing thread truncates and flushes the file the guest has open,
 * found again by its path: when another process moves that file away, or
 * puts another (a file, a FIFO, a link) at its path, between the guest's
 * open and its call, a truncation still acts on the guest's file, by its
 * descriptor, and neither call acts on what is at the path now, nor waits
 * for it (a FIFO's writer, which never came).
 *
 * @module
 */

import assert from "./support/assert.ts";
import { wat } from "./support/instrument.ts";
import { withDirectory } from "./support/temp_directory.ts";
import { runWasi } from "../mod.ts";
import { ERRNO } from "../src/wasi/wasi_abi.ts";

const W = "wasi_snapshot_preview1";

/**
 * A guest that opens "f" to write, makes the directory "go" (the other
 * process's cue), waits until "swapped" is there (its answer), then calls
 * `fd_sync` and `fd_filestat_set_size` (to 1 byte) on its descriptor,
 * writing each errno to stdout as a byte.
 */
const GUEST = `(module
  (import "${W}" "path_open" (func $path_open
    (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "${W}" "path_create_directory" (func $mkdir (param i32 i32 i32) (result i32)))
  (import "${W}" "path_filestat_get" (func $stat (param i32 i32 i32 i32 i32) (result i32)))
  (import "${W}" "fd_sync" (func $fd_sync (param i32) (result i32)))
  (import "${W}" "fd_filestat_set_size" (func $set_size (param i32 i64) (result i32)))
  (import "${W}" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "${W}" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "f")
  (data (i32.const 104) "go")
  (data (i32.const 108) "swapped")
  (func $out (param i32)
    (i32.store8 (i32.const 600) (local.get 0))
    (i32.store (i32.const 610) (i32.const 600))
    (i32.store (i32.const 614) (i32.const 1))
    (drop (call $fd_write (i32.const 1) (i32.const 610) (i32.const 1)
      (i32.const 620))))
  (func (export "_start") (local $fd i32)
    (drop (call $path_open (i32.const 3) (i32.const 0) (i32.const 100)
      (i32.const 1) (i32.const 0) (i64.const -1) (i64.const -1) (i32.const 0)
      (i32.const 200)))
    (local.set $fd (i32.load (i32.const 200)))
    (drop (call $mkdir (i32.const 3) (i32.const 104) (i32.const 2)))
    ;; Waits for the answer, sleeping 5 ms at a time (a relative clock
    ;; subscription at 300).
    (i32.store8 (i32.const 308) (i32.const 0))
    (i32.store (i32.const 316) (i32.const 1))
    (i64.store (i32.const 324) (i64.const 5000000))
    (block $there (loop $wait
      (br_if $there (i32.eqz (call $stat (i32.const 3) (i32.const 0)
        (i32.const 108) (i32.const 7) (i32.const 400))))
      (drop (call $poll (i32.const 300) (i32.const 500) (i32.const 1)
        (i32.const 560)))
      (br $wait)))
    (call $out (call $fd_sync (local.get $fd)))
    (call $out (call $set_size (local.get $fd) (i64.const 1)))))`;

/** What the other process puts at "f" once it has moved the guest's file. */
const SWAPS: [string, string][] = [
  ["moves the file away", ""],
  ["puts another file at its path", "printf 'other file' > f"],
  ["puts a FIFO at its path", "mkfifo f"],
  [
    "puts a link to another file at its path",
    "printf 'other file' > o && ln -s o f",
  ],
];

for (const [index, [swap, command]] of SWAPS.entries()) {
  const async = index % 2 === 1;
  Deno.test(`a truncation acts on the guest's file, and no call waits on its path, when another process ${swap}, in ${async ? "an async" : "a plain"} run`, async () => {
    await withDirectory(async (directory) => {
      await Deno.writeTextFile(`${directory}/f`, "the guest's file");
      const guest = await wat(GUEST);
      // Another process: it waits for the cue, moves "f" to "moved", puts
      // its own thing at "f", and answers.
      const other = new Deno.Command("sh", {
        args: [
          "-c",
          `while [ ! -d go ]; do sleep 0.01; done; mv f moved; ${
            command || ":"
          }; mkdir swapped`,
        ],
        cwd: directory,
        stdout: "null",
        stderr: "inherit",
      }).spawn();
      try {
        const result = await runWasi(guest, {
          preopens: [{ host: directory, guest: "/d" }],
          stdout: "capture",
          // A bound for a thread that waits for a FIFO's writer, so that
          // such a failure is an outcome, not a hung test.
          timeout: 30_000,
          async,
        });
        assert.equal(result.outcome, "exited", swap);
        // The flush cannot reach the file by its path, and says so; the
        // truncation is done by the guest's descriptor.
        assert.deepEqual(
          [...result.stdout!],
          [ERRNO.IO, ERRNO.SUCCESS],
          `${swap}: the errnos`,
        );
      } finally {
        assert.equal((await other.status).code, 0);
      }
      assert.equal(await Deno.readTextFile(`${directory}/moved`), "t", swap);
      if (command.includes("other file")) {
        assert.equal(
          await Deno.readTextFile(`${directory}/f`),
          "other file",
          `${swap}: what is at the path now`,
        );
      }
    });
  });
}
