/**
 * The rewriter's decoder refuses what it does not model, whatever flags the
 * engine runs with: an engine flag can make bytes mean more than the
 * rewriter reads, and code it skips wrongly would escape its checks.
 */

import assert from "./support/assert.ts";
import { runDeno } from "./support/cli.ts";
import { isInvalidModule } from "../src/errors.ts";
import { instrument } from "../src/wasm/mod.ts";

/**
 * `(func (loop (drop (i32.atomic.load acqrel (i32.const 0))) (br 0)))` as
 * acquire-release encodes it: memory argument flags with bit 5 set, then an
 * ordering byte before the offset.
 */
const ACQUIRE_RELEASE = [
  ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
  ...[0x01, 0x04, 0x01, 0x60, 0x00, 0x00], // type () -> ()
  ...[0x03, 0x02, 0x01, 0x00], // one function
  ...[0x05, 0x04, 0x01, 0x03, 0x01, 0x01], // one shared page
  ...[0x07, 0x05, 0x01, 0x01, 0x66, 0x00, 0x00], // export "f"
  ...[0x0a, 0x11, 0x01, 0x0f, 0x00],
  ...[0x03, 0x40, 0x41, 0x00, 0xfe, 0x10, 0x22, 0x01, 0x00, 0x1a],
  ...[0x0c, 0x00, 0x0b, 0x0b],
];

Deno.test("instrument() refuses memory argument flags the engine rejects by default", () => {
  const bytes = new Uint8Array(ACQUIRE_RELEASE);
  assert.ok(!WebAssembly.validate(bytes), "the engine rejects it by default");
  assert.throws(
    () => instrument(bytes, { validate: false }),
    (error: unknown) =>
      isInvalidModule(error) &&
      /memory argument flags 0x22/.test(error.message),
  );
});

Deno.test("instrument() refuses them under an engine flag that accepts them", async () => {
  const script = `
    import { instrument } from "./src/wasm/mod.ts";
    const bytes = new Uint8Array(${JSON.stringify(ACQUIRE_RELEASE)});
    const accepted = WebAssembly.validate(bytes);
    let refused = "";
    try { instrument(bytes); } catch (error) { refused = String(error); }
    console.log(JSON.stringify({ accepted, refused }));
  `;
  const run = await runDeno([
    "eval",
    "--v8-flags=--experimental-wasm-acquire-release",
    script,
  ]);
  assert.equal(run.code, 0, run.stderr);
  const { accepted, refused } = JSON.parse(run.stdout);
  assert.ok(accepted, "the engine accepts it under the flag");
  assert.match(refused, /InvalidModule.*memory argument flags 0x22/);
});
