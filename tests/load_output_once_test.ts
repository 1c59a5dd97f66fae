/**
 * A stoppable load of a large guest writes its rewrite once, straight into
 * the shared buffer the compile thread reads (which that thread makes and
 * maps once it is up, while the load waits with its stops watched), rather
 * than into a buffer of its own that is then copied there, and writes the
 * guest's limits over its own copy of the caller's bytes (also made on
 * that thread once it is up), rather than into a second copy:
 * each load's large plain buffers are what set V8's collections of the
 * loading thread's heap off (shared ones are not counted), and a stop
 * waits for their pauses. Counted here by the large buffers the load
 * makes, through the globals its code makes them with.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { largeGuest } from "./support/large_guest.ts";
import { withDirectory } from "./support/temp_directory.ts";
import { isAborted, loadGuest, StopSignal } from "../mod.ts";
import { STREAM_CHUNK } from "../src/load/load.ts";
import { LoadStops } from "../src/load/load_stops.ts";
import {
  refuseCompileThread,
  sharedBufferOnThread,
} from "../src/load/compile_thread.ts";
import { askToWait, runSteps, type Steps } from "../src/wasm/steps.ts";

const guest = largeGuest();
/** The same, with a table whose default limit the load writes in. */
const tabled = largeGuest({ table: true });

/** What the load made of at least `STREAM_CHUNK` bytes, by kind. */
interface Made {
  plain: number[];
  shared: number[];
}

/**
 * Runs `body` with `Uint8Array`, `ArrayBuffer` and `SharedArrayBuffer`
 * noting each large buffer made by its length (views over a buffer are not
 * noted).
 */
async function noting(body: () => Promise<void>): Promise<Made> {
  const made: Made = { plain: [], shared: [] };
  const names = ["Uint8Array", "ArrayBuffer", "SharedArrayBuffer"] as const;
  const originals = names.map((name) => globalThis[name]);
  const global = globalThis as unknown as Record<string, unknown>;
  names.forEach((name, i) => {
    const proxy: object = new Proxy(originals[i]!, {
      construct(target, args, newTarget) {
        const size = args[0];
        if (typeof size === "number" && size >= STREAM_CHUNK) {
          (name === "SharedArrayBuffer" ? made.shared : made.plain).push(size);
        }
        return Reflect.construct(
          target,
          args,
          newTarget === proxy ? target : newTarget,
        );
      },
    });
    global[name] = proxy;
  });
  try {
    await body();
  } finally {
    names.forEach((name, i) => global[name] = originals[i]);
  }
  return made;
}

Deno.test("a stoppable load of a large guest writes its rewrite once, into the compile thread's shared buffer, made on that thread once it is up", async () => {
  const load = () =>
    loadGuest(guest, {
      fuel: 1e9,
      imports: { host: { started: () => {} } },
      signal: new AbortController().signal,
    });
  // The process's first: the thread may still be booting, and the buffer
  // is then made here.
  let loaded: Awaited<ReturnType<typeof loadGuest>> | undefined;
  const first = await noting(async () => void (loaded = await load()));
  const bytes = loaded!.meter!.bytes;
  assert.ok(bytes.length > STREAM_CHUNK);
  const ofOutput = (sizes: number[]) =>
    sizes.filter((size) => size === bytes.length).length;
  assert.equal(ofOutput(first.plain), 0, "a plain buffer of the output's size");
  assert.ok(ofOutput(first.shared) <= 1, "more than one shared buffer");
  // The meter hands out plain bytes, a copy of the shared ones.
  assert.ok(!(bytes.buffer instanceof SharedArrayBuffer));
  assert.ok(bytes === loaded!.meter!.bytes, "copied more than once");
  assert.equal(loaded!.call("answer"), 42);
  // The thread has compiled, so it is up: the next load's buffer is made
  // there, and this thread makes none of the output's size, plain or
  // shared (a copy for the thread would be one).
  const second = await noting(async () => void (loaded = await load()));
  assert.equal(ofOutput(second.plain) + ofOutput(second.shared), 0);
  const again = loaded!.meter!.bytes;
  assert.ok(
    again.length === bytes.length && again.every((b, i) => b === bytes[i]),
    "the rewrite differs when its buffer is made on the compile thread",
  );
  assert.equal(loaded!.call("answer"), 42);
});

Deno.test("the compile thread makes a zeroed shared buffer of the size asked, once it is up, and none while compiles are kept off it", async () => {
  // A large stoppable load: the thread has compiled, so it is up.
  await loadGuest(guest, {
    fuel: 1e9,
    imports: { host: { started: () => {} } },
    signal: new AbortController().signal,
  });
  const size = 3 * STREAM_CHUNK + 5;
  const buffer = await sharedBufferOnThread(size);
  assert.ok(buffer instanceof SharedArrayBuffer);
  assert.equal(buffer.byteLength, size);
  assert.ok(new Uint8Array(buffer).every((b) => b === 0));
  refuseCompileThread(true);
  try {
    assert.equal(sharedBufferOnThread(size), undefined);
  } finally {
    refuseCompileThread(false);
  }
});

Deno.test("a load's steps wait for what a step asks, and a stop that comes meanwhile ends them there", async () => {
  let made: number | undefined;
  let ended = 0;
  function* waiting(ready: Promise<number>): Steps<number> {
    try {
      askToWait(ready.then((value) => void (made = value)));
      yield;
      return made!;
    } finally {
      ended++;
    }
  }
  const stop = new StopSignal();
  const stops = new LoadStops(undefined, stop);
  try {
    assert.equal(await stops.runSteps(waiting(Promise.resolve(7))), 7);
    // A wait that never ends but for the stop.
    const waited = stops.runSteps(waiting(new Promise<number>(() => {})));
    setTimeout(() => stop.stop("while waiting"), 0);
    await assert.rejects(waited, (error) => isAborted(error));
    assert.equal(ended, 2, "the steps were not ended");
  } finally {
    stops.dispose();
  }
  // Every step at once cannot wait: refused, not run on without it.
  assert.throws(
    () => runSteps(waiting(Promise.resolve(1))),
    /asked to wait for another thread/,
  );
});

Deno.test("a stoppable load writes a large guest's limits over its copy of the caller's bytes, which the compile thread makes once it is up: no plain buffer of the guest's size made here, and the rewrite of a load that does not copy", async () => {
  const imports = { host: { started: () => {} } };
  // A large stoppable load: the compile thread has compiled, so it is up.
  await loadGuest(guest, {
    fuel: 1e9,
    imports,
    signal: new AbortController().signal,
  });
  // Without a stop to watch, the load reads the caller's bytes as they
  // are and writes the limits into a buffer of their own.
  const alone = (await loadGuest(tabled, {
    fuel: 1e9,
    imports,
    interruptible: true,
  })).meter!.bytes;
  let loaded: Awaited<ReturnType<typeof loadGuest>> | undefined;
  const input = tabled.slice();
  // Stoppable by a StopSignal: a signal would have its start function's
  // flag checks ask the host, a rewrite of its own.
  const made = await noting(async () => {
    loaded = await loadGuest(input, {
      fuel: 1e9,
      imports,
      stop: new StopSignal(),
    });
  });
  // The copy of the caller's bytes, with its room, made on the compile
  // thread; no buffer of the limited module's size besides.
  const plain = made.plain.filter((size) => size >= tabled.length);
  assert.equal(plain.length, 0, `plain buffers: ${plain.join(", ")}`);
  assert.deepEqual(input, tabled, "the caller's bytes were written over");
  const bytes = loaded!.meter!.bytes;
  assert.ok(
    bytes.length === alone.length && bytes.every((b, i) => b === alone[i]),
    "the rewrite differs from a load's that does not copy",
  );
  assert.equal(loaded!.call("answer"), 42);
});

Deno.test("a stoppable load of a large guest from a path writes its limits over the bytes it read: one plain buffer of the guest's size", async () => {
  await withDirectory(async (directory) => {
    const path = `${directory}/tabled.wasm`;
    await Deno.writeFile(path, tabled);
    const imports = { host: { started: () => {} } };
    let loaded: Awaited<ReturnType<typeof loadGuest>> | undefined;
    const made = await noting(async () => {
      loaded = await loadGuest(path, {
        fuel: 1e9,
        imports,
        signal: new AbortController().signal,
      });
    });
    const plain = made.plain.filter((size) => size >= tabled.length);
    assert.equal(plain.length, 1, `plain buffers: ${plain.join(", ")}`);
    assert.equal(loaded!.call("answer"), 42);
  });
});
