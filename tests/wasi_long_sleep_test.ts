import assert from "./support/assert.ts";
import { wat } from "./support/instrument.ts";
import { runWasi } from "../mod.ts";

/**
 * A command that sleeps `ns` nanoseconds on the monotonic clock in
 * `poll_oneoff`, then exits with 40 plus its errno.
 */
function sleeper(ns: bigint): Promise<Uint8Array> {
  return wat(`(module
    (import "wasi_snapshot_preview1" "poll_oneoff"
      (func $poll (param i32 i32 i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
    (memory (export "memory") 1)
    (func (export "_start")
      (i32.store8 (i32.const 8) (i32.const 0)) ;; a clock
      (i32.store (i32.const 16) (i32.const 1)) ;; monotonic
      (i64.store (i32.const 24) (i64.const ${BigInt.asIntN(64, ns)}))
      (call $exit (i32.add (i32.const 40)
        (call $poll (i32.const 0) (i32.const 100) (i32.const 1)
          (i32.const 200))))))`);
}

const DAY_NS = 86_400n * 10n ** 9n;

for (const async of [true, false]) {
  Deno.test(`runWasi, async: ${async}: a sleep longer than a timer can hold (25 days and more) sleeps on to the deadline`, async () => {
    for (const ns of [30n * DAY_NS, 2n ** 64n - 1n]) {
      const result = await runWasi(await sleeper(ns), {
        timeout: 300,
        async,
      });
      assert.equal(
        result.outcome,
        "timeout",
        `a sleep of ${ns} ns: ${JSON.stringify(result)}`,
      );
    }
  });
}

Deno.test("runWasi: a short sleep still wakes", async () => {
  const result = await runWasi(await sleeper(1_000_000n), { timeout: 30_000 });
  assert.equal(result.outcome, "exited");
  if (result.outcome === "exited") assert.equal(result.code, 40);
});
