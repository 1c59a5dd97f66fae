/**
 * A rewrite built over its input, in the input's own buffer: the output is
 * byte for byte the one a fresh buffer gets, it is built there only when
 * the buffer has room and the input is not to be validated after, the
 * input comes back whole when asked for, and a guest loaded from a path
 * (whose bytes the load reads with that room), or run metered by the
 * command line, runs with its data intact.
 */
import assert from "./support/assert.ts";
import { runMainHere } from "./support/cli.ts";
import {
  encodeLeb,
  encodeSignedLeb,
  randomBytes,
} from "./support/module_bytes.ts";
import { withDirectory } from "./support/temp_directory.ts";
import { loadGuest } from "../mod.ts";
import { instrumentSteps } from "../src/wasm/instrument.ts";
import type { InPlace } from "../src/wasm/output_plan.ts";
import { runSteps } from "../src/wasm/steps.ts";

function section(id: number, content: number[] | Uint8Array): Uint8Array {
  const head = [id, ...encodeLeb(content.length)];
  const out = new Uint8Array(head.length + content.length);
  out.set(head);
  out.set(content, head.length);
  return out;
}

const DATA = randomBytes(1_300_000, 12345);
const CUSTOM = randomBytes(300_000, 678);

/**
 * A guest whose `read(i)` returns byte `i` of its 1.3 MB data segment, with
 * a 300 kB custom section after it: mostly bytes the rewriter copies.
 */
function guest(): Uint8Array {
  const name = new TextEncoder().encode("payload");
  const data = new Uint8Array([
    1, // one segment
    0x00, // active, memory 0
    0x41,
    0x00,
    0x0b, // i32.const 0
    ...encodeLeb(DATA.length),
    ...DATA,
  ]);
  const custom = new Uint8Array([
    ...encodeLeb(name.length),
    ...name,
    ...CUSTOM,
  ]);
  const parts = [
    new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]),
    section(1, [1, 0x60, 1, 0x7f, 1, 0x7f]), // (i32) -> i32
    section(3, [1, 0]),
    section(5, [1, 0x00, 20]), // 20 pages
    section(7, [1, 4, ...new TextEncoder().encode("read"), 0x00, 0]),
    // local.get 0; i32.load8_u; end
    section(10, [1, 7, 0, 0x20, 0, 0x2d, 0, 0, 0x0b]),
    section(11, data),
    section(0, custom),
  ];
  const size = parts.reduce((sum, part) => sum + part.length, 0);
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const part of parts) {
    bytes.set(part, at);
    at += part.length;
  }
  return bytes;
}

const OPTIONS = { validate: false, stopFlag: true } as const;

/** `input` in a buffer of its own, with `before` and `after` bytes around it. */
function withRoom(input: Uint8Array, before: number, after: number) {
  const buffer = new Uint8Array(before + input.length + after);
  const bytes = buffer.subarray(before, before + input.length);
  bytes.set(input);
  return bytes;
}

Deno.test("a rewrite built over its input is the fresh one, and gives the input back", () => {
  const input = guest();
  const fresh = runSteps(instrumentSteps(input, OPTIONS)).metered.bytes;
  assert.notEqual(fresh.buffer, input.buffer);
  const bytes = withRoom(input, 100, input.length >> 2);
  const inPlace: InPlace = {};
  const built = runSteps(instrumentSteps(bytes, OPTIONS, undefined, inPlace))
    .metered.bytes;
  assert.equal(built.buffer, bytes.buffer);
  assert.equal(built.byteOffset, bytes.byteOffset);
  assert.deepEqual(built, fresh);
  assert.notDeepEqual(bytes, input);
  inPlace.restore!();
  assert.deepEqual(bytes, input);
  // Only once: a second call would take the input for the output.
  inPlace.restore!();
  assert.deepEqual(bytes, input);
});

Deno.test("a rewrite is built in a fresh buffer without room, or when the input is validated after", () => {
  const input = guest();
  const fresh = runSteps(instrumentSteps(input, OPTIONS)).metered.bytes;
  for (
    const [bytes, options] of [
      [withRoom(input, 0, 16), OPTIONS],
      [withRoom(input, 0, input.length), { stopFlag: true }],
    ] as const
  ) {
    const inPlace: InPlace = {};
    const built = runSteps(instrumentSteps(bytes, options, undefined, inPlace))
      .metered.bytes;
    assert.equal(inPlace.restore, undefined);
    assert.notEqual(built.buffer, bytes.buffer);
    assert.deepEqual(built, fresh);
    assert.deepEqual(bytes, input);
  }
});

Deno.test("a metered guest loaded from a path reads its data as written", async () => {
  await withDirectory(async (directory) => {
    const path = `${directory}/guest.wasm`;
    await Deno.writeFile(path, guest());
    const guestLoaded = await loadGuest(path, { fuel: 10_000_000 });
    for (const i of [0, 1, 4095, 4096, 1 << 20, DATA.length - 1]) {
      assert.equal(guestLoaded.call("read", i), DATA[i]);
    }
    assert.ok(guestLoaded.meter!.consumed > 0);
  });
});

/**
 * A WASI command of the same data and custom section, which exits with
 * byte `i` of its data as its status.
 */
function command(i: number): Uint8Array {
  const module = new TextEncoder().encode("wasi_snapshot_preview1");
  const exit = new TextEncoder().encode("proc_exit");
  const memory = new TextEncoder().encode("memory");
  const start = new TextEncoder().encode("_start");
  const body = [0, 0x41, ...encodeSignedLeb(i), 0x2d, 0, 0, 0x10, 0, 0x0b];
  const plain = guest();
  // The data section and the custom section after it, as they are.
  const tail = plain.subarray(dataAt(plain));
  const head = [
    new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]),
    // (i32) -> (), () -> ()
    section(1, [2, 0x60, 1, 0x7f, 0, 0x60, 0, 0]),
    section(2, [
      1,
      module.length,
      ...module,
      exit.length,
      ...exit,
      0x00,
      0,
    ]),
    section(3, [1, 1]),
    section(5, [1, 0x00, 20]),
    section(7, [
      2,
      memory.length,
      ...memory,
      0x02,
      0,
      start.length,
      ...start,
      0x00,
      1,
    ]),
    section(10, [1, body.length, ...body]),
  ];
  const size = head.reduce((sum, part) => sum + part.length, tail.length);
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const part of [...head, tail]) {
    bytes.set(part, at);
    at += part.length;
  }
  return bytes;
}

/**
 * Where the data section starts in `bytes`, {@linkcode guest}'s, whose
 * sections before it are each under 128 bytes.
 */
function dataAt(bytes: Uint8Array): number {
  let at = 8;
  while (bytes[at] !== 11) at += 2 + bytes[at + 1]!;
  return at;
}

Deno.test("the command line runs a metered WASI command of mostly data with its data intact", async () => {
  await withDirectory(async (directory) => {
    const path = `${directory}/command.wasm`;
    // A byte near the end of the data, one an exit status can carry.
    let i = DATA.length - 1;
    while (DATA[i]! < 1 || DATA[i]! > 125) i--;
    await Deno.writeFile(path, command(i));
    const run = await runMainHere([path]);
    assert.equal(run.code, DATA[i], run.stderr);
  });
});
