import assert from "./support/assert.ts";
import { assembleWat } from "../guest/build.ts";
import {
  FuelMeter,
  isExportError,
  isFuelExhausted,
  isInterrupted,
  loadGuest,
} from "../mod.ts";
import { expectOutcome } from "./support/outcome.ts";
import { COMPUTE, RUNAWAY } from "./support/guests.ts";

/**
 * fib's cost by the documented rules: the entry segment (local.get,
 * i32.const, i32.lt_u, if) is 4, plus the then-arm (local.get), 1, which
 * the `if` prepays whichever arm runs; the else-arm (two subtractions, two
 * calls, an add) is 9 plus the two calls' own costs.
 */
function fibCost(n: number): number {
  return 5 + (n < 2 ? 0 : 9 + fibCost(n - 1) + fibCost(n - 2));
}

Deno.test("exactness: a loop of n iterations costs 14n + 15, and fib(n) follows the segment rules", async () => {
  const guest = await loadGuest(COMPUTE, { fuel: Infinity });
  for (const n of [0, 1, 2, 10, 1000]) {
    const result = expectOutcome(guest.invoke("sum_to", [n]), "returned");
    assert.equal(result.value, BigInt((n * (n - 1)) / 2));
    assert.equal(result.fuel?.consumed, 14 * n + 15, `sum_to(${n})`);
  }
  for (const n of [0, 1, 2, 5, 15]) {
    assert.equal(
      guest.invoke("fib", [n]).fuel?.consumed,
      fibCost(n),
      `fib(${n})`,
    );
  }
});

Deno.test("the same module, input and budget give the same count every run", async () => {
  const counts = new Set<number>();
  for (let run = 0; run < 3; run++) {
    const guest = await loadGuest(COMPUTE, { fuel: 5_000 });
    const result = guest.invoke("mix_loop", [10_000]);
    expectOutcome(result, "fuel_exhausted");
    counts.add(result.fuel!.consumed);
  }
  assert.equal(counts.size, 1);
});

Deno.test("exhaustion: a branded FuelExhausted with the budget and what was consumed; top up and go on", async () => {
  const guest = await loadGuest(COMPUTE, { fuel: 1_000 });
  const result = expectOutcome(guest.invoke("fib", [25]), "fuel_exhausted");
  assert.ok(isFuelExhausted(result.error));
  assert.equal(result.error.budget, 1_000);
  assert.equal(result.error.consumed, result.fuel!.consumed);
  assert.equal(result.fuel!.consumed + result.fuel!.remaining, 1_000);
  assert.ok(
    result.fuel!.remaining < 13,
    "stopped at the first block it could not pay for",
  );
  assert.throws(() => guest.call("fib", 25), (e) => isFuelExhausted(e));
  guest.meter!.addFuel(fibCost(20));
  const before = guest.meter!.remaining;
  assert.equal(guest.call("fib", 20), 6765);
  assert.equal(before - guest.meter!.remaining, fibCost(20));
  guest.meter!.setFuel(fibCost(20) - 1);
  expectOutcome(guest.invoke("fib", [20]), "fuel_exhausted");
  guest.meter!.setFuel(fibCost(20));
  const exact = guest.invoke("fib", [20], { fuel: fibCost(20) });
  assert.equal(expectOutcome(exact, "returned").value, 6765);
  assert.equal(exact.fuel?.remaining, 0);
});

Deno.test("a call's fuel is a cap drawn from the tank, never a new tank", async () => {
  const unlimited = await loadGuest(COMPUTE, { fuel: Infinity });
  const capped = unlimited.invoke("fib", [20], { fuel: fibCost(20) - 1 });
  const stopped = expectOutcome(capped, "fuel_exhausted");
  assert.equal(stopped.error.budget, fibCost(20) - 1);
  assert.equal(stopped.fuel!.remaining, Infinity);
  assert.equal(unlimited.meter!.remaining, Infinity);
  assert.equal(unlimited.call("fib", 20), 6765);

  const tank = fibCost(20) * 3;
  const guest = await loadGuest(COMPUTE, { fuel: tank });
  const one = guest.invoke("fib", [20], { fuel: fibCost(20) * 10 });
  assert.equal(
    expectOutcome(one, "returned").fuel!.remaining,
    tank - fibCost(20),
  );
  const short = guest.invoke("fib", [20], { fuel: 5 });
  const spent = expectOutcome(short, "fuel_exhausted").fuel!.consumed;
  assert.ok(spent <= 5);
  assert.equal(short.fuel!.remaining, tank - fibCost(20) - spent);
  assert.equal(guest.meter!.exhausted, false);
});

Deno.test("fuel is exact on every exit: return, trap, host interrupt, exhaustion", async () => {
  const bytes = await assembleWat(`(module
    (import "env" "interrupt_execution" (func $stop))
    (memory 1)
    (func (export "run") (param $how i32) (result i32)
      (drop (i32.add (i32.const 1) (i32.const 2)))
      (if (i32.eq (local.get $how) (i32.const 1)) (then (unreachable)))
      (if (i32.eq (local.get $how) (i32.const 2)) (then (call $stop)))
      (if (i32.eq (local.get $how) (i32.const 3)) (then (drop (i32.load (i32.const 99999)))))
      (i32.const 7)))`);
  const guest = await loadGuest(bytes, { fuel: Infinity });
  // Segments: the entry runs to the call of the import, which ends it: the
  // add and its consts 3, then each condition 4 (eq, its operands, if)
  // with its then-arm (unreachable 0; the call 1); no segment starts in the
  // first `if`, so its `end` ends none. After the call, the second `if`'s
  // `end` starts one: the third condition 4, its then-arm (the load and its
  // const) 2, and the tail (i32.const) 1, all paid before any of it runs.
  const entry = 3 + (4 + 0) + (4 + 1);
  const tail = (4 + 2) + 1;
  const expected = {
    returned: entry + tail,
    trap: entry,
    interrupted: entry,
    load: entry + tail,
  };
  assert.equal(
    expectOutcome(guest.invoke("run", [0]), "returned").fuel?.consumed,
    expected.returned,
  );
  assert.equal(
    expectOutcome(guest.invoke("run", [1]), "trap").fuel?.consumed,
    expected.trap,
  );
  assert.equal(
    expectOutcome(guest.invoke("run", [2]), "interrupted").fuel?.consumed,
    expected.interrupted,
  );
  assert.equal(
    expectOutcome(guest.invoke("run", [3]), "trap").fuel?.consumed,
    expected.load,
  );
  // With exactly one unit too few, the last segment is refused and not
  // charged.
  const short = guest.invoke("run", [0], { fuel: expected.returned - 1 });
  assert.equal(
    expectOutcome(short, "fuel_exhausted").fuel?.consumed,
    entry,
  );
  // The cap ended the call; the tank behind it is untouched.
  assert.equal(short.fuel?.remaining, Infinity);
});

Deno.test("bulk operators are charged per byte, element and page at run time", async () => {
  const bytes = await assembleWat(`(module
    (memory 1) (table 10 funcref)
    (func (export "fill") (param $n i32) (memory.fill (i32.const 0) (i32.const 7) (local.get $n)))
    (func (export "grow") (param $n i32) (result i32) (memory.grow (local.get $n)))
    (func (export "table_fill") (param $n i32) (table.fill (i32.const 0) (ref.null func) (local.get $n))))`);
  const guest = await loadGuest(bytes, {
    fuel: Infinity,
    costs: { perByte: 2, perPage: 100, perElement: 3 },
  });
  const fill = (n: number) => guest.invoke("fill", [n]).fuel!.consumed;
  assert.equal(fill(1000) - fill(0), 2000);
  const grow = (n: number) => guest.invoke("grow", [n]).fuel!.consumed;
  assert.equal(grow(3) - grow(0), 300);
  const table = (n: number) => guest.invoke("table_fill", [n]).fuel!.consumed;
  assert.equal(table(10) - table(0), 30);
  const limited = await loadGuest(bytes, { fuel: 500 });
  expectOutcome(limited.invoke("fill", [65536]), "fuel_exhausted");
});

/** Grows its memory by 2^31 - 1 pages, which always fails, for ever. */
const GROW_PUMP = `(module (memory 1 1)
  (func (export "size") (result i32) (memory.size))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "pump") (param $n i32)
    (loop $l
      (drop (memory.grow (i32.const 0x7fffffff)))
      (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))))`;

Deno.test("a failed memory.grow costs its operators only, in every mode", async () => {
  const bytes = await assembleWat(GROW_PUMP);
  for (
    const options of [
      { fuel: Infinity },
      { fuel: Infinity, interruptible: true },
      // A budget must cover a grow's request, refunded or not.
      { fuel: 1e12, interruptible: true },
      { fuel: 1e12 },
    ]
  ) {
    const guest = await loadGuest(bytes, options);
    // A million failed grows of 2^31 - 1 pages each: were each charged what
    // it asked for, 2^51 fuel, more than any of these budgets holds (an
    // unlimited one too, in a guest whose checks trap).
    const pumped = guest.invoke("pump", [1_000_000]);
    expectOutcome(pumped, "returned");
    const perTurn = guest.invoke("pump", [2]).fuel!.consumed -
      guest.invoke("pump", [1]).fuel!.consumed;
    assert.ok(perTurn < 20, `one turn cost ${perTurn}`);
  }
});

Deno.test("a grow the fuel cannot pay for stops the guest before it grows", async () => {
  const bytes = await assembleWat(
    GROW_PUMP.replace("(memory 1 1)", "(memory 1 4)"),
  );
  const guest = await loadGuest(bytes, {
    fuel: 1_000,
    costs: { perPage: 600 },
  });
  expectOutcome(guest.invoke("grow", [2]), "fuel_exhausted");
  guest.meter!.addFuel(1_000);
  assert.equal(guest.call("size"), 1, "the grow never ran");
  assert.equal(guest.call("grow", 1), 1);
  assert.equal(guest.call("size"), 2);
});

Deno.test("costs can be set per operator", async () => {
  const guest = await loadGuest(COMPUTE, {
    fuel: Infinity,
    costs: { operators: { "i64.add": 101 } },
  });
  const cost = (n: number) => guest.invoke("sum_to", [n]).fuel!.consumed;
  assert.equal(cost(11) - cost(10), 14 + 100);
});

Deno.test("fuel stops a runaway loop and recursion without loops", async () => {
  const guest = await loadGuest(RUNAWAY, { fuel: Infinity });
  for (
    const [name, args] of [["spin", []], ["count_forever", []], ["ping", [
      0n,
    ]]] as const
  ) {
    const result = expectOutcome(
      guest.invoke(name, [...args], { fuel: 1_000_000 }),
      "fuel_exhausted",
    );
    assert.ok(result.fuel!.consumed > 999_000, name);
  }
});

const SWALLOWING_GUESTS: Record<string, string> = {
  "legacy catch_all": `(try (do (call $stop)) (catch_all))`,
  "try_table catch_all": `(block $h (try_table (catch_all $h) (call $stop)))`,
  "try_table catch_all_ref":
    `(block $h (result exnref) (try_table (catch_all_ref $h) (call $stop)) (ref.null exn)) (drop)`,
  "catch of WebAssembly.JSTag":
    `(block $h (result externref) (try_table (catch $js $h) (call $stop)) (ref.null extern)) (drop)`,
};

for (const [name, catcher] of Object.entries(SWALLOWING_GUESTS)) {
  Deno.test(`a metered guest cannot swallow a stop (${name}): it traps before its handler runs`, async () => {
    const bytes = await assembleWat(`(module
      (import "env" "interrupt_execution" (func $stop))
      (import "env" "js_tag" (tag $js (param externref)))
      (global $after (export "after") (mut i32) (i32.const 0))
      (func (export "run") (result i32)
        ${catcher}
        (global.set $after (i32.const 1))
        (i32.const 42)))`);
    const jsTag =
      (WebAssembly as unknown as { JSTag: WebAssembly.ImportValue }).JSTag;
    const imports = { env: { js_tag: jsTag } };
    const plain = await loadGuest(bytes, { imports });
    expectOutcome(plain.invoke("run"), "interrupted");
    const after = (g: typeof plain) =>
      (g.instance.exports.after as WebAssembly.Global).value;
    assert.equal(
      after(plain),
      1,
      "unmetered, the guest's own code ran after it caught the stop",
    );
    const metered = await loadGuest(bytes, { imports, fuel: Infinity });
    const result = expectOutcome(metered.invoke("run"), "interrupted");
    assert.ok(isInterrupted(result.error));
    assert.equal(
      after(metered),
      0,
      "metered, the guest trapped before running anything after the catch",
    );
  });
}

Deno.test("a host import that interrupts and returns still stops a metered guest", async () => {
  const bytes = await assembleWat(`(module
    (import "env" "check" (func $check))
    (global $after (export "after") (mut i32) (i32.const 0))
    (func (export "run") (call $check) (global.set $after (i32.const 1))))`);
  const guest = await loadGuest(bytes, {
    fuel: Infinity,
    imports: (host) => ({
      env: {
        check: () => {
          try {
            host.interrupt("env.check", { reason: "over quota" });
          } catch {
            // The host swallows its own throw: the record of the stop remains.
          }
        },
      },
    }),
  });
  const result = expectOutcome(guest.invoke("run"), "interrupted");
  assert.equal(result.error.reason, "over quota");
  assert.equal((guest.instance.exports.after as WebAssembly.Global).value, 0);
});

Deno.test("a start function is metered too", async () => {
  const bytes = await assembleWat(
    `(module (func $start (loop $l (br $l))) (start $start))`,
  );
  await assert.rejects(
    loadGuest(bytes, { fuel: 10_000 }),
    (e) => isFuelExhausted(e) && e.consumed === 10_000,
  );
});

Deno.test("FuelMeter meters a module that another loader instantiates", async () => {
  const bytes = await Deno.readFile(COMPUTE);
  const meter = new FuelMeter(bytes, { fuel: fibCost(10) + fibCost(3) });
  // As emscripten's instantiateWasm hook or wasm-bindgen's init would.
  const instantiateWasm = async (imports: WebAssembly.Imports) => {
    const { instance } = await WebAssembly.instantiate(meter.bytes, {
      ...imports,
      ...meter.imports,
    });
    meter.attach(instance);
    return instance;
  };
  const instance = await instantiateWasm({});
  const fib = instance.exports.fib as (n: number) => number;
  assert.equal(fib(10), 55);
  assert.equal(meter.consumed, fibCost(10));
  assert.equal(fib(3), 2);
  assert.equal(meter.remaining, 0);
  assert.throws(
    () => fib(1),
    (e) =>
      e instanceof WebAssembly.RuntimeError && /unreachable/.test(e.message),
  );
  assert.ok(meter.exhausted);
  meter.settle();
  meter.addFuel(fibCost(1));
  assert.equal(fib(1), 1);
  assert.equal(meter.consumed, fibCost(10) + fibCost(3) + fibCost(1));
});

Deno.test("metering needs bytes, and bad fuel values are refused", async () => {
  const module = await WebAssembly.compile(await Deno.readFile(COMPUTE));
  await assert.rejects(
    loadGuest(module, { fuel: 10 }),
    /rewrites the guest's bytes/,
  );
  const guest = await loadGuest(COMPUTE, { fuel: 10 });
  assert.throws(() => guest.meter!.addFuel(-1), RangeError);
  assert.throws(() => guest.meter!.setFuel(1.5), RangeError);
  const plain = await loadGuest(COMPUTE);
  assert.throws(() => plain.invoke("fib", [1], { fuel: 10 }), /not metered/);
});

Deno.test("resumable and trapping checks count the same and stop at the same place", async () => {
  const trapping = await loadGuest(COMPUTE, { fuel: Infinity });
  // An async guest's checks ask the host for more, to yield and refuel.
  const resumable = await loadGuest(COMPUTE, { fuel: Infinity, async: true });
  assert.equal(trapping.meter!.resumable, false);
  assert.equal(resumable.meter!.resumable, true);
  for (
    const [name, args] of [["fib", [18]], ["sum_to", [777]], ["mix_loop", [
      5_000,
    ]]] as const
  ) {
    const a = trapping.invoke(name, [...args]);
    const b = await resumable.invokeAsync(name, [...args]);
    assert.deepEqual(a.fuel?.consumed, b.fuel?.consumed, name);
    for (const budget of [1, 17, 1_000, 12_345]) {
      const x = trapping.invoke(name, [...args], { fuel: budget });
      const y = await resumable.invokeAsync(name, [...args], { fuel: budget });
      assert.equal(x.outcome, y.outcome, `${name} with ${budget}`);
      assert.deepEqual(x.fuel, y.fuel, `${name} with ${budget}`);
    }
  }
});

Deno.test("a guest loaded for fuel only refuses deadlines, and says how to get them", async () => {
  const guest = await loadGuest(COMPUTE, { fuel: 1_000 });
  assert.throws(
    () => guest.invoke("fib", [5], { timeout: 10 }),
    (e) => isExportError(e) && /interruptible: true/.test(e.message),
  );
});
