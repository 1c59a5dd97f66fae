/**
 * The cost model of `instrument()`: what each operator, block, call and
 * bulk operation is charged, checked to the exact unit.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { isInvalidModule } from "../src/errors.ts";
import { instrument } from "../src/wasm/instrument.ts";
import {
  cost,
  FEATURES,
  type Fn,
  meter,
  wabt,
  wat,
} from "./support/instrument.ts";
import { encodeLeb } from "./support/module_bytes.ts";

// ---------------------------------------------------------------------------
// (a) Exact fuel counts

Deno.test("instrument() charges a straight-line function its operator count", async () => {
  const m = await meter(
    await wat(`(module
      (func (export "f") (result i32)
        i32.const 1 i32.const 2 i32.add i32.const 3 i32.mul drop i32.const 0))`),
  );
  assert.equal(cost(m, "f"), 6n); // drop is free
  // The first check asked for exactly that and found the counter at 0.
  assert.deepEqual(m.calls[0], [-6n, 6n]);
});

Deno.test("instrument() prepays an if's then-arm at the if, and charges the else-arm when it runs", async () => {
  const m = await meter(
    await wat(`(module
      (func (export "f") (param i32) (result i32)
        local.get 0
        if (result i32)
          i32.const 10
        else
          i32.const 20 i32.const 1 i32.add
        end))`),
  );
  // local.get + if = 2, with the then-arm's i32.const = 1 prepaid whichever
  // arm runs; the else-arm, three operators = 3, is charged when it runs.
  assert.equal(cost(m, "f", 1), 3n);
  assert.equal(cost(m, "f", 0), 6n);
});

Deno.test("instrument() runs a segment past the end of a block or if that no branch names and no segment starts in", async () => {
  const m = await meter(
    await wat(`(module
      (func (export "f") (param i32) (result i32)
        (block $out
          (if (local.get 0) (then (br $out)))
          ;; Reached only when the condition is false, after a then-arm
          ;; that leaves: still charged.
          (drop (i32.add (i32.const 1) (i32.const 2))))
        (i32.const 5))
      (func (export "g") (param $n i32)
        (block
          (loop $again
            (br_if $again
              (local.tee $n (i32.sub (local.get $n) (i32.const 1))))))
        (drop (i32.const 1))
        (drop (i32.const 2))))`),
  );
  // The entry's segment runs past the if's end, which no branch names, and
  // past the block's, which only a br of the same segment names: local.get,
  // if, br, the add and its consts, i32.const 5.
  assert.equal(cost(m, "f", 0), 7n);
  assert.equal(cost(m, "f", 1), 7n);
  // A loop starts a segment, so the block's end starts one: the tail is
  // charged once, not with every iteration.
  for (const n of [1, 2, 10]) {
    assert.equal(cost(m, "g", n), BigInt(5 * n + 2));
  }
});

Deno.test("instrument() runs a segment past a block's end that only its own branches name, not past one a br_table names", async () => {
  const bytes = await wat(`(module
    (global $ran (export "ran") (mut i32) (i32.const 0))
    (func (export "f") (param i32)
      (block $b
        (br_if $b (local.get 0))
        (global.set $ran (i32.const 1)))
      (global.set $ran (i32.add (global.get $ran) (i32.const 2))))
    (func (export "g") (param i32)
      (block $c
        (block $b
          (br_table $b $c (local.get 0)))
        (global.set $ran (i32.const 1)))
      (global.set $ran (i32.const 2))))`);
  // f is one segment of 8, paid at its entry whichever way the br_if goes.
  const m = await meter(bytes);
  assert.equal(cost(m, "f", 0), 8n);
  assert.equal(cost(m, "f", 1), 8n);
  for (const budget of [7n, 8n]) {
    const metered = instrument(bytes, {
      resumable: false,
      initialFuel: budget,
    });
    const { instance } = await WebAssembly.instantiate(
      metered.bytes as BufferSource,
    );
    const f = instance.exports.f as Fn;
    const ran = instance.exports.ran as WebAssembly.Global;
    if (budget < 8n) {
      // Stopped at the entry: nothing ran, not even the first global.set.
      assert.throws(() => f(0), WebAssembly.RuntimeError);
      assert.equal(ran.value, 0);
    } else {
      f(0);
      assert.equal(ran.value, 3);
    }
  }
  // A br_table's targets start their own segments: a dispatch pays only for
  // the case it takes (local.get and br_table, then 2 per block end run).
  assert.equal(cost(m, "g", 0), 6n);
  assert.equal(cost(m, "g", 1), 4n);
});

Deno.test("instrument() keeps the segment at a branched-to block's end when a loop follows it", async () => {
  const bytes = await wat(`(module
    (global $ran (mut i32) (i32.const 0))
    (func (export "before_loop") (param i32)
      (block $b
        (br_if $b (local.get 0))
        (global.set $ran (i32.const 1)))
      (local.set 0 (i32.const 3))
      (loop $l (br_if $l (local.tee 0 (i32.sub (local.get 0) (i32.const 1))))))
    (func (export "before_code") (param i32)
      (block $b
        (br_if $b (local.get 0))
        (global.set $ran (i32.const 1)))
      (global.set $ran (i32.const 2))))`);
  const metered = instrument(bytes, { resumable: false });
  const text = (await wabt()).readWasm(metered.bytes, FEATURES).toText({});
  // Functions 0 and 1, in order after the trap path; a check is their only
  // i64.lt_s.
  const bodies = text.split("(func (;").slice(2);
  const checks = (index: number) => bodies[index].split("i64.lt_s").length - 1;
  // The entry, the block's end (a loop follows it) and the loop's header.
  assert.equal(checks(0), 3);
  // The entry only: the block's end runs on the segment before the block.
  assert.equal(checks(1), 1);
});

Deno.test("instrument() charges a loop of n iterations 5n", async () => {
  const m = await meter(
    await wat(`(module
      (func (export "run") (param $n i32)
        (loop $again
          (br_if $again
            (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))))`),
  );
  for (const n of [1, 2, 10, 1000]) {
    assert.equal(cost(m, "run", n), BigInt(5 * n));
  }
});

Deno.test("instrument() charges recursion per call", async () => {
  const m = await meter(
    await wat(`(module
      (func $fac (export "fac") (param i64) (result i64)
        local.get 0
        i64.eqz
        if (result i64)
          i64.const 1
        else
          local.get 0
          local.get 0
          i64.const 1
          i64.sub
          call $fac
          i64.mul
        end))`),
  );
  // fac(0) = 3 + 1; fac(n) = 3 + 1 (the then-arm, prepaid) + 6 + fac(n - 1).
  assert.equal(cost(m, "fac", 0n), 4n);
  assert.equal(cost(m, "fac", 5n), 5n * 10n + 4n);
  assert.equal((m.exports.fac as Fn)(10n), 3628800n);
});

/**
 * A self-recursive function (which gets a register copy) and its twin, the
 * same body split over two functions that call each other (which gets
 * none): params and locals, a loop, a call out, a load and a division that
 * can trap, `return` and `br` out of the function with two results.
 */

Deno.test("instrument() does not charge unreachable code", async () => {
  const m = await meter(
    await wat(`(module
      (func (export "f")
        (block
          br 0
          i32.const 1
          drop
          i32.const 2
          drop)
        nop))`),
  );
  assert.equal(cost(m, "f"), 1n); // only br
});

Deno.test("instrument() applies the cost table", async () => {
  const bytes = await wat(`(module
    (func (export "f") (result i32)
      i32.const 1 i32.const 2 i32.add nop))`);
  const custom = await meter(bytes, {
    costs: { default: 2, operators: { "i32.add": 7, nop: 3 } },
  });
  assert.equal(cost(custom, "f"), 2n + 2n + 7n + 3n);
  const free = await meter(bytes, { costs: { default: 0 } });
  assert.equal(cost(free, "f"), 0n);
  // A segment may cost more than 2^31.
  const dear = await meter(bytes, {
    costs: { operators: { "i32.add": 2 ** 31 - 1, "i32.const": 2 ** 31 - 1 } },
  });
  assert.equal(cost(dear, "f"), 3n * (2n ** 31n - 1n));
});

Deno.test("instrument() refuses a segment dearer than 2^53 - 1 rather than charge it less", () => {
  // One function of `nops` nops at 2^31 - 1 each, all one segment.
  const withNops = (nops: number) => {
    const size = encodeLeb(1 + nops + 1);
    const code = [0x01, ...size, 0x00];
    const sectionSize = encodeLeb(code.length + nops + 1);
    const head = [
      ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
      ...[0x01, 0x04, 0x01, 0x60, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00],
      ...[0x07, 0x05, 0x01, 0x01, 0x66, 0x00, 0x00],
      ...[0x0a, ...sectionSize, ...code],
    ];
    const bytes = new Uint8Array(head.length + nops + 1);
    bytes.set(head);
    bytes.fill(0x01, head.length, head.length + nops);
    bytes[head.length + nops] = 0x0b;
    return bytes;
  };
  const options = {
    costs: { operators: { nop: 0x7fff_ffff } },
    resumable: false,
    initialFuel: 1n << 62n,
  };
  // 4,194,304 nops cost 2^53 - 2^22, exactly what they are charged.
  const fits = instrument(withNops(4_194_304), options);
  const instance = new WebAssembly.Instance(
    new WebAssembly.Module(fits.bytes),
    {},
  );
  (instance.exports.f as Fn)();
  const fuel = instance.exports[fits.fuelExport] as WebAssembly.Global;
  assert.equal((1n << 62n) - fuel.value, 4_194_304n * 0x7fff_ffffn);
  // One more costs 2^53 + 2^31 - 2^22 - 1, which a cap at 2^53 - 1 charged
  // too little: refused.
  const over = withNops(4_194_305);
  assert.ok(WebAssembly.validate(over));
  assert.throws(
    () => instrument(over, options),
    (error: unknown) =>
      isInvalidModule(error) && /costs more than 2\^53 - 1/.test(error.message),
  );
});

Deno.test("instrument() charges bulk memory operators per byte and page", async () => {
  const bytes = await wat(`(module
    (memory 1 10)
    (data $d "hello world")
    (func (export "fill") (param i32)
      (memory.fill (i32.const 0) (i32.const 7) (local.get 0)))
    (func (export "copy") (param i32)
      (memory.copy (i32.const 100) (i32.const 0) (local.get 0)))
    (func (export "init") (param i32)
      (memory.init $d (i32.const 0) (i32.const 0) (local.get 0)))
    (func (export "grow") (param i32) (result i32)
      (memory.grow (local.get 0))))`);
  const m = await meter(bytes);
  assert.equal(cost(m, "fill", 1000), 4n + 1000n);
  assert.equal(cost(m, "copy", 0), 4n);
  assert.equal(cost(m, "init", 11), 4n + 11n);
  assert.equal(cost(m, "grow", 2), 2n + 2n);

  const priced = await meter(bytes, {
    costs: { perByte: 3, perPage: 1000 },
  });
  assert.equal(cost(priced, "fill", 10), 4n + 30n);
  assert.equal(cost(priced, "grow", 1), 2n + 1000n);
  // A failed grow adds nothing and is given its charge back: only the
  // operators are paid for.
  assert.equal((priced.exports.grow as Fn)(100), -1);
  assert.equal(cost(priced, "grow", 100), 2n);
  assert.equal(cost(priced, "grow", 0x7fffffff), 2n);
  // A grow the fuel cannot pay for still stops the guest before it runs.

  const free = await meter(bytes, { costs: { perByte: 0 } });
  assert.equal(cost(free, "fill", 1000), 4n);
});

Deno.test("instrument() charges 64-bit operands of memory64 bulk operators", async () => {
  const m = await meter(
    await wat(`(module
      (memory i64 1)
      (func (export "fill") (param i64)
        (memory.fill (i64.const 0) (i32.const 7) (local.get 0)))
      (func (export "load") (param i64) (result i32)
        (i32.load8_u (local.get 0))))`),
    { costs: { perByte: 2 } },
  );
  assert.equal(cost(m, "fill", 100n), 4n + 200n);
  assert.equal((m.exports.load as Fn)(99n), 7);
  // A huge request is capped at 2^48 rather than wrapping around.
  const before = m.used();
  assert.throws(() => (m.exports.fill as Fn)(-1n), WebAssembly.RuntimeError);
  assert.equal(m.used() - before, 4n + (1n << 48n));
});

Deno.test("instrument() charges table operators per element", async () => {
  const m = await meter(
    await wat(`(module
      (table $t 1 100 funcref)
      (func (export "grow") (param i32) (result i32)
        (table.grow $t (ref.null func) (local.get 0)))
      (func (export "fill") (param i32)
        (table.fill $t (i32.const 0) (ref.null func) (local.get 0))))`),
    { costs: { perElement: 5 } },
  );
  assert.equal(cost(m, "grow", 3), 3n + 15n);
  assert.equal(cost(m, "fill", 4), 4n + 20n);
  // Past the maximum: -1, and only the operators paid for.
  assert.equal((m.exports.grow as Fn)(1000), -1);
  assert.equal(cost(m, "grow", 1000), 3n);
});

Deno.test("instrument() gives the charge of a failed 64-bit grow back", async () => {
  const m = await meter(
    await wat(`(module
      (memory i64 1 4)
      (table $t i64 1 8 funcref)
      (func (export "grow") (param i64) (result i64)
        (memory.grow (local.get 0)))
      (func (export "table_grow") (param i64) (result i64)
        (table.grow $t (ref.null func) (local.get 0))))`),
    { costs: { perPage: 100, perElement: 10 } },
  );
  assert.equal((m.exports.grow as Fn)(1n), 1n);
  assert.equal(cost(m, "grow", 1n), 2n + 100n);
  assert.equal((m.exports.grow as Fn)(10n), -1n);
  assert.equal(cost(m, "grow", 10n), 2n);
  assert.equal(cost(m, "grow", -1n), 2n, "a request of 2^64 - 1 pages");
  assert.equal(cost(m, "table_grow", 2n), 3n + 20n);
  assert.equal((m.exports.table_grow as Fn)(100n), -1n);
  assert.equal(cost(m, "table_grow", 100n), 3n);
});
