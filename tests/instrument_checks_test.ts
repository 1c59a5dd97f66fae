/**
 * The checks `instrument()` places: where they stop a guest (before the
 * segment runs, at catch landing sites, in the start function) and what the
 * host sees when they do.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { instrument } from "../src/wasm/instrument.ts";
import { type Fn, meter, type Metered, wat } from "./support/instrument.ts";

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
