/**
 * Bytes metered to trap when their budget is spent need no import of their
 * own: a loader that takes only bytes or a compiled module (wasm-bindgen's
 * `initSync({ module })`, brotli-wasm's `init(bytes)`) instantiates them
 * with its own imports, unpatched.
 */

import assert from "./support/assert.ts";
import { FuelMeter } from "../mod.ts";
import { instrument } from "../src/wasm/mod.ts";
import { COMPUTE } from "./support/guests.ts";

Deno.test("instrument({ resumable: false }) adds no import; resumable checks add one", async () => {
  const bytes = await Deno.readFile(COMPUTE);
  const trapping = instrument(bytes, { resumable: false, initialFuel: 1000n });
  assert.deepEqual(
    WebAssembly.Module.imports(new WebAssembly.Module(trapping.bytes)),
    WebAssembly.Module.imports(new WebAssembly.Module(bytes)),
  );
  const resumable = instrument(bytes);
  assert.equal(
    WebAssembly.Module.imports(new WebAssembly.Module(resumable.bytes)).length,
    WebAssembly.Module.imports(new WebAssembly.Module(bytes)).length + 1,
  );
});

Deno.test("a trapping meter's bytes run under a loader that passes only its own imports", async () => {
  const meter = new FuelMeter(await Deno.readFile(COMPUTE), {
    fuel: 100_000,
    resumable: false,
  });
  // What such a loader does: compile the bytes, instantiate with its imports.
  const module = await WebAssembly.compile(meter.bytes);
  const instance = await WebAssembly.instantiate(module, {});
  meter.attach(instance);
  const fib = instance.exports.fib as (n: number) => number;
  assert.equal(fib(15), 610);
  assert.throws(() => fib(40), WebAssembly.RuntimeError);
  assert.ok(meter.exhausted);
  assert.equal(meter.stopReason, "fuel");
  assert.equal(meter.consumed + meter.remaining, 100_000);
});
