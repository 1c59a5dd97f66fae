/**
 * What host code throws, however hostile: a `Proxy` whose traps throw, a
 * revoked one, an error whose `message` or `cause` getter throws, a
 * multi-line or huge message. Each ends the call with an outcome whose
 * message is one line (the thrown value stays the `cause`), never with a
 * throw out of `invoke`, and the guest's next call runs on its own
 * budget, as if the bad one had ended normally.
 *
 * @module
 */

import assert from "./support/assert.ts";
import {
  FuelMeter,
  type Guest,
  invokeIsolated,
  isAborted,
  isExportError,
  isHostImportError,
  isInterrupted,
  isolatedChildrenExited,
  loadGuest,
  runWasi,
} from "../mod.ts";
import { wat } from "./support/instrument.ts";
import { expectOutcome } from "./support/outcome.ts";

/** Calls the host; `work` spends a little fuel and returns 7. */
const CALLS_HOST = await wat(`(module
  (import "env" "interrupt_execution" (func $i))
  (import "host" "f" (func $f))
  (func (export "viaf") (call $f))
  (func (export "interrupt") (call $i))
  (func (export "work") (result i32) (local i32)
    (loop $l
      (local.set 0 (i32.add (local.get 0) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get 0) (i32.const 1000))))
    (i32.const 7)))`);

/** A value every look at which throws. */
function trapsEverywhere(): object {
  const boom = () => {
    throw new Error("trap of a hostile proxy");
  };
  return new Proxy({}, {
    get: boom,
    has: boom,
    getPrototypeOf: boom,
    ownKeys: boom,
    getOwnPropertyDescriptor: boom,
  });
}

function revoked(): object {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  return proxy;
}

function withThrowingGetter(key: "message" | "name" | "cause"): Error {
  const error = new Error("plain");
  Object.defineProperty(error, key, {
    get() {
      throw new Error(`${key} getter`);
    },
  });
  return error;
}

const HOSTILE: [string, () => unknown][] = [
  ["a proxy whose traps throw", trapsEverywhere],
  ["a revoked proxy", revoked],
  ["an error whose message getter throws", () => withThrowingGetter("message")],
  ["an error whose name getter throws", () => withThrowingGetter("name")],
  ["an error whose cause getter throws", () => withThrowingGetter("cause")],
  ["an object whose toString throws", () => ({
    toString() {
      throw new Error("toString");
    },
  })],
  ["a symbol", () => Symbol("thrown")],
  ["null", () => null],
  ["undefined", () => undefined],
];

const MODES = [
  { what: "unmetered", fuel: undefined, interruptible: true },
  { what: "counting", fuel: 1_000_000, interruptible: true },
  { what: "deadline-only", fuel: false, interruptible: true },
] as const;

/** One line, not too long to read. */
function assertOneLine(message: string): void {
  assert.ok(!/[\r\n]/.test(message), `more than one line: ${message}`);
  assert.ok(message.length <= 1_000, `${message.length} characters`);
}

for (const mode of MODES) {
  for (const async of [false, true]) {
    const how = `${mode.what}, ${async ? "async" : "plain"}`;
    Deno.test(`a host import throwing a hostile value is an error outcome (${how})`, async () => {
      for (const [what, make] of HOSTILE) {
        const thrown = make();
        const guest = await loadGuest(CALLS_HOST, {
          fuel: mode.fuel,
          interruptible: mode.interruptible,
          async,
          imports: {
            host: {
              f: () => {
                throw thrown;
              },
            },
          },
        });
        const call = (name: string, options = {}) =>
          async
            ? guest.invokeAsync(name, [], options)
            : Promise.resolve(guest.invoke(name, [], options));
        const capped = mode.fuel === 1_000_000 ? { fuel: 100 } : {};
        const result = expectOutcome(await call("viaf", capped), "error");
        assert.ok(isHostImportError(result.error), what);
        assert.equal(result.error.cause, thrown, what);
        assertOneLine(result.error.message);
        await assertNextCallWhole(guest, call, mode.fuel);
      }
    });
  }
}

/**
 * The next call runs on the guest's whole budget (no cap left over from
 * the bad one), under a deadline of its own, and the books add up.
 */
async function assertNextCallWhole(
  guest: Guest,
  call: (name: string, options?: object) => Promise<unknown>,
  fuel: number | false | undefined,
): Promise<void> {
  const after = expectOutcome(
    await call("work", { timeout: 60_000 }) as never,
    "returned",
  );
  assert.equal(after.value, 7);
  if (fuel === 1_000_000) {
    const { consumed, remaining } = guest.meter!.usage;
    assert.equal(consumed + remaining, 1_000_000);
    assert.ok(after.fuel!.consumed > 1_000, `${after.fuel!.consumed}`);
  }
}

for (const async of [false, true]) {
  Deno.test(
    `interrupt's onCall throwing is an error outcome naming the interrupt import (${
      async ? "async" : "plain"
    })`,
    async () => {
      for (
        const [what, make] of [...HOSTILE, [
          "an Error",
          () => new Error("x"),
        ]] as const
      ) {
        const thrown = make();
        const guest = await loadGuest(CALLS_HOST, {
          fuel: 1_000_000,
          interruptible: true,
          async,
          interrupt: {
            onCall: () => {
              throw thrown;
            },
          },
          imports: { host: { f: () => {} } },
        });
        const call = (name: string, options = {}) =>
          async
            ? guest.invokeAsync(name, [], options)
            : Promise.resolve(guest.invoke(name, [], options));
        const result = expectOutcome(
          await call("interrupt", { fuel: 100 }),
          "error",
        );
        assert.ok(isHostImportError(result.error), what);
        assert.equal(result.error.importName, "env.interrupt_execution");
        assert.equal(result.error.cause, thrown, what);
        assertOneLine(result.error.message);
        await assertNextCallWhole(guest, call, 1_000_000);
      }
    },
  );
}

Deno.test("an interrupt's reason of any string gives a one-line interrupted outcome, and of any other value a one-line error", async () => {
  const load = (reason: unknown) =>
    loadGuest(CALLS_HOST, {
      interrupt: { onCall: () => ({ reason: reason as string }) },
      imports: { host: { f: () => {} } },
    });
  for (const reason of ["first line\nsecond line", "x".repeat(100_000)]) {
    const result = (await load(reason)).invoke("interrupt");
    // Not expectOutcome, whose message would show the hostile reason.
    assert.equal(result.outcome, "interrupted");
    assert.ok(result.outcome === "interrupted" && isInterrupted(result.error));
    assertOneLine(result.error.message);
  }
  for (const reason of [Symbol("why"), trapsEverywhere()]) {
    const result = (await load(reason)).invoke("interrupt");
    assert.equal(result.outcome, "error");
    assert.ok(result.outcome === "error");
    assert.ok(result.error.cause instanceof TypeError);
    assert.match(result.error.message, /onCall's reason must be a string/);
    assertOneLine(result.error.message);
  }
});

Deno.test("an AbortSignal aborted with a hostile or multi-line reason gives a one-line aborted outcome", async () => {
  const guest = await loadGuest(CALLS_HOST, {
    async: true,
    interruptible: true,
    imports: { host: { f: () => {} } },
  });
  for (const [, make] of [...HOSTILE, ["lines", () => "one\ntwo"]] as const) {
    const reason = make();
    const controller = new AbortController();
    controller.abort(reason);
    const result = await guest.invokeAsync("work", [], {
      signal: controller.signal,
    });
    assert.equal(result.outcome, "aborted");
    assert.ok(result.outcome === "aborted" && isAborted(result.error));
    assertOneLine(result.error.message);
  }
});

Deno.test("runWasi: an AbortSignal aborted with a hostile reason while the guest sleeps gives a one-line aborted outcome", async () => {
  // The abort lands in the sleep's abort listener, where a throw from
  // reading the reason would be uncaught and end the process.
  const sleeper = new URL("../guest/wasi/sleep.wasm", import.meta.url);
  for (const [what, make] of HOSTILE) {
    const controller = new AbortController();
    const run = runWasi(sleeper, {
      args: ["5000"],
      signal: controller.signal,
      stdout: "capture",
    });
    setTimeout(() => controller.abort(make()), 20);
    const result = await run;
    assert.equal(result.outcome, "aborted", what);
    assert.ok(result.outcome === "aborted" && isAborted(result.error), what);
    assertOneLine(result.error.message);
  }
});

Deno.test("FuelMeter#run: fn throwing a hostile value is an error outcome, and the meter runs on", async () => {
  const meter = new FuelMeter(CALLS_HOST, { fuel: 1_000_000 });
  const { instance } = await WebAssembly.instantiate(meter.bytes, {
    ...meter.imports,
    env: { interrupt_execution: () => {} },
    host: { f: () => {} },
  });
  meter.attach(instance);
  const work = instance.exports.work as () => number;
  for (const [what, make] of HOSTILE) {
    const thrown = make();
    const result = meter.run(() => {
      work();
      throw thrown;
    }, { fuel: 100_000, timeout: 60_000 });
    // Not expectOutcome, whose message would show the hostile cause.
    assert.equal(result.outcome, "error", what);
    assert.ok(result.outcome === "error" && isHostImportError(result.error));
    assert.equal(result.error.cause, thrown, what);
    assertOneLine(result.error.message);
    const next = expectOutcome(meter.run(work), "returned");
    assert.equal(next.value, 7);
    assert.equal(meter.consumed + meter.remaining, 1_000_000);
  }
});

Deno.test("an invokeAsync refuel hook that throws or rejects is an error outcome, and the guest runs on", async () => {
  const hooks: [string, () => number | Promise<number>][] = [
    ["throws", () => {
      throw new Error("no more fuel\ntoday");
    }],
    ["rejects", () => Promise.reject(new Error("no more fuel"))],
    ["throws a hostile value", () => {
      throw trapsEverywhere();
    }],
  ];
  for (const [what, refuel] of hooks) {
    const guest = await loadGuest(CALLS_HOST, {
      fuel: 1_000,
      async: true,
      imports: { host: { f: () => {} } },
    });
    const result = await guest.invokeAsync("work", [], { refuel });
    assert.equal(result.outcome, "error", what);
    assert.ok(result.outcome === "error" && isHostImportError(result.error));
    assert.match(result.error.message, /^the call's refuel hook threw: /);
    assertOneLine(result.error.message);
    guest.meter!.addFuel(1_000_000);
    const next = expectOutcome(
      await guest.invokeAsync("work", [], { timeout: 60_000 }),
      "returned",
    );
    assert.equal(next.value, 7);
    const { consumed, remaining } = guest.meter!.usage;
    assert.equal(consumed + remaining, 1_001_000);
  }
});

Deno.test("an invokeAsync refuel hook that gives no fuel count is an error outcome that says so", async () => {
  const wrong: unknown[] = ["5", -1, 1.5, NaN, 5n, Symbol("s"), {
    then: (resolve: (value: unknown) => void) => resolve(1_000_000),
  }];
  for (const value of wrong) {
    // A promise adopts a thenable: only a thenable given as it is is wrong.
    const thenable = typeof value === "object";
    for (const promised of thenable ? [false] : [false, true]) {
      const what = `${String(value)}${promised ? ", promised" : ""}`;
      const guest = await loadGuest(CALLS_HOST, {
        fuel: 1_000,
        async: true,
        imports: { host: { f: () => {} } },
      });
      const refuel = () =>
        (promised ? Promise.resolve(value) : value) as number;
      const result = await guest.invokeAsync("work", [], { refuel });
      assert.equal(result.outcome, "error", what);
      assert.ok(result.outcome === "error" && isHostImportError(result.error));
      assert.match(
        result.error.message,
        /refuel must give the fuel to add: a whole number.*; got /,
        what,
      );
      assertOneLine(result.error.message);
    }
  }
});

Deno.test("a hostile argument value is an ExportError that says what was given", async () => {
  const guest = await loadGuest(
    await wat(`(module
      (func (export "take") (param i32 i64 f64) (result i32) (local.get 0)))`),
    { fuel: Infinity, interruptible: true },
  );
  const given: [unknown, RegExp][] = [
    [trapsEverywhere(), /got an object$/],
    [revoked(), /got an object$/],
    [Symbol("s"), /got a symbol$/],
  ];
  for (const [value, says] of given) {
    for (const at of [0, 1, 2]) {
      const args: unknown[] = [1, 1n, 1];
      args[at] = value;
      assert.throws(() => guest.invoke("take", args), (error: Error) => {
        assert.ok(isExportError(error), String(error));
        assert.match(error.message, says);
        assertOneLine(error.message);
        return true;
      });
    }
  }
});

Deno.test("a guest's import and export names with line breaks stay on one line in messages", async () => {
  const bytes = await wat(`(module
    (import "env\\0a2026-01-01 FAKE LOG LINE" "f\\0d\\0aX" (func $f))
    (func (export "run\\0aevil") (call $f)))`);
  await assert.rejects(() => loadGuest(bytes), (error: Error) => {
    assertOneLine(error.message);
    assert.match(error.message, /env\\n2026-01-01 FAKE LOG LINE\.f\\r\\nX/);
    return true;
  });
  const guest = await loadGuest(bytes, {
    imports: {
      "env\n2026-01-01 FAKE LOG LINE": {
        "f\r\nX": () => {
          throw new Error("x");
        },
      },
    },
  });
  const result = expectOutcome(guest.invoke("run\nevil"), "error");
  assertOneLine(result.error.message);
  assert.throws(() => guest.invoke("run\nother"), (error: Error) => {
    assert.ok(isExportError(error));
    assertOneLine(error.message);
    return true;
  });
});

Deno.test("a host import returning what its result type cannot take is that import's error outcome", async () => {
  const bytes = await wat(`(module
    (import "host" "int" (func $int (result i32)))
    (import "host" "big" (func $big (result i64)))
    (import "host" "float" (func $float (result f64)))
    (func (export "int") (result i32) (call $int))
    (func (export "big") (result i64) (call $big))
    (func (export "float") (result f64) (call $float)))`);
  const wrong: [string, unknown][] = [
    ["int", 5n],
    ["int", Symbol("s")],
    ["int", trapsEverywhere()],
    ["int", {
      valueOf: () => {
        throw new Error("valueOf");
      },
    }],
    ["big", 5],
    ["big", undefined],
    ["float", revoked()],
  ];
  for (const async of [false, true]) {
    for (const [name, value] of wrong) {
      const guest = await loadGuest(bytes, {
        async,
        interruptible: true,
        imports: {
          host: { int: () => value, big: () => value, float: () => value },
        },
      });
      const result = async ? await guest.invokeAsync(name) : guest.invoke(name);
      assert.equal(result.outcome, "error", `${name} ${String(typeof value)}`);
      assert.ok(result.outcome === "error" && isHostImportError(result.error));
      assert.equal(result.error.importName, `host.${name}`);
      assertOneLine(result.error.message);
    }
    // What V8 converts stays as it was: undefined and true are numbers.
    const lenient = await loadGuest(bytes, {
      async,
      imports: {
        host: { int: () => undefined, big: () => true, float: () => "2.5" },
      },
    });
    const call = (name: string) =>
      async ? lenient.invokeAsync(name) : Promise.resolve(lenient.invoke(name));
    assert.equal(expectOutcome(await call("int"), "returned").value, 0);
    assert.equal(expectOutcome(await call("big"), "returned").value, 1n);
    assert.equal(expectOutcome(await call("float"), "returned").value, 2.5);
  }
});

/** An imports module whose `host.f(i)` throws the i-th hostile value. */
const HOSTILE_MODULE = `
const boom = () => { throw new Error("trap of a hostile proxy"); };
const getter = (key) => {
  const error = new Error("plain");
  Object.defineProperty(error, key, { get() { throw new Error(key); } });
  return error;
};
const values = [
  () => new Proxy({}, { get: boom, has: boom, getPrototypeOf: boom, ownKeys: boom, getOwnPropertyDescriptor: boom }),
  () => { const { proxy, revoke } = Proxy.revocable({}, {}); revoke(); return proxy; },
  () => getter("message"),
  () => getter("name"),
  () => ({ toString() { throw new Error("toString"); } }),
];
export default { host: { f(i) { throw values[i](); } } };
`;

Deno.test("isolation: an import throwing a hostile value is an error outcome, as in process", async () => {
  const bytes = await wat(`(module
    (import "host" "f" (func $f (param i32)))
    (func (export "run") (param i32) (call $f (local.get 0))))`);
  const path = await Deno.makeTempFile({ suffix: ".js" });
  try {
    await Deno.writeTextFile(path, HOSTILE_MODULE);
    for (let i = 0; i < 5; i++) {
      const result = await invokeIsolated(bytes, "run", [i], {
        imports: new URL(`file://${path}`),
        permissions: { read: [path] },
        timeout: 60_000,
      });
      assert.equal(result.outcome, "error", `value ${i}`);
      assert.ok(result.outcome === "error" && isHostImportError(result.error));
      assert.match(result.error.message, /^host import host\.f threw: /);
      assertOneLine(result.error.message);
    }
  } finally {
    await Deno.remove(path);
    await isolatedChildrenExited();
  }
});

/** An imports module whose `host.f(i)` interrupts with the i-th reason. */
const REASONS_MODULE = `
const boom = () => { throw new Error("trap"); };
const reasons = [
  () => new Proxy({}, { get: boom, has: boom, getPrototypeOf: boom, ownKeys: boom, getOwnPropertyDescriptor: boom }),
  () => { const { proxy, revoke } = Proxy.revocable({}, {}); revoke(); return proxy; },
  () => { const cycle = {}; cycle.self = cycle; return cycle; },
  () => ({ toJSON() { throw new Error("toJSON"); } }),
  () => Symbol("s"),
  () => ({ plain: [1, 2] }),
];
export default (host) => ({
  host: { f(i) { host.interrupt("host.f", { reason: reasons[i](), code: reasons[i]() }); } },
});
`;

Deno.test("isolation: an interrupt whose reason JSON cannot hold is the interrupted outcome, as in process", async () => {
  const bytes = await wat(`(module
    (import "host" "f" (func $f (param i32)))
    (func (export "run") (param i32) (call $f (local.get 0))))`);
  const path = await Deno.makeTempFile({ suffix: ".js" });
  try {
    await Deno.writeTextFile(path, REASONS_MODULE);
    for (let i = 0; i < 6; i++) {
      const result = await invokeIsolated(bytes, "run", [i], {
        imports: new URL(`file://${path}`),
        permissions: { read: [path] },
        timeout: 60_000,
      });
      assert.equal(result.outcome, "interrupted", `reason ${i}`);
      assert.ok(result.outcome === "interrupted");
      assertOneLine(result.error.message);
      if (i === 5) assert.deepEqual(result.error.reason, { plain: [1, 2] });
      else assert.equal(typeof result.error.reason, "string", `reason ${i}`);
    }
  } finally {
    await Deno.remove(path);
    await isolatedChildrenExited();
  }
});

Deno.test("an async interrupt onCall is the error outcome that says so, and its rejection does not end the process", async () => {
  for (const async of [false, true]) {
    const guest = await loadGuest(CALLS_HOST, {
      async,
      imports: { host: { f: () => {} } },
      interrupt: {
        onCall: (async () => {
          await null;
          throw new Error("async onCall failed");
        }) as () => void,
      },
    });
    const result = async
      ? await guest.invokeAsync("interrupt")
      : guest.invoke("interrupt");
    assert.equal(result.outcome, "error");
    assert.ok(result.outcome === "error" && isHostImportError(result.error));
    assert.match(
      result.error.message,
      /onCall returned a promise.*synchronous/,
    );
    assertOneLine(result.error.message);
  }
  await new Promise((resolve) => setTimeout(resolve, 20));
});

Deno.test("a host import's error of megabytes of short lines (a guest's text) is described by its head, with the whole length", async () => {
  // Folding all of it took the thread seconds (18 s for 16 MB) after the
  // call, past its deadline; only the head is shown.
  const message = "a\r\n".repeat(1 << 20);
  const guest = await loadGuest(CALLS_HOST, {
    imports: {
      host: {
        f: () => {
          throw new Error(message);
        },
      },
    },
  });
  const result = expectOutcome(guest.invoke("viaf"), "error");
  assertOneLine(result.error.message);
  assert.match(result.error.message, /threw: Error: a a a /);
  // The whole text's length ("Error: " and the message), not the folded
  // head's.
  assert.match(
    result.error.message,
    new RegExp(`… \\(${"Error: ".length + message.length} characters\\)`),
  );
});
