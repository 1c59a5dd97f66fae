/**
 * Bulk memory operators under `stopFlag`: they become chunked helpers that
 * behave as the operator does (results, traps, overlapping copies, 64-bit
 * memories) and that a set flag stops between chunks.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { instrument } from "../src/wasm/instrument.ts";
import { type Fn, wat, watBinaryen } from "./support/instrument.ts";
import {
  instantiateFlagged,
  instantiateWithFuel,
} from "./support/stop_flag.ts";

const PAGE = 65536;

/** Every bulk memory operator, on a 32-bit and a 64-bit memory. */
const BULK_GUEST = `(module
  (memory $a (export "a") 4)
  (memory $b (export "b") i64 4)
  (data $text "abcdefghijklmnopqrstuvwxyz")
  (func (export "fill") (param i32 i32 i32)
    (memory.fill $a (local.get 0) (local.get 1) (local.get 2)))
  (func (export "copy") (param i32 i32 i32)
    (memory.copy $a $a (local.get 0) (local.get 1) (local.get 2)))
  (func (export "init") (param i32 i32 i32)
    (memory.init $a $text (local.get 0) (local.get 1) (local.get 2)))
  (func (export "drop") (data.drop $text))
  (func (export "fill64") (param i64 i32 i64)
    (memory.fill $b (local.get 0) (local.get 1) (local.get 2)))
  (func (export "copy64") (param i64 i64 i64)
    (memory.copy $b $b (local.get 0) (local.get 1) (local.get 2)))
  (func (export "init64") (param i64 i32 i32)
    (memory.init $b $text (local.get 0) (local.get 1) (local.get 2)))
  (func (export "copy_a_to_b") (param i64 i32 i32)
    (memory.copy $b $a (local.get 0) (local.get 1) (local.get 2)))
  (func (export "copy_b_to_a") (param i32 i64 i32)
    (memory.copy $a $b (local.get 0) (local.get 1) (local.get 2))))`;

type Call = [string, ...(number | bigint)[]];

const END = 4 * PAGE;
const END64 = BigInt(END);
const BIG = 3 * PAGE + 123; // several chunks

/** Edge cases: each a sequence of calls, run on a fresh instance. */
const CASES: Call[][] = [
  [["fill", 10, 7, BIG]],
  [["fill", END, 7, 0]], // zero length at the end: fine
  [["fill", END + 1, 7, 0]], // zero length past the end: traps
  [["fill", END - 5, 7, 6]], // one byte too many: traps, writes nothing
  [["fill", -1, 7, 2]], // wraps around
  [["fill", 0, 7, -1]],
  [["init", 100, 3, 10]],
  [["init", END - 26, 0, 26]],
  [["init", END - 25, 0, 26]],
  [["init", 0, 26, 0]],
  [["init", 0, 27, 0]],
  [["init", 0, 20, 10]],
  [["drop"], ["init", 0, 0, 0]],
  [["drop"], ["init", 0, 0, 1]],
  [["fill", 0, 1, PAGE], ["fill", PAGE, 2, PAGE], ["copy", 1000, 0, BIG]], // overlap, dst > src
  [["fill", 0, 1, PAGE], ["fill", PAGE, 2, PAGE], [
    "copy",
    0,
    1000,
    BIG,
  ]], // overlap, dst < src
  [["init", 0, 0, 26], ["copy", 3, 0, 20]],
  [["init", 0, 0, 26], ["copy", 0, 3, 20]],
  [["copy", END, END, 0]],
  [["copy", END, 0, 1]],
  [["copy", 0, END - 1, 2]],
  [["copy", -1, 0, 2]],
  [["fill64", 10n, 9, BigInt(BIG)]],
  [["fill64", END64, 9, 0n]],
  [["fill64", END64 + 1n, 9, 0n]],
  [["fill64", -1n, 9, 2n]], // wraps around 2^64
  [["fill64", 0n, 9, -1n]],
  [["fill64", 1n << 40n, 9, 1n]],
  [["fill64", 0n, 1, 1000n], ["copy64", 10n, 0n, BigInt(BIG)]],
  [["fill64", 0n, 1, 1000n], ["copy64", 0n, 10n, BigInt(BIG)]],
  [["copy64", -2n, 0n, 4n]],
  [["init64", 5n, 0, 26]],
  [["init64", END64 - 3n, 0, 4]],
  [["init64", -1n, 0, 2]],
  [["copy_a_to_b", 5n, 0, BIG]],
  [["copy_a_to_b", END64 - 1n, 0, 2]],
  [["copy_a_to_b", 0n, END - 1, 2]],
  [["copy_b_to_a", 5, 0n, 10]],
  [["copy_b_to_a", 0, -1n, 2]],
];

/**
 * Makes each call in turn and says how it ended; `after` adds what the
 * guest holds after each call.
 */
function callAll(
  exports: Record<string, unknown>,
  calls: Call[],
  after?: () => string,
): string[] {
  const seen: string[] = [];
  for (const [name, ...args] of calls) {
    try {
      (exports[name] as Fn)(...args);
      seen.push(`${name} ok`);
    } catch (error) {
      seen.push(`${name} ${String(error)}`);
    }
    if (after) seen.push(after());
  }
  return seen;
}

/**
 * Runs every case on a fresh plain instance and a fresh stop-flag instance
 * of `bytes`, and asserts that both leave the same record.
 */
async function assertLikePlain(
  bytes: Uint8Array<ArrayBuffer>,
  cases: Call[][],
  record: (
    exports: Record<string, unknown>,
    calls: Call[],
  ) => string[] | Promise<string[]>,
): Promise<void> {
  const metered = instrument(bytes, { stopFlag: true });
  for (const calls of cases) {
    const plain = await WebAssembly.instantiate(bytes);
    const { instance } = await instantiateFlagged(metered);
    assert.deepEqual(
      await record(instance.exports, calls),
      await record(plain.instance.exports, calls),
      JSON.stringify(calls, (_k, v) => typeof v === "bigint" ? `${v}n` : v),
    );
  }
}

/** What a call sequence leaves: each call's outcome and both memories. */
async function outcome(
  exports: Record<string, unknown>,
  calls: Call[],
): Promise<string[]> {
  const seen = callAll(exports, calls);
  for (const name of ["a", "b"]) {
    const bytes = new Uint8Array(
      (exports[name] as WebAssembly.Memory).buffer as ArrayBuffer,
    );
    const digest = await crypto.subtle.digest("SHA-256", bytes);
    seen.push(
      `${name} ${btoa(String.fromCharCode(...new Uint8Array(digest)))}`,
    );
  }
  return seen;
}

Deno.test("bulk operators under stopFlag behave as the plain operators", async () => {
  await assertLikePlain(await wat(BULK_GUEST), CASES, outcome);
});

Deno.test("bulk operators under stopFlag keep their run-time charge", async () => {
  const bytes = await wat(BULK_GUEST);
  const costs = { perByte: 1 };
  const used = async (stopFlag: boolean) => {
    const metered = instrument(bytes, { costs, stopFlag });
    const { instance, fuel } = await instantiateWithFuel(metered, stopFlag);
    fuel.value = 1n << 40n;
    (instance.exports.fill as Fn)(0, 1, BIG);
    return (1n << 40n) - (fuel.value as bigint);
  };
  assert.equal(await used(true), await used(false));
});

/**
 * Calls `fill` on `bytes` instrumented with a stop flag that is set, and
 * whose callback lets the guest go on at the function's entry, at the
 * added function's own, and after the first chunk, then stops it; returns
 * the guest's exports. `prepare` runs before the flag is set.
 */
async function stopAfterTwoChunks(
  bytes: Uint8Array<ArrayBuffer>,
  fill: (exports: Record<string, Fn>) => unknown,
  prepare: (exports: Record<string, Fn>) => unknown = () => {},
): Promise<Record<string, unknown>> {
  const metered = instrument(bytes, { stopFlag: true });
  let answers = 0;
  const { instance, flag } = await instantiateFlagged(
    metered,
    () => ++answers <= 3 ? 0 : 1,
  );
  const exports = instance.exports as Record<string, Fn>;
  prepare(exports);
  // Counted from here: preparing may ask too (an array over 128 KiB does).
  answers = 0;
  flag[0] = 1;
  assert.throws(() => fill(exports), WebAssembly.RuntimeError, "unreachable");
  assert.equal(answers, 4);
  flag[0] = 0;
  return exports;
}

Deno.test("a set flag stops a bulk operator between chunks", async () => {
  const exports = await stopAfterTwoChunks(
    await wat(BULK_GUEST),
    (e) => e.fill!(0, 5, END),
  );
  // Stopped mid-operation: two chunks written, the rest untouched.
  const a = new Uint8Array((exports.a as WebAssembly.Memory).buffer);
  assert.equal(a[2 * PAGE - 1], 5);
  assert.equal(a[2 * PAGE], 0);
});

Deno.test("a flag set from another thread stops gibibyte fills", async () => {
  const bytes = await wat(`(module
    (memory (export "mem") 16384 16384 shared)
    (func (export "fill_forever")
      (loop $again
        (memory.fill (i32.const 0) (i32.const 1) (i32.const 0x40000000))
        (br $again))))`);
  const metered = instrument(bytes, { stopFlag: true });
  const { instance, flag, memories } = await instantiateFlagged(metered);
  const memory = new Int32Array(memories.memory0!.buffer as SharedArrayBuffer);
  // The worker sets the flag once it sees the fill under way.
  const worker = new Worker(
    URL.createObjectURL(
      new Blob([`
        self.onmessage = ({ data: [memory, flag] }) => {
          while (Atomics.load(memory, 0) === 0) {}
          Atomics.store(flag, 0, 1);
          self.postMessage("set");
        };
      `], { type: "text/javascript" }),
    ),
    { type: "module" },
  );
  try {
    const set = new Promise((resolve) => worker.onmessage = resolve);
    worker.postMessage([memory, flag]);
    assert.throws(
      () => (instance.exports.fill_forever as Fn)(),
      WebAssembly.RuntimeError,
      "unreachable",
    );
    await set;
  } finally {
    worker.terminate();
  }
});

/** Every bulk table operator, on a 32-bit and a 64-bit table. */
const TABLE_GUEST = `(module
  (table $t (export "t") 40000 funcref)
  (table $w (export "w") i64 40000 externref)
  (func $one (export "one") (result i32) (i32.const 1))
  (func $two (result i32) (i32.const 2))
  (elem $e func $one $two $one $two $one)
  (func (export "fill") (param i32 funcref i32)
    (table.fill $t (local.get 0) (local.get 1) (local.get 2)))
  (func (export "copy") (param i32 i32 i32)
    (table.copy $t $t (local.get 0) (local.get 1) (local.get 2)))
  (func (export "init") (param i32 i32 i32)
    (table.init $t $e (local.get 0) (local.get 1) (local.get 2)))
  (func (export "drop") (elem.drop $e))
  (func (export "fill64") (param i64 externref i64)
    (table.fill $w (local.get 0) (local.get 1) (local.get 2)))
  (func (export "copy64") (param i64 i64 i64)
    (table.copy $w $w (local.get 0) (local.get 1) (local.get 2))))`;

const TABLE_END = 40000;
const TABLE_BIG = 3 * 16384 + 17;

const TABLE_CASES: Call[][] = [
  [["fill", 3, 1, TABLE_BIG]],
  [["fill", TABLE_END, 1, 0]],
  [["fill", TABLE_END + 1, 1, 0]],
  [["fill", TABLE_END - 3, 1, 4]],
  [["fill", -1, 1, 2]],
  [["init", 10, 1, 4]],
  [["init", 10, 4, 2]],
  [["drop"], ["init", 0, 0, 0]],
  [["drop"], ["init", 0, 0, 1]],
  [["fill", 0, 1, 2000], ["fill", 2000, 0, 2000], [
    "copy",
    100,
    0,
    TABLE_BIG - 20000,
  ]],
  [["fill", 0, 1, 2000], ["fill", 2000, 0, 2000], [
    "copy",
    0,
    100,
    TABLE_BIG - 20000,
  ]],
  [["copy", TABLE_END - 1, 0, 2]],
  [["fill64", 5n, 7, BigInt(TABLE_BIG)]],
  [["fill64", BigInt(TABLE_END) + 1n, 7, 0n]],
  [["fill64", -1n, 7, 2n]],
  [["fill64", 0n, 7, 100n], ["copy64", 50n, 0n, BigInt(TABLE_BIG - 20000)]],
  [["copy64", -2n, 0n, 4n]],
];

/**
 * What a call sequence leaves: each call's outcome and both tables. A
 * `fill`'s value 1 stands for the guest's function `one`, 0 for null.
 */
function tableOutcome(
  exports: Record<string, unknown>,
  calls: Call[],
): string[] {
  const withFunctions = calls.map(([name, ...args]): Call => {
    if (name === "fill") args[1] = (args[1] ? exports.one : null) as never;
    return [name, ...args];
  });
  const seen = callAll(exports, withFunctions);
  const t = exports.t as WebAssembly.Table;
  const w = exports.w as WebAssembly.Table;
  let funcs = "";
  for (let i = 0; i < TABLE_END; i++) {
    const f = t.get(i) as Fn | null;
    funcs += f === null ? "." : String(f());
  }
  let externs = "";
  for (let i = 0n; i < BigInt(TABLE_END); i++) {
    externs += String((w.get as unknown as (i: bigint) => unknown)(i) ?? ".");
  }
  seen.push(funcs, externs);
  return seen;
}

Deno.test("bulk table operators under stopFlag behave as the plain operators", async () => {
  await assertLikePlain(await wat(TABLE_GUEST), TABLE_CASES, tableOutcome);
});

Deno.test("a set flag stops a table fill between chunks", async () => {
  const exports = await stopAfterTwoChunks(
    await wat(TABLE_GUEST),
    (e) => e.fill!(0, e.one, TABLE_END),
  );
  const t = exports.t as WebAssembly.Table;
  assert.notEqual(t.get(2 * 16384 - 1), null);
  assert.equal(t.get(2 * 16384), null);
});

/** The GC array operators, on arrays the guest makes and sums. */
const ARRAY_GUEST = `(module
  (type $bytes (array (mut i8)))
  (type $refs (array (mut funcref)))
  (data $d "abcdefghijklmnopqrstuvwxyz")
  (func $f (result i32) (i32.const 1))
  (elem $e func $f $f $f)
  (global $a (mut (ref null $bytes)) (ref.null $bytes))
  (global $r (mut (ref null $refs)) (ref.null $refs))
  (func (export "make") (param i32)
    (global.set $a (array.new_default $bytes (local.get 0)))
    (global.set $r (array.new_default $refs (local.get 0))))
  (func (export "null") (global.set $a (ref.null $bytes)))
  (func (export "sum") (result i32) (local $i i32) (local $s i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (array.len (global.get $a))))
        (local.set $s (i32.add (i32.mul (local.get $s) (i32.const 31))
          (i32.add (local.get $i) (array.get_u $bytes (global.get $a) (local.get $i)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.get $s))
  (func (export "refs") (result i32) (local $i i32) (local $s i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (array.len (global.get $r))))
        (if (ref.is_null (array.get $refs (global.get $r) (local.get $i)))
          (then) (else (local.set $s (i32.add (local.get $s) (local.get $i)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.get $s))
  (func (export "fill") (param i32 i32 i32)
    (array.fill $bytes (global.get $a) (local.get 0) (local.get 1) (local.get 2)))
  (func (export "copy") (param i32 i32 i32)
    (array.copy $bytes $bytes (global.get $a) (local.get 0) (global.get $a)
      (local.get 1) (local.get 2)))
  (func (export "init_data") (param i32 i32 i32)
    (array.init_data $bytes $d (global.get $a) (local.get 0) (local.get 1) (local.get 2)))
  (func (export "init_elem") (param i32 i32 i32)
    (array.init_elem $refs $e (global.get $r) (local.get 0) (local.get 1) (local.get 2))))`;

const ARRAY_LENGTH = 3 * 16384 + 50;

const ARRAY_CASES: Call[][] = [
  [["fill", 3, 7, ARRAY_LENGTH - 3]],
  [["fill", ARRAY_LENGTH, 7, 0]],
  [["fill", ARRAY_LENGTH + 1, 7, 0]],
  [["fill", ARRAY_LENGTH - 2, 7, 3]],
  [["fill", -1, 7, 2]],
  [["fill", 0, 1, 100], ["copy", 10, 0, ARRAY_LENGTH - 10]],
  [["fill", 0, 1, 100], ["fill", 40000, 2, 100], [
    "copy",
    0,
    10,
    ARRAY_LENGTH - 10,
  ]],
  [["copy", 0, ARRAY_LENGTH - 1, 2]],
  [["init_data", 5, 2, 20]],
  [["init_data", ARRAY_LENGTH - 26, 0, 26]],
  [["init_data", 0, 20, 7]],
  [["init_data", 0, -1, 2]],
  [["init_elem", 1, 0, 3]],
  [["init_elem", 1, 1, 3]],
  [["init_elem", ARRAY_LENGTH - 1, 0, 2]],
  [["null"], ["fill", 0, 1, 0]],
  [["null"], ["copy", 0, 0, 0]],
];

Deno.test("array operators under stopFlag behave as the plain operators", async () => {
  // After each call, what the guest's arrays sum to, or why it cannot tell.
  const sums = (exports: Record<string, unknown>, calls: Call[]) => {
    (exports.make as Fn)(ARRAY_LENGTH);
    return callAll(exports, calls, () => {
      try {
        return `sum ${(exports.sum as Fn)()} ${(exports.refs as Fn)()}`;
      } catch (error) {
        return `sum ${String(error)}`;
      }
    });
  };
  await assertLikePlain(await watBinaryen(ARRAY_GUEST), ARRAY_CASES, sums);
});

Deno.test("a set flag stops an array fill between chunks", async () => {
  const bytes = await watBinaryen(ARRAY_GUEST);
  const exports = await stopAfterTwoChunks(
    bytes,
    (e) => e.fill!(0, 1, ARRAY_LENGTH),
    (e) => e.make!(ARRAY_LENGTH),
  );
  // Two chunks of ones, the rest zero: the sum tells.
  const plain = await WebAssembly.instantiate(bytes);
  const p = plain.instance.exports as Record<string, Fn>;
  p.make!(ARRAY_LENGTH);
  p.fill!(0, 1, 2 * 16384);
  assert.equal((exports.sum as Fn)(), p.sum!());
});

Deno.test("between chunks, a bulk operator asks the host with the flag clear, and stops when it answers 1", async () => {
  const metered = instrument(await wat(BULK_GUEST), { stopFlag: true });
  let polls = 0;
  const { instance } = await instantiateFlagged(
    metered,
    (flag) => Atomics.load(flag, 0) !== 0 ? 1 : ++polls === 3 ? 1 : 0,
  );
  const exports = instance.exports as Record<string, Fn>;
  assert.throws(
    () => exports.fill!(0, 5, END),
    WebAssembly.RuntimeError,
    "unreachable",
  );
  assert.equal(polls, 3);
  // The host's third answer came after the third chunk.
  const a = new Uint8Array(
    (instance.exports.a as WebAssembly.Memory).buffer,
  );
  assert.equal(a[3 * PAGE - 1], 5);
  assert.equal(a[3 * PAGE], 0);
});
