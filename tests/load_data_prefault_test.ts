/**
 * A stoppable load maps the pages of the memory a guest defines, where its
 * data segments are about to be copied, in steps before instantiation
 * (`src/load/data_prefault.ts`): the memory the guest sees is the same, byte for
 * byte, and a memory the host supplies is never written.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { wat } from "./support/instrument.ts";
import { loadGuest } from "../mod.ts";

const DEFINED = `(module
  (memory (export "memory") 4)
  (data (i32.const 0x100) "abc")
  (data (i32.const 0x30000) "xyz")
  (data (i32.const 0x1fff) "\\01\\02"))`;

const IMPORTED = `(module
  (import "env" "memory" (memory 2))
  (data (i32.const 0x10) "hi"))`;

Deno.test("loadGuest with a signal: a guest's own memory holds its data and zeros, as the engine's instance does", async () => {
  const bytes = await wat(DEFINED);
  const plain = new WebAssembly.Instance(new WebAssembly.Module(bytes));
  const guest = await loadGuest(bytes, {
    fuel: 1e9,
    signal: new AbortController().signal,
  });
  const expected = new Uint8Array(
    (plain.exports.memory as WebAssembly.Memory).buffer,
  );
  const got = new Uint8Array(
    (guest.instance.exports.memory as WebAssembly.Memory).buffer,
  );
  assert.equal(got.length, expected.length);
  assert.deepEqual(got, expected);
});

Deno.test("loadGuest with a signal: a memory the host supplies keeps every byte the guest's data does not write", async () => {
  const memory = new WebAssembly.Memory({ initial: 2 });
  const view = new Uint8Array(memory.buffer);
  view.fill(0xaa);
  await loadGuest(await wat(IMPORTED), {
    fuel: 1e9,
    imports: { env: { memory } },
    signal: new AbortController().signal,
  });
  assert.deepEqual([...view.subarray(0x10, 0x12)], [0x68, 0x69]);
  const rest = [...view.subarray(0, 0x10), ...view.subarray(0x12)];
  assert.ok(rest.every((byte) => byte === 0xaa), "a byte was written");
});
