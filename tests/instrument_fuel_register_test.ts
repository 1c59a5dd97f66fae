/**
 * Fuel kept in a local within each function: the counter must still be
 * exact wherever the host or a trap can see it. Each guest is checked
 * against its twin with an empty `try_table` at the end, which keeps its
 * fuel in the counter and has the same segments and costs, at every budget
 * around what the call costs, in both kinds of check.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { instrument } from "../src/wasm/instrument.ts";
import { rewrittenOnce, wat } from "./support/instrument.ts";

type Bytes = Uint8Array<ArrayBuffer>;

/** A guest with `$BODY` and `$TAIL` to fill in; `$TAIL` is the twin's hook. */
const GUEST = `(module
  (import "env" "probe" (func $probe (param i32)))
  (global $seen (export "seen") (mut i64) (i64.const 0))
  (memory 1)
  (func $spin (param $n i32) (result i32)
    (local $sum i32)
    (block $out
      (loop $l
        (br_if $out (i32.eqz (local.get $n)))
        (local.set $sum (i32.add (local.get $sum) (local.get $n)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $l)))
    ;; A free segment that traps: n = 4 sums to 10.
    (if (i32.eq (local.get $sum) (i32.const 10)) (then (unreachable)))
    (local.get $sum) $TAIL)
  (func $early (param $n i32) (result i32)
    (loop $l
      (drop (br_if 1 (i32.const 99) (i32.gt_u (local.get $n) (i32.const 5))))
      (local.set $n (i32.add (local.get $n) (i32.const 2)))
      (br_if $l (i32.lt_u (local.get $n) (i32.const 100))))
    (local.get $n) $TAIL)
  (func $leaf (param $x i32) (result i32)
    (i32.add (local.get $x) (i32.const 3)) $TAIL)
  ;; Calls whose reload of the fuel nothing reads (the next call's, a
  ;; return), and calls whose reload a later check reads, straight on or
  ;; past a branch.
  (func $calls (param $x i32) (result i32)
    (local.set $x (call $leaf (call $leaf (local.get $x))))
    (block $b
      (br_if $b (i32.eqz (i32.and (call $leaf (local.get $x)) (i32.const 1))))
      (local.set $x (i32.mul (call $leaf (local.get $x)) (i32.const 2))))
    (loop $l
      (local.set $x (i32.add (local.get $x) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $x) (i32.const 5))))
    (if (i32.gt_u (local.get $x) (i32.const 40))
      (then (return (call $leaf (call $leaf (local.get $x))))))
    (local.set $x (call $leaf (local.get $x)))
    (if (i32.and (local.get $x) (i32.const 1))
      (then (local.set $x (call $leaf (local.get $x))))
      (else (local.set $x (i32.add (local.get $x) (i32.const 7)))))
    (local.set $x (i32.add (local.get $x) (i32.load (local.get $x))))
    (drop (br_if 0 (call $leaf (local.get $x)) (i32.eqz (local.get $x))))
    (drop (call $leaf (local.get $x)))
    (call $leaf (local.get $x)) $TAIL)
  (func (export "run") (param $n i32) (result i32)
    (local $x i32)
    (local.set $x (call $spin (local.get $n)))
    (local.set $x (i32.add (local.get $x) (call $calls (local.get $n))))
    (loop $l
      (local.set $x (i32.xor (local.get $x) (i32.const 5)))
      (br_if $l (i32.gt_s (local.tee $n (i32.sub (local.get $n) (i32.const 1)))
        (i32.const 0))))
    (call $probe (local.get $x))
    (local.set $x (i32.add (local.get $x) (call $early (local.get $x))))
    (i32.store (i32.const 0) (local.get $x))
    (if (i32.eq (local.get $x) (i32.const 3)) (then (unreachable)))
    (i32.div_u (local.get $x) (i32.sub (local.get $n) (i32.const -1))) $TAIL))`;

async function guests(): Promise<[Bytes, Bytes]> {
  const register = await wat(GUEST.replaceAll("$TAIL", ""));
  const counter = await wat(GUEST.replaceAll("$TAIL", "(try_table)"));
  return [register, counter];
}

/** What a run shows the host: the result or trap, and the counter seen. */
interface Seen {
  result: string;
  probes: bigint[];
  counter: bigint;
}

/**
 * Calls `run(n)` on an instrumented instance whose probe reads `box.fuel`,
 * and returns what it returned (or its trap's message), what the probes saw
 * and where the counter ended.
 */
function callRun(
  instance: WebAssembly.Instance,
  fuelExport: string,
  box: { fuel?: WebAssembly.Global },
  probes: bigint[],
  n: number,
): Seen {
  const fuel = instance.exports[fuelExport] as WebAssembly.Global;
  box.fuel = fuel;
  let result: string;
  try {
    result = String((instance.exports.run as (n: number) => number)(n));
  } catch (error) {
    result = (error as Error).message;
  }
  return { result, probes, counter: fuel.value as bigint };
}

async function runTrapping(bytes: Bytes, budget: bigint, n: number) {
  const { metered, module } = rewrittenOnce(bytes, false);
  const probes: bigint[] = [];
  const box: { fuel?: WebAssembly.Global } = {};
  const instance = await WebAssembly.instantiate(module, {
    env: { probe: () => probes.push(box.fuel!.value as bigint) },
  });
  (instance.exports[metered.fuelExport] as WebAssembly.Global).value = budget;
  return callRun(instance, metered.fuelExport, box, probes, n);
}

async function runResumable(bytes: Bytes, budget: bigint, n: number) {
  const { metered, module } = rewrittenOnce(bytes, true);
  const probes: bigint[] = [];
  const box: { fuel?: WebAssembly.Global } = {};
  const instance = await WebAssembly.instantiate(
    module,
    {
      env: { probe: () => probes.push(box.fuel!.value as bigint) },
      [metered.importModule]: {
        // Hands out one unit at a time until the budget is gone.
        [metered.importName]: (counter: bigint, cost: bigint) => {
          const had = counter + cost;
          return had + 1n <= budget ? counter + 1n : -1n;
        },
      },
    },
  );
  return callRun(instance, metered.fuelExport, box, probes, n);
}

Deno.test("fuel in registers: the counter is exact at traps, host calls and returns, at every budget", async () => {
  const [register, counter] = await guests();
  for (const n of [0, 1, 4, 9]) {
    const whole = await runTrapping(counter, 1n << 40n, n);
    const total = (1n << 40n) - whole.counter;
    assert.ok(total > 0n);
    for (let budget = 0n; budget <= total + 2n; budget++) {
      assert.deepEqual(
        await runTrapping(register, budget, n),
        await runTrapping(counter, budget, n),
        `trapping, n = ${n}, budget ${budget}`,
      );
    }
    for (let budget = 0n; budget <= total + 2n; budget += 3n) {
      assert.deepEqual(
        await runResumable(register, budget, n),
        await runResumable(counter, budget, n),
        `resumable, n = ${n}, budget ${budget}`,
      );
    }
  }
});

Deno.test("fuel in registers: the same count every run", async () => {
  const [register] = await guests();
  const metered = instrument(register, { resumable: false });
  const { instance } = await WebAssembly.instantiate(
    metered.bytes as BufferSource,
    { env: { probe: () => {} } },
  );
  const fuel = instance.exports[metered.fuelExport] as WebAssembly.Global;
  const counts = new Set<bigint>();
  for (let run = 0; run < 3; run++) {
    fuel.value = 1n << 40n;
    (instance.exports.run as (n: number) => number)(50);
    counts.add(fuel.value as bigint);
  }
  assert.equal(counts.size, 1);
});
