import assert from "./support/assert.ts";
import {
  FuelMeter,
  isAborted,
  isDeadlineExceeded,
  isFuelExhausted,
  isGuestTrap,
} from "../mod.ts";
import { expectOutcome } from "./support/outcome.ts";
import {
  evaluate,
  interruptCounter,
  meteredQuickJS,
  plainQuickJS,
  QUICKJS_PROGRAMS,
  quickjsBytes,
  SPIN_JS,
} from "./support/quickjs.ts";
import type { MeterRunOptions } from "../mod.ts";
import type { QuickJSContext } from "quickjs-emscripten-core";
import { stopFromWorker } from "./support/worker_stop.ts";

Deno.test("QuickJS: the same results metered and not", async () => {
  const plain = (await plainQuickJS()).newContext();
  const { QuickJS, meter } = await meteredQuickJS();
  // The default meter's rewrite stays within 1.6 times the input (1.47).
  const input = (await quickjsBytes).length;
  assert.ok(
    meter.bytes.length <= 1.6 * input,
    `${meter.bytes.length} bytes metered from ${input}`,
  );
  const vm = QuickJS.newContext();
  for (const code of QUICKJS_PROGRAMS) {
    const metered = expectOutcome(
      meter.run(() => evaluate(vm, code)),
      "returned",
    );
    assert.deepEqual(metered.value, evaluate(plain, code), code);
    assert.ok(metered.fuel!.consumed > 0);
  }
  vm.dispose();
  plain.dispose();
});

Deno.test("QuickJS: while (true) {} stopped by fuel, a deadline and a StopSignal from a Worker; the same context then evaluates 1 + 2", async () => {
  const { QuickJS, meter } = await meteredQuickJS();
  const vm = QuickJS.newContext();
  const fuel = expectOutcome(
    meter.run(() => evaluate(vm, SPIN_JS), { fuel: 5_000_000 }),
    "fuel_exhausted",
  );
  assert.ok(isFuelExhausted(fuel.error));
  assert.equal(
    expectOutcome(meter.run(() => evaluate(vm, "1 + 2")), "returned").value,
    3,
  );

  const late = expectOutcome(
    meter.run(() => evaluate(vm, SPIN_JS), { timeout: 100 }),
    "timeout",
  );
  assert.ok(isDeadlineExceeded(late.error));
  assert.equal(late.error.timeout, 100);
  assert.equal(
    expectOutcome(meter.run(() => evaluate(vm, "1 + 2")), "returned").value,
    3,
  );

  const stopped = await stopFromWorker((stop, started) =>
    meter.run(() => {
      started();
      return evaluate(vm, SPIN_JS);
    }, { stop })
  );
  assert.ok(isAborted(expectOutcome(stopped, "aborted").error));
  assert.equal(meter.stopReason, "stop");
  assert.equal(
    expectOutcome(meter.run(() => evaluate(vm, "1 + 2")), "returned").value,
    3,
  );
});

Deno.test("QuickJS: soft stops let QuickJS unwind itself, and the stopped runtime can be disposed", async () => {
  const { QuickJS, meter } = await meteredQuickJS();
  const runtime = QuickJS.newRuntime();
  runtime.setInterruptHandler(() => meter.stopping);
  const vm = runtime.newContext();
  const soft = { soft: true };
  expectOutcome(
    meter.run(() => evaluate(vm, SPIN_JS), { ...soft, fuel: 5_000_000 }),
    "fuel_exhausted",
  );
  expectOutcome(
    meter.run(() => evaluate(vm, SPIN_JS), { ...soft, timeout: 100 }),
    "timeout",
  );
  const stopped = await stopFromWorker((stop, started) =>
    meter.run(() => {
      started();
      return evaluate(vm, SPIN_JS);
    }, { ...soft, stop })
  );
  expectOutcome(stopped, "aborted");
  assert.equal(
    expectOutcome(meter.run(() => evaluate(vm, "1 + 2")), "returned").value,
    3,
  );
  vm.dispose();
  runtime.dispose(); // QuickJS asserts that nothing leaked
  assert.equal(runtime.alive, false);
});

Deno.test("QuickJS: 1,000 consecutive stops leave the context usable", async () => {
  const { QuickJS, meter } = await meteredQuickJS();
  const vm = QuickJS.newContext();
  for (let i = 0; i < 1_000; i++) {
    const result = meter.run(() => evaluate(vm, SPIN_JS), { fuel: 20_000 });
    assert.equal(result.outcome, "fuel_exhausted", `stop ${i}`);
  }
  assert.equal(
    expectOutcome(
      meter.run(() => evaluate(vm, QUICKJS_PROGRAMS[0])),
      "returned",
    ).value,
    6765,
  );
  assert.ok(meter.remaining === Infinity);
});

/** Runaway scripts that allocate as they go, so stops land in QuickJS's heap code. */
const ALLOCATING = [
  "(() => { let a = []; for (;;) a.push({ x: [1, 2, 3], s: 'ab' + a.length }) })()",
  "(() => { let s = ''; for (let i = 0;; i++) { s += i; if (s.length > 100000) s = '' } })()",
  "(() => { let fs = []; for (let i = 0;; i++) { fs.push(() => i + fs.length); if (fs.length > 5000) fs = [] } })()",
];

/** A fixed-seed generator, so that a failing stop can be found again. */
function seeded(seed: number): () => number {
  // A 32-bit LCG in integer arithmetic (a float product would lose bits).
  return () => {
    seed = (Math.imul(seed, 1_664_525) + 1_013_904_223) >>> 0;
    return seed / 2 ** 32;
  };
}

/**
 * Runs `code` soft-stopped under `options`, and returns the outcome and the
 * message of what the evaluation threw: "interrupted" when QuickJS heard of
 * the stop in its interrupt handler and unwound itself.
 */
function softRun(
  meter: FuelMeter,
  vm: QuickJSContext,
  code: string,
  options: MeterRunOptions,
) {
  let thrown = "";
  const result = meter.run(() => {
    try {
      return evaluate(vm, code);
    } catch (error) {
      thrown = String((error as Error)?.message ?? error);
      throw error;
    }
  }, { soft: true, ...options });
  return { result, thrown };
}

/** A runtime whose interrupt handler ends the script when the meter stops it. */
async function softQuickJS() {
  const { QuickJS, meter } = await meteredQuickJS();
  const runtime = QuickJS.newRuntime();
  const vm = runtime.newContext();
  const setCounter = interruptCounter(QuickJS, runtime, vm);
  let heard = 0;
  runtime.setInterruptHandler(() => {
    if (meter.stopping) heard++;
    return meter.stopping;
  });
  // QuickJS asks its handler only every 10,000 jumps and calls: at a stop,
  // make it ask at the next one.
  const onStopping = () => setCounter(1);
  return { meter, runtime, vm, setCounter, onStopping, heard: () => heard };
}

Deno.test("QuickJS: 1,000 soft stops of allocating scripts at random fuel caps, each unwound by QuickJS itself; then 1 + 2, and the runtime disposes", async () => {
  const { meter, runtime, vm, onStopping } = await softQuickJS();
  const random = seeded(12);
  for (let i = 0; i < 1_000; i++) {
    const code = ALLOCATING[i % ALLOCATING.length];
    const fuel = Math.floor(random() * 5_000_000);
    const { result, thrown } = softRun(meter, vm, code, {
      fuel,
      grace: 100_000_000,
      onStopping,
    });
    expectOutcome(result, "fuel_exhausted");
    assert.equal(thrown, "interrupted", `stop ${i} (fuel ${fuel})`);
  }
  assert.equal(
    expectOutcome(meter.run(() => evaluate(vm, "1 + 2")), "returned").value,
    3,
  );
  vm.dispose();
  runtime.dispose(); // QuickJS asserts that nothing leaked
  assert.equal(runtime.alive, false);
});

Deno.test("QuickJS: 200 soft stops of allocating scripts by 1 to 5 ms deadlines, each unwound by QuickJS itself; then 1 + 2, and the runtime disposes", async () => {
  const { meter, runtime, vm, onStopping } = await softQuickJS();
  const random = seeded(5);
  for (let i = 0; i < 200; i++) {
    const code = ALLOCATING[i % ALLOCATING.length];
    const timeout = 1 + Math.floor(random() * 5);
    const { result, thrown } = softRun(meter, vm, code, {
      timeout,
      // Freeing what the script built is part of the unwinding: a loaded
      // machine lets a deadline build more, and this covers seconds of it.
      grace: 2_000_000_000,
      onStopping,
    });
    expectOutcome(result, "timeout");
    assert.equal(thrown, "interrupted", `stop ${i} (${timeout} ms)`);
  }
  assert.equal(
    expectOutcome(meter.run(() => evaluate(vm, "1 + 2")), "returned").value,
    3,
  );
  vm.dispose();
  runtime.dispose();
  assert.equal(runtime.alive, false);
});

Deno.test("QuickJS: without onStopping an allocating loop does not reach its interrupt handler on a 5M grace; with it, it does", async () => {
  for (const nudge of [false, true]) {
    const { meter, vm, setCounter, onStopping, heard } = await softQuickJS();
    setCounter(10_000); // as QuickJS leaves it right after asking its handler
    const { result, thrown } = softRun(meter, vm, ALLOCATING[0], {
      fuel: 1_000_000,
      grace: 5_000_000,
      onStopping: nudge ? onStopping : undefined,
    });
    expectOutcome(result, "fuel_exhausted");
    if (nudge) {
      assert.equal(heard(), 1);
      assert.equal(thrown, "interrupted");
    } else {
      // 10,000 jumps of this loop cost about 40M fuel: the grace ran out
      // first, and the guest trapped wherever it was.
      assert.equal(heard(), 0);
      assert.equal(thrown, "unreachable");
    }
  }
});

Deno.test("QuickJS: a soft stop inside one long built-in ('xy'.repeat(2 ** 25)), which asks no interrupt handler until it returns, lands as a hard stop while the built-in still runs, not once it returns", async () => {
  const { meter, vm, onStopping, heard } = await softQuickJS();
  const { result, thrown } = softRun(meter, vm, "'xy'.repeat(2 ** 25).length", {
    // The fuel cap stops it inside repeat, which costs billions; the grace
    // would last past its end. The deadline only starts the watchdog,
    // which keeps the time a soft stop gets to be heard.
    fuel: 100_000_000,
    grace: 10_000_000_000,
    timeout: 600_000,
    onStopping,
  });
  expectOutcome(result, "fuel_exhausted");
  // The guest trapped where it was: QuickJS never heard of the stop.
  assert.equal(thrown, "unreachable");
  assert.equal(heard(), 0);
});

Deno.test("QuickJS: after hard stops of an allocating script, a fresh instance on the same meter works and its runtime disposes", async () => {
  const { QuickJS, meter } = await meteredQuickJS();
  const vm = QuickJS.newRuntime().newContext();
  const random = seeded(3);
  const seen = new Set<string>();
  for (let i = 0; i < 50; i++) {
    const fuel = Math.floor(random() * 20_000_000);
    const result = meter.run(() => evaluate(vm, ALLOCATING[0]), { fuel });
    // A hard stop may cut QuickJS's heap code in half: later calls may trap
    // on QuickJS's own assertions. Either way the meter names it.
    assert.ok(["fuel_exhausted", "trap"].includes(result.outcome));
    seen.add(result.outcome);
  }
  // Fuel caps from a fixed seed stop QuickJS at the same places each time:
  // these break it.
  assert.ok(seen.has("trap"), "the hard stops broke the runtime");
  const consumed = meter.consumed;
  const fresh = await meteredQuickJS(undefined, meter);
  const runtime = fresh.QuickJS.newRuntime();
  const again = runtime.newContext();
  const sum = expectOutcome(
    meter.run(() => evaluate(again, "1 + 2")),
    "returned",
  );
  assert.equal(sum.value, 3);
  assert.ok(meter.consumed > consumed, "the books carry on");
  assert.equal(meter.remaining, Infinity);
  again.dispose();
  runtime.dispose();
  assert.equal(runtime.alive, false);
});

Deno.test("QuickJS: a script that catches, loops in finally or recurses in catch cannot outlast a soft stop", async () => {
  const { meter, runtime, vm, onStopping } = await softQuickJS();
  const hostile = [
    "(() => { let a = []; for (;;) { try { for (;;) a.push({ s: 'x' + a.length }) } catch (e) { a = [] } } })()",
    "(() => { let a = []; try { for (;;) a.push([a.length]) } finally { for (;;) a.push(1) } })()",
    "(function f(n) { let o = { n, c: [] }; try { return f(n + 1) } catch { return f(0) } })(0)",
  ];
  for (const code of hostile) {
    for (let i = 0; i < 20; i++) {
      const fuel = 1_000_000 + i * 300_000;
      const { result, thrown } = softRun(meter, vm, code, {
        fuel,
        grace: 1_000_000_000,
        onStopping,
      });
      expectOutcome(result, "fuel_exhausted");
      assert.equal(thrown, "interrupted", `${code} at ${fuel}`);
    }
  }
  assert.equal(
    expectOutcome(meter.run(() => evaluate(vm, "1 + 2")), "returned").value,
    3,
  );
  vm.dispose();
  runtime.dispose();
});

Deno.test("QuickJS under limits.memory: given a memory within the limit, hostile scripts get QuickJS's own out-of-memory error and the memory stays within it; nested data overflows V8's stack before QuickJS's own stack limit of 256 KiB", async () => {
  const limit = 32 << 20;
  const meter = new FuelMeter(await quickjsBytes, {
    limits: { memory: limit },
  });
  // The glue's own memory may grow to 2 GiB, past the maximum the meter
  // wrote into the import, which it would not match: the glue gets one.
  const memory = new WebAssembly.Memory({ initial: 256, maximum: limit >> 16 });
  const { QuickJS } = await meteredQuickJS(undefined, meter, memory);
  const vm = QuickJS.newContext();
  for (
    const script of [
      "'x'.repeat(2 ** 28).length",
      "new ArrayBuffer(2 ** 26).byteLength",
    ]
  ) {
    // Not expectOutcome: the cause holds QuickJS's context, which is too
    // large to describe.
    const result = meter.run(() => evaluate(vm, script), { timeout: 60_000 });
    assert.equal(result.outcome, "error", script);
    assert.ok(memory.buffer.byteLength <= limit, script);
    if (result.outcome === "error") {
      assert.match(String(result.error.cause), /out of memory/, script);
    }
  }
  const sum = meter.run(() => evaluate(vm, "1 + 2"));
  assert.equal(expectOutcome(sum, "returned").value, 3);

  // Nested data recurses on V8's stack more than on the shadow stack that
  // QuickJS's limit measures: at 256 KiB, V8's stack runs out first (a
  // trap, one branded error); at 32 KiB, QuickJS's own error comes first.
  const nested = "JSON.parse('['.repeat(1e6) + ']'.repeat(1e6))";
  const small = QuickJS.newRuntime();
  small.setMaxStackSize(32 * 1024);
  const parsed = meter.run(() => evaluate(small.newContext(), nested));
  assert.equal(parsed.outcome, "error");
  if (parsed.outcome === "error") {
    assert.match(String(parsed.error.cause), /stack overflow/);
  }
  const large = QuickJS.newRuntime();
  large.setMaxStackSize(256 * 1024);
  const overflowed = meter.run(() => evaluate(large.newContext(), nested));
  assert.equal(overflowed.outcome, "trap");
  if (overflowed.outcome === "trap") {
    assert.ok(isGuestTrap(overflowed.error));
    assert.equal(overflowed.error.trap, "stack_overflow");
  }
});
