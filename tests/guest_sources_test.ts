/**
 * Guest sources a careless caller gives: bytes transferred to another
 * thread (a detached buffer reads as empty, which the decoder would call a
 * module with no magic number), a `SharedArrayBuffer`, a `Blob`, a
 * `Response`, a stream, a view of other than bytes, an empty path. Every
 * entry refuses each with a `TypeError` that says what it got and what to
 * pass instead, before anything is read.
 *
 * @module
 */

import assert from "./support/assert.ts";
import {
  FuelMeter,
  invokeIsolated,
  isolatedChildrenExited,
  loadGuest,
  runWasi,
} from "../mod.ts";
import { instrument } from "../src/wasm/mod.ts";

const BYTES = await Deno.readFile("guest/compute.wasm");

function detachedBuffer(): ArrayBuffer {
  const buffer = BYTES.slice().buffer;
  buffer.transfer();
  return buffer;
}

/** Each source, and what the refusal must say of it. */
const SOURCES: [string, () => unknown, RegExp][] = [
  [
    "a detached ArrayBuffer",
    detachedBuffer,
    /ArrayBuffer is detached\): pass a copy made before the transfer/,
  ],
  [
    "a view of a detached buffer",
    () => {
      const view = BYTES.slice();
      view.buffer.transfer();
      return view;
    },
    /ArrayBuffer is detached\): pass a copy made before the transfer/,
  ],
  [
    "a SharedArrayBuffer",
    () => new SharedArrayBuffer(8),
    /SharedArrayBuffer.*new Uint8Array\(buffer\)/,
  ],
  ["a Blob", () => new Blob([BYTES]), /Blob.*await blob\.bytes\(\)/],
  [
    "a Response",
    () => new Response(BYTES),
    /Response.*its URL, or its bytes: await response\.bytes\(\)/,
  ],
  [
    "a stream",
    () => new Response(BYTES).body,
    /ReadableStream.*await new Response\(stream\)\.bytes\(\)/,
  ],
  [
    "a Uint16Array",
    () => new Uint16Array(BYTES.slice().buffer),
    /Uint16Array.*new Uint8Array\(view\.buffer, view\.byteOffset, view\.byteLength\)/,
  ],
];

const ENTRIES: [string, (source: unknown) => Promise<unknown>][] = [
  ["loadGuest", (source) => loadGuest(source as Uint8Array)],
  [
    "loadGuest with fuel",
    (source) => loadGuest(source as Uint8Array, { fuel: 1e6 }),
  ],
  ["runWasi", (source) => runWasi(source as Uint8Array)],
  [
    "invokeIsolated",
    (source) => invokeIsolated(source as Uint8Array, "fib", [1]),
  ],
  [
    "new FuelMeter",
    (source) =>
      Promise.resolve().then(() => new FuelMeter(source as Uint8Array)),
  ],
];

for (const [entry, load] of ENTRIES) {
  Deno.test(`${entry} refuses a source it cannot read with a TypeError that says what to pass`, async () => {
    for (const [name, make, expected] of SOURCES) {
      const error = await load(make()).then(
        () => assert.fail(`${entry} took ${name}`),
        (error: Error) => error,
      );
      assert.ok(error instanceof TypeError, `${entry}, ${name}: ${error}`);
      assert.match(error.message, expected, `${entry}, ${name}`);
      assert.doesNotMatch(error.message, /\n|Cannot perform|magic number/);
    }
    await isolatedChildrenExited();
  });
}

Deno.test("an empty path is refused as one, not as a file not found", async () => {
  for (const [entry, load] of ENTRIES.slice(0, 4)) {
    await assert.rejects(
      () => load(""),
      (error: Error) =>
        error instanceof TypeError &&
        /cannot load a guest from an empty string: expected a path, URL/
          .test(error.message),
      entry,
    );
  }
  assert.throws(
    () => new FuelMeter("" as unknown as Uint8Array),
    /got string ""/,
  );
});

Deno.test("instrument names an ArrayBuffer it was given, and bytes transferred away", () => {
  assert.throws(
    () => instrument(BYTES.slice().buffer as unknown as Uint8Array),
    /expected a Uint8Array, got an object \(ArrayBuffer\): pass a view of it, new Uint8Array\(buffer\)$/,
  );
  const view = BYTES.slice();
  view.buffer.transfer();
  assert.throws(() => instrument(view), /ArrayBuffer is detached\)/);
});
