/**
 * A resumable meter with a stop flag reads the flag in the fuel's check at
 * function entries and loop headers, and its slow path answers the flag
 * before the fuel. The host must see what a check of the flag's own before
 * the fuel's would show it: the fuel counted is the same whatever the flag
 * says, `on_stop_flag` finds the fuel from before the check in the counter,
 * a counter it changes is what the fuel's check then takes from, and a stop
 * leaves the counter as `on_stop_flag` saw it.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { instrument } from "../src/wasm/instrument.ts";
import type { InstrumentedModule } from "../src/wasm/instrument.ts";
import { COMPUTE } from "./support/guests.ts";
import type { Fn } from "./support/instrument.ts";
import { wat } from "./support/instrument.ts";
import { createMemories } from "./support/stop_flag.ts";

/** A loop whose `br_table` pays in advance, a loop, a call, recursion. */
const DISPATCH = `(module
  (func $step (param $x i32) (result i32)
    (i32.add (i32.mul (local.get $x) (i32.const 3)) (i32.const 1)))
  (func (export "dispatch") (param $n i32) (result i32) (local $acc i32)
    (loop $again
      (block $c (block $b (block $a
        (br_table $a $b $c (i32.rem_u (local.get $n) (i32.const 3))))
        (local.set $acc (i32.add (local.get $acc) (i32.const 7)))
        (br $c))
        (local.set $acc (call $step (local.get $acc))))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $again (local.get $n)))
    (local.get $acc)))`;

/** What the host saw: each call of the imports, with the counter. */
interface Run {
  result: unknown;
  outOfFuel: [bigint, bigint][];
  /** How many answers to the flag came before each ask for fuel. */
  asksAfter: number[];
  onStopFlag: bigint[];
  final: bigint;
  trapped: boolean;
}

/**
 * Runs `name(arg)` on a fresh instance: `out_of_fuel` hands out `slice`
 * each time it is asked; `answer` gives `on_stop_flag`'s answer (and may
 * change the counter).
 */
async function run(
  metered: InstrumentedModule,
  name: string,
  arg: number,
  flagSet: boolean,
  answer: (counter: WebAssembly.Global, call: number) => number,
  slice = 997n,
): Promise<Run> {
  const memories = createMemories(metered);
  const flag = new Int32Array(
    memories[metered.stopFlag!.memory]!.buffer as SharedArrayBuffer,
  );
  const seen: Run = {
    result: undefined,
    outOfFuel: [],
    asksAfter: [],
    onStopFlag: [],
    final: 0n,
    trapped: false,
  };
  // Set once the instance exists; the callbacks run only after.
  const exported: { counter?: WebAssembly.Global } = {};
  const { instance } = await WebAssembly.instantiate(metered.bytes, {
    [metered.importModule]: {
      ...memories,
      [metered.importName]: (fuel: bigint, cost: bigint) => {
        seen.outOfFuel.push([fuel, cost]);
        seen.asksAfter.push(seen.onStopFlag.length);
        return fuel + slice;
      },
      [metered.stopFlag!.callback]: () => {
        const counter = exported.counter!;
        const value = counter.value as bigint;
        seen.onStopFlag.push(value);
        return answer(counter, seen.onStopFlag.length);
      },
    },
  });
  const counter = instance.exports[metered.fuelExport] as WebAssembly.Global;
  exported.counter = counter;
  if (flagSet) flag[0] = 1;
  try {
    seen.result = (instance.exports[name] as Fn)(arg);
  } catch (error) {
    assert.ok(error instanceof WebAssembly.RuntimeError);
    seen.trapped = true;
  }
  seen.final = counter.value as bigint;
  return seen;
}

const CASES: [string, string, number][] = [
  ["compute.wasm", "fib", 12],
  ["compute.wasm", "sum_to", 3000],
  ["compute.wasm", "mix_loop", 200],
  ["dispatch", "dispatch", 400],
];

async function meteredCases(): Promise<Map<string, InstrumentedModule>> {
  const modules = new Map<string, InstrumentedModule>();
  modules.set(
    "compute.wasm",
    instrument(await Deno.readFile(COMPUTE), { stopFlag: true }),
  );
  modules.set("dispatch", instrument(await wat(DISPATCH), { stopFlag: true }));
  return modules;
}

Deno.test("a set flag the host lets go changes no fuel the host sees", async () => {
  const modules = await meteredCases();
  for (const [module, name, arg] of CASES) {
    const metered = modules.get(module)!;
    const clear = await run(metered, name, arg, false, () => 0);
    // The flag stays set: every entry and loop header asks.
    const set = await run(metered, name, arg, true, () => 0);
    assert.equal(clear.onStopFlag.length, 0, name);
    assert.ok(set.onStopFlag.length > 1, name);
    assert.deepEqual(set.result, clear.result, name);
    assert.deepEqual(set.outOfFuel, clear.outOfFuel, name);
    assert.equal(set.final, clear.final, name);
    for (const value of set.onStopFlag) {
      // The fuel from before a check, never spent.
      assert.ok(value >= 0n, `${name}: ${value}`);
    }
  }
});

Deno.test("on_stop_flag sees the counter a trapping meter's own flag check shows", async () => {
  // A trapping meter checks the flag on its own, before the fuel, at the
  // same places, and counts the same: from a budget of `budget`, the
  // counter at each answer is `budget` less what ran before the check.
  const budget = 1n << 40n;
  const trapping = new Map<string, InstrumentedModule>();
  trapping.set(
    "compute.wasm",
    instrument(await Deno.readFile(COMPUTE), {
      stopFlag: true,
      resumable: false,
      initialFuel: budget,
    }),
  );
  trapping.set(
    "dispatch",
    instrument(await wat(DISPATCH), {
      stopFlag: true,
      resumable: false,
      initialFuel: budget,
    }),
  );
  const modules = await meteredCases();
  for (const [module, name, arg] of CASES) {
    const own = await run(trapping.get(module)!, name, arg, true, () => 0);
    // One slice of `budget`, asked for by the first check that costs.
    const fused = await run(
      modules.get(module)!,
      name,
      arg,
      true,
      () => 0,
      budget,
    );
    assert.deepEqual(fused.result, own.result, name);
    assert.equal(fused.outOfFuel.length, 1, name);
    // The answers before the ask (free segments, then the check that
    // asks) come before the budget.
    const before = fused.asksAfter[0]!;
    assert.ok(before >= 1, name);
    assert.deepEqual(
      fused.onStopFlag,
      own.onStopFlag.map((value, i) => i < before ? value - budget : value),
      name,
    );
  }
});

Deno.test("the fuel's check takes from the counter on_stop_flag leaves", async () => {
  const modules = await meteredCases();
  for (const [module, name, arg] of CASES) {
    const metered = modules.get(module)!;
    const seen = await run(metered, name, arg, true, (counter, call) => {
      if (call === 2) counter.value = 0n;
      return 0;
    });
    // The second answer emptied the counter: the check it came from asks
    // for its cost at once, with nothing left.
    const index = seen.outOfFuel.findIndex(([fuel, cost]) =>
      fuel + cost === 0n
    );
    assert.ok(index >= 0, `${name}: ${JSON.stringify(seen.outOfFuel, big)}`);
    assert.ok(seen.outOfFuel[index]![1] > 0n, name);
    assert.equal(seen.trapped, false, name);
  }
});

Deno.test("a stop through a fused check leaves the counter on_stop_flag saw", async () => {
  const modules = await meteredCases();
  for (const [module, name, arg] of CASES) {
    const metered = modules.get(module)!;
    for (const stopAt of [1, 2, 5]) {
      const seen = await run(
        metered,
        name,
        arg,
        true,
        (_, call) => call === stopAt ? 1 : 0,
      );
      assert.equal(seen.trapped, true, name);
      assert.equal(seen.onStopFlag.length, stopAt, name);
      assert.equal(seen.final, seen.onStopFlag.at(-1), name);
    }
  }
});

Deno.test("with the flag set, out_of_fuel is asked only for spent fuel", async () => {
  const metered = instrument(
    await wat(`(module (func (export "spin") (param $n i32) (result i32)
      (loop $again
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br_if $again (local.get $n)))
      (local.get $n)))`),
    { stopFlag: true },
  );
  const seen = await run(metered, "spin", 50, true, () => 0, 1n << 40n);
  // One ask, at the entry, with an empty counter; 51 answers to the flag.
  assert.equal(seen.outOfFuel.length, 1);
  assert.equal(seen.onStopFlag.length, 51);
  assert.equal(seen.result, 0);
});

function big(_: string, value: unknown): unknown {
  return typeof value === "bigint" ? `${value}` : value;
}
