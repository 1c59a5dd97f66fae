/**
 * `instrument()` with `stopFlag`: the output keeps the guest's behaviour
 * and memories, and a set flag stops a guest at its next function entry or
 * loop header, whatever the cost table says.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { instrument } from "../src/wasm/instrument.ts";
import { COMPUTE } from "./support/guests.ts";
import type { Fn } from "./support/instrument.ts";
import { wat, watBinaryen } from "./support/instrument.ts";
import { instantiateFlagged } from "./support/stop_flag.ts";

type Exports = Record<string, Fn>;

async function plainExports(bytes: Uint8Array<ArrayBuffer>): Promise<Exports> {
  const { instance } = await WebAssembly.instantiate(bytes);
  return instance.exports as Exports;
}

/** `count(n)` loops n times and returns n: a loop header's check each turn. */
const COUNT_WAT = `(module
  (func (export "count") (param $n i32) (result i32) (local $i i32)
    (loop $again
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $i)))`;

Deno.test("stopFlag keeps compute.wasm's results, metered either way", async () => {
  const bytes = await Deno.readFile(COMPUTE);
  const plain = await plainExports(bytes);
  const expected = [
    plain.fib!(20),
    plain.sum_to!(10000),
    plain.mix_loop!(1000),
  ];
  for (const resumable of [true, false]) {
    const metered = instrument(bytes, {
      stopFlag: true,
      resumable,
      initialFuel: resumable ? 0n : 1n << 60n,
    });
    assert.ok(WebAssembly.validate(metered.bytes));
    const { instance, calls } = await instantiateFlagged(metered);
    const e = instance.exports as Exports;
    assert.deepEqual(
      [e.fib!(20), e.sum_to!(10000), e.mix_loop!(1000)],
      expected,
    );
    assert.equal(calls(), 0);
  }
});

Deno.test("stopFlag stops a spinning loop once on_stop_flag says so", async () => {
  const bytes = await wat(`(module (func (export "spin") (loop br 0)))`);
  const metered = instrument(bytes, { stopFlag: true });
  const { instance, flag, calls } = await instantiateFlagged(metered);
  flag[0] = 1;
  assert.throws(
    () => (instance.exports.spin as Fn)(),
    WebAssembly.RuntimeError,
    "unreachable",
  );
  assert.equal(calls(), 1); // at the function's entry
});

Deno.test("stopFlag lets the guest go on when on_stop_flag returns 0", async () => {
  const bytes = await wat(COUNT_WAT);
  const metered = instrument(bytes, { stopFlag: true });
  // The flag stays set for three checks, then the callback clears it.
  let answers = 0;
  const { instance, flag, calls } = await instantiateFlagged(metered, (f) => {
    if (++answers === 3) f[0] = 0;
    return 0;
  });
  flag[0] = 1;
  assert.equal((instance.exports.count as Fn)(100), 100);
  assert.equal(calls(), 3);
});

Deno.test("stopFlag reads the flag's first byte only, in every kind of check", async () => {
  const bytes = await wat(COUNT_WAT);
  const kinds = [
    { resumable: true }, // the fuel's check reads the flag in its test
    { resumable: false, initialFuel: 1n << 60n }, // a check of its own
    { stopFlagTraps: true },
    { fuel: false },
    { fuel: false, stopFlagTraps: true },
  ];
  for (const kind of kinds) {
    const shown = Object.keys(kind).join(", ");
    const metered = instrument(bytes, { stopFlag: true, ...kind });
    const { instance, flag, memories, calls } = await instantiateFlagged(
      metered,
    );
    const count = instance.exports.count as Fn;
    // A word whose first byte is 0 (a code of 256, a counter that wrapped
    // to it) is not a stop: the guest never reads the other bytes.
    Atomics.store(flag, 0, 256);
    assert.equal(count(100), 100, shown);
    assert.equal(calls(), 0, shown);
    // Any non-zero first byte is, however it was written.
    Atomics.store(flag, 0, 0);
    const byte = new Uint8Array(memories[metered.stopFlag!.memory]!.buffer);
    Atomics.store(byte, 0, 0x80);
    assert.throws(() => count(100), WebAssembly.RuntimeError, "unreachable");
  }
});

Deno.test("stopFlag stops a loop the cost table makes free", async () => {
  const bytes = await wat(`(module
    (func (export "spin") (param $n i32)
      (loop $again (br_if $again (local.get $n)))))`);
  const metered = instrument(bytes, {
    stopFlag: true,
    costs: { default: 0 },
  });
  let seen = 0;
  const { instance, flag } = await instantiateFlagged(metered, () => {
    // The entry's check goes on, so the loop header's stops.
    return ++seen === 2 ? 1 : 0;
  });
  flag[0] = 1;
  assert.throws(
    () => (instance.exports.spin as Fn)(1),
    WebAssembly.RuntimeError,
    "unreachable",
  );
  assert.equal(seen, 2);
});

Deno.test("stopFlag stops recursion in a register copy", async () => {
  const bytes = await Deno.readFile(COMPUTE);
  for (const resumable of [true, false]) {
    const metered = instrument(bytes, {
      stopFlag: true,
      resumable,
      initialFuel: resumable ? 0n : 1n << 60n,
    });
    let seen = 0;
    const { instance, flag } = await instantiateFlagged(metered, (f) => {
      seen++;
      // Deep in the recursion: stop it.
      if (seen === 1) {
        f[0] = 0;
        return 0;
      }
      return 1;
    });
    const fib = instance.exports.fib as Fn;
    assert.equal(fib(15), 610);
    flag[0] = 1;
    assert.equal(fib(15), 610); // the first answer lets it go on
    // Set the flag from inside the recursion, through the next callback.
    flag[0] = 1;
    assert.throws(() => fib(25), WebAssembly.RuntimeError, "unreachable");
    assert.equal(seen, 2);
    const fuel = instance.exports[metered.fuelExport] as WebAssembly.Global;
    assert.equal(typeof fuel.value, "bigint");
  }
});

Deno.test("stopFlag imports a defined memory in its place", async () => {
  const bytes = await wat(`(module
    (memory (export "mem") 1 3)
    (data (i32.const 16) "hello")
    (func (export "peek") (param i32) (result i32) (i32.load8_u (local.get 0)))
    (func (export "grow") (result i32) (memory.grow (i32.const 1))))`);
  const metered = instrument(bytes, { stopFlag: true });
  const memories = metered.stopFlag!.memories;
  assert.deepEqual(
    memories.map(({ name, index, descriptor }) => ({
      name,
      index,
      descriptor,
    })),
    [
      { name: "memory0", index: 0, descriptor: { initial: 1, maximum: 3 } },
      {
        name: "stop_flag",
        index: 1,
        descriptor: { initial: 1, maximum: 1, shared: true },
      },
    ],
  );
  const { instance, memories: made } = await instantiateFlagged(metered);
  const e = instance.exports as Record<string, unknown>;
  assert.equal(e.mem, made.memory0);
  assert.equal((e.peek as Fn)(16), 104);
  assert.equal(
    new TextDecoder().decode(new Uint8Array(made.memory0!.buffer, 16, 5)),
    "hello",
  );
  assert.equal((e.grow as Fn)(), 1);
  assert.equal(made.memory0!.buffer.byteLength, 2 * 65536);
});

Deno.test("stopFlag leaves an imported memory where it is", async () => {
  const bytes = await wat(`(module
    (import "env" "mem" (memory 1))
    (data (i32.const 4) "\\2a")
    (func (export "peek") (result i32) (i32.load8_u (i32.const 4))))`);
  const metered = instrument(bytes, { stopFlag: true });
  assert.deepEqual(
    metered.stopFlag!.memories.map((m) => [m.name, m.index]),
    [["stop_flag", 1]],
  );
  const mem = new WebAssembly.Memory({ initial: 1 });
  const { instance } = await instantiateFlagged(metered, () => 1, {
    env: { mem },
  });
  assert.equal((instance.exports.peek as Fn)(), 42);
  assert.equal(new Uint8Array(mem.buffer)[4], 42);
});

Deno.test("stopFlag keeps two memories and a memory64 apart", async () => {
  // wabt misplaces the memory index of a data segment; binaryen does not.
  const bytes = await watBinaryen(`(module
    (import "env" "first" (memory 1))
    (memory $second 1 2)
    (memory $wide (export "wide") i64 1 4)
    (data (memory $second) (i32.const 0) "\\07")
    (data (memory $wide) (i64.const 8) "\\09")
    (func (export "read") (result i32)
      (i32.add
        (i32.load8_u $second (i32.const 0))
        (i32.mul (i32.const 10) (i32.load8_u $wide (i64.const 8)))))
    (func (export "size") (result i64) (memory.size $wide)))`);
  const plain = await WebAssembly.instantiate(bytes, {
    env: { first: new WebAssembly.Memory({ initial: 1 }) },
  });
  const metered = instrument(bytes, { stopFlag: true });
  assert.deepEqual(
    metered.stopFlag!.memories.map(({ name, index, descriptor }) => ({
      name,
      index,
      descriptor,
    })),
    [
      { name: "memory1", index: 1, descriptor: { initial: 1, maximum: 2 } },
      {
        name: "memory2",
        index: 2,
        descriptor: { initial: 1n, maximum: 4n, address: "i64" },
      },
      {
        name: "stop_flag",
        index: 3,
        descriptor: { initial: 1, maximum: 1, shared: true },
      },
    ],
  );
  const { instance, memories } = await instantiateFlagged(metered, () => 1, {
    env: { first: new WebAssembly.Memory({ initial: 1 }) },
  });
  const e = instance.exports as Record<string, unknown>;
  const p = plain.instance.exports as Record<string, Fn>;
  assert.equal((e.read as Fn)(), p.read!());
  assert.equal((e.read as Fn)(), 97);
  assert.equal((e.size as Fn)(), 1n);
  assert.equal(e.wide, memories.memory2);
  assert.equal(new Uint8Array(memories.memory1!.buffer)[0], 7);
});

Deno.test("stopFlag on a module without memories or functions", async () => {
  const empty = await wat(`(module)`);
  const metered = instrument(empty, { stopFlag: true });
  assert.ok(WebAssembly.validate(metered.bytes));
  assert.deepEqual(metered.stopFlag!.memories.map((m) => m.index), [0]);
  await instantiateFlagged(metered);
});

Deno.test("stopFlag keeps a shared memory shared", async () => {
  const bytes = await wat(`(module
    (memory (export "mem") 1 1 shared)
    (func (export "add") (result i32)
      (i32.atomic.rmw.add (i32.const 0) (i32.const 5))))`);
  const metered = instrument(bytes, { stopFlag: true });
  assert.deepEqual(metered.stopFlag!.memories[0]!.descriptor, {
    initial: 1,
    maximum: 1,
    shared: true,
  });
  const { instance, memories } = await instantiateFlagged(metered);
  assert.equal((instance.exports.add as Fn)(), 0);
  assert.equal(new Int32Array(memories.memory0!.buffer)[0], 5);
});

Deno.test("without stopFlag the result names no flag", async () => {
  const bytes = await Deno.readFile(COMPUTE);
  assert.equal(instrument(bytes).stopFlag, undefined);
});

Deno.test("fuel: false checks only the stop flag", async () => {
  const bytes = await Deno.readFile(COMPUTE);
  const plain = await plainExports(bytes);
  const metered = instrument(bytes, { stopFlag: true, fuel: false });
  assert.equal(metered.fuel, false);
  assert.ok(
    metered.bytes.length < instrument(bytes, { stopFlag: true }).bytes.length,
  );
  let seen = 0;
  const { instance, flag } = await instantiateFlagged(metered, () => {
    seen++;
    return 1;
  });
  const e = instance.exports as Exports;
  assert.equal(e.fib!(20), plain.fib!(20));
  assert.equal(e.sum_to!(10000), plain.sum_to!(10000));
  // Nothing is counted.
  const counter = instance.exports[metered.fuelExport] as WebAssembly.Global;
  assert.equal(counter.value, 0n);
  flag[0] = 1;
  assert.throws(() => e.sum_to!(10), WebAssembly.RuntimeError, "unreachable");
  assert.equal(seen, 1);
});

Deno.test("fuel: false needs stopFlag", () => {
  const empty = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
  assert.throws(() => instrument(empty, { fuel: false }), TypeError);
});

Deno.test("stopFlagTraps stops at a set flag without asking", async () => {
  const bytes = await Deno.readFile(COMPUTE);
  const plain = await plainExports(bytes);
  for (const fuel of [true, false]) {
    const metered = instrument(bytes, {
      stopFlag: true,
      stopFlagTraps: true,
      fuel,
    });
    const { instance, flag, calls } = await instantiateFlagged(
      metered,
      () => 0,
    );
    const e = instance.exports as Exports;
    assert.equal(e.fib!(20), plain.fib!(20));
    assert.equal(e.mix_loop!(1000), plain.mix_loop!(1000));
    flag[0] = 1;
    assert.throws(() => e.fib!(20), WebAssembly.RuntimeError, "unreachable");
    assert.throws(() => e.sum_to!(5), WebAssembly.RuntimeError, "unreachable");
    assert.equal(calls(), 0);
  }
});

Deno.test("stopFlagTraps needs stopFlag", () => {
  const empty = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
  assert.throws(() => instrument(empty, { stopFlagTraps: true }), TypeError);
});
