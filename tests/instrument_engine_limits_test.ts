/**
 * A module within the engine's limits that the rewrite would push past them
 * (it adds types and functions) is refused with one line, rather than
 * rewritten into bytes the engine refuses.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { encodeLeb } from "./support/module_bytes.ts";
import { isInvalidModule } from "../src/errors.ts";
import { instrument } from "../src/wasm/instrument.ts";

function section(id: number, content: number[]): number[] {
  return [id, ...encodeLeb(content.length), ...content];
}

function repeat(times: number, item: number[]): number[] {
  const out = new Array<number>(times * item.length);
  for (let i = 0; i < times; i++) {
    for (let j = 0; j < item.length; j++) out[i * item.length + j] = item[j]!;
  }
  return out;
}

function moduleOf(...sections: number[][]): Uint8Array<ArrayBuffer> {
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...sections.flat(),
  ]);
}

/** `count` types `() -> ()`. */
function types(count: number) {
  return moduleOf(
    section(1, [...encodeLeb(count), ...repeat(count, [0x60, 0x00, 0x00])]),
  );
}

const overLimit = (error: unknown) =>
  isInvalidModule(error) && /more than the engine's limit/.test(error.message);

Deno.test("a stop flag's third added type is counted against the engine's million types", () => {
  const full = types(999_998);
  assert.ok(WebAssembly.validate(full));
  assert.ok(WebAssembly.validate(instrument(full).bytes));
  assert.throws(() => instrument(full, { stopFlag: true }), overLimit);
  const fits = types(999_997);
  assert.ok(WebAssembly.validate(instrument(fits, { stopFlag: true }).bytes));
});

Deno.test("a register copy is counted against the engine's million functions", () => {
  // Function 0, `(i32) -> i32`, calls itself (it gets a register copy);
  // 999,998 more are empty.
  const count = 999_999;
  const recursive = [
    ...[0x00, 0x20, 0x00, 0x04, 0x7f, 0x20, 0x00, 0x41, 0x01, 0x6b, 0x10],
    ...[0x00, 0x05, 0x41, 0x00, 0x0b, 0x0b],
  ];
  const bytes = moduleOf(
    section(1, [0x02, 0x60, 0x01, 0x7f, 0x01, 0x7f, 0x60, 0x00, 0x00]),
    section(3, [...encodeLeb(count), 0x00, ...repeat(count - 1, [0x01])]),
    section(10, [
      ...encodeLeb(count),
      recursive.length,
      ...recursive,
      ...repeat(count - 1, [0x02, 0x00, 0x0b]),
    ]),
  );
  assert.ok(WebAssembly.validate(bytes));
  assert.throws(() => instrument(bytes), overLimit);
});
