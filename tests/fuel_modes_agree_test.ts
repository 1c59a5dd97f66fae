/**
 * The same work costs the same fuel in every mode that runs it: plain,
 * async (with yields and with `refuel` splitting the budget into small
 * pieces), stoppable, `FuelMeter` (resumable, trapping, in small slices),
 * isolated and the CLI. Under a budget, each stops at the same place, with
 * the same books and the same state left in the guest, and each agrees on
 * the least budget that lets the work finish.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { assembleWat } from "../guest/build.ts";
import { watBinaryen } from "./support/instrument.ts";
import { runMain } from "./support/cli.ts";
import {
  FuelMeter,
  invokeIsolated,
  isFuelExhausted,
  isolatedChildrenExited,
  loadGuest,
  RewriteCache,
} from "../mod.ts";
import { withDirectory } from "./support/temp_directory.ts";
import {
  evaluate,
  meteredQuickJS,
  QUICKJS_PROGRAMS,
  quickjsBytes,
} from "./support/quickjs.ts";
import { COMPUTE } from "./support/guests.ts";

/** Bulk operators charged by size, a failed and a paid grow; memory is the state. */
const BULK = await assembleWat(`(module
  (memory (export "memory") 2)
  (data $d "0123456789abcdef0123456789abcdef")
  (func (export "run") (param $n i32) (result i32) (local $i i32)
    (loop $l
      (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (i32.const 1)))
      (memory.fill (i32.const 64) (i32.add (local.get $i) (i32.const 1)) (i32.const 70000))
      (memory.copy (i32.const 80000) (i32.const 64) (i32.mul (local.get $i) (i32.const 1000)))
      (memory.init $d (i32.const 100000) (i32.const 0) (i32.const 32))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (drop (memory.grow (i32.const 1)))
    (drop (memory.grow (i32.const 100000)))
    (i32.load (i32.const 0))))`);

/** GC allocations paid by size, and array bulk operators. */
const GC = await watBinaryen(`(module
  (type $s (struct (field (mut i32)) (field i64) (field f64) (field (mut i32))))
  (type $a (array (mut i32)))
  (global $count (export "count") (mut i32) (i32.const 0))
  (func (export "run") (param $n i32) (result i32) (local $i i32) (local $x (ref null $a))
    (loop $l
      (drop (struct.new $s (local.get $i) (i64.const 1) (f64.const 2) (i32.const 3)))
      (local.set $x (array.new $a (local.get $i) (i32.mul (local.get $i) (i32.const 37))))
      (array.fill $a (local.get $x) (i32.const 0) (i32.const 7) (array.len (local.get $x)))
      (drop (array.new_fixed $a 3 (i32.const 1) (i32.const 2) (i32.const 3)))
      (global.set $count (i32.add (global.get $count) (i32.const 1)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (global.get $count)))`);

/** Exceptions thrown deep and caught, rethrown, at every frame on the way up. */
const EXCEPTIONS = await watBinaryen(`(module
  (tag $t (param i32))
  (global $count (export "count") (mut i32) (i32.const 0))
  (func $deep (param $d i32)
    (global.set $count (i32.add (global.get $count) (i32.const 1)))
    (if (i32.eqz (local.get $d)) (then (throw $t (global.get $count))))
    (throw_ref
      (block $h (result exnref)
        (try_table (catch_all_ref $h)
          (call $deep (i32.sub (local.get $d) (i32.const 1))))
        (return))))
  (func (export "run") (param $n i32) (result i32) (local $i i32) (local $sum i32)
    (loop $l
      (block $b (result i32)
        (try_table (catch $t $b)
          (call $deep (i32.rem_u (local.get $i) (i32.const 9))))
        (i32.const 0))
      (local.set $sum (i32.add (local.get $sum)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $sum)))`);

/** A chain of return_call, return_call_indirect and return_call_ref. */
const TAIL_CALLS = await watBinaryen(`(module
  (type $ft (func (param i32 i64) (result i64)))
  (table 2 funcref)
  (elem (i32.const 0) $a $b)
  (elem declare func $c)
  (global $count (export "count") (mut i32) (i32.const 0))
  (func $a (type $ft)
    (global.set $count (i32.add (global.get $count) (i32.const 1)))
    (if (result i64) (i32.eqz (local.get 0)) (then (local.get 1))
      (else (return_call_indirect (type $ft) (i32.sub (local.get 0) (i32.const 1))
        (i64.add (local.get 1) (i64.const 3)) (i32.const 1)))))
  (func $b (type $ft)
    (global.set $count (i32.add (global.get $count) (i32.const 1)))
    (if (result i64) (i32.eqz (local.get 0)) (then (local.get 1))
      (else (return_call_ref $ft (i32.sub (local.get 0) (i32.const 1))
        (i64.mul (local.get 1) (i64.const 5)) (ref.func $c)))))
  (func $c (type $ft)
    (global.set $count (i32.add (global.get $count) (i32.const 1)))
    (if (result i64) (i32.eqz (local.get 0)) (then (local.get 1))
      (else (return_call $a (i32.sub (local.get 0) (i32.const 1))
        (i64.xor (local.get 1) (i64.const 7))))))
  (func (export "run") (param $n i32) (result i64)
    (return_call $a (local.get $n) (i64.const 1))))`);

/** A start function that works (and fills memory) before any call. */
const START = await assembleWat(`(module
  (memory (export "memory") 1)
  (global $count (export "count") (mut i32) (i32.const 0))
  (func $start (local $i i32)
    (loop $l
      (global.set $count (i32.add (global.get $count) (i32.const 1)))
      (memory.fill (i32.const 0) (global.get $count) (i32.const 100))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 50)))))
  (start $start)
  (func (export "run") (param $n i32) (result i32) (local $i i32)
    (loop $l
      (global.set $count (i32.add (global.get $count) (i32.const 1)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
    (global.get $count)))`);

/** What a run leaves that the guest can see: its counter and its memory. */
function stateOf(exports: WebAssembly.Exports): string {
  const count = exports.count instanceof WebAssembly.Global
    ? exports.count.value
    : undefined;
  let hash = 0;
  if (exports.memory instanceof WebAssembly.Memory) {
    const bytes = new Uint8Array(exports.memory.buffer);
    for (const byte of bytes) hash = (hash * 31 + byte) | 0;
    hash ^= bytes.length;
  }
  return `${count}/${hash}`;
}

/** How one run ended: its outcome, its count and the state it left. */
interface Ending {
  outcome: string;
  consumed: number;
  state: string;
}

type Mode = (
  bytes: Uint8Array,
  name: string,
  n: number,
  budget: number,
) => Promise<Ending>;

function ending(
  result: { outcome: string; fuel?: { consumed: number } },
  exports: WebAssembly.Exports,
): Ending {
  return {
    outcome: result.outcome,
    consumed: result.fuel!.consumed,
    state: stateOf(exports),
  };
}

async function meterMode(
  bytes: Uint8Array,
  name: string,
  n: number,
  budget: number,
  make: (bytes: Uint8Array, budget: number) => FuelMeter,
): Promise<Ending> {
  const meter = make(bytes, budget);
  const { instance } = await WebAssembly.instantiate(
    meter.bytes,
    meter.imports,
  );
  meter.attach(instance);
  const run = instance.exports[name] as (n: number) => unknown;
  return ending(meter.run(() => run(n)), instance.exports);
}

/** One rewrite cache for a guest's runs, so that all but its first are warm. */
let cache: RewriteCache | undefined;

/** In-process modes, each given the whole budget its own way. */
const MODES: Record<string, Mode> = {
  plain: async (bytes, name, n, budget) => {
    const guest = await loadGuest(bytes, { fuel: budget });
    return ending(guest.invoke(name, [n]), guest.instance.exports);
  },
  "plain, the budget a cap": async (bytes, name, n, budget) => {
    const guest = await loadGuest(bytes, { fuel: Infinity });
    const before = guest.meter!.consumed;
    const result = guest.invoke(name, [n], { fuel: budget - before });
    return ending(result, guest.instance.exports);
  },
  "a rewrite cache, fresh then warm": async (bytes, name, n, budget) => {
    const guest = await loadGuest(bytes, { fuel: budget, cache });
    return ending(guest.invoke(name, [n]), guest.instance.exports);
  },
  "async, slices of 7": async (bytes, name, n, budget) => {
    const guest = await loadGuest(bytes, { fuel: budget, async: true });
    guest.meter!.slice = 7;
    return ending(await guest.invokeAsync(name, [n]), guest.instance.exports);
  },
  "async, refuelled 5 at a time": async (bytes, name, n, budget) => {
    const guest = await loadGuest(bytes, { fuel: budget, async: true });
    // What the start function left, handed back in pieces.
    let left = guest.meter!.remaining;
    guest.meter!.setFuel(Math.min(5, left));
    left -= Math.min(5, left);
    const result = await guest.invokeAsync(name, [n], {
      refuel: ({ shortfall }) => {
        const more = Math.min(Math.max(shortfall, 5), left);
        left -= more;
        return more;
      },
    });
    return ending(result, guest.instance.exports);
  },
  "deadline that never fires": async (bytes, name, n, budget) => {
    const guest = await loadGuest(bytes, { fuel: budget, timeout: 600_000 });
    return ending(guest.invoke(name, [n]), guest.instance.exports);
  },
  interruptible: async (bytes, name, n, budget) => {
    const guest = await loadGuest(bytes, { fuel: budget, interruptible: true });
    return ending(guest.invoke(name, [n]), guest.instance.exports);
  },
  FuelMeter: (bytes, name, n, budget) =>
    meterMode(
      bytes,
      name,
      n,
      budget,
      (bytes, fuel) => new FuelMeter(bytes, { fuel }),
    ),
  "FuelMeter, slices of 3": (bytes, name, n, budget) =>
    meterMode(bytes, name, n, budget, (bytes, fuel) => {
      const meter = new FuelMeter(bytes, { fuel });
      meter.slice = 3;
      return meter;
    }),
  "FuelMeter, resumable: false": (bytes, name, n, budget) =>
    meterMode(
      bytes,
      name,
      n,
      budget,
      (bytes, fuel) => new FuelMeter(bytes, { fuel, resumable: false }),
    ),
};

const GUESTS: [string, Uint8Array, string, number][] = [
  ["fib", await Deno.readFile(COMPUTE), "fib", 10],
  ["bulk operators", BULK, "run", 4],
  ["GC allocations", GC, "run", 25],
  ["exceptions", EXCEPTIONS, "run", 25],
  ["return_call chains", TAIL_CALLS, "run", 300],
  ["a start function", START, "run", 40],
];

/** Every mode's ending, and whether they all agree. */
async function endings(
  bytes: Uint8Array,
  name: string,
  n: number,
  budget: number,
): Promise<Map<string, Ending>> {
  const all = new Map<string, Ending>();
  for (const [mode, run] of Object.entries(MODES)) {
    all.set(mode, await run(bytes, name, n, budget));
  }
  return all;
}

function assertAgree(all: Map<string, Ending>, what: string): Ending {
  const [first, ...rest] = all;
  for (const [mode, got] of rest) {
    assert.deepEqual(got, first[1], `${what}: ${mode} against ${first[0]}`);
  }
  return first[1];
}

for (const [label, bytes, name, n] of GUESTS) {
  Deno.test(`every mode counts ${label} the same, stops it at the same place and agrees on the least budget that finishes it`, () =>
    withDirectory(async (directory) => {
      cache = new RewriteCache(directory);
      const full = assertAgree(
        await endings(bytes, name, n, 1e12),
        `${label} unlimited`,
      );
      assert.equal(full.outcome, "returned");
      const startCost = label === "a start function"
        ? (await loadGuest(bytes, { fuel: Infinity })).meter!.consumed
        : 0;
      const total = startCost + full.consumed;
      for (const share of [0.13, 0.5, 0.97]) {
        const budget = startCost + Math.floor(full.consumed * share);
        const cut = assertAgree(
          await endings(bytes, name, n, budget),
          `${label} with ${budget}`,
        );
        assert.equal(cut.outcome, "fuel_exhausted", `${label} with ${budget}`);
      }
      // The least budget that finishes: found in the first mode, then
      // checked in every mode on both sides of it.
      // A grow is paid for before it runs (a failed one is given its charge
      // back), so the least budget can be well above the count.
      let low = startCost, high = total;
      while ((await MODES.plain(bytes, name, n, high)).outcome !== "returned") {
        low = high;
        high *= 2;
      }
      while (high - low > 1) {
        const mid = Math.floor((low + high) / 2);
        const { outcome } = await MODES.plain(bytes, name, n, mid);
        if (outcome === "returned") high = mid;
        else low = mid;
      }
      for (const [mode, run] of Object.entries(MODES)) {
        assert.equal(
          (await run(bytes, name, n, high)).outcome,
          "returned",
          `${label}: ${mode} with ${high}`,
        );
        assert.equal(
          (await run(bytes, name, n, high - 1)).outcome,
          "fuel_exhausted",
          `${label}: ${mode} with ${high - 1}`,
        );
      }
      assert.ok(cache.hits > 0 && cache.misses > 0);
    }));
}

Deno.test("a start function that runs out: loadGuest, FuelMeter, invokeIsolated and the CLI report the same count", async () => {
  const budget = 3_000;
  const full = (await loadGuest(START, { fuel: Infinity })).meter!.consumed;
  assert.ok(full > budget, "the start function needs more than the budget");
  const loads = [
    loadGuest(START, { fuel: budget }),
    loadGuest(START, { fuel: budget, async: true }),
  ];
  let consumed = -1;
  for (const load of loads) {
    await assert.rejects(load, (error) => {
      assert.ok(isFuelExhausted(error));
      assert.equal(error.budget, budget);
      if (consumed === -1) consumed = error.consumed;
      assert.equal(error.consumed, consumed);
      return true;
    });
  }
  assert.ok(consumed > 0 && consumed <= budget);
  const fuel = { consumed, remaining: budget - consumed };

  // The meter's start function runs as the instance is attached.
  for (const resumable of [true, false]) {
    const meter = new FuelMeter(START, { fuel: budget, resumable });
    const { instance } = await WebAssembly.instantiate(
      meter.bytes,
      meter.imports,
    );
    assert.throws(() => meter.attach(instance), (error) => {
      assert.ok(isFuelExhausted(error));
      assert.equal(error.budget, budget);
      assert.equal(error.consumed, consumed, `resumable: ${resumable}`);
      return true;
    });
    assert.deepEqual(meter.usage, fuel, `resumable: ${resumable}`);
    assert.equal(meter.stopReason, "fuel");
  }

  try {
    const isolated = await invokeIsolated(START, "run", [1], { fuel: budget });
    assert.equal(isolated.outcome, "fuel_exhausted");
    assert.equal(isolated.export, "(start)");
    assert.deepEqual(isolated.fuel, fuel);
  } finally {
    await isolatedChildrenExited();
  }

  const path = await Deno.makeTempFile({ suffix: ".wasm" });
  try {
    await Deno.writeFile(path, START);
    const cli = await runMain([`--allow-read=${path}`], [
      path,
      "--invoke",
      "run",
      "--arg",
      "1",
      "--fuel",
      String(budget),
      "--json",
    ]);
    const record = JSON.parse(cli.stdout.trim().split("\n").at(-1)!);
    assert.equal(record.outcome, "fuel_exhausted", cli.stdout + cli.stderr);
    assert.deepEqual(record.fuel, fuel);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("a FuelMeter with suspend: true refuses a module with a start function in one line, which instantiation could never run", async () => {
  assert.throws(
    () => new FuelMeter(START, { suspend: true }),
    (error) =>
      error instanceof TypeError &&
      /start function cannot be metered with suspend: true/.test(
        error.message,
      ) && !error.message.includes("\n"),
  );
  // Without suspend the same module loads and books its start function.
  const meter = new FuelMeter(START);
  const { instance } = await WebAssembly.instantiate(
    meter.bytes,
    meter.imports,
  );
  meter.attach(instance);
  assert.ok(meter.consumed > 0);
});

Deno.test("QuickJS: every meter mode, a fresh rewrite and a warm one count the same programs the same and stop them at the same place", () =>
  withDirectory(async (directory) => {
    const bytes = await quickjsBytes;
    const store = new RewriteCache(directory);
    const makers: Record<string, () => Promise<FuelMeter>> = {
      resumable: () => Promise.resolve(new FuelMeter(bytes)),
      "resumable: false": () =>
        Promise.resolve(new FuelMeter(bytes, { resumable: false })),
      "slices of 501": () => {
        const meter = new FuelMeter(bytes);
        meter.slice = 501;
        return Promise.resolve(meter);
      },
      "a fresh rewrite": () => FuelMeter.create(bytes, { cache: store }),
      "a warm rewrite": () => FuelMeter.create(bytes, { cache: store }),
    };
    const counts = new Map<string, unknown[]>();
    for (const [mode, make] of Object.entries(makers)) {
      const meter = await make();
      const { QuickJS } = await meteredQuickJS(undefined, meter);
      const vm = QuickJS.newContext();
      const line: unknown[] = [meter.consumed];
      for (const code of QUICKJS_PROGRAMS.slice(0, 3)) {
        line.push(meter.run(() => evaluate(vm, code)).fuel!.consumed);
      }
      const cut = meter.run(() => evaluate(vm, QUICKJS_PROGRAMS[0]), {
        fuel: 300_000,
      });
      line.push(cut.outcome, cut.fuel!.consumed);
      line.push(meter.run(() => evaluate(vm, "1 + 2")).fuel!.consumed);
      // Not disposed: a runtime stopped mid-run cannot be.
      counts.set(mode, line);
    }
    assert.deepEqual([store.hits, store.misses], [1, 1]);
    const [[first, expected], ...rest] = counts;
    assert.equal(expected[4], "fuel_exhausted");
    for (const [mode, line] of rest) {
      assert.deepEqual(line, expected, `${mode} against ${first}`);
    }
  }));
