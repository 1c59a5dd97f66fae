/**
 * `instrument()` with `deferStart`: the start function is exported instead
 * of run during instantiation, so that the host can call it as a call it
 * watches.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { instrument } from "../src/wasm/instrument.ts";
import { type Fn, wat } from "./support/instrument.ts";
import { instantiateFlagged } from "./support/stop_flag.ts";

const SETS_GLOBAL = `(module
  (global $g (export "g") (mut i32) (i32.const 0))
  (func $s (global.set $g (i32.add (global.get $g) (i32.const 9))))
  (start $s))`;

function fuelImports(metered: ReturnType<typeof instrument>) {
  return {
    [metered.importModule]: {
      [metered.importName]: (counter: bigint) => counter + (1n << 40n),
    },
  };
}

Deno.test("deferStart exports the start function instead of running it", async () => {
  const bytes = await wat(SETS_GLOBAL);
  const metered = instrument(bytes, { deferStart: true });
  assert.equal(metered.startExport, "early-exit:start");
  const { instance } = await WebAssembly.instantiate(
    metered.bytes,
    fuelImports(metered),
  );
  const g = instance.exports.g as WebAssembly.Global;
  assert.equal(g.value, 0);
  (instance.exports[metered.startExport!] as Fn)();
  assert.equal(g.value, 9);
});

Deno.test("without deferStart the start function still runs on instantiation", async () => {
  const bytes = await wat(SETS_GLOBAL);
  const metered = instrument(bytes);
  assert.equal(metered.startExport, undefined);
  const { instance } = await WebAssembly.instantiate(
    metered.bytes,
    fuelImports(metered),
  );
  assert.equal((instance.exports.g as WebAssembly.Global).value, 9);
});

Deno.test("deferStart names no export for a module without a start", async () => {
  const bytes = await wat(`(module (func (export "f")))`);
  const metered = instrument(bytes, { deferStart: true });
  assert.equal(metered.startExport, undefined);
  assert.deepEqual(
    WebAssembly.Module.exports(new WebAssembly.Module(metered.bytes)).map((
      e,
    ) => e.name),
    ["f", "early-exit:fuel"],
  );
});

Deno.test("deferStart picks a start export name the guest does not use", async () => {
  const bytes = await wat(`(module
    (import "env" "f" (func $f))
    (func $s (call $f))
    (func (export "early-exit:start"))
    (start $s))`);
  const metered = instrument(bytes, { deferStart: true });
  assert.equal(metered.startExport, "early-exit:start-1");
  let called = 0;
  const { instance } = await WebAssembly.instantiate(metered.bytes, {
    ...fuelImports(metered),
    env: { f: () => called++ },
  });
  assert.equal(called, 0);
  (instance.exports[metered.startExport!] as Fn)();
  assert.equal(called, 1);
});

Deno.test("deferStart with stopFlag makes a runaway start function stoppable", async () => {
  const bytes = await wat(`(module (func $spin (loop br 0)) (start $spin))`);
  const metered = instrument(bytes, { deferStart: true, stopFlag: true });
  const { instance, flag } = await instantiateFlagged(metered);
  flag[0] = 1;
  assert.throws(
    () => (instance.exports[metered.startExport!] as Fn)(),
    WebAssembly.RuntimeError,
    "unreachable",
  );
});
