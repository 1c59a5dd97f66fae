/**
 * A guest's call that frees a file's blocks (removing it, renaming over it,
 * truncating it) leaves that work to the listing thread: the kernel frees
 * the blocks inside the system call, in time that grows with the file's
 * fragments (about 0.1 ms each on a file system mounted with `discard`),
 * and no stop reached a run meanwhile. The calls still do what they did.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { wat } from "./support/instrument.ts";
import { runWasiStoppedOnCue } from "./support/stopper_thread.ts";
import { withDirectory } from "./support/temp_directory.ts";
import { runWasi } from "../mod.ts";

const W = "wasi_snapshot_preview1";

/**
 * Imports, memory (the names "f" at 100, "g" at 104 and "go" at 108), and
 * `$open` ("f", with `oflags`, its descriptor at 200).
 */
const COMMON = `
  (import "${W}" "path_open" (func $path_open
    (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "${W}" "fd_close" (func $fd_close (param i32) (result i32)))
  (import "${W}" "fd_filestat_set_size" (func $set_size (param i32 i64) (result i32)))
  (import "${W}" "path_unlink_file" (func $unlink (param i32 i32 i32) (result i32)))
  (import "${W}" "path_rename" (func $rename
    (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "${W}" "path_create_directory" (func $mkdir (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "f")
  (data (i32.const 104) "g")
  (data (i32.const 108) "go")
  (func $open (param $oflags i32) (result i32)
    (drop (call $path_open (i32.const 3) (i32.const 0) (i32.const 100)
      (i32.const 1) (local.get $oflags) (i64.const -1) (i64.const -1)
      (i32.const 0) (i32.const 200)))
    (i32.load (i32.const 200)))`;

/** What the guest does to "f" (and "g"), with `$fd` a local it may use. */
const FREES: [string, string][] = [
  [
    "path_unlink_file",
    `(drop (call $unlink (i32.const 3) (i32.const 100) (i32.const 1)))`,
  ],
  [
    "path_unlink_file of an open file, then fd_close",
    `(local.set $fd (call $open (i32.const 0)))
     (drop (call $unlink (i32.const 3) (i32.const 100) (i32.const 1)))
     (drop (call $fd_close (local.get $fd)))`,
  ],
  [
    "path_rename over it",
    `(drop (call $rename (i32.const 3) (i32.const 104) (i32.const 1)
       (i32.const 3) (i32.const 100) (i32.const 1)))`,
  ],
  [
    "fd_filestat_set_size",
    `(drop (call $set_size (call $open (i32.const 0)) (i64.const 1)))`,
  ],
  ["path_open with trunc", `(drop (call $open (i32.const 8)))`],
  [
    "fd_filestat_set_size of a file renamed since it was opened",
    `(local.set $fd (call $open (i32.const 0)))
     (drop (call $rename (i32.const 3) (i32.const 100) (i32.const 1)
       (i32.const 3) (i32.const 104) (i32.const 1)))
     (drop (call $set_size (local.get $fd) (i64.const 1)))`,
  ],
  [
    "fd_filestat_set_size of a file removed since it was opened",
    `(local.set $fd (call $open (i32.const 0)))
     (drop (call $unlink (i32.const 3) (i32.const 100) (i32.const 1)))
     (drop (call $set_size (local.get $fd) (i64.const 1)))`,
  ],
];

/** Pages of the fragmented file: one byte every 64 KiB, flushed. */
const PAGES = 3_000;

/** Writes "f", fragmented (`pages` of it) and flushed, and a small "g". */
async function fragmented(directory: string, pages = PAGES): Promise<void> {
  using file = await Deno.open(`${directory}/f`, {
    write: true,
    create: true,
  });
  const byte = new Uint8Array([1]);
  for (let i = 0; i < pages; i++) {
    file.seekSync(i * 65536, Deno.SeekMode.Start);
    file.writeSync(byte);
  }
  await file.syncData();
  await Deno.writeTextFile(`${directory}/g`, "g");
}

for (const [index, [name, frees]] of FREES.entries()) {
  const async = index % 2 === 1;
  Deno.test(`a StopSignal lands while ${name} frees a fragmented file's blocks, in ${async ? "an async" : "a plain"} run`, async () => {
    await withDirectory(async (directory) => {
      await fragmented(directory);
      const guest = await wat(`(module ${COMMON}
        (func (export "_start") (local $fd i32)
          (drop (call $mkdir (i32.const 3) (i32.const 108) (i32.const 2)))
          ${frees}
          (loop $spin (br $spin))))`);
      const { result, late } = await runWasiStoppedOnCue(guest, directory, {
        async,
      });
      assert.equal(result.outcome, "aborted");
      // Freeing 3,000 fragments took about a second on this thread, most
      // of it waiting for the disk; the time a busy machine keeps this
      // thread waiting for a CPU is not counted.
      assert.ok(
        late < 300,
        `stopped ${late.toFixed(1)} ms after the signal, waits for a CPU aside`,
      );
    });
  });
}

/** Pages of "f" where only what the calls do is looked at. */
const PAGES_HERE = 16;

Deno.test("removing, renaming over and truncating still do what they did, in plain and async runs", async () => {
  for (const async of [false, true]) {
    for (const [name, frees] of FREES) {
      await withDirectory(async (directory) => {
        await fragmented(directory, PAGES_HERE);
        const guest = await wat(`(module ${COMMON}
          (func (export "_start") (local $fd i32) ${frees}))`);
        const result = await runWasi(guest, {
          preopens: [{ host: directory, guest: "/d" }],
          timeout: 60_000,
          async,
        });
        assert.equal(result.outcome, "exited", name);
        const left: Record<string, number> = {};
        for await (const entry of Deno.readDir(directory)) {
          left[entry.name] = (await Deno.stat(`${directory}/${entry.name}`))
            .size;
        }
        const whole = (PAGES_HERE - 1) * 65536 + 1;
        const expected: Record<string, Record<string, number>> = {
          "path_unlink_file": { g: 1 },
          "path_unlink_file of an open file, then fd_close": { g: 1 },
          "path_rename over it": { f: 1 },
          "fd_filestat_set_size": { f: 1, g: 1 },
          "path_open with trunc": { f: 0, g: 1 },
          "fd_filestat_set_size of a file renamed since it was opened": {
            g: 1,
          },
          "fd_filestat_set_size of a file removed since it was opened": {
            g: 1,
          },
        };
        assert.deepEqual(left, expected[name], `${name} (f was ${whole})`);
      });
    }
  }
});
