/**
 * A stop lands within a body of straight-line work: each of these guests
 * repeats, with no loop or call of its own between them, an operation that
 * is short alone (a bulk operator of one chunk, a `memory.grow`, a call of
 * a function whose entry zeroes many locals). Thousands of them in one body
 * ran 45 to 760 ms past a deadline on 2 busy cores with no check between.
 *
 * Judged by what ran, not by time: the flag is set before the call, the
 * host lets the guest go on at the export's entry and stops it at the next
 * check, and the work after that check must not have been done.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { instrument } from "../src/wasm/instrument.ts";
import { type Fn, wat, watBinaryen } from "./support/instrument.ts";
import { instantiateFlagged } from "./support/stop_flag.ts";
import { expectOutcome } from "./support/outcome.ts";
import { loadGuest } from "../mod.ts";
import { DEFAULT_ARRAY_BYTES } from "../src/module/limits.ts";
import { lastDeadlineFired } from "../src/watchdog/watchdog.ts";

const MODES = [{ fuel: true }, { fuel: false }] as const;
const PAGE = 65536;

/**
 * Instruments `bytes` with a stop flag, sets the flag, calls `run` with
 * `args`, and lets the guest go on at the first check (the export's entry)
 * only: returns the instance after the call, which must have been stopped,
 * with the flag cleared.
 */
async function stoppedAfterEntry(
  bytes: Uint8Array<ArrayBuffer>,
  fuel: boolean,
  args: unknown[] = [],
  imports: WebAssembly.Imports = {},
  arrayBytes?: number,
): Promise<WebAssembly.Instance> {
  const metered = instrument(bytes, {
    stopFlag: true,
    fuel,
    ...(arrayBytes === undefined ? {} : { arrayBytes }),
  });
  let answers = 0;
  const { instance, flag } = await instantiateFlagged(
    metered,
    () => ++answers === 1 ? 0 : 1,
    imports,
  );
  flag[0] = 1;
  assert.throws(
    () => (instance.exports.run as Fn)(...args),
    WebAssembly.RuntimeError,
    "unreachable",
  );
  assert.equal(answers, 2);
  flag[0] = 0;
  return instance;
}

function repeat(count: number, line: (i: number) => string): string {
  return Array.from({ length: count }, (_, i) => line(i)).join("\n");
}

/** The first byte of each 64 KiB page of the guest's memory `m`. */
function pageStarts(instance: WebAssembly.Instance, pages: number): number[] {
  const bytes = new Uint8Array(
    (instance.exports.m as WebAssembly.Memory).buffer,
  );
  return Array.from({ length: pages }, (_, i) => bytes[i * PAGE]!);
}

Deno.test("one-chunk fills with a constant length: the first runs, the next checks the flag", async () => {
  const bytes = await wat(`(module (memory (export "m") 4)
    (func (export "run") ${
    repeat(3, (i) =>
      `(memory.fill (i32.const ${i * PAGE}) (i32.const 7)
      (i32.const ${PAGE}))`)
  }))`);
  for (const { fuel } of MODES) {
    const instance = await stoppedAfterEntry(bytes, fuel);
    assert.deepEqual(pageStarts(instance, 3), [7, 0, 0], `fuel ${fuel}`);
  }
});

Deno.test("one-chunk fills with a computed length each check the flag first", async () => {
  const bytes = await wat(`(module (memory (export "m") 4)
    (func (export "run") (param $n i32) ${
    repeat(3, (i) =>
      `(memory.fill (i32.const ${i * PAGE}) (i32.const 7)
      (local.get $n))`)
  }))`);
  for (const { fuel } of MODES) {
    const instance = await stoppedAfterEntry(bytes, fuel, [PAGE]);
    assert.deepEqual(pageStarts(instance, 3), [0, 0, 0], `fuel ${fuel}`);
  }
});

Deno.test("one-chunk table fills with a constant length: the first runs, the next checks the flag; grows of a constant length each check it first", async () => {
  const fills = await wat(`(module
    (table $f (export "f") 32768 funcref)
    (func $x) (elem declare func $x)
    (global $x funcref (ref.func $x))
    (func (export "run")
      (table.fill $f (i32.const 0) (global.get $x) (i32.const 16384))
      (table.fill $f (i32.const 16384) (global.get $x) (i32.const 16384))))`);
  const grows = await wat(`(module
    (table $g (export "g") 0 funcref)
    (func (export "run")
      ${
    repeat(2, () => "(drop (table.grow $g (ref.null func) (i32.const 16384)))")
  }))`);
  for (const { fuel } of MODES) {
    const filled = await stoppedAfterEntry(fills, fuel);
    const f = filled.exports.f as WebAssembly.Table;
    assert.notEqual(f.get(16383), null, `fuel ${fuel}`);
    assert.equal(f.get(16384), null, `fuel ${fuel}`);
    // A grow is a call of the engine's runtime however short, and becomes a
    // call of its helper, which checks the flag first.
    const grown = await stoppedAfterEntry(grows, fuel);
    assert.equal((grown.exports.g as WebAssembly.Table).length, 0);
  }
});

Deno.test("grows of an imported table each check the flag first", async () => {
  const bytes = await wat(`(module
    (import "env" "t" (table $t 0 funcref))
    (func (export "run") (param $n i32)
      ${
    repeat(2, () => "(drop (table.grow $t (ref.null func) (local.get $n)))")
  }))`);
  for (const { fuel } of MODES) {
    const t = new WebAssembly.Table({ element: "anyfunc", initial: 0 });
    await stoppedAfterEntry(bytes, fuel, [16384], { env: { t } });
    assert.equal(t.length, 0, `fuel ${fuel}`);
  }
});

Deno.test("array fills each check the flag first", async () => {
  const bytes = await watBinaryen(`(module (type $a (array (mut i32)))
    (global $x (ref $a) (array.new_default $a (i32.const 16384)))
    (func (export "first") (result i32)
      (array.get $a (global.get $x) (i32.const 0)))
    (func (export "run")
      ${
    repeat(2, () =>
      "(array.fill $a (global.get $x) (i32.const 0) (i32.const 7) (i32.const 16384))")
  }))`);
  for (const { fuel } of MODES) {
    const instance = await stoppedAfterEntry(bytes, fuel);
    assert.equal((instance.exports.first as Fn)(), 0, `fuel ${fuel}`);
  }
});

Deno.test("memory.grow checks the flag before it grows", async () => {
  const bytes = await wat(`(module (memory (export "m") 1)
    (func (export "run") ${
    repeat(3, () => "(drop (memory.grow (i32.const 1)))")
  }))`);
  for (const { fuel } of MODES) {
    const instance = await stoppedAfterEntry(bytes, fuel);
    const memory = instance.exports.m as WebAssembly.Memory;
    assert.equal(memory.buffer.byteLength, PAGE, `fuel ${fuel}`);
  }
});

Deno.test("deadline-only, a short function keeps its entry check when its locals or its bulk work would make its calls long", async () => {
  // $wide: one operator, and 600 locals the engine zeroes at each call.
  const wide = await wat(`(module
    (global $calls (export "calls") (mut i32) (i32.const 0))
    (func $wide (local ${repeat(600, () => "i32")})
      (global.set $calls (i32.add (global.get $calls) (i32.const 1))))
    (func (export "run") ${repeat(3, () => "(call $wide)")}))`);
  const instance = await stoppedAfterEntry(wide, false);
  assert.equal((instance.exports.calls as WebAssembly.Global).value, 0);
  // $fill: a few bytes of code, and 64 KiB of work.
  const fills = await wat(`(module (memory (export "m") 2)
    (func $fill
      (memory.fill (i32.const ${PAGE}) (i32.const 7) (i32.const ${PAGE})))
    (func (export "run") ${repeat(3, () => "(call $fill)")}))`);
  const filled = await stoppedAfterEntry(fills, false);
  assert.deepEqual(pageStarts(filled, 2), [0, 0]);
});

/**
 * `count` times `expression`, dropped, each followed by one more in the
 * exported global `$done`: how many of them ran.
 */
function countedRun(count: number, expression: string): string {
  return repeat(count, () =>
    `(drop ${expression})
    (global.set $done (i32.add (global.get $done) (i32.const 1)))`);
}

const DONE = `(global $done (export "done") (mut i32) (i32.const 0))`;

function done(instance: WebAssembly.Instance): number {
  return (instance.exports.done as WebAssembly.Global).value;
}

Deno.test("allocations by length each check the flag before they allocate", async () => {
  const allocations = [
    "(array.new $a (i32.const 7) (i32.const 4096))",
    "(array.new_default $a (i32.const 4096))",
    "(array.new_data $a $d (i32.const 0) (i32.const 4))",
    "(array.new_elem $f $e (i32.const 0) (i32.const 4))",
  ];
  for (const allocation of allocations) {
    const bytes = await watBinaryen(`(module
      (type $a (array (mut i32)))
      (type $f (array (mut funcref)))
      (memory 1)
      (data $d "0123456789abcdef")
      (func $x) (elem $e func $x $x $x $x)
      ${DONE}
      (func (export "run") ${countedRun(3, allocation)}))`);
    for (const { fuel } of MODES) {
      for (const arrayBytes of [DEFAULT_ARRAY_BYTES, undefined]) {
        const instance = await stoppedAfterEntry(
          bytes,
          fuel,
          [],
          {},
          arrayBytes,
        );
        assert.equal(
          done(instance),
          0,
          `${allocation}, fuel ${fuel}, arrayBytes ${arrayBytes}`,
        );
      }
    }
  }
});

Deno.test("fromCharCodeArray and concat from wasm:js-string each check the flag before they are called", async () => {
  const imports = `
    (type $chars (array (mut i16)))
    (import "wasm:js-string" "fromCharCodeArray"
      (func $from (param (ref null $chars) i32 i32) (result (ref extern))))
    (import "wasm:js-string" "concat"
      (func $concat (param externref externref) (result (ref extern))))
    (import "wasm:js-string" "length"
      (func $length (param externref) (result i32)))
    (global $a (ref $chars) (array.new_default $chars (i32.const 16)))
    ${DONE}`;
  const calls = ["(call $from (global.get $a) (i32.const 0) (i32.const 16))"]
    .concat("(call $concat (local.get $s) (local.get $s))");
  for (const call of calls) {
    const bytes = await watBinaryen(
      `(module ${imports}
      (func (export "run") (param $s externref) ${countedRun(3, call)}))`,
      ["Strings", "CompactImports"],
    );
    for (const { fuel } of MODES) {
      let made = 0;
      const strings = {
        "wasm:js-string": {
          fromCharCodeArray: () => (made++, "x"),
          concat: (a: string, b: string) => (made++, a + b),
          length: (s: string) => s.length,
        },
      };
      const instance = await stoppedAfterEntry(
        bytes,
        fuel,
        ["ab"],
        strings,
        DEFAULT_ARRAY_BYTES,
      );
      assert.equal(made, 0, `${call}, fuel ${fuel}`);
      assert.equal(done(instance), 0, `${call}, fuel ${fuel}`);
    }
  }
});

/**
 * A guest that calls `host.started`, then makes `ARRAYS` arrays one after
 * another with no loop or call between them; `done` says how many it made.
 */
const ARRAYS = 200;
const STRAIGHT_ALLOCATIONS = await watBinaryen(`(module
  (import "host" "started" (func $started))
  (type $a (array (mut i32)))
  (global $done (mut i32) (i32.const 0))
  (func (export "done") (result i32) (global.get $done))
  (func (export "run")
    (call $started)
    ${countedRun(ARRAYS, "(array.new_default $a (i32.const 1024))")}))`);

Deno.test("a straight run of allocations stops at its next allocation when a deadline or an abort comes before it", async () => {
  const TIMEOUT_MS = 50;
  for (const fuel of [true, false]) {
    let started = 0;
    let deadline = Infinity;
    // Until the watchdog's thread has set the flag for this call's deadline
    // (not another's, such as a load's); what runs after that is the
    // guest's.
    const waitForDeadline = () => {
      started++;
      const giveUp = performance.now() + 10_000;
      while ((lastDeadlineFired()?.deadline ?? -Infinity) < deadline) {
        if (performance.now() > giveUp) throw new Error("no deadline fired");
      }
    };
    const guest = await loadGuest(STRAIGHT_ALLOCATIONS, {
      imports: { host: { started: waitForDeadline } },
      fuel: fuel ? 1e12 : false,
      interruptible: true,
    });
    // On the watchdog's clock; the call's own deadline comes a little later.
    deadline = performance.timeOrigin + performance.now() + TIMEOUT_MS;
    const outcome = guest.invoke("run", [], { timeout: TIMEOUT_MS });
    expectOutcome(outcome, "timeout");
    assert.equal(started, 1);
    const done = expectOutcome(guest.invoke("done"), "returned").value;
    assert.equal(done, 0, `fuel ${fuel}`);
  }
  // An AbortSignal sets the flag as it is aborted.
  const controller = new AbortController();
  let started = 0;
  const guest = await loadGuest(STRAIGHT_ALLOCATIONS, {
    imports: { host: { started: () => void (started++, controller.abort()) } },
    async: true,
  });
  expectOutcome(
    await guest.invokeAsync("run", [], { signal: controller.signal }),
    "aborted",
  );
  assert.equal(started, 1);
  const after = await guest.invokeAsync("done", []);
  assert.equal(expectOutcome(after, "returned").value, 0, "async, abort");
});
