/**
 * The memories of all the guests alive in one process are capped
 * (`MAX_LIVE_MEMORIES`): each takes the system's memory maps, and a host
 * that kept 320 guests of 100 memories, each within its own limits, was
 * ended by V8. Run in a child with `--expose-gc`, so that the count is
 * the child's alone and the guests can be let go of for certain.
 */

import assert from "./support/assert.ts";
import { runDeno } from "./support/cli.ts";
import { bytesExpression } from "./support/small_heap_child.ts";
import { encodeLeb as leb } from "./support/module_bytes.ts";
import { MAX_LIVE_MEMORIES } from "../src/module/live_memories.ts";
import {
  isHostImportError,
  isOutOfMemory,
  loadGuest,
  OutOfMemory,
} from "../mod.ts";

function section(id: number, body: number[]): number[] {
  return [id, ...leb(body.length), ...body];
}

/**
 * A module exporting `f: () -> i32`, defining `defined` memories of no
 * pages (each still takes its maps) and importing `env.m` when `imports`.
 */
function moduleOf(defined: number, imports = false): Uint8Array {
  const memories = [...leb(defined)];
  for (let i = 0; i < defined; i++) memories.push(0x00, 0);
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, [1, 0x60, 0, 1, 0x7f]),
    ...(imports ? section(2, [1, 3, 0x65, 0x6e, 0x76, 1, 0x6d, 2, 0, 0]) : []),
    ...section(3, [1, 0]),
    ...(defined > 0 ? section(5, memories) : []),
    ...section(7, [1, 1, 0x66, 0x00, 0]),
    ...section(10, [1, 4, 0, 0x41, 7, 0x0b]),
  ]);
}

interface Report {
  hundreds: number;
  singles: number;
  refused: { kind: string; reason: string; message: string };
  sharedAgain: string;
  freshImport: string;
  stoppable: string;
  afterRelease: string;
  sharedBytes: number;
}

Deno.test("guests alive in one process hold at most MAX_LIVE_MEMORIES memories together: past it a load is refused in one line, an imported memory counts once, and guests let go of are counted out", async () => {
  const script = `
    import { loadGuest } from "./mod.ts";
    const hundred = ${bytesExpression(moduleOf(100))};
    const single = ${bytesExpression(moduleOf(1))};
    const importer = ${bytesExpression(moduleOf(0, true))};
    const shared = new WebAssembly.Memory({ initial: 0 });
    const outcome = (load) => load.then(
      (guest) => guest.call("f") === 7 ? "loaded" : "wrong",
      (error) => error.kind + ": " + error.reason,
    );
    let kept = [await loadGuest(importer, { imports: { env: { m: shared } } })];
    let hundreds = 0;
    let singles = 0;
    let refused;
    for (;;) {
      try { kept.push(await loadGuest(hundred)); hundreds++; }
      catch { break; }
    }
    for (;;) {
      try { kept.push(await loadGuest(single)); singles++; }
      catch (error) {
        refused = { kind: error.kind, reason: error.reason, message: error.message };
        break;
      }
    }
    const sharedAgain = await outcome(
      loadGuest(importer, { imports: { env: { m: shared } } }),
    );
    const freshImport = await outcome(loadGuest(importer, {
      imports: { env: { m: new WebAssembly.Memory({ initial: 0 }) } },
    }));
    kept = [];
    globalThis.gc();
    // The finalizers run in a turn of their own.
    await new Promise((resolve) => setTimeout(resolve, 0));
    // A stoppable guest's memories are made by the host, and its stop flag
    // is one more: 101 here.
    kept.push(await loadGuest(hundred, { interruptible: true }));
    let stoppable = "loaded";
    const room = [];
    try {
      for (let i = 0; i < ${MAX_LIVE_MEMORIES}; i++) room.push(await loadGuest(single));
    } catch { stoppable = "filled after " + room.length; }
    const afterRelease = kept.length === 1 ? "loaded" : "wrong";
    // Kept alive to the end: the memory still counts.
    const sharedBytes = shared.buffer.byteLength;
    console.log(JSON.stringify({ hundreds, singles, refused, sharedAgain, freshImport, stoppable, afterRelease, sharedBytes }));
  `;
  const run = await runDeno(["eval", "--v8-flags=--expose-gc", script], {
    signal: AbortSignal.timeout(240_000),
  });
  assert.equal(run.code, 0, run.stderr);
  const report = JSON.parse(run.stdout.trim()) as Report;
  assert.ok(report.hundreds > 150, JSON.stringify(report));
  assert.ok(report.singles < 100, JSON.stringify(report));
  assert.equal(report.refused.kind, "GuestLoadError");
  assert.equal(report.refused.reason, "limits");
  assert.match(
    report.refused.message,
    new RegExp(
      `bring the memories of the guests alive in this process to ${
        MAX_LIVE_MEMORIES + 1
      }, more than the ${MAX_LIVE_MEMORIES} they may hold together .*; let go of guests no longer needed .*invokeIsolated`,
    ),
  );
  assert.equal(report.sharedAgain, "loaded");
  assert.equal(report.freshImport, "GuestLoadError: limits");
  // What the child held besides the guests let go of: the memory it still
  // refers to, and any of its own before the first load.
  const held = MAX_LIVE_MEMORIES - 100 * report.hundreds - report.singles;
  // The rest were counted out: the stoppable guest's 101 and the singles
  // fill the room again, to the one.
  assert.equal(report.afterRelease, "loaded");
  assert.equal(
    report.stoppable,
    `filled after ${MAX_LIVE_MEMORIES - held - 101}`,
  );
});

Deno.test("an engine's refusal of a guest's memories at instantiation is OutOfMemory; the same words thrown by a start function's import stay the import's error", async () => {
  // The engine's own refusal needs the system's address space used up
  // (an isolated child in limits_instance_size_test.ts meets it at times);
  // what the load then throws says so in one line.
  const refusal = new OutOfMemory(undefined, undefined, "instantiating");
  assert.ok(isOutOfMemory(refusal));
  assert.match(
    refusal.message,
    /^instantiating the guest ran out of memory: the system refused its V8 more memory or address space, below its heap limit .*; give the guest fewer or smaller memories$/,
  );
  const words =
    "WebAssembly.instantiate(): Out of memory: Cannot allocate Wasm memory for new instance";
  // (module (import "env" "f" (func)) (func call 0) (start 1))
  const bytes = new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, [1, 0x60, 0, 0]),
    ...section(2, [1, 3, 0x65, 0x6e, 0x76, 1, 0x66, 0, 0]),
    ...section(3, [1, 0]),
    ...section(8, [1]),
    ...section(10, [1, 4, 0, 0x10, 0, 0x0b]),
  ]);
  for (const options of [{}, { fuel: 1e6 }, { interruptible: true }]) {
    const thrown = await loadGuest(bytes, {
      ...options,
      imports: {
        env: {
          f: () => {
            throw new RangeError(words);
          },
        },
      },
    }).then(() => undefined, (error: unknown) => error);
    assert.ok(
      isHostImportError(thrown),
      `${JSON.stringify(options)}: ${thrown}`,
    );
    assert.equal((thrown.cause as Error).message, words);
  }
});
