import assert from "./support/assert.ts";
import { assembleWat } from "../guest/build.ts";
import {
  FuelMeter,
  isAborted,
  isDeadlineExceeded,
  isFuelExhausted,
  isGuestTrap,
  isHostImportError,
  isInterrupted,
} from "../mod.ts";
import { expectOutcome } from "./support/outcome.ts";
import { COMPUTE, RUNAWAY } from "./support/guests.ts";
import { stopFromWorker } from "./support/worker_stop.ts";

async function attached(source: URL | Uint8Array) {
  const bytes = source instanceof URL ? await Deno.readFile(source) : source;
  const meter = new FuelMeter(bytes);
  const { instance } = await WebAssembly.instantiate(meter.bytes, {
    ...meter.imports,
  });
  meter.attach(instance);
  return {
    meter,
    exports: instance.exports as Record<string, CallableFunction>,
  };
}

Deno.test("run: returned, with the value and the fuel the call used", async () => {
  const { meter, exports } = await attached(COMPUTE);
  const result = expectOutcome(meter.run(() => exports.fib(10)), "returned");
  assert.equal(result.value, 55);
  assert.equal(result.export, "run");
  assert.ok(result.fuel!.consumed > 0);
  assert.equal(result.fuel!.remaining, Infinity);
  assert.equal(meter.stopReason, undefined);
});

Deno.test("run: fuel, a deadline and a StopSignal each end in their own outcome, and the meter is ready after each", async () => {
  const { meter, exports } = await attached(RUNAWAY);
  const fuel = expectOutcome(
    meter.run(() => exports.spin(), { fuel: 100_000 }),
    "fuel_exhausted",
  );
  assert.ok(isFuelExhausted(fuel.error));
  assert.equal(fuel.error.budget, 100_000);
  assert.ok(fuel.fuel!.consumed <= 100_000);
  assert.equal(meter.stopReason, "fuel");
  assert.equal(meter.exhausted, false, "the next call may run");

  const late = expectOutcome(
    meter.run(() => exports.count_forever(), { timeout: 20, label: "count" }),
    "timeout",
  );
  assert.ok(isDeadlineExceeded(late.error));
  assert.equal(late.export, "count");
  assert.equal(meter.stopReason, "deadline");

  const stopped = await stopFromWorker((stop, started) =>
    meter.run(() => {
      started();
      return exports.spin();
    }, { stop })
  );
  assert.ok(isAborted(expectOutcome(stopped, "aborted").error));
  assert.equal(meter.stopReason, "stop");

  const { meter: computeMeter, exports: compute } = await attached(COMPUTE);
  computeMeter.stop();
  assert.equal(
    expectOutcome(computeMeter.run(() => compute.fib(5)), "returned").value,
    5,
    "run settles a stop left from before",
  );
});

Deno.test("run: the outcome is the stop, however the glue dressed the trap", async () => {
  const { meter, exports } = await attached(RUNAWAY);
  const dressings: [string, () => unknown][] = [
    ["wrapped", () => {
      try {
        exports.spin();
      } catch (cause) {
        throw new Error("library failed", { cause });
      }
    }],
    ["turned into an abort", () => {
      try {
        exports.spin();
      } catch {
        throw new WebAssembly.RuntimeError(
          "Aborted(native code called abort())",
        );
      }
    }],
    ["swallowed", () => {
      try {
        exports.spin();
      } catch {
        return "the library's error value";
      }
    }],
  ];
  for (const [how, fn] of dressings) {
    const result = meter.run(fn, { fuel: 10_000 });
    assert.equal(result.outcome, "fuel_exhausted", how);
  }
});

Deno.test("run: a trap is a trap, and a library's own error is the error outcome", async () => {
  const bytes = await assembleWat(`(module
    (func (export "boom") unreachable)
    (func (export "one") (result i32) (i32.const 1)))`);
  const { meter, exports } = await attached(bytes);
  const trap = expectOutcome(meter.run(() => exports.boom()), "trap");
  assert.ok(isGuestTrap(trap.error));
  assert.equal(trap.error.trap, "unreachable");
  let thrown: unknown;
  const failed = expectOutcome(
    meter.run(() => {
      try {
        return JSON.parse("{");
      } catch (error) {
        throw thrown = error;
      }
    }, { label: "parse" }),
    "error",
  );
  assert.ok(isHostImportError(failed.error));
  assert.equal(failed.error.cause, thrown, "the original is kept");
  assert.ok(thrown instanceof SyntaxError);
  assert.equal(failed.error.importName, "FuelMeter.run");
  assert.equal(failed.export, "parse");
  assert.match(
    failed.error.message,
    /^FuelMeter\.run: the function threw: SyntaxError: /,
  );
  assert.ok(!failed.error.message.includes("\n"), "one line");
  assert.equal(meter.stopReason, undefined);
  assert.ok(failed.fuel!.remaining === Infinity);
  const odd = expectOutcome(
    meter.run(() => {
      throw 42;
    }),
    "error",
  );
  assert.equal(odd.error.cause, 42);
  assert.equal(odd.error.message, "FuelMeter.run: the function threw: 42");
  assert.equal(
    expectOutcome(meter.run(() => exports.one()), "returned").value,
    1,
  );
});

Deno.test("run: the glue's cleanup after a stop runs on grace fuel, booked nowhere", async () => {
  const bytes = await assembleWat(`(module
    (global $freed (export "freed") (mut i32) (i32.const 0))
    (func (export "spin") (loop $l (br $l)))
    (func (export "free") (global.set $freed (i32.add (global.get $freed) (i32.const 1)))))`);
  const { meter, exports } = await attached(bytes);
  const freed = () => (exports.freed as unknown as WebAssembly.Global).value;
  const withCleanup = () => {
    try {
      exports.spin();
    } finally {
      exports.free(); // as sql.js's stmt.free() in its finally
    }
  };
  const tank = 1_000_000;
  meter.setFuel(tank);
  const result = expectOutcome(
    meter.run(withCleanup, { fuel: 5_000 }),
    "fuel_exhausted",
  );
  assert.equal(freed(), 1, "the cleanup ran");
  assert.equal(result.fuel!.consumed + result.fuel!.remaining, tank);
  assert.ok(result.fuel!.consumed <= 5_000, "the cleanup was not booked");

  const strict = expectOutcome(
    meter.run(withCleanup, { fuel: 5_000, grace: 0 }),
    "fuel_exhausted",
  );
  assert.equal(freed(), 1, "without grace the cleanup traps");
  assert.equal(meter.remaining, strict.fuel!.remaining);
  assert.ok(meter.remaining >= 0);
});

Deno.test("run: a stop puts the shadow stack pointer back", async () => {
  // Each call moves the stack pointer down by 16 and never returns.
  const bytes = await assembleWat(`(module
    (global $sp (export "__stack_pointer") (mut i32) (i32.const 65536))
    (func (export "deep")
      (global.set $sp (i32.sub (global.get $sp) (i32.const 16)))
      (loop $l (br $l))))`);
  const { meter, exports } = await attached(bytes);
  const sp = exports.__stack_pointer as unknown as WebAssembly.Global;
  for (let i = 0; i < 3; i++) {
    expectOutcome(
      meter.run(() => exports.deep(), { fuel: 1_000 }),
      "fuel_exhausted",
    );
  }
  assert.equal(sp.value, 65536);
});

Deno.test("run: FuelMeter.stop from inside the call is an interrupt", async () => {
  const bytes = await assembleWat(`(module
    (import "host" "tick" (func $tick))
    (func (export "loop") (loop $l (call $tick) (br $l))))`);
  let ticks = 0;
  const meter = new FuelMeter(bytes);
  const { instance } = await WebAssembly.instantiate(meter.bytes, {
    ...meter.imports,
    host: { tick: () => ++ticks === 3 && meter.stop() },
  });
  meter.attach(instance.exports);
  const result = expectOutcome(
    meter.run(instance.exports.loop as () => void),
    "interrupted",
  );
  assert.ok(isInterrupted(result.error));
  assert.equal(meter.stopReason, "host");
  assert.equal(ticks, 3);
});

Deno.test("FuelMeter takes bytes or an ArrayBuffer, and says what it wants otherwise", async () => {
  const bytes = await Deno.readFile(COMPUTE);
  const meter = new FuelMeter(bytes.buffer);
  assert.ok(meter.bytes.length > bytes.length);
  const module = await WebAssembly.compile(bytes);
  assert.throws(
    () => new FuelMeter(module as unknown as Uint8Array),
    (e) =>
      e instanceof TypeError && /Uint8Array or an ArrayBuffer/.test(e.message),
  );
  assert.throws(
    () => meter.run(() => 1),
    /attach an instance/,
  );
});

Deno.test("run: a meter that cannot resume takes fuel caps but refuses deadlines", async () => {
  const meter = new FuelMeter(await Deno.readFile(RUNAWAY), {
    resumable: false,
  });
  const { instance } = await WebAssembly.instantiate(
    meter.bytes,
    meter.imports,
  );
  meter.attach(instance);
  const spin = instance.exports.spin as () => void;
  const spent = expectOutcome(
    meter.run(spin, { fuel: 10_000 }),
    "fuel_exhausted",
  );
  assert.ok(spent.fuel!.consumed <= 10_000);
  assert.equal(meter.remaining, Infinity);
  assert.throws(() => meter.run(spin, { timeout: 5 }), /resumable: true/);
});

Deno.test("run: onStopping is called once, inside the call, when its stop begins, and never for a call that returns", async () => {
  const { meter, exports } = await attached(RUNAWAY);
  const seen: string[] = [];
  const onStopping = () => seen.push(`stopping ${meter.stopping}`);
  expectOutcome(
    meter.run(() => {
      seen.push("call");
      exports.spin();
    }, { fuel: 100_000, soft: true, grace: 10_000, onStopping }),
    "fuel_exhausted",
  );
  assert.deepEqual(seen, ["call", "stopping true"]);

  seen.length = 0;
  expectOutcome(
    meter.run(() => exports.count_forever(), { timeout: 20, onStopping }),
    "timeout",
  );
  assert.deepEqual(seen, ["stopping true"]);

  seen.length = 0;
  expectOutcome(
    meter.run(() => exports.spin(), { fuel: 0, onStopping }),
    "fuel_exhausted",
  );
  meter.run(() => 1, { onStopping });
  assert.deepEqual(seen, ["stopping true"], "a returned call is not told");
  // The hook belongs to its call: a later stop does not call it.
  expectOutcome(
    meter.run(() => exports.spin(), { fuel: 100 }),
    "fuel_exhausted",
  );
  assert.equal(seen.length, 1);
  assert.throws(
    () => meter.run(() => 1, { onStopping: "soon" as never }),
    TypeError,
    "onStopping must be a function",
  );
});

Deno.test("run: a soft stop the library never hears of (it reads no meter.stopping) lands as a hard one, however much grace is left; one it hears keeps its grace", async () => {
  const { meter, exports } = await attached(COMPUTE);
  // The deadline is only there to start the watchdog, which keeps the
  // grace's time; the fuel cap stops the call, inside the first loop.
  const options = { fuel: 1_000, soft: true, grace: 1e12, timeout: 600_000 };
  let returned = false;
  const cut = meter.run(() => {
    // Seconds of work, all of it paid by the grace.
    exports.sum_to(2 ** 31);
    returned = true;
  }, options);
  expectOutcome(cut, "fuel_exhausted");
  assert.equal(returned, false, "the loop was cut short, not run to its end");

  // Heard: the library reads meter.stopping after the stop, then unwinds on
  // its grace for as long as that takes (here three times the 100 ms an
  // unheard stop gets).
  let unwound = false;
  const heard = meter.run(() => {
    exports.sum_to(100_000);
    assert.equal(meter.stopping, true);
    const start = performance.now();
    while (performance.now() - start < 300) exports.sum_to(100_000);
    unwound = true;
  }, options);
  expectOutcome(heard, "fuel_exhausted");
  assert.equal(unwound, true);
});
