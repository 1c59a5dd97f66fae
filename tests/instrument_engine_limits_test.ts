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

/** `parts` one after the other, in one array (no spread: some are 3 MB). */
function concat(...parts: (number[] | Uint8Array)[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function section(id: number, ...content: (number[] | Uint8Array)[]) {
  const body = concat(...content);
  return concat([id, ...encodeLeb(body.length)], body);
}

function repeat(times: number, item: number[]): Uint8Array {
  const out = new Uint8Array(times * item.length);
  for (let i = 0; i < times; i++) {
    for (let j = 0; j < item.length; j++) out[i * item.length + j] = item[j]!;
  }
  return out;
}

function moduleOf(...sections: Uint8Array[]): Uint8Array<ArrayBuffer> {
  return concat([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], ...sections);
}

/** `count` types `() -> ()`. */
function types(count: number) {
  return moduleOf(
    section(1, encodeLeb(count), repeat(count, [0x60, 0x00, 0x00])),
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
    section(3, encodeLeb(count), [0x00], repeat(count - 1, [0x01])),
    section(
      10,
      encodeLeb(count),
      [recursive.length],
      recursive,
      repeat(count - 1, [0x02, 0x00, 0x0b]),
    ),
  );
  assert.ok(WebAssembly.validate(bytes));
  assert.throws(() => instrument(bytes), overLimit);
});
