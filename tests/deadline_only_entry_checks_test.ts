/**
 * Which functions keep the stop flag's entry check in a deadline-only
 * rewrite (`fuel: false`): a short function that only direct calls reach
 * loses it, and the guests that try to make use of that (a chain of such
 * functions each calling the next twice, a cycle of tail calls among them,
 * thousands of calls of one in a body, a gigantic `memory.fill` in one)
 * are still stopped by a deadline, in plain and in async calls. Hang
 * guards: no timing is asserted.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { assembleWat } from "../guest/build.ts";
import { type Guest, isDeadlineExceeded, loadGuest } from "../mod.ts";
import {
  UNCHECKED_CALL_BYTES,
  UNCHECKED_FUNCTION_BYTES,
} from "../src/wasm/scan.ts";
import { expectOutcome } from "./support/outcome.ts";
import { flagReads } from "./support/flag_reads.ts";

/** `n` copies of `text`, one a line. */
function times(n: number, text: string): string {
  return Array.from({ length: n }, () => text).join("\n");
}

Deno.test("deadline-only entry checks: a short function only direct calls reach has none; exported, table, recursive and long ones keep theirs", async () => {
  // 500 `i32.add`s of a local and a constant: over the bound on their own.
  const long = times(
    500,
    "(local.set 0 (i32.add (local.get 0) (i32.const 9)))",
  );
  assert.ok(500 * 6 > UNCHECKED_FUNCTION_BYTES);
  const bytes = await assembleWat(`(module
    (memory 1)
    (table 1 funcref)
    (elem (i32.const 0) $in_table)
    (func $short (param i32) (result i32) (i32.mul (local.get 0) (i32.const 3)))
    (func $exported (export "exported") (param i32) (result i32)
      (i32.mul (local.get 0) (i32.const 5)))
    (func $in_table (param i32) (result i32) (i32.mul (local.get 0) (i32.const 7)))
    (func $recursive (param i32) (result i32)
      (if (result i32) (local.get 0)
        (then (call $recursive (i32.sub (local.get 0) (i32.const 1))))
        (else (i32.const 0))))
    (func $long (param i32) (result i32) ${long} (local.get 0))
    (func (export "run") (param i32) (result i32)
      (i32.add
        (i32.add (call $short (local.get 0)) (call $exported (local.get 0)))
        (i32.add
          (i32.add (call $in_table (local.get 0)) (call $recursive (local.get 0)))
          (call $long (local.get 0))))))`);
  // run, exported, in_table, recursive and long; not short.
  assert.equal(flagReads(bytes), 5);
  // The same results as the plain module.
  const plain = new WebAssembly.Instance(
    new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>),
  ).exports.run as (n: number) => number;
  const guest = await loadGuest(bytes, { fuel: false });
  const ran = expectOutcome(guest.invoke("run", [6]), "returned");
  assert.equal(ran.value, plain(6));
});

Deno.test("deadline-only entry checks: a body's calls of unchecked functions run a bounded amount of their code, then each call reads the flag", async () => {
  // $short's code is 12 bytes: local.get 0, i32.const 3, i32.mul,
  // i32.const 5, i32.add, i32.const 7, i32.mul, end (few enough calls for
  // the compile-cost limit).
  const shortCode = 12;
  const calls = Math.floor(UNCHECKED_CALL_BYTES / shortCode) + 100;
  const bytes = await assembleWat(`(module
    (memory 1)
    (func $short (param i32) (result i32)
      (i32.mul (i32.add (i32.mul (local.get 0) (i32.const 3)) (i32.const 5))
        (i32.const 7)))
    (func $many (param i32) (result i32)
      ${times(calls, "(local.set 0 (call $short (local.get 0)))")}
      (local.get 0))
    (func (export "run") (param i32) (result i32) (call $many (local.get 0))))`);
  // run and many keep their entry checks; the calls past the bound read
  // the flag.
  const unchecked = Math.floor(UNCHECKED_CALL_BYTES / shortCode);
  assert.equal(flagReads(bytes), 2 + calls - unchecked);
});

/** Guests that try to run long without meeting a check. */
async function hostileGuest(): Promise<Uint8Array> {
  // $c0 is exported; $c1 … $c39 are reached only by direct calls, each
  // calling the next twice: 2^40 calls without a loop or a cycle.
  const chain: string[] = [];
  for (let k = 0; k < 39; k++) {
    chain.push(`(func $c${k} ${k === 0 ? '(export "chain")' : ""}
      (param i32) (result i32)
      (i32.add (call $c${k + 1} (local.get 0))
               (call $c${k + 1} (i32.add (local.get 0) (i32.const 1)))))`);
  }
  chain.push(`(func $c39 (param i32) (result i32)
    (i32.xor (i32.mul (local.get 0) (i32.const 31)) (i32.const 7)))`);
  return await assembleWat(
    `(module
    (import "host" "mark" (func $mark))
    (memory 4097)
    ${chain.join("\n")}
    ;; A cycle of tail calls, neither end exported.
    (func $ping (param i32) (result i32)
      (return_call $pong (i32.add (local.get 0) (i32.const 1))))
    (func $pong (param i32) (result i32)
      (return_call $ping (i32.xor (local.get 0) (i32.const 5))))
    (func (export "cycle") (result i32) (call $ping (i32.const 0)))
    ;; A short function that fills 256 MiB; the host hears when it is done.
    (func $fill (memory.fill (i32.const 65536) (i32.const 1)
      (i32.const 268435456)))
    (func (export "fill") (call $fill) (call $mark)))`,
    "hostile.wat",
  );
}

for (const async of [false, true]) {
  Deno.test(
    `deadline-only entry checks: a chain of unchecked calls, a cycle of tail calls and a huge fill are stopped by a deadline (${
      async ? "async" : "plain"
    } calls)`,
    async () => {
      let marked = false;
      const guest: Guest = await loadGuest(await hostileGuest(), {
        fuel: false,
        async,
        imports: { host: { mark: () => (marked = true) } },
      });
      const call = (name: string, args: number[]) =>
        async
          ? guest.invokeAsync(name, args, { timeout: 30 })
          : Promise.resolve(guest.invoke(name, args, { timeout: 30 }));
      for (const [name, args] of [["chain", [1]], ["cycle", []]] as const) {
        const stopped = expectOutcome(await call(name, [...args]), "timeout");
        assert.ok(isDeadlineExceeded(stopped.error), name);
      }
      const filled = expectOutcome(await call("fill", []), "timeout");
      assert.ok(isDeadlineExceeded(filled.error));
      // Stopped inside the fill: the call after it never ran.
      assert.equal(marked, false);
    },
  );
}
