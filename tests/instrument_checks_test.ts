/**
 * The checks `instrument()` places: where they stop a guest (before the
 * segment runs, at catch landing sites, in the start function) and what the
 * host sees when they do.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { instrument } from "../src/wasm/instrument.ts";
import {
  disassemble,
  type Fn,
  meter,
  type Metered,
  wat,
} from "./support/instrument.ts";

// ---------------------------------------------------------------------------
// (c) Exhaustion

Deno.test("instrument() traps when out_of_fuel refuses, before the segment runs", async () => {
  const bytes = await wat(`(module
    (global $count (export "count") (mut i32) (i32.const 0))
    (func (export "spin")
      (loop $l
        (global.set $count (i32.add (global.get $count) (i32.const 1)))
        (br $l))))`);
  let calls = 0;
  const m = await meter(bytes, {
    onOutOfFuel: (counter) => ++calls === 1 ? counter + 100n : -1n,
  });
  assert.throws(
    () => (m.exports.spin as Fn)(),
    (error: Error) =>
      error instanceof WebAssembly.RuntimeError &&
      /unreachable/.test(error.message),
  );
  // Each iteration costs 5: a budget of 100 runs exactly 20 of them.
  assert.equal((m.exports.count as WebAssembly.Global).value, 20);
  assert.equal(m.fuel.value, -1n);
});

Deno.test("instrument() stops a guest whose counter the host set negative during a call", async () => {
  const bytes = await wat(`(module
    (import "env" "tick" (func $tick))
    (global $after (export "after") (mut i32) (i32.const 0))
    (func (export "run")
      call $tick
      (global.set $after (i32.const 1))))`);
  const m: Metered = await meter(bytes, {
    imports: { env: { tick: () => (m.fuel.value = -(1n << 40n)) } },
    // Refuse once the host has asked for a stop.
    onOutOfFuel: (counter) => counter < -(1n << 39n) ? -1n : undefined,
  });
  assert.throws(() => (m.exports.run as Fn)(), WebAssembly.RuntimeError);
  assert.equal((m.exports.after as WebAssembly.Global).value, 0);
});

Deno.test("every check calls the slow path, the first defined function, and hands it the fuel left through its if", async () => {
  const bytes = await wat(`(module
    (import "env" "f" (func $f))
    (func (export "run") (param $n i32)
      (loop $l
        (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))))`);
  const metered = instrument(bytes);
  const functions = (await disassemble(metered.bytes)).split("\n  (func (;")
    .slice(1);
  // After env.f and out_of_fuel: the slow path, which calls out_of_fuel,
  // then the guest's function.
  assert.match(functions[0]!, /^2;\)[^]*call 1\n/);
  assert.match(functions[1]!, /^3;\)/);
  // The loop's check: the fuel left is the if's parameter, and its arm
  // gives the slow path's answer in its place.
  assert.match(
    functions[1]!,
    /loop[^]*local\.get 1\s+i64\.const 5\s+i64\.sub\s+local\.get 1\s+i64\.const 5\s+i64\.lt_s\s+if \(param i64\) \(result i64\)[^\n]*\s+i64\.const 5\s+call 2\s+end\s+local\.set 1/,
  );
  // It counts as before: 5 per iteration, and the host asked at the
  // iteration that found the fuel spent, with what it took.
  const m = await meter(bytes, {
    imports: { env: { f: () => {} } },
    grant: 12n,
  });
  (m.exports.run as Fn)(3);
  assert.equal(m.used(), 15n);
  assert.deepEqual(m.calls, [[-5n, 5n], [-3n, 5n]]);
});

Deno.test("instrument() checks at catch landing sites so a guest cannot swallow a stop", async () => {
  const legacy = await wat(`(module
    (import "env" "stop" (func $stop))
    (global $caught (export "caught") (mut i32) (i32.const 0))
    (func (export "run")
      try
        call $stop
      catch_all
        (global.set $caught (i32.const 1))
      end))`);
  const exnref = await wat(`(module
    (import "env" "stop" (func $stop))
    (global $caught (export "caught") (mut i32) (i32.const 0))
    (func (export "run")
      (block $handler
        (try_table (catch_all $handler)
          call $stop)
        return)
      (global.set $caught (i32.const 1))))`);
  for (const bytes of [legacy, exnref]) {
    const stop = () => {
      m.fuel.value = -(1n << 40n);
      throw new Error("stop");
    };
    const m: Metered = await meter(bytes, {
      imports: { env: { stop } },
      onOutOfFuel: (counter) => counter < -(1n << 39n) ? -1n : undefined,
    });
    assert.throws(() => (m.exports.run as Fn)(), WebAssembly.RuntimeError);
    assert.equal((m.exports.caught as WebAssembly.Global).value, 0);
  }
});

// ---------------------------------------------------------------------------
// (g) Start functions

Deno.test("instrument() meters the start function during instantiation", async () => {
  const bytes = await wat(`(module
    (global $g (export "g") (mut i32) (i32.const 0))
    (func $start (global.set $g (i32.const 42)))
    (start $start))`);
  const m = await meter(bytes);
  assert.equal((m.exports.g as WebAssembly.Global).value, 42);
  assert.deepEqual(m.calls, [[-2n, 2n]]);
  assert.equal(m.used(), 2n);

  const metered = instrument(bytes);
  await assert.rejects(
    WebAssembly.instantiate(metered.bytes, {
      [metered.importModule]: { [metered.importName]: () => -1n },
    }),
    WebAssembly.RuntimeError,
  );
});
