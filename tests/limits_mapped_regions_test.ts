/**
 * The memories of all the guests alive in one process and their async
 * calls in progress are capped together (`MAX_MAPPED_REGIONS`): each takes
 * the system's memory maps, and a host that kept 320 guests of 100
 * memories, each within its own limits, or had 34,000 async calls waiting,
 * was ended by V8. Run in children with `--expose-gc`, so that the count
 * is the child's alone and the guests can be let go of for certain.
 */

import assert from "./support/assert.ts";
import { runDeno } from "./support/cli.ts";
import { bytesExpression } from "./support/small_heap_child.ts";
import { encodeLeb as leb, section } from "./support/module_bytes.ts";
import { MAX_MAPPED_REGIONS } from "../src/module/mapped_regions.ts";
import {
  isHostImportError,
  isOutOfMemory,
  loadGuest,
  OutOfMemory,
  StopSignal,
} from "../mod.ts";

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

/**
 * Script text for the children below, which run with `--expose-gc`:
 * `turns(n)` gives the event loop `n` turns, and `settle()` collects what
 * the process let go of so far and gives its finalizers the turns they run
 * in (later on a busy machine), so that the counts after it are exact.
 */
const SETTLE = `
    const turns = async (count) => {
      for (let i = 0; i < count; i++) await new Promise((resolve) => setTimeout(resolve, 0));
    };
    const settle = async () => {
      for (let i = 0; i < 3; i++) { globalThis.gc(); await turns(3); }
    };`;

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

Deno.test("guests alive in one process hold at most MAX_MAPPED_REGIONS memories together: past it a load is refused in one line, an imported memory counts once, and guests let go of are counted out", async () => {
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
    ${SETTLE}
    await settle();
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
    await settle();
    // A stoppable guest's memories are made by the host, and count as its
    // own; its stop flag, a page, counts for nothing: 100 here.
    kept.push(await loadGuest(hundred, { interruptible: true }));
    let stoppable = "loaded";
    const room = [];
    try {
      for (let i = 0; i < ${MAX_MAPPED_REGIONS}; i++) room.push(await loadGuest(single));
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
      `bring the memories of the guests alive and the async calls in progress in this process to ${
        MAX_MAPPED_REGIONS + 1
      }, more than the ${MAX_MAPPED_REGIONS} they may hold together .*; let go of guests no longer needed .* and let calls end, or run guests with invokeIsolated`,
    ),
  );
  assert.equal(report.sharedAgain, "loaded");
  assert.equal(report.freshImport, "GuestLoadError: limits");
  // What the child held besides the guests let go of: the memory it still
  // refers to, and any of its own before the first load.
  const held = MAX_MAPPED_REGIONS - 100 * report.hundreds - report.singles;
  // The rest were counted out: the stoppable guest's 100 and the singles
  // fill the room again, to the one.
  assert.equal(report.afterRelease, "loaded");
  assert.equal(
    report.stoppable,
    `filled after ${MAX_MAPPED_REGIONS - held - 100}`,
  );
});

interface CallsReport {
  atTheMost: Record<string, number>;
  message: string;
  fuel: unknown;
  withRoom: Record<string, number>;
  after: string;
}

Deno.test("async calls in progress count with the memories: at the most, a call ends out_of_memory before it starts, and one starts again once others end", async () => {
  const script = `
    import { loadGuest } from "./mod.ts";
    const hundred = ${bytesExpression(moduleOf(100))};
    const single = ${bytesExpression(moduleOf(1))};
    // (module (import "env" "wait" (func)) (func (export "run") call 0))
    const waiter = Uint8Array.from([0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0,
      2, 12, 1, 3, 101, 110, 118, 4, 119, 97, 105, 116, 0, 0, 3, 2, 1, 0,
      7, 7, 1, 3, 114, 117, 110, 0, 1, 10, 6, 1, 4, 0, 16, 0, 11]);
    let release;
    let gate = new Promise((resolve) => release = resolve);
    // Async guests without memories of their own: their stop flags are a
    // page each and count for nothing, so they load at the most.
    const waiters = [];
    for (let i = 0; i < 120; i++) {
      waiters.push(await loadGuest(waiter, {
        async: true,
        fuel: 1e9,
        imports: { env: { wait: () => gate } },
      }));
    }
    ${SETTLE}
    await settle();
    const kept = [];
    for (;;) { try { kept.push(await loadGuest(hundred)); } catch { break; } }
    const singles = [];
    for (;;) { try { singles.push(await loadGuest(single)); } catch { break; } }
    const tally = (results) => {
      const counts = {};
      for (const result of results) counts[result.outcome] = (counts[result.outcome] ?? 0) + 1;
      return counts;
    };
    // At the most: every call ends out_of_memory, and none waits.
    const refused = await Promise.all(waiters.map((guest) => guest.invokeAsync("run")));
    const atTheMost = tally(refused);
    const message = refused[0].error.message;
    const fuel = refused[0].fuel;
    // Room for 50: let go of 50 guests of one memory.
    singles.length -= 50;
    await settle();
    const calls = waiters.map((guest) => guest.invokeAsync("run"));
    // The calls past the room end after their turns for finalizers; the
    // others wait in their import until the gate opens.
    await turns(10);
    release();
    const withRoom = tally(await Promise.all(calls));
    gate = Promise.resolve();
    const again = await waiters[0].invokeAsync("run");
    const after = again.outcome;
    console.log(JSON.stringify({ atTheMost, message, fuel, withRoom, after, held: kept.length + singles.length }));
  `;
  const run = await runDeno(["eval", "--v8-flags=--expose-gc", script], {
    signal: AbortSignal.timeout(240_000),
  });
  assert.equal(run.code, 0, run.stderr);
  const report = JSON.parse(run.stdout.trim()) as CallsReport;
  assert.deepEqual(report.atTheMost, { out_of_memory: 120 });
  assert.match(
    report.message,
    /^the async call did not start: the memories of the guests alive and the async calls in progress in this process are at the most they may hold together .*; let calls end or guests go before starting more, or run guests with invokeIsolated$/,
  );
  assert.deepEqual(report.fuel, { consumed: 0, remaining: 1e9 });
  assert.deepEqual(report.withRoom, { returned: 50, out_of_memory: 70 });
  assert.equal(report.after, "returned");
});

interface MeterReport {
  perInstance: number;
  refused: string;
  atTheMost: string;
  countedOut: number;
}

Deno.test("a FuelMeter's guest: the memories its meter makes for each instance count with every guest's, and an instantiation at the most is refused with GuestLoadError", async () => {
  const script = `
    import { FuelMeter } from "./mod.ts";
    import { giveCallStack, mappedRegions, takeCallStack } from "./src/module/mapped_regions.ts";
    // Two memories of its own, which the stop flag's rewrite makes imports
    // that the meter supplies, fresh for each instance.
    const bytes = ${bytesExpression(moduleOf(2))};
    const meter = new FuelMeter(bytes);
    const instantiate = () => WebAssembly.instantiate(meter.bytes, meter.imports).then(
      ({ instance }) => instance,
      (error) => error.kind + ": " + error.reason + ": " + error.message,
    );
    ${SETTLE}
    await settle();
    const before = mappedRegions();
    let instance = await instantiate();
    const perInstance = mappedRegions() - before;
    // Every region left taken: the next instance's memories find no room.
    let taken = 0;
    while (takeCallStack()) taken++;
    const refused = await instantiate();
    // Room for one memory, not two.
    giveCallStack();
    taken--;
    const atTheMost = await instantiate();
    for (let i = 0; i < taken; i++) giveCallStack();
    // Let go of, the instance's memories are counted out; so is the one
    // memory the refused instantiation made.
    instance = undefined;
    await settle();
    const countedOut = mappedRegions() - before;
    console.log(JSON.stringify({ perInstance, refused, atTheMost: typeof atTheMost === "string" ? atTheMost : "instantiated", countedOut }));
  `;
  const run = await runDeno(["eval", "--v8-flags=--expose-gc", script], {
    signal: AbortSignal.timeout(240_000),
  });
  assert.equal(run.code, 0, run.stderr);
  const report = JSON.parse(run.stdout.trim()) as MeterReport;
  const seen = JSON.stringify(report);
  assert.equal(report.perInstance, 2, seen);
  assert.match(
    report.refused,
    new RegExp(
      `^GuestLoadError: limits: a FuelMeter's guest would bring the memories of the guests alive and the async calls in progress in this process to ${
        MAX_MAPPED_REGIONS + 1
      }, more than the ${MAX_MAPPED_REGIONS} they may hold together .*; let go of guests no longer needed`,
    ),
    seen,
  );
  assert.match(report.atTheMost, /^GuestLoadError: limits: /, seen);
  assert.equal(report.countedOut, 0, seen);
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

Deno.test("async calls refused as they begin give their stack's count back: more of them than the cap, and a call still starts", async () => {
  // (module (import "env" "m" (memory 1 1 shared)) (func (export "run")))
  const bytes = new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, [1, 0x60, 0, 0]),
    ...section(2, [1, 3, 0x65, 0x6e, 0x76, 1, 0x6d, 2, 0x03, 1, 1]),
    ...section(3, [1, 0]),
    ...section(7, [1, 3, 0x72, 0x75, 0x6e, 0x00, 0]),
    ...section(10, [1, 2, 0, 0x0b]),
  ]);
  const m = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
  const guest = await loadGuest(bytes, {
    async: true,
    imports: { env: { m } },
  });
  // A StopSignal over the guest's own memory, which the guest could set
  // or clear: refused as the call begins, after its stack was counted.
  const stop = new StopSignal(m.buffer as SharedArrayBuffer);
  let refused = 0;
  for (let i = 0; i < MAX_MAPPED_REGIONS + 100; i++) {
    await guest.invokeAsync("run", [], { stop }).catch((error) => {
      assert.ok(error instanceof TypeError, String(error));
      refused++;
    });
  }
  assert.equal(refused, MAX_MAPPED_REGIONS + 100);
  assert.equal((await guest.invokeAsync("run")).outcome, "returned");
});
