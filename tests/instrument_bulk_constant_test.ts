/**
 * A bulk operator whose length is a constant of one chunk at most (64 KiB of
 * memory, 16 Ki table elements) stays as it is under `stopFlag`: it is over
 * as soon as a chunk is, and V8 compiles a short constant one inline. Any
 * other length (a larger constant, a negative one, a long encoding the scan
 * does not read as constant, a computed one) still goes through a chunked
 * helper that checks the flag, and a loop of short ones is still stopped at
 * its header.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { instrument } from "../src/wasm/instrument.ts";
import { disassemble, wat } from "./support/instrument.ts";
import { moduleWithBody } from "./support/module_bytes.ts";
import { FuelMeter } from "../mod.ts";
import { expectOutcome } from "./support/outcome.ts";

async function helperCalls(body: string, fuel = false): Promise<number> {
  const bytes = await wat(`(module (memory 2) (table 20000 funcref)
    (func (export "f") (param $n i32) ${body}))`);
  const metered = instrument(bytes, { stopFlag: true, fuel });
  return helpersIn(await disassemble(metered.bytes));
}

/**
 * Whether the operator went into a helper: the guest's function has one,
 * and a helper several (its chunks, its last part, its bounds test).
 */
function helpersIn(text: string): number {
  const operators = [...text.matchAll(/\b(memory|table)\.(fill|copy)\b/g)];
  return operators.length > 1 ? 1 : 0;
}

Deno.test("stopFlag: a bulk operator with a constant length of one chunk at most stays inline; others call a helper", async () => {
  const inline = [
    "(memory.fill (i32.const 0) (i32.const 7) (i32.const 65536))",
    "(memory.copy (i32.const 8) (i32.const 0) (i32.const 24))",
    "(memory.fill (local.get $n) (i32.const 7) (i32.const 0))",
    "(table.fill (i32.const 0) (ref.null func) (i32.const 16384))",
  ];
  for (const body of inline) {
    assert.equal(await helperCalls(body), 0, body);
    assert.equal(await helperCalls(body, true), 0, `${body}, fuel`);
  }
  const helped = [
    "(memory.fill (i32.const 0) (i32.const 7) (i32.const 65537))",
    "(memory.fill (i32.const 0) (i32.const 7) (i32.const -1))",
    "(memory.fill (i32.const 0) (i32.const 7) (local.get $n))",
    "(memory.fill (i32.const 0) (i32.const 7) (i32.add (i32.const 1) (i32.const 2)))",
    "(table.fill (i32.const 0) (ref.null func) (i32.const 16385))",
  ];
  for (const body of helped) {
    assert.equal(await helperCalls(body), 1, body);
  }
});

Deno.test("stopFlag: a constant length in a long encoding is not read as short, and still calls a helper", async () => {
  // (func (memory.fill (i32.const 0) (i32.const 0) (i32.const 16 as 5 bytes)))
  const body = [
    0x41,
    0x00,
    0x41,
    0x00,
    0x41,
    0x90,
    0x80,
    0x80,
    0x80,
    0x00, // i32.const 16, five bytes
    0xfc,
    0x0b,
    0x00, // memory.fill 0
  ];
  const bytes = moduleWithBody(body, [[0x05, 0x03, 0x01, 0x00, 0x01]]);
  assert.ok(WebAssembly.validate(bytes));
  const text = await disassemble(
    instrument(bytes, { stopFlag: true, fuel: false }).bytes,
  );
  assert.equal(helpersIn(text), 1);
});

Deno.test("stopFlag: a loop of short constant fills is still stopped at its header", async () => {
  const bytes = await wat(`(module (memory 2)
    (func (export "spin")
      (loop $again
        (memory.fill (i32.const 0) (i32.const 7) (i32.const 65536))
        (br $again))))`);
  const meter = new FuelMeter(bytes, { fuel: false });
  const { instance } = await WebAssembly.instantiate(
    meter.bytes,
    meter.imports,
  );
  meter.attach(instance);
  const spin = instance.exports.spin as () => void;
  expectOutcome(meter.run(spin, { timeout: 20 }), "timeout");
});
