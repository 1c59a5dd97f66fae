/**
 * `fd_sync` and `fd_datasync` flush on the listing thread, not the host's:
 * `node:wasi` flushed on the calling thread, for as long as the disk took
 * to write what the guest left dirty, and no stop reached the run
 * meanwhile. A flush still flushes, also of a file the guest renamed or
 * removed since it opened it.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { wat } from "./support/instrument.ts";
import { runWasiStoppedOnCue } from "./support/stopper_thread.ts";
import { withDirectory } from "./support/temp_directory.ts";
import { runWasi, type WasiOptions } from "../mod.ts";
import { ERRNO } from "../src/wasi/wasi_abi.ts";

const W = "wasi_snapshot_preview1";

/** The imports the guests use. */
const IMPORTS = `
  (import "${W}" "path_open" (func $path_open
    (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "${W}" "fd_pwrite" (func $fd_pwrite (param i32 i32 i32 i64 i32) (result i32)))
  (import "${W}" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "${W}" "fd_sync" (func $fd_sync (param i32) (result i32)))
  (import "${W}" "fd_datasync" (func $fd_datasync (param i32) (result i32)))
  (import "${W}" "path_rename" (func $path_rename
    (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "${W}" "path_create_directory" (func $mkdir (param i32 i32 i32) (result i32)))
  (import "${W}" "path_unlink_file" (func $unlink (param i32 i32 i32) (result i32)))
  (import "${W}" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))`;

/**
 * The common part: memory, the names ("f" at 100, "g" at 104, "go" at
 * 108), `$open` (of "f", created, the descriptor at 200), `$out` (a u64 to
 * stdout), `$now`, and `$scatter` (one byte written at every 64 KiB, from
 * `from` on, `count` times: a page left dirty each, for the flush to
 * write).
 */
const COMMON = `
  ${IMPORTS}
  (memory (export "memory") 2)
  (data (i32.const 100) "f")
  (data (i32.const 104) "g")
  (data (i32.const 108) "go")
  (func $open (result i32)
    (drop (call $path_open (i32.const 3) (i32.const 0) (i32.const 100)
      (i32.const 1) (i32.const 1) (i64.const -1) (i64.const -1) (i32.const 0)
      (i32.const 200)))
    (i32.load (i32.const 200)))
  (func $out (param i64)
    (i64.store (i32.const 520) (local.get 0))
    (i32.store (i32.const 540) (i32.const 520))
    (i32.store (i32.const 544) (i32.const 8))
    (drop (call $fd_write (i32.const 1) (i32.const 540) (i32.const 1)
      (i32.const 548))))
  (func $now (result i64)
    (drop (call $clock (i32.const 1) (i64.const 1) (i32.const 500)))
    (i64.load (i32.const 500)))
  (func $scatter (param $fd i32) (param $from i32) (param $count i32)
    (local $i i32)
    (i32.store (i32.const 320) (i32.const 65536))
    (i32.store (i32.const 324) (i32.const 1))
    (block $done (loop $again
      (br_if $done (i32.ge_u (local.get $i) (local.get $count)))
      (drop (call $fd_pwrite (local.get $fd) (i32.const 320) (i32.const 1)
        (i64.shl (i64.extend_i32_u (i32.add (local.get $from) (local.get $i)))
          (i64.const 16))
        (i32.const 310)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $again))))`;

/** The u64s a guest wrote to stdout. */
function words(stdout: Uint8Array | undefined): bigint[] {
  assert.ok(stdout !== undefined);
  const view = new DataView(stdout.buffer, stdout.byteOffset, stdout.length);
  return Array.from(
    { length: stdout.length / 8 },
    (_, i) => view.getBigUint64(8 * i, true),
  );
}

const MODES: [string, WasiOptions][] = [
  ["a plain run", { timeout: 60_000, async: false }],
  ["an async run", { timeout: 60_000 }],
  ["a run with fuel only", { fuel: Number.MAX_SAFE_INTEGER }],
];

for (const [mode, options] of MODES) {
  Deno.test(`fd_sync and fd_datasync flush a file, also one renamed or removed since it was opened, in ${mode}`, async () => {
    await withDirectory(async (directory) => {
      const guest = await wat(`(module ${COMMON}
        (func (export "_start") (local $fd i32)
          (local.set $fd (call $open))
          (call $scatter (local.get $fd) (i32.const 0) (i32.const 4))
          (call $out (i64.extend_i32_u (call $fd_sync (local.get $fd))))
          (call $out (i64.extend_i32_u (call $fd_datasync (local.get $fd))))
          (call $out (i64.extend_i32_u (call $fd_sync (i32.const 3))))
          (drop (call $path_rename (i32.const 3) (i32.const 100) (i32.const 1)
            (i32.const 3) (i32.const 104) (i32.const 1)))
          (call $out (i64.extend_i32_u (call $fd_datasync (local.get $fd))))
          (drop (call $unlink (i32.const 3) (i32.const 104) (i32.const 1)))
          (call $out (i64.extend_i32_u (call $fd_sync (local.get $fd))))))`);
      const result = await runWasi(guest, {
        preopens: [{ host: directory, guest: "/d" }],
        stdout: "capture",
        ...options,
      });
      assert.equal(result.outcome, "exited");
      assert.deepEqual(
        words(result.stdout),
        Array(5).fill(BigInt(ERRNO.SUCCESS)),
      );
    });
  });
}

/**
 * Pages the guest's timed flush writes (about 100 ms of flushing on a VM's
 * disk); the flush that is stopped writes four times as many.
 */
const PAGES = 4_000;

for (const async of [false, true]) {
  Deno.test(`a StopSignal lands while fd_datasync flushes, in ${async ? "an async" : "a plain"} run`, async () => {
    await withDirectory(async (directory) => {
      // A first flush, timed by the guest; then four times the pages, the
      // cue for the stopper (a directory "go"), and a flush that it stops.
      const guest = await wat(`(module ${COMMON}
        (func (export "_start") (local $fd i32) (local $t i64)
          (local.set $fd (call $open))
          (call $scatter (local.get $fd) (i32.const 0) (i32.const ${PAGES}))
          (local.set $t (call $now))
          (drop (call $fd_datasync (local.get $fd)))
          (call $out (i64.sub (call $now) (local.get $t)))
          (call $scatter (local.get $fd) (i32.const ${PAGES})
            (i32.const ${4 * PAGES}))
          (drop (call $mkdir (i32.const 3) (i32.const 108) (i32.const 2)))
          (drop (call $fd_datasync (local.get $fd)))
          (loop $spin (br $spin))))`);
      const { result, late } = await runWasiStoppedOnCue(guest, directory, {
        stdout: "capture",
        async,
      });
      assert.equal(result.outcome, "aborted");
      const [flushNs] = words(result.stdout);
      const flush = Number(flushNs) / 1e6;
      // On this thread, the stop waited for the whole flush, four times
      // as long as the timed one; on a disk that flushes faster than
      // this, the bound is loose. The time a busy machine keeps this
      // thread waiting for a CPU is not counted.
      assert.ok(
        late < Math.max(flush, 100),
        `stopped ${
          late.toFixed(1)
        } ms after the signal, waits for a CPU aside; a flush took ${
          flush.toFixed(1)
        } ms`,
      );
    });
  });
}
