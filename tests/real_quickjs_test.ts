import assert from "./support/assert.ts";
import { isAborted, isDeadlineExceeded, isFuelExhausted } from "../mod.ts";
import { expectOutcome } from "./support/outcome.ts";
import { evaluate, meteredQuickJS, plainQuickJS } from "./support/quickjs.ts";
import { stopFromWorker } from "./support/worker_stop.ts";

const PROGRAMS = [
  "function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2) } fib(20)",
  "Array.from({ length: 2000 }, (_, i) => (i * 7919) % 1009).sort((a, b) => a - b).slice(0, 5)",
  "JSON.stringify({ a: [1, 2, { b: 'c' }], d: null, e: 1.5e10 })",
  "'The quick brown fox'.replace(/(\\w+)/g, (w) => w.split('').reverse().join(''))",
  "let m = new Map(); for (let i = 0; i < 500; i++) m.set('k' + (i % 37), i); [...m].length",
  "[Math.sqrt(2), Math.sin(1), 2 ** 53 + 1, 0.1 + 0.2].map(String)",
  "class P { #x; constructor(x) { this.#x = x } get twice() { return 2 * this.#x } } new P(21).twice",
  "try { null.x } catch (e) { e instanceof TypeError && e.message }",
];

const SPIN = "while (true) {}";

Deno.test("QuickJS: the same results metered and not", async () => {
  const plain = (await plainQuickJS()).newContext();
  const { QuickJS, meter } = await meteredQuickJS();
  const vm = QuickJS.newContext();
  for (const code of PROGRAMS) {
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
    meter.run(() => evaluate(vm, SPIN), { fuel: 5_000_000 }),
    "fuel_exhausted",
  );
  assert.ok(isFuelExhausted(fuel.error));
  assert.equal(
    expectOutcome(meter.run(() => evaluate(vm, "1 + 2")), "returned").value,
    3,
  );

  const late = expectOutcome(
    meter.run(() => evaluate(vm, SPIN), { timeout: 100 }),
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
      return evaluate(vm, SPIN);
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
    meter.run(() => evaluate(vm, SPIN), { ...soft, fuel: 5_000_000 }),
    "fuel_exhausted",
  );
  expectOutcome(
    meter.run(() => evaluate(vm, SPIN), { ...soft, timeout: 100 }),
    "timeout",
  );
  const stopped = await stopFromWorker((stop, started) =>
    meter.run(() => {
      started();
      return evaluate(vm, SPIN);
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
    const result = meter.run(() => evaluate(vm, SPIN), { fuel: 20_000 });
    assert.equal(result.outcome, "fuel_exhausted", `stop ${i}`);
  }
  assert.equal(
    expectOutcome(meter.run(() => evaluate(vm, PROGRAMS[0])), "returned").value,
    6765,
  );
  assert.ok(meter.remaining === Infinity);
});
