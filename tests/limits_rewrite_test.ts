/**
 * The limits pass rewrites only memory and table types: every other byte of
 * a module stays, the result is valid wherever the input was, and a
 * malformed input gives `InvalidModule`, never a stray exception.
 */

import assert from "./support/assert.ts";
import { seededRandom } from "./support/fuzz/random.ts";
import { isInvalidModule } from "../src/errors.ts";
import {
  applyLimits,
  joinLimitsInPlaceSteps,
  type LimitsToWrite,
  planLimitsSteps,
} from "../src/wasm/limits.ts";
import { runSteps } from "../src/wasm/steps.ts";
import { readSections } from "../src/wasm/sections.ts";
import { assembleWat } from "../guest/build.ts";
import { watBinaryen } from "./support/instrument.ts";

const GUESTS = [
  "guest/compute.wasm",
  "guest/early_exit_guest.wasm",
  "guest/early_exit_guest_rust.wasm",
  "guest/runaway.wasm",
  "guest/wasi/copy.wasm",
  "guest/wasi/hello.wasm",
  "guest/wasi/hello_rust.wasm",
  "guest/wasi/sieve.wasm",
].map((path) => new URL(`../${path}`, import.meta.url));

/** Modules with every kind of memory and table type, imported and defined. */
const TYPES = [
  assembleWat(`(module
    (import "env" "m" (memory 1))
    (import "env" "t" (table 2 10 funcref))
    (import "env" "g" (global i32))
    (import "env" "f" (func))
    (memory 1 5) (memory i64 2) (memory 1 200 shared)
    (table 3 externref) (table i64 4 funcref)
    (func (export "g") (result i32) (i32.const 1)))`),
  watBinaryen(`(module
    (type $s (struct (field i32)))
    (import "env" "tag" (tag (param i32)))
    (table 4 (ref null $s) (struct.new $s (i32.const 7)))
    (memory 1))`),
];

/**
 * Writes `limits` over a copy of `bytes` that has `room` bytes before it in
 * its buffer, and checks the result against `applyLimits`'s: the same
 * module, or (when the sections grew past the room) nothing written; and
 * the module as it was, given back whole.
 */
function checkInPlace(
  bytes: Uint8Array,
  limits: LimitsToWrite,
  room: number,
  what: string,
): "in place" | "no room" {
  const expected = applyLimits(bytes, limits).bytes;
  const buffer = new Uint8Array(room + bytes.length);
  buffer.set(bytes, room);
  const own = buffer.subarray(room);
  const written = runSteps(
    joinLimitsInPlaceSteps(runSteps(planLimitsSteps(own, limits))),
  );
  if (written === undefined) {
    assert.ok(expected.length - bytes.length > room, `${what}: had room`);
    assert.deepEqual(own, bytes, `${what}: written over without room`);
    return "no room";
  }
  assert.equal(written.bytes.buffer, buffer.buffer, `${what}: another buffer`);
  assert.deepEqual(written.bytes, expected, `${what}: another module`);
  assert.deepEqual(written.original(), bytes, `${what}: the module as it was`);
  return "in place";
}

/** A module's sections, as id and bytes. */
function sectionsOf(bytes: Uint8Array): [number, Uint8Array][] {
  return [...readSections(bytes)].map((
    { id, start, end },
  ) => [id, bytes.subarray(start, end)]);
}

Deno.test("applyLimits changes only the import, table and memory sections, and the result is valid", async () => {
  const modules = [
    ...await Promise.all(GUESTS.map((url) => Deno.readFile(url))),
    ...await Promise.all(TYPES),
  ];
  for (const [i, bytes] of modules.entries()) {
    const compiled = await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>)
      .catch((error) => String(error));
    assert.ok(
      compiled instanceof WebAssembly.Module,
      `module ${i}: ${compiled}`,
    );
    // Given limits, then the totals a load writes when none are given.
    const limits = [
      { memory: 1000 * 65536, tables: 1000 },
      { memoriesTogether: 1000 * 65536, tablesTogether: 1000 },
    ];
    for (const limit of limits) {
      const { bytes: limited, over } = applyLimits(bytes, limit);
      assert.equal(over, undefined);
      assert.ok(WebAssembly.validate(limited as Uint8Array<ArrayBuffer>));
      const before = sectionsOf(bytes);
      const after = sectionsOf(limited);
      assert.deepEqual(after.map(([id]) => id), before.map(([id]) => id));
      after.forEach(([id, contents], i) => {
        if (id !== 2 && id !== 4 && id !== 5) {
          assert.deepEqual(contents, before[i]![1], `section ${id} is kept`);
        }
      });
      // The engine sees the same imports and exports, by kind.
      const shape = (b: Uint8Array) => {
        const module = new WebAssembly.Module(b as Uint8Array<ArrayBuffer>);
        return [
          WebAssembly.Module.imports(module),
          WebAssembly.Module.exports(module),
        ];
      };
      assert.deepEqual(shape(limited), shape(bytes));
    }
  }
});

Deno.test("applyLimits written over the module's own bytes gives the same module, in their buffer, or writes nothing when they lack the room", async () => {
  const modules = [
    ...await Promise.all(GUESTS.map((url) => Deno.readFile(url))),
    ...await Promise.all(TYPES),
  ];
  const seen = new Set<string>();
  for (const [i, bytes] of modules.entries()) {
    for (
      const limits of [
        { memory: 1000 * 65536, tables: 1000 },
        { memory: 65536 },
        { memoriesTogether: 1000 * 65536, tablesTogether: 1000 },
      ]
    ) {
      for (const room of [0, 2, 64]) {
        seen.add(
          checkInPlace(bytes, limits, room, `module ${i}, room ${room}`),
        );
      }
    }
  }
  // Both ways were taken.
  assert.deepEqual([...seen].sort(), ["in place", "no room"]);
});

Deno.test("applyLimits gives InvalidModule, or a valid module, for every mutation of its inputs", async () => {
  const random = seededRandom(11);
  const inputs = await Promise.all(TYPES);
  let invalid = 0;
  for (let i = 0; i < 3000; i++) {
    const input = inputs[i % inputs.length]!;
    const bytes = input.slice();
    const at = 8 + random() % (bytes.length - 8);
    bytes[at] = random() & 0xff;
    let limited: Uint8Array;
    // Every other round with the totals a load writes when none are given.
    const limits = Math.floor(i / inputs.length) % 2 === 0
      ? { memory: 100 * 65536, tables: 100 }
      : { memoriesTogether: 100 * 65536, tablesTogether: 100 };
    try {
      limited = applyLimits(bytes, limits).bytes;
    } catch (error) {
      assert.ok(isInvalidModule(error), `mutation at ${at}: ${error}`);
      invalid++;
      continue;
    }
    // Written over the bytes themselves, the same.
    checkInPlace(bytes, limits, 16, `mutation at ${at} to ${bytes[at]}`);
    // Whatever it let through, it did not make valid bytes invalid.
    if (WebAssembly.validate(bytes as Uint8Array<ArrayBuffer>)) {
      assert.ok(
        WebAssembly.validate(limited as Uint8Array<ArrayBuffer>),
        `mutation at ${at} to ${bytes[at]}`,
      );
    }
  }
  assert.ok(invalid > 0);
});
