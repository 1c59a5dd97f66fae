/**
 * A guest's passive element segments may weigh at most
 * `MAX_PASSIVE_FIRST_READ_WORK` for their first reads together: the
 * engine evaluates a segment whole when a call first reads it, one entry
 * or all, and no check can interrupt that. At the cap each kind of entry
 * loads and its segment reads; one entry or element more is refused by
 * every in-process loader, in one line.
 */

import assert from "./support/assert.ts";
import { FuelMeter, isGuestLoadError, loadGuest, StopSignal } from "../mod.ts";
import {
  MAX_PASSIVE_FIRST_READ_WORK,
  PASSIVE_WEIGHTS,
} from "../src/module/passive_segments.ts";
import { encodeLeb as leb } from "./support/module_bytes.ts";

function section(id: number, body: number[]): number[] {
  return [id, ...leb(body.length), ...body];
}

/** What the passive segment holds. */
type Entries =
  | { kind: "index"; count: number }
  | { kind: "global.get"; count: number }
  | { kind: "array"; length: number };

/**
 * `f: () -> i32` returning 7, and `read`, which copies the passive
 * segment's first entry into a table (the segment's first read) and
 * returns 7. Function indices and `global.get` of a global holding
 * `ref.func $f` fill a funcref segment; `array` is one entry, an
 * `array.new_default` of `length` bytes, in a segment of that array type.
 */
function passiveModule(entries: Entries): Uint8Array<ArrayBuffer> {
  const array = entries.kind === "array";
  // Type 0: () -> i32; with arrays, type 1: (array (mut i8)).
  const types = array
    ? [2, 0x60, 0, 1, 0x7f, 0x5e, 0x78, 0x01]
    : [1, 0x60, 0, 1, 0x7f];
  const element = array ? [0x63, 0x01] : [0x70];
  let segment: number[];
  if (entries.kind === "index") {
    segment = [0x01, 0x00, ...leb(entries.count)];
    segment.push(...new Array(entries.count).fill(0));
  } else if (entries.kind === "global.get") {
    segment = [0x05, 0x70, ...leb(entries.count)];
    for (let i = 0; i < entries.count; i++) segment.push(0x23, 0x00, 0x0b);
  } else {
    segment = [0x05, ...element, 1, 0x41, ...leb(entries.length)];
    segment.push(0xfb, 0x07, 0x01, 0x0b);
  }
  const read = [0x00, 0x41, 0, 0x41, 0, 0x41, 1, 0xfc, 0x0c, 0, 0];
  read.push(0x41, 7, 0x0b);
  const name = [...new TextEncoder().encode("read")];
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, types),
    ...section(3, [2, 0, 0]),
    ...section(4, [1, ...element, 0x00, 1]),
    ...section(6, [1, 0x70, 0x00, 0xd2, 0x00, 0x0b]),
    ...section(7, [2, 1, 0x66, 0x00, 0, name.length, ...name, 0x00, 1]),
    ...section(9, [1, ...segment]),
    ...section(10, [2, 4, 0, 0x41, 7, 0x0b, read.length, ...read]),
  ]);
}

/** The most of each kind the cap allows, from the weights. */
function atTheCap(): Entries[] {
  const w = PASSIVE_WEIGHTS;
  const max = MAX_PASSIVE_FIRST_READ_WORK;
  return [
    // A segment's first entry weighs nothing of its own.
    { kind: "index", count: Math.floor(max / w.entry) + 1 },
    {
      kind: "global.get",
      count: Math.floor(max / (w.entry + w.evaluatedEntry)) + 1,
    },
    // Its two operators, and each byte it allocates.
    {
      kind: "array",
      length: Math.floor((max - 2 * w.operator) / w.allocatedElement),
    },
  ];
}

function oneMore(entries: Entries): Entries {
  return entries.kind === "array"
    ? { kind: "array", length: entries.length + 1 }
    : { kind: entries.kind, count: entries.count + 1 };
}

Deno.test("passive segments at the first-read cap load and read, of each kind of entry", async () => {
  assert.equal(MAX_PASSIVE_FIRST_READ_WORK, 1_000_000);
  for (const entries of atTheCap()) {
    const bytes = passiveModule(entries);
    assert.ok(WebAssembly.validate(bytes), entries.kind);
    for (const options of [{}, { timeout: 10_000 }, { fuel: 1e9 }]) {
      const guest = await loadGuest(bytes, options);
      assert.equal(guest.call("read"), 7, entries.kind);
    }
  }
});

Deno.test("one entry or element past the first-read cap is refused in one line by every in-process loader, though the engine takes it", async () => {
  for (const entries of atTheCap().map(oneMore)) {
    const bytes = passiveModule(entries);
    assert.ok(WebAssembly.validate(bytes), entries.kind);
    const refused = (label: string) => (error: unknown) =>
      isGuestLoadError(error) && error.reason === "limits" &&
      error.message.startsWith(`${label} has passive element segments of `) &&
      error.message.includes(
        `more than the ${MAX_PASSIVE_FIRST_READ_WORK} a guest instantiated in this process may`,
      ) && !error.message.includes("\n");
    for (
      const options of [{}, { timeout: 10_000 }, { stop: new StopSignal() }]
    ) {
      await assert.rejects(loadGuest(bytes, options), refused("bytes"));
    }
    assert.throws(() => new FuelMeter(bytes), refused("the module"));
  }
});
