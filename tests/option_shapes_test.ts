/**
 * Options of the right name but the wrong shape: each is one `TypeError`
 * line naming the option before anything runs, not a value read some other
 * way (a string's characters taken for variables, a number for a module
 * name, a symbol that breaks the messages that name it).
 */
import assert from "./support/assert.ts";
import {
  FuelMeter,
  invokeIsolated,
  isExportError,
  loadGuest,
  runWasi,
} from "../mod.ts";
import { instrument } from "../src/wasm/mod.ts";
import { attachedMeter } from "./support/attached_meter.ts";
import { COMPUTE, SEED } from "./support/guests.ts";
import { expectOutcome } from "./support/outcome.ts";
import { wasiGuest } from "./support/wasi_guests.ts";

/** Asserts a one-line `TypeError` whose message matches every pattern. */
function refused(...patterns: RegExp[]): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof TypeError, String(error));
    for (const pattern of patterns) assert.match(error.message, pattern);
    assert.equal(error.message.split("\n").length, 1);
    return true;
  };
}

Deno.test("loadGuest's interrupt must be false or { module, name, onCall } of the right types", async () => {
  const wrong: [unknown, RegExp][] = [
    [5, /interrupt must be false .* or an object .*; got number 5/],
    ["x", /interrupt must be false .*; got string "x"/],
    [null, /interrupt must be false .*; got null/],
    [true, /interrupt must be false .*; got boolean true/],
    [{ nmae: "stop" }, /has no option "nmae" \(did you mean "name"\?\)/],
    [{ module: 5 }, /interrupt\.module must be a string.*got number 5/],
    [{ name: ["a"] }, /interrupt\.name must be a string.*got an array/],
    [{ onCall: 5 }, /interrupt\.onCall must be a function.*got number 5/],
  ];
  for (const [interrupt, pattern] of wrong) {
    await assert.rejects(
      () => loadGuest(SEED, { interrupt: interrupt as never }),
      refused(/^loadGuest's interrupt/, pattern),
      String(interrupt),
    );
  }
  // The documented shapes still load and stop the guest.
  let calls = 0;
  const named = await loadGuest(SEED, {
    interrupt: {
      module: "env",
      name: "interrupt_execution",
      onCall: () => void calls++,
    },
  });
  expectOutcome(named.invoke("exit_early"), "interrupted");
  assert.equal(calls, 1);
});

Deno.test("an interrupt option's fields are read once, so a getter cannot change them after the check", async () => {
  let reads = 0;
  const interrupt = {
    get name() {
      reads++;
      return reads === 1 ? "interrupt_execution" : 5;
    },
  };
  const guest = await loadGuest(SEED, { interrupt: interrupt as never });
  expectOutcome(guest.invoke("exit_early"), "interrupted");
  assert.equal(reads, 1);
});

Deno.test("a label must be a string wherever it is given, so that every message can name the guest", async () => {
  for (const label of [Symbol("guest"), 5, {}, ["a", "b"], null]) {
    await assert.rejects(
      () => loadGuest(COMPUTE, { label: label as never }),
      refused(/^loadGuest's label must be a string/),
    );
    await assert.rejects(
      () => runWasi(wasiGuest("hello"), { label: label as never }),
      refused(/^runWasi's label must be a string/),
    );
  }
  const { meter } = await attachedMeter(await Deno.readFile(COMPUTE));
  assert.throws(
    () => meter.run(() => 0, { label: Symbol("run") as never }),
    refused(/^FuelMeter.run's label must be a string/),
  );
  // Refused before the run: the meter's books are as they were.
  expectOutcome(meter.run(() => 0, { label: "tick" }), "returned");
  // A string label names the guest in the branded errors.
  const guest = await loadGuest(COMPUTE, { label: "adder" });
  assert.throws(
    () => guest.invoke("nope"),
    (error: unknown) => isExportError(error) && /adder/.test(error.message),
  );
});

Deno.test("invokeIsolated's env and permissions must be objects, not strings or arrays read by index", async () => {
  const wrong: [Parameters<typeof invokeIsolated>[3], RegExp][] = [
    [
      { env: "A=1" as never },
      /^invokeIsolated's env must be an object .*got string "A=1"/,
    ],
    [
      { env: ["A=1"] as never },
      /^invokeIsolated's env must be an object .*got an array/,
    ],
    [
      { env: 5 as never },
      /^invokeIsolated's env must be an object .*got number 5/,
    ],
    [
      { env: { A: 5 } as never },
      /^invokeIsolated's env\.A must be a string; got number 5/,
    ],
    [
      { permissions: true as never },
      /^invokeIsolated's permissions must be an object .*got boolean true/,
    ],
    [
      { permissions: "all" as never },
      /^invokeIsolated's permissions must be an object .*got string "all"/,
    ],
    [
      { permissions: ["read"] as never },
      /^invokeIsolated's permissions must be an object .*got an array/,
    ],
  ];
  for (const [options, pattern] of wrong) {
    await assert.rejects(
      () => invokeIsolated(COMPUTE, "sum_to", [3], options),
      refused(pattern),
      JSON.stringify(options),
    );
  }
});

Deno.test("new FuelMeter's switches must be booleans and its hooks functions, not values that read as either", async () => {
  const bytes = await Deno.readFile(COMPUTE);
  const wrong: [Record<string, unknown>, RegExp][] = [
    [
      { stopFlag: "no" },
      /^new FuelMeter's stopFlag must be true or false; got string "no"$/,
    ],
    [
      { resumable: 1 },
      /^new FuelMeter's resumable must be true or false; got number 1$/,
    ],
    [{ suspend: "yes" }, /^new FuelMeter's suspend must be true or false/],
    [
      { poll: 5 },
      /^new FuelMeter's poll must be a function, called each time the guest asks for fuel; got number 5$/,
    ],
    [
      { refuel: "more" },
      /^new FuelMeter's refuel must be a function.*got string "more"$/,
    ],
  ];
  for (const [options, pattern] of wrong) {
    assert.throws(
      () => new FuelMeter(bytes, options as never),
      refused(pattern),
      JSON.stringify(options),
    );
    await assert.rejects(
      () => FuelMeter.create(bytes, options as never),
      refused(pattern),
      JSON.stringify(options),
    );
  }
});

Deno.test("what interrupt.onCall returns must be nothing or { reason, code } of the documented types: anything else is the import's error", async () => {
  const wrong: [unknown, RegExp][] = [
    [
      5,
      /onCall must return nothing or \{ reason\?, code\? \}; it returned number 5/,
    ],
    ["why", /onCall must return nothing .*; it returned string "why"/],
    [{ reason: 5 }, /onCall's reason must be a string; it returned number 5/],
    [
      { code: true },
      /onCall's code must be a string or a number; it returned boolean true/,
    ],
  ];
  for (const [value, pattern] of wrong) {
    const guest = await loadGuest(SEED, {
      interrupt: { onCall: () => value as never },
    });
    const result = expectOutcome(guest.invoke("exit_early"), "error");
    assert.ok(
      result.error.cause instanceof TypeError,
      String(result.error.cause),
    );
    assert.match(result.error.cause.message, pattern);
  }
  for (
    const details of [undefined, null, { reason: "why", code: "E42" }, {
      code: 7,
    }]
  ) {
    const guest = await loadGuest(SEED, {
      interrupt: { onCall: () => details as never },
    });
    const result = expectOutcome(guest.invoke("exit_early"), "interrupted");
    assert.equal(result.error.code, details?.code);
    assert.equal(result.error.reason, details?.reason);
  }
});

Deno.test("instrument's switches must be booleans: validate: 0 would skip the check of the input", async () => {
  const bytes = await Deno.readFile(COMPUTE);
  for (
    const [name, value] of [
      ["validate", 0],
      ["resumable", "no"],
      ["stopFlag", 1],
      ["fuel", "no"],
      ["deferStart", null],
    ] as const
  ) {
    assert.throws(
      () => instrument(bytes, { [name]: value } as never),
      refused(new RegExp(`^instrument's ${name} must be true or false; got `)),
    );
  }
  assert.ok(WebAssembly.validate(instrument(bytes, { validate: false }).bytes));
});

Deno.test("a compiled module where bytes are needed is refused with the reason it is needed, and a child's imports must be a module's path", async () => {
  const module = await WebAssembly.compile(await Deno.readFile(COMPUTE));
  await assert.rejects(
    () => invokeIsolated(module as never, "fib", [3]),
    refused(
      /^invokeIsolated runs the guest in a child process, which reads its bytes: pass bytes, a path or a URL/,
    ),
  );
  await assert.rejects(
    () => invokeIsolated(new Response("") as never, "fib", [3]),
    refused(
      /: expected a path, URL or bytes \(a Response: pass its URL, or its bytes: await response\.bytes\(\)\)$/,
    ),
  );
  await assert.rejects(
    () =>
      invokeIsolated(COMPUTE, "fib", [3], {
        imports: { env: {} } as never,
      }),
    refused(
      /^invokeIsolated's imports must be the path or URL of a module .*; got an object/,
    ),
  );
  await assert.rejects(
    () => runWasi(module as never),
    refused(/^runWasi writes its checks into the command's bytes: pass bytes/),
  );
  const why: [Parameters<typeof loadGuest>[1], RegExp][] = [
    [{ fuel: 100 }, /^fuel metering rewrites the guest's bytes/],
    [{ timeout: 100 }, /^a deadline, signal or StopSignal needs checks/],
    [{ fuel: false }, /^a deadline-only guest \(fuel: false\) needs checks/],
    [{ async: true }, /^an async guest needs checks/],
    [{ interruptible: true }, /^an interruptible guest needs checks/],
  ];
  for (const [options, pattern] of why) {
    await assert.rejects(() => loadGuest(module, options), refused(pattern));
  }
});

Deno.test("FuelMeter.run's soft must be a boolean, and its onStopping a function", async () => {
  const { meter } = await attachedMeter(await Deno.readFile(COMPUTE));
  assert.throws(
    () => meter.run(() => 0, { soft: "false" as never }),
    refused(
      /^FuelMeter\.run's soft must be true or false; got string "false"$/,
    ),
  );
  assert.throws(
    () => meter.run(() => 0, { onStopping: 5 as never }),
    refused(
      /^FuelMeter\.run's onStopping must be a function, called when the stop begins; got number 5$/,
    ),
  );
});

Deno.test("invokeIsolated's arguments that are not an array get an example of invokeIsolated, not of invoke", async () => {
  await assert.rejects(
    () => invokeIsolated(COMPUTE, "fib", 3 as never),
    (error: unknown) =>
      isExportError(error) &&
      /go in an array, e\.g\. invokeIsolated\(guest, "fib", \[1, 2\]\); got number 3$/
        .test(error.message),
  );
});
