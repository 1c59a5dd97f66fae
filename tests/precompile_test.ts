/**
 * The functions dear to compile: the rewrite's export that calls them
 * (`src/wasm/precompile.ts`), and a stoppable load's compile of them on
 * the compile thread (`src/load/precompile.ts`), which leaves the guest's first
 * call nothing to compile.
 */
import assert from "./support/assert.ts";
import { instrument } from "../src/wasm/instrument.ts";
import { wat } from "./support/instrument.ts";
import { createMemories } from "./support/stop_flag.ts";
import { jsonFromChild } from "./support/json_child.ts";

/** A module of one function dear to compile, which sets a global first. */
const DEAR = `(module
  (global $ran (export "ran") (mut i32) (i32.const 0))
  (func $cheap (param i32) (result i32) (local.get 0))
  (func $dear (param i64 v128) (result i32 f64) (local $x i32)
    (local ${"v128 ".repeat(1_020)})
    (global.set $ran (i32.const 1))
    ${"(if (local.get $x) (then (local.set $x (i32.const 1)))) ".repeat(40)}
    (i32.const 1) (f64.const 2))
  (func (export "run") (result i32)
    (drop (call $dear (i64.const 1) (v128.const i64x2 0 0))) (drop)
    (call $cheap (i32.const 3))))`;

for (const fuel of [true, false]) {
  Deno.test(`the precompile export calls only the dear functions, each stopped at its entry (fuel: ${fuel})`, async () => {
    const bytes = await wat(DEAR);
    const metered = instrument(bytes, {
      stopFlag: true,
      fuel,
      stopFlagTraps: !fuel,
      precompile: true,
      initialFuel: fuel ? 1_000_000n : 0n,
    });
    assert.deepEqual(metered.precompile, {
      export: "early-exit:precompile",
      functions: 1,
    });
    const memories = createMemories(metered);
    const flag = new Uint8Array(
      memories[metered.stopFlag!.memory]!.buffer as SharedArrayBuffer,
    );
    flag[0] = 1;
    let asked = 0;
    const { instance } = await WebAssembly.instantiate(metered.bytes, {
      [metered.importModule]: {
        ...memories,
        [metered.importName]: () => -1n,
        [metered.stopFlag!.callback]: () => (asked++, 1),
      },
    });
    const precompile = instance.exports[metered.precompile!.export] as (
      k: number,
    ) => void;
    assert.throws(() => precompile(0), /unreachable/);
    // Its entry check stopped it before its first operator.
    assert.equal((instance.exports.ran as WebAssembly.Global).value, 0);
    assert.equal(asked, fuel ? 1 : 0);
    // A number past the last calls nothing.
    precompile(1);
    flag[0] = 0;
    assert.equal((instance.exports.run as () => number)(), 3);
    assert.equal((instance.exports.ran as WebAssembly.Global).value, 1);
  });
}

Deno.test("a rewrite without dear functions, or without the option, adds no precompile export", async () => {
  const cheap = await wat(
    `(module (func (export "run") (result i32) (i32.const 1)))`,
  );
  assert.equal(
    instrument(cheap, { stopFlag: true, precompile: true }).precompile,
    undefined,
  );
  const dear = await wat(DEAR);
  const plain = instrument(dear, { stopFlag: true });
  assert.equal(plain.precompile, undefined);
  const exports = WebAssembly.Module.exports(
    new WebAssembly.Module(plain.bytes),
  )
    .map((entry) => entry.name);
  assert.deepEqual(exports, ["ran", "run", "early-exit:fuel"]);
});

/**
 * The child's report, from a run whose control (the second call, compiled
 * at the call) shows the compile in its page faults: a compile usually
 * faults in fresh memory, but beside busy processes it once found its
 * pages already mapped (1 fault), which says nothing of the first call.
 * Up to three fresh children; the promise, the first call's count, is
 * asserted on the run whose control counted.
 */
async function withCountingControl<T extends { faults: number[] }>(
  args: string[],
): Promise<T> {
  let report: T | undefined;
  for (let run = 0; run < 3; run++) {
    report = await jsonFromChild<T>(
      new URL("./support/precompile_child.ts", import.meta.url),
      ["-A"],
      args,
    );
    if (report.faults[1]! > 120) return report;
  }
  throw new Error(
    `compiled at the call, only ${report!.faults[1]} faults in three runs`,
  );
}

Deno.test("a stoppable load's first call of a dear function finds it compiled", async () => {
  if (Deno.build.os !== "linux") return;
  const { called, faults } = await withCountingControl<
    { called: (number | null)[]; faults: number[] }
  >([]);
  assert.deepEqual(called, [1, null]);
  // Compiled ahead: a page or two. Compiled at the call: about 300.
  assert.ok(faults[0]! < 60, `compiled ahead, yet ${faults[0]} faults`);
});

Deno.test("the compile thread's work for a load ends before the load returns", async () => {
  if (Deno.build.os !== "linux") return;
  // Its collection of a stand-in that allocates, left to a later turn, ran
  // 18 to 29 ms of the process's other threads' CPU after each load, on
  // two cores beside the guest's first call and the watchdog's wake-up.
  const { memory, none } = await jsonFromChild<
    { memory: number[]; none: number[] }
  >(new URL("./support/precompile_after_child.ts", import.meta.url), ["-A"]);
  const median = (values: number[]) =>
    values.toSorted((a, b) => a - b)[values.length >> 1]!;
  assert.ok(median(memory) < 5, `after loads with a memory: ${memory}`);
  assert.ok(median(none) < 5, `after loads without one: ${none}`);
});

Deno.test("a FuelMeter's module, compiled by its own loader, has its dear function compiled as it is attached", async () => {
  if (Deno.build.os !== "linux") return;
  const { called, faults, consumed, touched } = await withCountingControl<
    {
      called: (number | null)[];
      faults: number[];
      consumed: number[];
      touched: number[];
    }
  >(["meter"]);
  assert.deepEqual(called, [1, null]);
  // It trapped at its entry: the library's instance is as it was.
  assert.deepEqual(touched, [0, 0]);
  // The calls that compiled it cost the books nothing.
  assert.equal(consumed[0], consumed[1]);
  assert.ok(faults[0]! < 60, `compiled ahead, yet ${faults[0]} faults`);
});

Deno.test("with zones, the precompile export still reaches the dear functions", async () => {
  const bytes = await wat(DEAR.replace(
    `(func (export "run")`,
    `(func (export "alloc") (param i32) (result i32) (local.get 0))
  (func (export "run")`,
  ));
  const metered = instrument(bytes, {
    stopFlag: true,
    precompile: true,
    stopsWaitFor: ["alloc"],
    initialFuel: 1_000_000n,
  });
  assert.deepEqual(metered.precompile, {
    export: "early-exit:precompile",
    functions: 1,
  });
  assert.equal(metered.zoneExport, "early-exit:zone");
  const memories = createMemories(metered);
  const flag = new Uint8Array(
    memories[metered.stopFlag!.memory]!.buffer as SharedArrayBuffer,
  );
  flag[0] = 1;
  const { instance } = await WebAssembly.instantiate(metered.bytes, {
    [metered.importModule]: {
      ...memories,
      [metered.importName]: () => -1n,
      [metered.stopFlag!.callback]: () => 1,
    },
  });
  const precompile = instance.exports[metered.precompile!.export] as (
    k: number,
  ) => void;
  assert.throws(() => precompile(0), /unreachable/);
  assert.equal((instance.exports.ran as WebAssembly.Global).value, 0);
  flag[0] = 0;
  assert.equal((instance.exports.run as () => number)(), 3);
  assert.equal((instance.exports.alloc as (n: number) => number)(5), 5);
});
