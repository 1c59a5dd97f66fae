/**
 * A deadline-only rewrite (`fuel: false`) leaves out the stop flag's check
 * at the entry of a function whose every call is short (no loop, no call of
 * an import or through a table, direct callees that form no cycle, a small
 * bound on what a call runs). These tests hold the rule to its bounds: a
 * chain of functions each calling the next twice, a cycle of tail calls and
 * a function that calls a short one many times are still stopped, or keep
 * their checks where they must. Hang guards only; no timing is asserted.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { attachedMeter } from "./support/attached_meter.ts";
import { assembleWat } from "../guest/build.ts";
import { isDeadlineExceeded } from "../mod.ts";
import { instrument } from "../src/wasm/mod.ts";
import { ENTRY_BOUND } from "../src/wasm/bounded_entries.ts";
import { expectOutcome } from "./support/outcome.ts";

/** How many times the rewrite of `bytes` reads the flag, by function. */
function flagReads(bytes: Uint8Array): number {
  const out = instrument(bytes, {
    fuel: false,
    stopFlag: true,
    stopFlagTraps: true,
  }).bytes;
  // `i32.const 0`, then `i32.load` or `i32.atomic.load` of memory 1 (the
  // flag's, after the guest's one memory) at offset 0.
  let reads = 0;
  for (let i = 0; i + 6 < out.length; i++) {
    if (out[i] !== 0x41 || out[i + 1] !== 0x00) continue;
    const at = out[i + 2] === 0x28 ? i + 3 : out[i + 2] === 0xfe &&
        out[i + 3] === 0x10
      ? i + 4
      : -1;
    if (at >= 0 && out[at] === 0x42 && out[at + 1] === 1 && out[at + 2] === 0) {
      reads++;
    }
  }
  return reads;
}

/** `depth` functions, each calling the next twice; the last adds. */
function chain(depth: number): string {
  const funcs: string[] = [];
  for (let k = 0; k < depth - 1; k++) {
    funcs.push(
      `(func $f${k} (export "f${k}") (param i32) (result i32)
        (i32.add (call $f${k + 1} (local.get 0))
                 (call $f${k + 1} (i32.add (local.get 0) (i32.const 1)))))`,
    );
  }
  funcs.push(
    `(func $f${depth - 1} (param i32) (result i32)
      (i32.xor (i32.mul (local.get 0) (i32.const 31)) (i32.const 7)))`,
  );
  return `(module (memory 1) ${funcs.join("\n")})`;
}

Deno.test("deadline-only entries: a short leaf called from a loop loses its check, a loop, a recursion and an import keep theirs", async () => {
  const leaf = await assembleWat(`(module
    (memory 1)
    (func $leaf (param i32) (result i32) (i32.mul (local.get 0) (i32.const 3)))
    (func (export "run") (param $n i32) (result i32) (local $s i32)
      (loop $again
        (local.set $s (i32.add (local.get $s) (call $leaf (local.get $n))))
        (br_if $again (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
      (local.get $s)))`);
  // The loop's function: its entry and its header; the leaf: none.
  assert.equal(flagReads(leaf), 2);
  const recursive = await assembleWat(`(module
    (memory 1)
    (func $r (param i32) (result i32)
      (if (result i32) (local.get 0)
        (then (call $r (i32.sub (local.get 0) (i32.const 1))))
        (else (i32.const 0)))))`);
  assert.equal(flagReads(recursive), 1);
  const importing = await assembleWat(`(module
    (import "host" "f" (func $f))
    (memory 1)
    (func (export "g") (call $f)))`);
  assert.equal(flagReads(importing), 1);
  const tabled = await assembleWat(`(module
    (memory 1)
    (table 1 funcref)
    (elem (i32.const 0) $t)
    (func $t (result i32) (i32.const 1))
    (func $u (result i32) (i32.const 2)))`);
  assert.equal(flagReads(tabled), 1, "the table's function keeps its check");
});

Deno.test("deadline-only entries: a chain of functions each calling the next twice keeps the checks that bound it, and is stopped", async () => {
  const depth = 30;
  const bytes = await assembleWat(chain(depth));
  const reads = flagReads(bytes);
  assert.ok(reads > 0 && reads < depth, `${reads} of ${depth} checks kept`);
  // What a call runs doubles up the chain, so one function in every
  // log2(ENTRY_BOUND) levels or fewer keeps its check (its callers then
  // count from the check again).
  assert.ok(
    reads >= Math.floor(depth / Math.log2(ENTRY_BOUND)),
    `${reads} kept`,
  );
  const { meter, exports } = await attachedMeter(bytes, { fuel: false });
  const f0 = exports.f0 as (n: number) => number;
  const result = expectOutcome(
    meter.run(() => f0(1), { timeout: 30 }),
    "timeout",
  );
  assert.ok(isDeadlineExceeded(result.error));
  // A short call still returns what the plain module returns.
  const plain = new WebAssembly.Instance(new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>));
  const f20 = plain.exports.f20 as (n: number) => number;
  const ran = meter.run(() => (exports.f20 as (n: number) => number)(5));
  assert.equal(ran.outcome, "returned");
  assert.equal(ran.value, f20(5));
});

Deno.test("deadline-only entries: a cycle of tail calls without loops keeps a check, and is stopped", async () => {
  const bytes = await assembleWat(`(module
    (memory 1)
    (func $ping (export "ping") (param i32) (result i32)
      (return_call $pong (i32.add (local.get 0) (i32.const 1))))
    (func $pong (param i32) (result i32)
      (return_call $ping (i32.xor (local.get 0) (i32.const 5)))))`);
  assert.ok(flagReads(bytes) >= 1);
  const { meter, exports } = await attachedMeter(bytes, { fuel: false });
  const result = expectOutcome(
    meter.run(() => (exports.ping as (n: number) => number)(0), {
      timeout: 30,
    }),
    "timeout",
  );
  assert.ok(isDeadlineExceeded(result.error));
});

Deno.test("deadline-only entries: a function that calls a short one many times makes it keep its check", async () => {
  // A callee of about 3,000 bytes, called at 100 sites: 300,000 operators
  // between two checks of the caller if the callee had none.
  const body = "(local.set 0 (i32.add (local.get 0) (i32.const 1)))".repeat(
    500,
  );
  const few = await assembleWat(`(module
    (memory 1)
    (func $big (param i32) ${body})
    (func (export "caller") ${"(call $big (i32.const 0))".repeat(2)}))`);
  assert.equal(flagReads(few), 1, "two calls: the callee needs no check");
  const many = await assembleWat(`(module
    (memory 1)
    (func $big (param i32) ${body})
    (func (export "caller") ${"(call $big (i32.const 0))".repeat(100)}))`);
  assert.equal(flagReads(many), 2, "a hundred calls: the callee keeps it");
});
