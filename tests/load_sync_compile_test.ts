/**
 * A small module is compiled at once on the loading thread, not through
 * the engine's asynchronous compile (its own threads, then a task back on
 * this one: two thread wake-ups a busy machine makes wait for a core); a
 * larger one still goes the asynchronous way.
 *
 * `WebAssembly.compile` is counted before early-exit is imported, which
 * keeps a reference to it: this file imports the module only dynamically.
 */
import assert from "./support/assert.ts";
import { concatBytes, encodeLeb, section } from "./support/module_bytes.ts";
import { RUNAWAY } from "./support/guests.ts";

let compiles = 0;
const compile = WebAssembly.compile;
WebAssembly.compile = ((...args: Parameters<typeof compile>) => {
  compiles++;
  return compile(...args);
}) as typeof compile;

const { loadGuest } = await import("../mod.ts");
const { SYNC_COMPILE_BYTES } = await import("../src/load/load.ts");

/** `(module (func (export "f")))` with a custom section of `pad` bytes. */
function padded(pad: number): Uint8Array<ArrayBuffer> {
  const name = [...new TextEncoder().encode("pad")];
  return concatBytes(
    [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    section(1, [0x01, 0x60, 0x00, 0x00]),
    section(3, [0x01, 0x00]),
    section(7, [0x01, 0x01, 0x66, 0x00, 0x00]),
    section(10, [0x01, 0x02, 0x00, 0x0b]),
    section(0, [...encodeLeb(name.length), ...name, ...new Array(pad).fill(0)]),
  );
}

Deno.test("a small guest, metered or not, is compiled without the engine's asynchronous compile", async () => {
  compiles = 0;
  const plain = await loadGuest(padded(100));
  assert.equal(plain.invoke("f").outcome, "returned");
  const metered = await loadGuest(RUNAWAY, { timeout: 1_000 });
  assert.equal(metered.invoke("spin", [], { timeout: 5 }).outcome, "timeout");
  assert.equal(compiles, 0);
});

Deno.test("a guest over the bound for a compile at once is compiled asynchronously", async () => {
  compiles = 0;
  const bytes = padded(SYNC_COMPILE_BYTES);
  assert.ok(bytes.length > SYNC_COMPILE_BYTES);
  const guest = await loadGuest(bytes);
  assert.equal(guest.invoke("f").outcome, "returned");
  assert.equal(compiles, 1);
});

Deno.test("an invalid small guest is still InvalidModule, with the engine's reason", async () => {
  const bytes = padded(10);
  bytes[bytes.length - 17] = 0xff; // the body's `end`, before the 16 bytes of padding
  await assert.rejects(
    () => loadGuest(bytes),
    (error: Error) =>
      error.name === "InvalidModule" &&
      /is not a valid WebAssembly module: .+; check that the file is whole/
        .test(error.message),
  );
});
