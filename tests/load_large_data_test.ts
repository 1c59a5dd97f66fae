/**
 * A load that watches a stop holds the thread no longer than a step
 * however large the guest: a first memory's megabytes of data are written
 * by the host in steps (the engine's instantiation copied them at once),
 * a file is read a piece at a time, and a copy of the caller's bytes reads
 * the StopSignal between pieces. Each is asserted by counting pieces and
 * what a stop left undone, not by timing them.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { withDirectory } from "./support/temp_directory.ts";
import { isAborted, loadGuest, StopSignal } from "../mod.ts";
import {
  concatBytes,
  encodeLeb,
  encodeSignedLeb,
  PREAMBLE,
  section,
} from "./support/module_bytes.ts";
import {
  LIFT_MIN_BYTES,
  LIFT_STEP_BYTES,
  liftDataSteps,
  writeDataSteps,
} from "../src/load/data_lift.ts";
import { FILE_READ_BYTES } from "../src/load/load.ts";
import { SNAPSHOT_PIECE_BYTES } from "../src/load/load_stops.ts";
import type { Steps } from "../src/wasm/steps.ts";

const MiB = 1 << 20;
/** Memory 0's pages: 6.25 MiB. */
const PAGES = 100;

/** `size` bytes of a pattern that tells segments and places apart. */
function pattern(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 7 + seed * 31 + (i >> 12)) & 255;
  return out;
}

/** An active segment of memory `memory` at `i32.const offset`. */
function active(memory: number, offset: number, bytes: Uint8Array) {
  const head = memory === 0 ? [0] : [2, ...encodeLeb(memory)];
  return concatBytes(
    head,
    [0x41, ...encodeSignedLeb(offset), 0x0b],
    encodeLeb(bytes.length),
    bytes,
  );
}

/**
 * A guest of two memories (memory 0 of {@linkcode PAGES} pages, memory 1 of
 * one), exported as `memory` and `other`, with `init(d, s, n)` (`memory.init`
 * of segment 0) and `poke(address, value)`, and `segments` as its data.
 */
function guestWith(segments: Uint8Array[]): Uint8Array {
  const exportName = (name: string, kind: number, index: number) => [
    name.length,
    ...new TextEncoder().encode(name),
    kind,
    index,
  ];
  const init = [0x00, 0x20, 0, 0x20, 1, 0x20, 2, 0xfc, 8, 0, 0, 0x0b];
  const poke = [0x00, 0x20, 0, 0x20, 1, 0x3a, 0, 0, 0x0b];
  const data = concatBytes(encodeLeb(segments.length), ...segments);
  return concatBytes(
    PREAMBLE,
    section(1, [2, 0x60, 3, 0x7f, 0x7f, 0x7f, 0, 0x60, 2, 0x7f, 0x7f, 0]),
    section(3, [2, 0, 1]),
    section(5, [2, 0x00, PAGES, 0x00, 1]),
    section(7, [
      4,
      ...exportName("memory", 2, 0),
      ...exportName("other", 2, 1),
      ...exportName("init", 0, 0),
      ...exportName("poke", 0, 1),
    ]),
    section(12, encodeLeb(segments.length)),
    section(10, [
      2,
      ...encodeLeb(init.length),
      ...init,
      ...encodeLeb(poke.length),
      ...poke,
    ]),
    [11, ...encodeLeb(data.length)],
    data,
  );
}

/**
 * 5.5 MiB for memory 0 in overlapping segments (the later wins), a passive
 * one, and one for memory 1, which the lift leaves to the engine.
 */
const SEGMENTS = [
  active(0, 1000, pattern(3 * MiB, 1)),
  active(0, 2 * MiB, pattern(2.5 * MiB, 2)),
  concatBytes([1, 10], pattern(10, 3)),
  active(1, 5, pattern(4, 4)),
  active(0, 0, pattern(1, 5)),
];
const GUEST = guestWith(SEGMENTS);

/** What `steps` return, run at once. */
function run<T>(steps: Steps<T>): T {
  let step = steps.next();
  while (!step.done) step = steps.next();
  return step.value;
}

/** The guest's memories, as copies, and what `init` does with segment 0. */
async function loaded(options: Parameters<typeof loadGuest>[1]) {
  const guest = await loadGuest(GUEST.slice(), options);
  // The instance's, which reinstantiate replaces.
  const exported = (name: string) =>
    new Uint8Array(
      (guest.instance.exports[name] as WebAssembly.Memory).buffer,
    ).slice();
  const memory = () => exported("memory");
  const other = () => exported("other");
  return {
    guest,
    memory,
    other,
    init: [
      guest.invoke("init", [0, 0, 0]).outcome,
      guest.invoke("init", [0, 0, 1]).outcome,
    ],
  };
}

/** Runs `body` with `WebAssembly.instantiate` spied on: the imports of each call. */
async function watchingInstantiate<T>(
  body: (seen: WebAssembly.Imports[]) => Promise<T>,
): Promise<T> {
  const instantiate = WebAssembly.instantiate;
  const seen: WebAssembly.Imports[] = [];
  // deno-lint-ignore no-explicit-any
  (WebAssembly as any).instantiate = (module: any, imports: any) => {
    if (module instanceof WebAssembly.Module) seen.push(imports);
    return instantiate(module, imports);
  };
  try {
    return await body(seen);
  } finally {
    WebAssembly.instantiate = instantiate;
  }
}

/** The 6.25 MiB memory among an instantiation's imports, if any. */
function firstMemory(imports: WebAssembly.Imports): Uint8Array | undefined {
  for (const values of Object.values(imports)) {
    for (const value of Object.values(values)) {
      if (
        value instanceof WebAssembly.Memory &&
        value.buffer.byteLength === PAGES * 65536
      ) return new Uint8Array(value.buffer);
    }
  }
  return undefined;
}

/** Asserts `a` and `b` hold the same bytes, naming the first that differs. */
function assertSameBytes(a: Uint8Array, b: Uint8Array, what: string): void {
  assert.equal(a.length, b.length, `${what}: lengths`);
  const at = a.findIndex((byte, i) => byte !== b[i]);
  assert.equal(at, -1, `${what}: byte ${at} is ${a[at]}, not ${b[at]}`);
}

/** Memory 0 as the spec has instantiation leave it: the segments in order. */
function expectedMemory(): Uint8Array {
  const memory = new Uint8Array(PAGES * 65536);
  memory.set(pattern(3 * MiB, 1), 1000);
  memory.set(pattern(2.5 * MiB, 2), 2 * MiB);
  memory.set(pattern(1, 5), 0);
  return memory;
}

Deno.test("a stoppable load writes a first memory's megabytes of data itself, and the guest sees what the engine would have written", async () => {
  const expected = expectedMemory();
  const other = new Uint8Array(65536);
  other.set(pattern(4, 4), 5);
  await watchingInstantiate(async (seen) => {
    const lifted = await loaded({ signal: new AbortController().signal });
    // The data was in the memory before the engine instantiated the guest.
    const ours = () => seen.map(firstMemory).filter((m) => m !== undefined);
    assert.equal(ours().length, 1);
    assertSameBytes(ours()[0]!, expected, "memory 0 at instantiation");
    assertSameBytes(lifted.memory(), expected, "memory 0");
    // Memory 1's segment was left to the engine.
    assertSameBytes(lifted.other(), other, "memory 1");
    // Segment 0 is as a dropped one: empty.
    assert.deepEqual(lifted.init, ["returned", "trap"]);
    // A fresh instance gets the data too, in a fresh memory.
    lifted.guest.call("poke", 1000, 0);
    assert.notEqual(lifted.memory()[1000], expected[1000]);
    await lifted.guest.reinstantiate();
    assertSameBytes(lifted.memory(), expected, "memory 0 reinstantiated");
    assert.equal(ours().length, 2);
  });
});

Deno.test("the lift reads and writes in steps of at most 64 KiB of data", () => {
  const lift = run(liftDataSteps(GUEST, PAGES * 65536));
  assert.ok(lift !== undefined, "not lifted");
  const data = 5.5 * MiB + 1;
  assert.ok(lift.bytes.length < GUEST.length - data + 64);
  const memory = new WebAssembly.Memory({ initial: PAGES });
  const view = new Uint8Array(memory.buffer);
  // Each step writes no more than LIFT_STEP_BYTES: count the bytes set.
  const set = Uint8Array.prototype.set;
  let written = 0;
  let most = 0;
  Uint8Array.prototype.set = function (
    this: Uint8Array,
    source: ArrayLike<number>,
    offset?: number,
  ) {
    if (this.buffer === view.buffer) written += source.length;
    return set.call(this, source, offset);
  };
  let n = 0;
  try {
    const writes = writeDataSteps(memory, lift);
    while (!writes.next().done) {
      most = Math.max(most, written);
      written = 0;
      n++;
    }
    most = Math.max(most, written);
  } finally {
    Uint8Array.prototype.set = set;
  }
  assert.ok(most <= LIFT_STEP_BYTES, `a step wrote ${most} bytes`);
  assert.ok(n >= Math.floor(data / LIFT_STEP_BYTES) - 1, `${n} steps`);
});

Deno.test("a guest whose data does not fit its memory fails a stoppable load as it fails a plain one, and data under 4 MiB is left to the engine", async () => {
  const outOfBounds = guestWith([
    ...SEGMENTS,
    active(0, PAGES * 65536 - 3, pattern(4, 7)),
  ]);
  const messageOf = (options: Parameters<typeof loadGuest>[1]) =>
    loadGuest(outOfBounds.slice(), options).then(
      () => assert.fail("loaded"),
      (error: Error) => `${error.name}: ${error.message}`,
    );
  const plain = await messageOf({ interruptible: true });
  assert.equal(
    await messageOf({ signal: new AbortController().signal }),
    plain,
  );
  // The lift itself declines both.
  assert.equal(run(liftDataSteps(outOfBounds, PAGES * 65536)), undefined);
  const small = guestWith([active(0, 0, pattern(LIFT_MIN_BYTES, 6))]);
  assert.equal(run(liftDataSteps(small, PAGES * 65536)), undefined);
});

Deno.test("a StopSignal set while the host writes a guest's data ends the load within a step of it", async () => {
  const stop = new StopSignal();
  const set = Uint8Array.prototype.set;
  let written = 0;
  Uint8Array.prototype.set = function (
    this: Uint8Array,
    source: ArrayLike<number>,
    offset?: number,
  ) {
    if (this.buffer.byteLength === PAGES * 65536) {
      written += source.length;
      if (written >= MiB) stop.stop("enough data");
    }
    return set.call(this, source, offset);
  };
  try {
    await assert.rejects(
      loadGuest(GUEST.slice(), { stop }),
      (error) => isAborted(error) && /enough data/.test(error.message),
    );
  } finally {
    Uint8Array.prototype.set = set;
  }
  assert.ok(
    written <= MiB + LIFT_STEP_BYTES,
    `${written} bytes written after the stop`,
  );
});

Deno.test("a stoppable load reads a file a piece at a time, and no more of it after an abort", async () => {
  await withDirectory(async (directory) => {
    const path = `${directory}/large.wasm`;
    await Deno.writeFile(path, GUEST);
    const read = Deno.FsFile.prototype.read;
    const controller = new AbortController();
    const sizes: number[] = [];
    Deno.FsFile.prototype.read = function (this: Deno.FsFile, p: Uint8Array) {
      sizes.push(p.length);
      if (sizes.length === 3) controller.abort(new Error("no more reads"));
      return read.call(this, p);
    };
    try {
      await assert.rejects(
        loadGuest(path, { signal: controller.signal }),
        (error) => isAborted(error) && /no more reads/.test(error.message),
      );
      // The read in flight as the abort came may finish; no other begins.
      await new Promise((resolve) => setTimeout(resolve, 0));
      assert.ok(sizes.length <= 4, `${sizes.length} reads`);
      assert.ok(Math.max(...sizes) <= FILE_READ_BYTES, `reads of ${sizes}`);
    } finally {
      Deno.FsFile.prototype.read = read;
    }
  });
});

Deno.test("a StopSignal set while a load copies the caller's bytes ends it within a piece of the copy", async () => {
  const input = GUEST.slice();
  const stop = new StopSignal();
  const set = Uint8Array.prototype.set;
  let copied = 0;
  Uint8Array.prototype.set = function (
    this: Uint8Array,
    source: ArrayLike<number>,
    offset?: number,
  ) {
    if ((source as Uint8Array).buffer === input.buffer) {
      copied += source.length;
      stop.stop("copied enough");
    }
    return set.call(this, source, offset);
  };
  try {
    await assert.rejects(
      loadGuest(input, { stop, fuel: 1e9 }),
      (error) => isAborted(error) && /copied enough/.test(error.message),
    );
  } finally {
    Uint8Array.prototype.set = set;
  }
  assert.ok(copied > 0, "the load copied nothing");
  assert.ok(copied <= SNAPSHOT_PIECE_BYTES, `${copied} bytes copied`);
});
