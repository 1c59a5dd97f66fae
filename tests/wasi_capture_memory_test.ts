import assert from "./support/assert.ts";
import { wat } from "./support/instrument.ts";
import { runWasi } from "../mod.ts";

/**
 * A command that writes 2 MiB to stdout one byte at a time: 32,768 calls
 * of 64 vectors of one byte each (as many as a write takes), the byte at
 * 60000 (`x`).
 */
const DRIP = `(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 60000) "x")
  (func (export "_start") (local $i i32)
    (loop $vectors
      (i32.store (i32.mul (local.get $i) (i32.const 8)) (i32.const 60000))
      (i32.store (i32.add (i32.mul (local.get $i) (i32.const 8)) (i32.const 4))
        (i32.const 1))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $vectors (i32.lt_u (local.get $i) (i32.const 1024))))
    (local.set $i (i32.const 0))
    (loop $writes
      (drop (call $write (i32.const 1) (i32.const 0) (i32.const 64)
        (i32.const 61000)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $writes (i32.lt_u (local.get $i) (i32.const 32768))))))`;

Deno.test("captured output costs about what it holds, however small the guest's writes", async () => {
  const guest = await wat(DRIP);
  const before = Deno.memoryUsage().heapUsed;
  const result = await runWasi(guest, {
    stdout: "capture",
    timeout: 60_000,
  });
  const grown = Deno.memoryUsage().heapUsed - before;
  assert.equal(result.outcome, "exited");
  assert.equal(result.stdout?.length, 1 << 20);
  assert.ok(result.stdout?.every((byte) => byte === 0x78));
  assert.equal(result.dropped.stdout, 1 << 20);
  // 1 MiB kept, in a buffer that grew by doubling: a few MiB at most,
  // where a chunk per write held over 200 MiB.
  assert.ok(grown < 64 << 20, `the heap grew by ${grown} bytes`);
});
