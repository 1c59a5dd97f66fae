/**
 * Guest bytes over a `SharedArrayBuffer`, which another thread may write
 * while they load: the load reads one copy of them, so that what its checks
 * passed is what the engine compiles. Read where they lay, a plain load's
 * count of a guest's memories, beside a thread that wrote them, let a guest
 * of 101 memories through (about once in 1,500 loads), past the cap of 100
 * that keeps a guest's instantiation from ending the process.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { encodeLeb, moduleOf, section } from "./support/module_bytes.ts";
import {
  FuelMeter,
  type Guest,
  isGuestLoadError,
  isInvalidModule,
  loadGuest,
  runWasi,
} from "../mod.ts";
import { text, wasiGuest } from "./support/wasi_guests.ts";

/**
 * A module of `count` memories, each exported as `m000`, `m001`…, with a
 * custom section of `pad` bytes at its end.
 */
function memories(count: number, pad = 0): Uint8Array {
  const defined = [...encodeLeb(count)];
  const exported = [...encodeLeb(count)];
  for (let i = 0; i < count; i++) {
    defined.push(0x00, 0x00);
    const name = `m${String(i).padStart(3, "0")}`;
    exported.push(name.length, ...new TextEncoder().encode(name), 0x02);
    exported.push(...encodeLeb(i));
  }
  return moduleOf(
    section(5, defined),
    section(7, exported),
    pad > 0 ? section(0, [0, ...new Array(pad).fill(0)]) : [],
  );
}

/** 100 memories (the cap) and 101, as two modules of one length. */
function atAndOverTheCap(): [Uint8Array, Uint8Array] {
  const over = memories(101);
  for (let pad = 0;; pad++) {
    const at = memories(100, pad);
    if (at.length === over.length) return [at, over];
    assert.ok(at.length < over.length, "no padding evens the two");
  }
}

/** The guest's own memories: its exports named `m` and three digits. */
function ownMemories(exports: WebAssembly.Exports | string[]): number {
  const names = Array.isArray(exports) ? exports : Object.keys(exports);
  return names.filter((name) => /^m\d{3}$/.test(name)).length;
}

/** `bytes` in a SharedArrayBuffer of its own. */
function shared(bytes: Uint8Array): Uint8Array<SharedArrayBuffer> {
  const view = new Uint8Array(new SharedArrayBuffer(bytes.length));
  view.set(bytes);
  return view;
}

Deno.test("a load copies shared bytes as it is called: bytes written after the call are not what it loads", async () => {
  const [at, over] = atAndOverTheCap();
  assert.ok(WebAssembly.validate(at as BufferSource));
  assert.ok(WebAssembly.validate(over as BufferSource));
  for (const options of [{}, { fuel: 1_000 }]) {
    const bytes = shared(at);
    const loading = loadGuest(bytes, options);
    // What another thread could write at any moment of the load.
    bytes.set(over);
    const guest = await loading;
    assert.equal(ownMemories(guest.instance.exports), 100);
  }
  // Where nothing was copied, the cap refuses what was written.
  await assert.rejects(
    () => loadGuest(shared(over)),
    (error: unknown) =>
      isGuestLoadError(error) && /101 memories/.test(error.message),
  );
});

Deno.test("runWasi copies shared bytes as it is called, and runs them under a deadline too", async () => {
  const hello = await Deno.readFile(wasiGuest("hello"));
  for (const timeout of [undefined, 60_000]) {
    const bytes = shared(hello);
    const running = runWasi(bytes, {
      args: ["ada"],
      stdout: "capture",
      stderr: "capture",
      timeout,
    });
    // Zeros where the module was: read after the call, they are no module.
    if (timeout === undefined) bytes.fill(0);
    const result = await running;
    assert.equal(result.outcome, "exited");
    assert.equal(text(result.stdout), "hello, ada!\n");
  }
});

Deno.test("shared bytes that another thread keeps writing load whole or not at all, never past the cap", async () => {
  const [at, over] = atAndOverTheCap();
  const bytes = shared(at);
  // Writes the two modules over each other, without a pause, until ended.
  const writer = new Worker(
    URL.createObjectURL(
      new Blob([
        `self.onmessage = ({ data: [view, at, over, stop] }) => {
          while (Atomics.load(stop, 0) === 0) {
            view.set(at);
            view.set(over);
            Atomics.add(stop, 1, 1);
          }
          self.postMessage("done");
        };`,
      ], { type: "text/javascript" }),
    ),
    { type: "module" },
  );
  // [0]: set to end the writer; [1]: its rounds of writes so far.
  const stop = new Int32Array(new SharedArrayBuffer(8));
  const done = new Promise((resolve) => writer.onmessage = resolve);
  writer.postMessage([bytes, at, over, stop]);
  while (Atomics.load(stop, 1) === 0) {
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  const roundsBefore = Atomics.load(stop, 1);
  const outcomes = new Map<string, number>();
  const count = (what: string) =>
    outcomes.set(what, (outcomes.get(what) ?? 0) + 1);
  try {
    for (const options of [{}, { fuel: 1_000 }, { timeout: 1_000 }]) {
      for (let i = 0; i < 100; i++) {
        let guest: Guest;
        try {
          guest = await loadGuest(bytes, options);
        } catch (error) {
          // A torn copy is malformed, or over the cap, and says so.
          assert.ok(
            isInvalidModule(error) || isGuestLoadError(error),
            `not a branded error: ${error}`,
          );
          count(isInvalidModule(error) ? "malformed" : "refused");
          continue;
        }
        assert.equal(ownMemories(guest.instance.exports), 100);
        count("loaded");
      }
    }
    for (let i = 0; i < 100; i++) {
      let meter: FuelMeter;
      try {
        meter = new FuelMeter(bytes);
      } catch (error) {
        assert.ok(
          isInvalidModule(error) || error instanceof TypeError ||
            isGuestLoadError(error),
          `not a branded error: ${error}`,
        );
        count("meter refused");
        continue;
      }
      const exported = WebAssembly.Module.exports(
        new WebAssembly.Module(meter.bytes),
      ).map((e) => e.name);
      assert.equal(ownMemories(exported), 100);
      count("metered");
    }
  } finally {
    Atomics.store(stop, 0, 1);
    await done;
    writer.terminate();
  }
  // The writer wrote while the loads read (whatever the outcomes' mix).
  assert.ok(
    Atomics.load(stop, 1) > roundsBefore,
    `the writer wrote nothing meanwhile: ${[...outcomes]}`,
  );
});
