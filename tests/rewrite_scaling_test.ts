/**
 * The rewriter runs on the host's thread before the guest can be stopped,
 * so its work must grow with the input's size, not with the product of two
 * of the input's dimensions: a guest could otherwise hold the host for
 * minutes with a module the engine compiles in a second.
 *
 * The bound below is generous: the rewrite takes about a second on a loaded
 * machine, and would take about 40 s if every `br_on_cast` cost the nesting
 * depth, as it once did (75 s for 90 bodies of 60,000 casts).
 *
 * @module
 */

import assert from "./support/assert.ts";
import { encodeLeb } from "./support/module_bytes.ts";
import { isInvalidModule } from "../src/errors.ts";
import { instrument } from "../src/wasm/instrument.ts";

const BOUND_MS = 30_000;

/**
 * `functions` bodies, each `depth` blocks of type `anyref` around `casts`
 * times `(drop (br_on_cast 0 anyref anyref (ref.null any)))`.
 */
function deepCasts(depth: number, casts: number, functions: number) {
  const cast = [0xd0, 0x6e, 0xfb, 0x18, 0x03, 0x00, 0x6e, 0x6e, 0x1a];
  const body = new Uint8Array(1 + 3 * depth + cast.length * casts + 4);
  let at = 1;
  for (let i = 0; i < depth; i++, at += 2) body.set([0x02, 0x6e], at);
  for (let i = 0; i < casts; i++, at += cast.length) body.set(cast, at);
  body.set([0xd0, 0x6e], at);
  body.fill(0x0b, at + 2, at + 2 + depth);
  body.set([0x1a, 0x0b], at + 2 + depth);
  const entry = [...encodeLeb(body.length), ...body];
  const code = [...encodeLeb(functions)];
  const head = [
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...[0x01, 0x04, 0x01, 0x60, 0x00, 0x00],
    ...[0x03, ...encodeLeb(functions + 1), ...encodeLeb(functions)],
    ...new Array(functions).fill(0),
    0x0a,
    ...encodeLeb(code.length + functions * entry.length),
    ...code,
  ];
  const bytes = new Uint8Array(head.length + functions * entry.length);
  bytes.set(head);
  for (let f = 0; f < functions; f++) {
    bytes.set(entry, head.length + f * entry.length);
  }
  return bytes;
}

Deno.test("br_on_cast deep inside blocks costs the rewriter no more than its bytes", () => {
  // 18 MB of code: 120 bodies of 5,000 blocks around 15,000 casts (each
  // body under the limits of a function's compile units, where a cast
  // counts 2, and compile cost, where each level past 4,096 weighs 512;
  // fewer than 128 bodies, for `deepCasts`).
  const bytes = deepCasts(5_000, 15_000, 120);
  assert.ok(WebAssembly.validate(bytes));
  const started = performance.now();
  const metered = instrument(bytes, { validate: false });
  const ms = performance.now() - started;
  assert.ok(ms < BOUND_MS, `the rewrite took ${ms.toFixed(0)} ms`);
  assert.ok(WebAssembly.validate(metered.bytes));
});

Deno.test("a constant expression's operand counts cost the rewriter nothing per operand", () => {
  // (type (array i32)) (type (struct 10,000 × i32))
  // (global (ref 0) (array.new_fixed 0 4294967295) × 3 …)
  // (global (ref 1) (struct.new 1) × 300,000 …): neither is valid, and
  // the rewriter reads them before the engine judges them. One operand at
  // a time, the first took 35 s per array.new_fixed, the second 3e9 pops
  // (a struct of the engine's most fields: more are refused at their count).
  const fixed = [0xfb, 0x08, 0x00, ...encodeLeb(2 ** 32 - 1)];
  const struct = [0x5f, ...encodeLeb(10_000)];
  for (let i = 0; i < 10_000; i++) struct.push(0x7f, 0x00);
  const types = [0x02, 0x5e, 0x7f, 0x00, ...struct];
  const news = new Array(300_000).fill([0xfb, 0x00, 0x01]).flat();
  const globals = [
    0x02,
    ...[0x64, 0x00, 0x00, ...fixed, ...fixed, ...fixed, 0x0b],
    ...[0x64, 0x01, 0x00, ...news, 0x0b],
  ];
  const bytes = new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...[0x01, ...encodeLeb(types.length), ...types],
    ...[0x06, ...encodeLeb(globals.length), ...globals],
  ]);
  const started = performance.now();
  assert.throws(() => instrument(bytes), isInvalidModule);
  const ms = performance.now() - started;
  assert.ok(ms < BOUND_MS, `the rewrite took ${ms.toFixed(0)} ms`);
});
