import assert from "./support/assert.ts";
import { wat } from "./support/instrument.ts";
import { runWasi } from "../mod.ts";

/**
 * A command that waits in one `poll_oneoff` for its stdin to be readable
 * or for `clockNs` on the monotonic clock, whichever comes first, reads its
 * stdin if it was readable, and exits with 10 times the number of events
 * plus the type of the first (0 for the clock, 1 for stdin), plus 100 if it
 * read bytes.
 */
const poller = (clockNs: bigint, closing = false) =>
  `(module
  (import "wasi_snapshot_preview1" "fd_close"
    (func $close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read"
    (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $code i32)
    ${closing ? "(drop (call $close (i32.const 0)))" : ""}
    ;; A clock subscription: 200 ms, relative, on the monotonic clock.
    (i64.store (i32.const 0) (i64.const 1))
    (i32.store8 (i32.const 8) (i32.const 0))
    (i32.store (i32.const 16) (i32.const 1))
    (i64.store (i32.const 24) (i64.const ${clockNs}))
    ;; A read subscription on stdin.
    (i64.store (i32.const 48) (i64.const 2))
    (i32.store8 (i32.const 56) (i32.const 1))
    (i32.store (i32.const 64) (i32.const 0))
    (if (call $poll (i32.const 0) (i32.const 200) (i32.const 2) (i32.const 300))
      (then (call $exit (i32.const 99))))
    (local.set $code (i32.add
      (i32.mul (i32.load (i32.const 300)) (i32.const 10))
      (i32.load8_u (i32.const 210))))
    (if (i32.eq (i32.load8_u (i32.const 210)) (i32.const 1)) (then
      (i32.store (i32.const 400) (i32.const 500))
      (i32.store (i32.const 404) (i32.const 16))
      (drop (call $read (i32.const 0) (i32.const 400) (i32.const 1)
        (i32.const 408)))
      (if (i32.load (i32.const 408)) (then
        (local.set $code (i32.add (local.get $code) (i32.const 100)))))))
    (call $exit (local.get $code))))`;

const CLOCK = 10;
const READ_WITH_BYTES = 111;

/** Runs the poller with the stdin given, and returns its exit code. */
async function poll(
  stdin: Uint8Array | ReadableStream<Uint8Array>,
): Promise<number> {
  const result = await runWasi(await wat(poller(200_000_000n)), {
    stdin,
    timeout: 30_000,
  });
  assert.equal(result.outcome, "exited");
  return result.outcome === "exited" ? result.code : -1;
}

Deno.test("poll_oneoff on a stdin stream that gives nothing waits for the clock", async () => {
  let cancelled = false;
  const silent = new ReadableStream<Uint8Array>({
    pull: () => new Promise(() => {}),
    cancel() {
      cancelled = true;
    },
  });
  assert.equal(await poll(silent), CLOCK);
  // Released, not cancelled: the caller may read it on.
  assert.ok(!cancelled);
  assert.ok(!silent.locked);
});

Deno.test("poll_oneoff on a stdin stream wakes when it gives bytes, which fd_read then reads", async () => {
  const late = new ReadableStream<Uint8Array>({
    async pull(stream) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      stream.enqueue(new TextEncoder().encode("late\n"));
      stream.close();
    },
  }, { highWaterMark: 0 });
  assert.equal(await poll(late), READ_WITH_BYTES);
  assert.equal(await poll(new TextEncoder().encode("now\n")), READ_WITH_BYTES);
});

Deno.test("a deadline stops a poll_oneoff that waits for a stdin stream and a clock, and lets go of the stream", async () => {
  const silent = new ReadableStream<Uint8Array>({
    pull: () => new Promise(() => {}),
  });
  const result = await runWasi(await wat(poller(60_000_000_000n)), {
    stdin: silent,
    timeout: 200,
  });
  assert.equal(result.outcome, "timeout");
  assert.ok(!silent.locked);
});

Deno.test("poll_oneoff on a stdin the guest closed is ready at once, and leaves the stream to the caller", async () => {
  const stdin = ReadableStream.from([new TextEncoder().encode("kept\n")]);
  const result = await runWasi(await wat(poller(60_000_000_000n, true)), {
    stdin,
    timeout: 30_000,
  });
  assert.equal(result.outcome, "exited");
  // Ready at once; the read that follows gets EBADF, and no bytes.
  if (result.outcome === "exited") assert.equal(result.code, 11);
  assert.equal(await new Response(stdin).text(), "kept\n");
});
