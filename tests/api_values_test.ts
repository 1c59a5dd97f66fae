import assert from "./support/assert.ts";
import {
  DeadlineExceeded,
  FuelMeter,
  invokeIsolated,
  isExportError,
  isGuestLoadError,
  loadGuest,
} from "../mod.ts";
import { assembleWat } from "../guest/build.ts";
import { COMPUTE, RUNAWAY, SEED } from "./support/guests.ts";
import { expectOutcome } from "./support/outcome.ts";
import { runDeno } from "./support/cli.ts";
import { MAX_TIMER_MS, startTimer } from "../src/watchdog/long_timer.ts";

const TYPED = assembleWat(`(module
  (func (export "add") (param i32 i32) (result i32)
    (i32.add (local.get 0) (local.get 1)))
  (func (export "wide") (param i64) (result i64) (local.get 0))
  (func (export "half") (param f64 f32) (result f64)
    (f64.add (local.get 0) (f64.promote_f32 (local.get 1))))
  (func (export "keep") (param externref) (result externref) (local.get 0)))`);

function refusedArgument(
  pattern: RegExp,
): (error: unknown) => boolean {
  return (error) => isExportError(error) && pattern.test(error.message);
}

Deno.test("an argument that does not fit its parameter's type is refused, naming both", async () => {
  const guest = await loadGuest(await TYPED);
  assert.throws(
    () => guest.invoke("add", ["abc", 1]),
    refusedArgument(
      /argument 0 of export "add" .* is i32: expected a whole number from -2147483648 to 4294967295; got string "abc"/,
    ),
  );
  assert.throws(
    () => guest.invoke("add", [2 ** 32 + 5, 0]),
    refusedArgument(/is i32: .*; got number 4294967301/),
  );
  assert.throws(
    () => guest.invoke("add", [1, 1.5]),
    refusedArgument(/argument 1 .* got number 1\.5/),
  );
  assert.throws(
    () => guest.invoke("wide", [5]),
    refusedArgument(/is i64: expected a BigInt .*; got number 5/),
  );
  assert.throws(
    () => guest.invoke("wide", [1n << 64n]),
    refusedArgument(/is i64: .*; got bigint 18446744073709551616n/),
  );
  assert.throws(
    () => guest.invoke("half", [1n, 2]),
    refusedArgument(/is f64: expected a number; got bigint 1n/),
  );
});

Deno.test("arguments that are not an array are refused, not split or dropped", async () => {
  const guest = await loadGuest(await TYPED);
  const async = await loadGuest(await TYPED, { async: true });
  const notArrays: unknown[] = ["12", 7, { 0: 1, 1: 2, length: 2 }, null];
  for (const args of notArrays) {
    const shown = args === null ? "null" : typeof args;
    const refused = refusedArgument(
      new RegExp(
        `arguments of export "add" go in an array, .*; got (an? )?${shown}`,
      ),
    );
    assert.throws(() => guest.invoke("add", args as unknown[]), refused);
    await assert.rejects(
      () => async.invokeAsync("add", args as unknown[]),
      refused,
    );
    await assert.rejects(
      () => invokeIsolated(new Uint8Array(0), "add", args as unknown[]),
      refused,
    );
  }
});

Deno.test("a revoked proxy given as the arguments is refused with the same line", async () => {
  const guest = await loadGuest(await TYPED);
  const async = await loadGuest(await TYPED, { async: true });
  const { proxy, revoke } = Proxy.revocable([1, 2], {});
  revoke();
  const refused = refusedArgument(
    /arguments of export "add" go in an array, .*; got an object$/,
  );
  assert.throws(() => guest.invoke("add", proxy), refused);
  await assert.rejects(() => async.invokeAsync("add", proxy), refused);
  await assert.rejects(
    () => invokeIsolated(new Uint8Array(0), "add", proxy),
    refused,
  );
});

Deno.test("call() given one array where it takes the arguments themselves says so", async () => {
  const guest = await loadGuest(await TYPED);
  assert.throws(
    () => guest.call("add", [1, 2]),
    refusedArgument(
      /takes 2 arguments .*, got 1 \(an array of 2: call\("add", 1, 2\) takes the arguments themselves, invoke\("add", \[1, 2\]\) an array\)/,
    ),
  );
  // A count that is wrong for another reason gets no such hint.
  assert.throws(
    () => guest.call("add", 1),
    (error) => isExportError(error) && !/an array of/.test(error.message),
  );
});

Deno.test("arguments at the edges of their types' ranges pass", async () => {
  const guest = await loadGuest(await TYPED);
  assert.equal(guest.call("add", -(2 ** 31), 0), -(2 ** 31));
  assert.equal(guest.call("add", 2 ** 32 - 1, 0), -1);
  assert.equal(guest.call("wide", (1n << 64n) - 1n), -1n);
  assert.equal(guest.call("wide", -(1n << 63n)), -(1n << 63n));
  assert.ok(Number.isNaN(guest.call("half", NaN, 0)));
  const token = { any: "host value" };
  assert.equal(guest.call("keep", token), token);
});

Deno.test("a bad value is refused on every call, not only the first", async () => {
  const guest = await loadGuest(await TYPED);
  assert.equal(guest.call("add", 1, 2), 3);
  assert.throws(() => guest.invoke("add", ["1", 2]), isExportError);
});

Deno.test("fuel must be a whole number or Infinity, wherever it is given", async () => {
  await assert.rejects(
    () => loadGuest(COMPUTE, { fuel: -1 }),
    RangeError,
    "loadGuest's fuel must be a whole number from 0 to 2^53 - 1, Infinity, or false (no count: deadline-only checks); got number -1",
  );
  // false is a load's and a meter's, and the message says so; a call's is not.
  await assert.rejects(
    () => loadGuest(COMPUTE, { fuel: true as unknown as number }),
    TypeError,
    "Infinity, or false (no count: deadline-only checks); got boolean true",
  );
  assert.throws(
    () =>
      new FuelMeter(Deno.readFileSync(COMPUTE), {
        fuel: true as unknown as number,
      }),
    TypeError,
    "new FuelMeter's fuel must be a whole number from 0 to 2^53 - 1, Infinity, or false",
  );
  await assert.rejects(
    () => loadGuest(COMPUTE, { fuel: 1.5 }),
    RangeError,
    "got number 1.5",
  );
  await assert.rejects(
    () => loadGuest(COMPUTE, { fuel: "100" as unknown as number }),
    TypeError,
    'got string "100"',
  );
  const guest = await loadGuest(COMPUTE, { fuel: 1_000 });
  assert.throws(
    () => guest.invoke("fib", [5], { fuel: -3 }),
    RangeError,
    "invoke's fuel must be",
  );
  await assert.rejects(
    () => invokeIsolated(COMPUTE, "fib", [5], { fuel: NaN }),
    RangeError,
    "invokeIsolated's fuel must be",
  );
});

Deno.test("a timeout must be finite and not negative: NaN is not 'no deadline'", async () => {
  for (const timeout of [NaN, -5, Infinity]) {
    await assert.rejects(
      () => loadGuest(RUNAWAY, { timeout }),
      RangeError,
      "loadGuest's timeout must be a finite number of milliseconds, 0 or more (leave it out for no deadline)",
    );
  }
  const guest = await loadGuest(RUNAWAY, { interruptible: true });
  assert.throws(
    () => guest.invoke("spin", [], { timeout: NaN }),
    RangeError,
    "invoke's timeout must be",
  );
  const asyncGuest = await loadGuest(RUNAWAY, { async: true });
  await assert.rejects(
    () => asyncGuest.invokeAsync("spin", [], { timeout: -5 }),
    RangeError,
    "invokeAsync's timeout must be",
  );
  await assert.rejects(
    () => invokeIsolated(RUNAWAY, "spin", [], { timeout: "1" as never }),
    TypeError,
    "invokeIsolated's timeout must be",
  );
});

Deno.test("a timer past what setTimeout holds waits rather than firing at once", async () => {
  let fired = false;
  const cancel = startTimer(MAX_TIMER_MS + 1_000, () => {
    fired = true;
  });
  // Timers fire in order of their due time: this one comes due first.
  await new Promise((resolve) => setTimeout(resolve, 10));
  cancel();
  assert.equal(fired, false);
});

Deno.test("a call's timeout past what a timer holds lets the call run", async () => {
  const guest = await loadGuest(COMPUTE, { async: true });
  const result = await guest.invokeAsync("fib", [10], {
    timeout: 3_000_000_000,
  });
  expectOutcome(result, "returned");
});

Deno.test("supplying the runner's interrupt import is refused, with the ways to do it", async () => {
  const imports = { env: { interrupt_execution: () => {} } };
  await assert.rejects(
    () => loadGuest(SEED, { imports }),
    TypeError,
    "the imports supply env.interrupt_execution, which is the runner's interrupt import: pass interrupt: false to use your own",
  );
  let called = false;
  const guest = await loadGuest(SEED, {
    imports: {
      env: {
        interrupt_execution: () => {
          called = true;
        },
      },
    },
    interrupt: false,
  });
  expectOutcome(guest.invoke("exit_early"), "returned");
  assert.ok(called);
});

Deno.test("times in a stop's message are rounded", () => {
  const error = new DeadlineExceeded(81.54343499999982, 82.71234);
  assert.equal(
    error.message,
    "guest stopped at its deadline: 81.5 ms allowed, stopped after 82.7 ms",
  );
  assert.equal(error.timeout, 81.54343499999982);
});

Deno.test("a timed-out AbortSignal's stop claims no allowance it cannot know", async () => {
  // Its abort event fires late when the thread is busy: the time to it is
  // no allowance, and the signal does not tell its own.
  const guest = await loadGuest(RUNAWAY, { async: true });
  const result = await guest.invokeAsync("spin", [], {
    signal: AbortSignal.timeout(20),
  });
  const error = expectOutcome(result, "timeout").error;
  assert.match(
    error.message,
    /^guest stopped at its deadline: its AbortSignal timed out, stopped after [\d.]+ ms$/,
  );
  // A timeout of the call's own still says what it allowed.
  const own = expectOutcome(
    await guest.invokeAsync("spin", [], { timeout: 20 }),
    "timeout",
  ).error;
  assert.match(own.message, /: 20 ms allowed, stopped after/);
});

Deno.test("a missing file through the API gives no hint meant for the command line", async () => {
  const error = await loadGuest("no-such-guest.wasm").catch((e) => e);
  assert.ok(isGuestLoadError(error));
  assert.equal(
    error.message,
    "guest file not found: no-such-guest.wasm; check the path",
  );
});

Deno.test("invokeIsolated takes a URL for its imports module, and forwards the child's stderr", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(
      `${dir}/probe.wasm`,
      await assembleWat(`(module
        (import "env" "probe" (func $probe (result i32)))
        (func (export "run") (result i32) (call $probe)))`),
    );
    await Deno.writeTextFile(
      `${dir}/imports.ts`,
      `export default { env: { probe: () => { console.error("said by the child"); return 7; } } };\n`,
    );
    const mod = new URL("../mod.ts", import.meta.url).href;
    await Deno.writeTextFile(
      `${dir}/main.ts`,
      `import { invokeIsolated } from ${JSON.stringify(mod)};
      const result = await invokeIsolated(
        new URL("./probe.wasm", import.meta.url),
        "run",
        [],
        { imports: new URL("./imports.ts", import.meta.url) },
      );
      console.log(JSON.stringify(result));\n`,
    );
    const run = await runDeno(
      ["run", "--allow-read", "--allow-run", `${dir}/main.ts`],
      { cwd: "/" },
    );
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), {
      outcome: "returned",
      export: "run",
      value: 7,
    });
    assert.match(run.stderr, /said by the child/);

    // A path is resolved against the working directory.
    await Deno.writeTextFile(
      `${dir}/relative.ts`,
      `import { invokeIsolated } from ${JSON.stringify(mod)};
      const result = await invokeIsolated("probe.wasm", "run", [], {
        imports: "./imports.ts",
      });
      console.log(JSON.stringify(result));\n`,
    );
    const relative = await runDeno(
      ["run", "--allow-read", "--allow-run", "relative.ts"],
      { cwd: dir },
    );
    assert.equal(relative.code, 0, relative.stderr);
    assert.equal(JSON.parse(relative.stdout).value, 7);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("FuelMeter.run checks its fuel and timeout too", async () => {
  const meter = new FuelMeter(await Deno.readFile(RUNAWAY));
  const { instance } = await WebAssembly.instantiate(
    meter.bytes,
    meter.imports,
  );
  meter.attach(instance);
  const spin = instance.exports.spin as () => void;
  assert.throws(
    () => meter.run(spin, { timeout: NaN }),
    RangeError,
    "FuelMeter.run's timeout must be",
  );
  assert.throws(
    () => meter.run(spin, { fuel: -1 }),
    RangeError,
    "FuelMeter.run's fuel must be",
  );
  expectOutcome(meter.run(spin, { timeout: 1 }), "timeout");
});

Deno.test("changing a signature the guest gave changes no argument check", async () => {
  const guest = await loadGuest(await TYPED);
  const given = guest.signature("add")!;
  assert.deepEqual(given, { params: ["i32", "i32"], results: ["i32"] });
  given.params.length = 0;
  given.params.push("i64");
  assert.deepEqual(guest.signature("add")!.params, ["i32", "i32"]);
  assert.equal(guest.call("add", 2, 3), 5);
  assert.throws(() => guest.call("add", 2n, 3), refusedArgument(/i32/));
});
