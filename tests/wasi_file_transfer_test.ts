/**
 * A read or write of a file moves at most MAX_TRANSFER bytes a call,
 * whatever the guest's vectors ask for: one call may name 1024 buffers of
 * up to 4 GiB, and no deadline reaches the host's thread inside the call.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { wat } from "./support/instrument.ts";
import { runWasi } from "../mod.ts";
import { MAX_TRANSFER } from "../src/wasi/wasi_abi.ts";

/**
 * A guest that opens `big` in its first preopen and makes one call of
 * `op` with `count` vectors, each the whole of its 4 MiB memory but the
 * first page (which holds the vectors, the name and the results); it
 * exits with 100 or 200 plus an errno, or with the bytes moved in 64 KiB
 * units.
 */
async function transferGuest(op: string, count: number) {
  const pwrite = op === "fd_pwrite" || op === "fd_pread";
  return await wat(`(module
    (import "wasi_snapshot_preview1" "path_open"
      (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "${op}"
      (func $op (param i32 i32 i32 ${pwrite ? "i64 " : ""}i32) (result i32)))
    (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
    (memory (export "memory") 64)
    (data (i32.const 1024) "big")
    (func (export "_start") (local $i i32) (local $errno i32)
      (loop $vectors
        (i32.store (i32.mul (local.get $i) (i32.const 8)) (i32.const 65536))
        (i32.store offset=4 (i32.mul (local.get $i) (i32.const 8))
          (i32.const ${64 * 65536 - 65536}))
        (br_if $vectors
          (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1)))
            (i32.const ${count}))))
      ;; creat, read and write rights
      (local.set $errno (call $open (i32.const 3) (i32.const 0)
        (i32.const 1024) (i32.const 3) (i32.const 1)
        (i64.const 0x42) (i64.const 0x42) (i32.const 0) (i32.const 2000)))
      (if (local.get $errno) (then (call $exit (i32.add (i32.const 100) (local.get $errno)))))
      (local.set $errno (call $op (i32.load (i32.const 2000)) (i32.const 0)
        (i32.const ${count}) ${pwrite ? "(i64.const 0) " : ""}(i32.const 2048)))
      (if (local.get $errno) (then (call $exit (i32.add (i32.const 200) (local.get $errno)))))
      ;; the bytes moved, in 64 KiB units (16 for 1 MiB)
      (call $exit (i32.shr_u (i32.load (i32.const 2048)) (i32.const 16)))))`);
}

for (const op of ["fd_write", "fd_pwrite"]) {
  Deno.test(`${op} to a file passes at most MAX_TRANSFER bytes: the rest is a short write`, async () => {
    const dir = await Deno.makeTempDir();
    try {
      // 16 vectors of 4 MiB less a page: 63 MiB asked for in one call.
      const result = await runWasi(await transferGuest(op, 16), {
        preopens: [{ host: dir, guest: "/data" }],
      });
      assert.equal(result.outcome, "exited", JSON.stringify(result));
      if (result.outcome === "exited") {
        assert.equal(result.code, MAX_TRANSFER >> 16);
      }
      assert.equal((await Deno.stat(`${dir}/big`)).size, MAX_TRANSFER);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

for (const op of ["fd_read", "fd_pread"]) {
  Deno.test(`${op} of a file moves at most MAX_TRANSFER bytes: the rest is a short read`, async () => {
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeFile(`${dir}/big`, new Uint8Array(3 * MAX_TRANSFER));
      const result = await runWasi(await transferGuest(op, 16), {
        preopens: [{ host: dir, guest: "/data" }],
      });
      assert.equal(result.outcome, "exited", JSON.stringify(result));
      if (result.outcome === "exited") {
        assert.equal(result.code, MAX_TRANSFER >> 16);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("a write to captured or ignored stdout moves at most MAX_TRANSFER bytes: its count fits the guest's 32 bits", async () => {
  // 4 GiB in all, which a 32-bit count would give the guest as 0; it
  // exits with the count in 64 KiB units.
  const guest = await wat(`(module
    (import "wasi_snapshot_preview1" "fd_write"
      (func $fd_write (param i32 i32 i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
    (memory (export "memory") 65)
    (func (export "_start") (local $i i32)
      (loop $vectors
        (i32.store (i32.shl (local.get $i) (i32.const 3)) (i32.const 0))
        (i32.store offset=4 (i32.shl (local.get $i) (i32.const 3))
          (i32.const ${4 << 20}))
        (br_if $vectors (i32.lt_u
          (local.tee $i (i32.add (local.get $i) (i32.const 1)))
          (i32.const 1024))))
      (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1024)
        (i32.const 9000)))
      (call $exit (i32.shr_u (i32.load (i32.const 9000)) (i32.const 16)))))`);
  for (const stdout of ["capture", "ignore"] as const) {
    const result = await runWasi(guest, { stdout });
    assert.equal(result.outcome, "exited");
    assert.equal(
      result.outcome === "exited" && result.code,
      MAX_TRANSFER >> 16,
    );
  }
});
