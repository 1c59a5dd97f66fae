/**
 * Which functions keep the stop flag's entry check in a deadline-only
 * rewrite (`fuel: false`): a short function that only direct calls reach
 * loses it, and so does a very short one that a table or reference reaches
 * and that calls no defined function; and the guests that try to make use
 * of that (a chain of such functions each calling the next twice, cycles of
 * tail calls among them, direct, through a table and through references,
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
  UNCHECKED_DYNAMIC_BYTES,
  UNCHECKED_FUNCTION_BYTES,
} from "../src/wasm/entry_checks.ts";
import { watBinaryen } from "./support/instrument.ts";
import { expectOutcome } from "./support/outcome.ts";
import { flagReads } from "./support/flag_reads.ts";

/** `n` copies of `text`, one a line. */
function times(n: number, text: string): string {
  return Array.from({ length: n }, () => text).join("\n");
}

/** The deadline-only rewrite's `run(6)` returns what the plain module's does. */
async function assertRunsAsPlain(bytes: Uint8Array): Promise<void> {
  const plain = new WebAssembly.Instance(
    new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>),
  ).exports.run as (n: number) => number;
  const guest = await loadGuest(bytes, { fuel: false });
  const ran = expectOutcome(guest.invoke("run", [6]), "returned");
  assert.equal(ran.value, plain(6));
}

Deno.test("deadline-only entry checks: a short function only direct calls reach has none, nor a very short table one that calls nothing; exported, calling, recursive and long ones keep theirs", async () => {
  // 500 `i32.add`s of a local and a constant: over the bound on their own.
  const long = times(
    500,
    "(local.set 0 (i32.add (local.get 0) (i32.const 9)))",
  );
  assert.ok(500 * 6 > UNCHECKED_FUNCTION_BYTES);
  const bytes = await assembleWat(`(module
    (memory 1)
    (table 4 funcref)
    (elem (i32.const 0) $in_table $table_calls $table_long $exported)
    (func $short (param i32) (result i32) (i32.mul (local.get 0) (i32.const 3)))
    (func $exported (export "exported") (param i32) (result i32)
      (i32.mul (local.get 0) (i32.const 5)))
    (func $in_table (param i32) (result i32) (i32.mul (local.get 0) (i32.const 7)))
    ;; In the table too, but calling a function, or longer than the bound.
    (func $table_calls (param i32) (result i32) (call $short (local.get 0)))
    (func $table_long (param i32) (result i32)
      ${times(12, "(local.set 0 (i32.add (local.get 0) (i32.const 9)))")}
      (local.get 0))
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
          (i32.add (call $long (local.get 0))
            (i32.add (call $table_calls (local.get 0))
              (call $table_long (local.get 0))))))))`);
  // 12 seven-byte lines, the result and the end: over the bound.
  assert.ok(12 * 7 + 3 > UNCHECKED_DYNAMIC_BYTES);
  // run, exported, recursive, long, table_calls and table_long; not short
  // nor in_table.
  assert.equal(flagReads(bytes), 6);
  await assertRunsAsPlain(bytes);
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

/**
 * For a leaf of eight seven-byte lines and a three-byte end (59 bytes of
 * code), and `locals` declared locals, each of which weighs a byte: how
 * many calls of it a body's bound counts, and a number of calls 100 past
 * that.
 */
function callsPastTheBound(locals = 0): { counted: number; calls: number } {
  const leafCode = 8 * 7 + 3 + locals;
  assert.ok(leafCode <= UNCHECKED_DYNAMIC_BYTES);
  const counted = Math.floor(UNCHECKED_CALL_BYTES / leafCode);
  return { counted, calls: counted + 100 };
}

Deno.test("deadline-only entry checks: a call through a table counts as the longest unchecked function of its type against the body's bound", async () => {
  // $leaf: eight seven-byte lines (local.get 0, i32.const 9, i32.add,
  // local.set 0), then local.get 0 and end.
  const { counted, calls } = callsPastTheBound();
  // $a and $b are the same type: a call of type $a can reach $leaf. Calls
  // of type $c can reach only $wide, which keeps its check: they count
  // nothing.
  const bytes = await assembleWat(`(module
    (memory 1)
    (type $a (func (param i32) (result i32)))
    (type $b (func (param i32) (result i32)))
    (type $c (func (param i64) (result i64)))
    (table 2 funcref)
    (elem (i32.const 0) $leaf $wide)
    (func $leaf (type $b)
      ${times(8, "(local.set 0 (i32.add (local.get 0) (i32.const 9)))")}
      (local.get 0))
    (func $wide (type $c)
      ${times(12, "(local.set 0 (i64.add (local.get 0) (i64.const 9)))")}
      (local.get 0))
    (func $many (param i32) (result i32)
      ${
    times(200, "(drop (call_indirect (type $c) (i64.const 1) (i32.const 1)))")
  }
      ${
    times(
      calls,
      "(local.set 0 (call_indirect (type $a) (local.get 0) (i32.const 0)))",
    )
  }
      (local.get 0))
    (func (export "run") (param i32) (result i32) (call $many (local.get 0))))`);
  // run, many and wide keep their entry checks, leaf loses its; the calls
  // of type $a past the bound read the flag.
  assert.equal(flagReads(bytes), 3 + calls - counted);
  await assertRunsAsPlain(bytes);
});

Deno.test("deadline-only entry checks: with subtypes, a call through a reference counts as the longest unchecked function of any type", async () => {
  // $leaf: eight seven-byte lines, then ref.null eq and end. Its type is a
  // subtype of $super with another signature: a call_ref of type $super
  // reaches it. Its one declared local weighs a byte more.
  const { counted, calls } = callsPastTheBound(1);
  const bytes = await watBinaryen(`(module
    (memory 1)
    (type $super (sub (func (result anyref))))
    (type $sub (sub $super (func (result eqref))))
    (elem declare func $leaf)
    (func $leaf (type $sub) (result eqref) (local i32)
      ${times(8, "(local.set 0 (i32.add (local.get 0) (i32.const 9)))")}
      (ref.null eq))
    (func $many (param $f (ref $super)) (result i32)
      ${times(calls, "(drop (call_ref $super (local.get $f)))")}
      (i32.const 5))
    (func (export "run") (result i32) (call $many (ref.func $leaf))))`);
  // run and many keep their entry checks, leaf loses its; the calls past
  // the bound read the flag.
  assert.equal(flagReads(bytes), 2 + calls - counted);
  const guest = await loadGuest(bytes, { fuel: false });
  assert.equal(expectOutcome(guest.invoke("run", []), "returned").value, 5);
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
    ;; A short function that fills 256 MiB, called eight times so that a
    ;; deadline's wake-up, late on a loaded machine, still falls inside the
    ;; fills; the host hears when they are done.
    (func $fill (memory.fill (i32.const 65536) (i32.const 1)
      (i32.const 268435456)))
    (func (export "fill") ${"(call $fill) ".repeat(8)}(call $mark)))`,
    "hostile.wat",
  );
}

/**
 * Loads a hostile guest deadline-only, plain or async; `call` runs an export
 * under a 30 ms deadline, `marked` tells whether it called `host.mark`.
 */
async function deadlineOnly(bytes: Uint8Array, async: boolean) {
  let marked = false;
  const guest: Guest = await loadGuest(bytes, {
    fuel: false,
    async,
    imports: { host: { mark: () => (marked = true) } },
  });
  const call = (name: string, args: number[]) =>
    async
      ? guest.invokeAsync(name, args, { timeout: 30 })
      : Promise.resolve(guest.invoke(name, args, { timeout: 30 }));
  return { call, marked: () => marked };
}

for (const async of [false, true]) {
  Deno.test(
    `deadline-only entry checks: a chain of unchecked calls, a cycle of tail calls and a huge fill are stopped by a deadline (${
      async ? "async" : "plain"
    } calls)`,
    async () => {
      const { call, marked } = await deadlineOnly(await hostileGuest(), async);
      for (const [name, args] of [["chain", [1]], ["cycle", []]] as const) {
        const stopped = expectOutcome(await call(name, [...args]), "timeout");
        assert.ok(isDeadlineExceeded(stopped.error), name);
      }
      const filled = expectOutcome(await call("fill", []), "timeout");
      assert.ok(isDeadlineExceeded(filled.error));
      // Stopped inside the fills: the call after them never ran.
      assert.equal(marked(), false);
    },
  );
}

/**
 * Guests that try to run long through calls of functions that a table or
 * reference reaches: a cycle of tail calls through the table and one
 * through references (each function calls nothing but through them, so
 * each keeps its check), a loop calling a short and a huge function
 * through the table, and a short table function that fills 1 GiB. The
 * cycles count down from `n` and return 7 at 0.
 */
async function hostileTableGuest(): Promise<Uint8Array> {
  const huge = times(
    3000,
    "(local.set 0 (i32.add (local.get 0) (i32.const 9)))",
  );
  return await watBinaryen(`(module
    (import "host" "mark" (func $mark))
    (type $t (func (param i32) (result i32)))
    (type $v (func))
    (memory 16385)
    (table $tab 5 funcref)
    (elem (table $tab) (i32.const 0) func $ping $pong $small $huge $fill)
    (elem declare func $rping $rpong)
    (func $ping (type $t) (param $n i32) (result i32)
      (if (result i32) (i32.eqz (local.get $n))
        (then (i32.const 7))
        (else (return_call_indirect $tab (type $t)
          (i32.sub (local.get $n) (i32.const 1)) (i32.const 1)))))
    (func $pong (type $t) (param $n i32) (result i32)
      (return_call_indirect $tab (type $t) (local.get $n) (i32.const 0)))
    (func (export "table_cycle") (param $n i32) (result i32)
      (call_indirect $tab (type $t) (local.get $n) (i32.const 0)))
    (func $rping (type $t) (param $n i32) (result i32)
      (if (result i32) (i32.eqz (local.get $n))
        (then (i32.const 7))
        (else (return_call_ref $t
          (i32.sub (local.get $n) (i32.const 1)) (ref.func $rpong)))))
    (func $rpong (type $t) (param $n i32) (result i32)
      (return_call_ref $t (local.get $n) (ref.func $rping)))
    (func (export "ref_cycle") (param $n i32) (result i32)
      (call_ref $t (local.get $n) (ref.func $rping)))
    (func $small (type $t) (param i32) (result i32)
      (i32.add (local.get 0) (i32.const 3)))
    (func $huge (type $t) (param i32) (result i32) ${huge} (local.get 0))
    (func (export "table_loop") (param $n i32) (result i32)
      (loop $again
        (local.set $n (call_indirect $tab (type $t) (local.get $n) (i32.const 2)))
        (local.set $n (call_indirect $tab (type $t) (local.get $n) (i32.const 3)))
        (br $again))
      (unreachable))
    (func $fill (type $v)
      (memory.fill (i32.const 65536) (i32.const 1) (i32.const 1073741824)))
    (func (export "fill") (call_indirect $tab (type $v) (i32.const 4)) (call $mark)))`);
}

for (const async of [false, true]) {
  Deno.test(
    `deadline-only entry checks: tail-call cycles through a table and through references, a loop of table calls and a table function's 1 GiB fill are stopped by a deadline (${
      async ? "async" : "plain"
    } calls)`,
    async () => {
      const { call, marked } = await deadlineOnly(
        await hostileTableGuest(),
        async,
      );
      // The cycles end on their own: they run far past the deadline, but a
      // rewrite that let them go unchecked would see them return.
      const cycles = 0x7fffffff;
      const short = expectOutcome(await call("table_cycle", [3]), "returned");
      assert.equal(short.value, 7);
      for (
        const [name, args] of [
          ["table_cycle", [cycles]],
          ["ref_cycle", [cycles]],
          ["table_loop", [1]],
        ] as const
      ) {
        const stopped = expectOutcome(await call(name, [...args]), "timeout");
        assert.ok(isDeadlineExceeded(stopped.error), name);
      }
      const filled = expectOutcome(await call("fill", []), "timeout");
      assert.ok(isDeadlineExceeded(filled.error));
      // Stopped inside the fills: the call after them never ran.
      assert.equal(marked(), false);
    },
  );
}
