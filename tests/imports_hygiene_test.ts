/**
 * A guest chooses its import names, and the host chooses its import values:
 * neither may reach past what the host supplied. Names are looked up as own
 * properties only, every function is wrapped, and a promise never turns
 * into a silent `0`.
 */

import assert from "./support/assert.ts";
import { assembleWat } from "../guest/build.ts";
import {
  type CallOutcome,
  FuelMeter,
  type GuestOptions,
  HostImportError,
  invokeIsolated,
  isHostImportError,
  isImportError,
  isInterrupted,
  loadGuest,
} from "../mod.ts";
import { expectOutcome } from "./support/outcome.ts";

const objectToString = Object.prototype.toString;

/** The host still works as before: nothing reached `Object`'s prototype. */
function assertHostIntact(): void {
  assert.equal(Object.isFrozen(Object.prototype), false);
  assert.equal(Object.isSealed(Object), false);
  assert.equal(Object.prototype.toString, objectToString);
  const record: Record<string, unknown> = {};
  record.added = 1;
  assert.equal(JSON.stringify(record), '{"added":1}');
  assert.deepEqual(Object.keys(Object.prototype), []);
  class Point {
    constructor(public x: number) {}
  }
  assert.equal(new Point(3).x, 3);
}

/** A guest that imports `module.name` as a function and calls it from `run`. */
function callingGuest(
  module: string,
  name: string,
  type = "(param i32) (result i32)",
): Promise<Uint8Array> {
  return assembleWat(`(module
    (import ${JSON.stringify(module)} ${JSON.stringify(name)} (func $f ${type}))
    (func (export "run") (param i32) (result i32) (call $f (local.get 0))))`);
}

// With no imports supplied, `constructor.getPrototypeOf(5)` is
// `Number.prototype`, its prototype `Object.prototype`, and
// `constructor.freeze` of that froze the host's `Object.prototype`.
const FREEZE_ATTACK = `(module
  (import "constructor" "getPrototypeOf" (func $proto_of_i32 (param i32) (result externref)))
  (import "constructor" "getPrototypeOf" (func $proto_of (param externref) (result externref)))
  (import "constructor" "freeze" (func $freeze (param externref) (result externref)))
  (func (export "run")
    (drop (call $freeze (call $proto_of (call $proto_of_i32 (i32.const 5)))))))`;

Deno.test("a guest importing constructor.freeze with no imports supplied gets a missing import", async () => {
  for (const options of [{}, { fuel: 1_000 }, { async: true }]) {
    await assert.rejects(
      loadGuest(await assembleWat(FREEZE_ATTACK), options),
      (e) =>
        isImportError(e) &&
        /constructor\.getPrototypeOf is missing/.test(e.message),
    );
    assertHostIntact();
  }
});

Deno.test("isolation: the same guest gets the missing import in the child, across the wire", async () => {
  const bytes = await assembleWat(FREEZE_ATTACK);
  await assert.rejects(
    invokeIsolated(bytes, "run"),
    (e) =>
      isImportError(e) &&
      /constructor\.getPrototypeOf is missing/.test(e.message),
  );
  assertHostIntact();
});

const INHERITED_NAMES: [string, string][] = [
  ["constructor", "freeze"],
  ["constructor", "getPrototypeOf"],
  ["constructor", "defineProperty"],
  ["__proto__", "toString"],
  ["__proto__", "valueOf"],
  ["__proto__", "__defineGetter__"],
  ["toString", "call"],
  ["hasOwnProperty", "apply"],
  ["env", "constructor"],
  ["env", "__proto__"],
  ["env", "toString"],
  ["env", "hasOwnProperty"],
];

Deno.test("names found only on the prototype chain are missing imports", async () => {
  for (const [module, name] of INHERITED_NAMES) {
    for (const imports of [undefined, { env: {} }]) {
      await assert.rejects(
        loadGuest(await callingGuest(module, name), { imports }),
        (e) =>
          isImportError(e) &&
          e.message.includes(`${module}.${name} is missing`),
        `${module}.${name}`,
      );
    }
  }
  // The methods of a class instance are inherited too.
  class Host {
    f(n: number): number {
      return n + 1;
    }
  }
  await assert.rejects(
    loadGuest(await callingGuest("env", "f"), {
      imports: { env: new Host() as unknown as WebAssembly.ModuleImports },
    }),
    (e) => isImportError(e) && /env\.f is missing/.test(e.message),
  );
  assertHostIntact();
});

Deno.test("a read-only inherited name is a branded missing import, not a TypeError", async () => {
  // `Object.name`, `Object.length` and `Object.prototype` cannot be written:
  // linking through them threw an unbranded TypeError.
  for (const name of ["name", "length", "prototype"]) {
    await assert.rejects(
      loadGuest(await callingGuest("constructor", name)),
      (e) => isImportError(e) && e.message.includes(`constructor.${name}`),
    );
    await assert.rejects(
      loadGuest(
        await assembleWat(
          `(module (import "constructor" ${
            JSON.stringify(name)
          } (global i32)))`,
        ),
      ),
      (e) => isImportError(e) && e.message.includes(`constructor.${name}`),
    );
  }
  assertHostIntact();
});

Deno.test("modules and fields the host supplies under such names still link", async () => {
  const imports = Object.create(null);
  imports["constructor"] = { freeze: (n: number) => n + 1 };
  imports["__proto__"] = { toString: (n: number) => n + 2 };
  const first = await loadGuest(
    await callingGuest("constructor", "freeze"),
    { imports },
  );
  assert.equal(expectOutcome(first.invoke("run", [1]), "returned").value, 2);
  const second = await loadGuest(
    await callingGuest("__proto__", "toString"),
    { imports },
  );
  assert.equal(expectOutcome(second.invoke("run", [1]), "returned").value, 3);
  assertHostIntact();
  assert.equal(Object.hasOwn(Object.prototype, "freeze"), false);
});

function throwing(message: string): () => never {
  return () => {
    throw new RangeError(message);
  };
}

/** Re-exported by another instance: a wasm function that runs host code. */
async function reexported(
  fn: (...args: never[]) => unknown,
): Promise<unknown> {
  const bytes = await assembleWat(`(module
    (import "host" "f" (func $f (param i32) (result i32)))
    (export "f" (func $f)))`);
  const instance = await WebAssembly.instantiate(
    new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>),
    { host: { f: fn } },
  );
  return instance.exports.f;
}

/** Host functions of every kind, each made to throw `message`. */
async function kindsOfFunction(
  message: string,
): Promise<[string, unknown][]> {
  const plain = throwing(message);
  return [
    ["plain", plain],
    [
      "bound",
      function (this: unknown) {
        throw new RangeError(`${message}`);
      }.bind(null),
    ],
    ["Proxy", new Proxy(() => 0, { apply: plain })],
    ["method", { m: plain }.m],
    ["prototype-less", Object.setPrototypeOf(plain.bind(null), null)],
    ["built-in", Reflect.ownKeys], // throws on a number
    ["another instance's re-export", await reexported(plain)],
  ];
}

Deno.test("a throw from any kind of function import is a branded HostImportError", async () => {
  for (const [kind, fn] of await kindsOfFunction("host failed")) {
    for (const options of [{}, { fuel: 100_000 }] as GuestOptions[]) {
      const guest = await loadGuest(await callingGuest("env", "f"), {
        ...options,
        imports: { env: { f: fn as () => number } },
      });
      const { error } = expectOutcome(guest.invoke("run", [1]), "error");
      assert.ok(isHostImportError(error), kind);
      assert.ok(error instanceof HostImportError, kind);
      assert.equal(error.importName, "env.f", kind);
      assert.ok(error.cause instanceof Error, kind);
      assert.throws(() => guest.call("run", 1), (e) => isHostImportError(e));
    }
  }
  assertHostIntact();
});

Deno.test("an async guest brands the throw of any kind of function import", async () => {
  for (const [kind, fn] of await kindsOfFunction("host failed")) {
    const guest = await loadGuest(await callingGuest("env", "f"), {
      async: true,
      imports: { env: { f: fn as () => number } },
    });
    const { error } = expectOutcome(
      await guest.invokeAsync("run", [1]),
      "error",
    );
    assert.ok(isHostImportError(error), kind);
    assert.equal(error.importName, "env.f", kind);
  }
});

Deno.test("no kind of function import can be called after a stop", async () => {
  const bytes = await assembleWat(`(module
    (import "env" "interrupt_execution" (func $stop))
    (import "env" "log" (func $log (param i32) (result i32)))
    (func (export "run") (param i32) (result i32)
      (try (do (call $stop)) (catch_all))
      (call $log (i32.const 1))))`);
  let calls = 0;
  const counted = (_: number) => ++calls;
  const kinds: [string, unknown][] = [
    ["bound", counted.bind(null)],
    ["Proxy", new Proxy(counted, {})],
    ["another instance's re-export", await reexported(counted)],
  ];
  for (const [kind, fn] of kinds) {
    const guest = await loadGuest(bytes, {
      imports: { env: { log: fn as () => number } },
    });
    const { error } = expectOutcome(guest.invoke("run", [0]), "interrupted");
    assert.ok(isInterrupted(error), kind);
    assert.equal(calls, 0, `${kind} ran after the stop`);
  }
});

Deno.test("a promise from a sync guest's import is a HostImportError that says to load it async", async () => {
  const returns: [string, () => unknown][] = [
    ["a resolved promise", () => Promise.resolve(41)],
    ["an async function", async () => await 41],
    ["a rejected promise", () => Promise.reject(new Error("later"))],
    ["a bound function", (() => Promise.resolve(41)).bind(null)],
  ];
  for (const [what, fn] of returns) {
    const guest = await loadGuest(await callingGuest("env", "f"), {
      imports: { env: { f: fn as () => number } },
    });
    const { error } = expectOutcome(guest.invoke("run", [1]), "error");
    assert.ok(isHostImportError(error), what);
    assert.equal(error.importName, "env.f");
    assert.match(error.message, /env\.f returned a Promise/);
    assert.match(error.message, /async: true/);
  }
  // A rejection that nobody awaits must not surface later as unhandled.
  await new Promise((resolve) => setTimeout(resolve, 10));
});

Deno.test("a sync guest may take a promise as an externref, as any other host value", async () => {
  const bytes = await assembleWat(`(module
    (import "env" "make" (func $make (result externref)))
    (func (export "run") (result externref) (call $make)))`);
  const promise = Promise.resolve(1);
  const guest = await loadGuest(bytes, {
    imports: { env: { make: () => promise } },
  });
  assert.equal(expectOutcome(guest.invoke("run"), "returned").value, promise);
});

Deno.test("an async guest awaits a promise from any kind of function import", async () => {
  const plain = (n: number) => Promise.resolve(n + 41);
  const kinds: [string, unknown][] = [
    ["plain", plain],
    ["async", async (n: number) => await n + 41],
    ["bound", plain.bind(null)],
    ["Proxy", new Proxy(plain, {})],
    [
      "later",
      (n: number) =>
        new Promise((resolve) => setTimeout(() => resolve(n + 41), 5)),
    ],
  ];
  for (const [kind, fn] of kinds) {
    const guest = await loadGuest(await callingGuest("env", "f"), {
      async: true,
      imports: { env: { f: fn as () => number } },
    });
    const result: CallOutcome = await guest.invokeAsync("run", [1]);
    assert.equal(expectOutcome(result, "returned").value, 42, kind);
  }
});

/** A revoked proxy: any look at it throws. */
function revoked(): object {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  return proxy;
}

/** A proxy each of whose traps throws. */
function trapsThrow(): object {
  const fail = () => {
    throw new Error("trap");
  };
  return new Proxy({}, {
    get: fail,
    has: fail,
    ownKeys: fail,
    getOwnPropertyDescriptor: fail,
    getPrototypeOf: fail,
  });
}

Deno.test("imports that cannot be looked at are refused in one line, never with the engine's or the trap's throw", async () => {
  const bytes = await callingGuest("host", "f");
  const whole: [string, () => unknown][] = [
    ["a revoked proxy", revoked],
    ["a proxy whose traps throw", trapsThrow],
  ];
  for (const [what, make] of whole) {
    for (const async of [false, true]) {
      for (const made of [false, true]) {
        const imports = (made
          ? () => make()
          : make()) as GuestOptions["imports"];
        await assert.rejects(
          () => loadGuest(bytes, { imports, async }),
          (error: Error) => {
            assert.ok(error instanceof TypeError, `${what}: ${error}`);
            assert.match(error.message, /imports.*must be an object.*threw/);
            return true;
          },
          what,
        );
      }
    }
  }
  const parts: [string, () => WebAssembly.Imports][] = [
    ["a revoked module", () => ({ host: revoked() as never })],
    ["a module whose traps throw", () => ({ host: trapsThrow() as never })],
    ["a getter that throws", () => ({
      host: {
        get f(): never {
          throw new Error("getter");
        },
      },
    })],
  ];
  for (const [what, make] of parts) {
    for (const async of [false, true]) {
      await assert.rejects(
        () => loadGuest(bytes, { imports: make(), async }),
        (error: Error) => {
          assert.ok(isImportError(error), `${what}: ${error}`);
          assert.equal(error.importName, "host.f");
          assert.match(
            error.message,
            /host\.f is unreadable \(looking it up threw/,
          );
          return true;
        },
        what,
      );
    }
  }
});

Deno.test("an import whose kind cannot be checked (a proxy whose getPrototypeOf throws) is refused in one line", async () => {
  // Before, the trap's own Error came out of loadGuest, unbranded.
  const bytes = await assembleWat(`(module
    (import "host" "global" (global i32))
    (import "host" "table" (table 1 funcref))
    (import "host" "memory" (memory 1)))`);
  const fail = () => {
    throw new Error("trap");
  };
  for (const name of ["global", "table", "memory"]) {
    const host: Record<string, unknown> = {
      global: 1,
      table: new WebAssembly.Table({ element: "anyfunc", initial: 1 }),
      memory: new WebAssembly.Memory({ initial: 1 }),
      [name]: new Proxy({}, { getPrototypeOf: fail }),
    };
    for (const fuel of [undefined, 1_000]) {
      await assert.rejects(
        () => loadGuest(bytes, { fuel, imports: { host } as never }),
        (error: unknown) =>
          isImportError(error) && error.importName === `host.${name}` &&
          /is unreadable \(checking what it is threw Error: trap\)/.test(
            error.message,
          ) && !error.message.includes("\n"),
        name,
      );
    }
  }
});

/** Imports of each result kind, each called by an export of its name. */
const RESULT_KINDS = `(module
  (import "host" "i32" (func $i32 (result i32)))
  (import "host" "ref" (func $ref (result externref)))
  (import "host" "none" (func $none))
  (func (export "i32") (result i32) (call $i32))
  (func (export "ref") (result externref) (call $ref))
  (func (export "none") (call $none)))`;

/** A thenable that is no Promise, as some libraries make. */
function thenable(settle: (resolve: (value: unknown) => void) => void) {
  return { then: (resolve: (value: unknown) => void) => settle(resolve) };
}

Deno.test("an async guest waits for a thenable from an import as for a promise, and its stops end the wait", async () => {
  const bytes = await assembleWat(RESULT_KINDS);
  const later = () => thenable((resolve) => setTimeout(() => resolve(42), 5));
  const guest = await loadGuest(bytes, {
    async: true,
    imports: { host: { i32: later, ref: later, none: later } },
  });
  assert.equal(
    expectOutcome(await guest.invokeAsync("i32"), "returned").value,
    42,
  );
  assert.equal(
    expectOutcome(await guest.invokeAsync("ref"), "returned").value,
    42,
  );
  const never = () => thenable(() => {});
  const stuck = await loadGuest(bytes, {
    async: true,
    imports: { host: { i32: never, ref: never, none: never } },
  });
  for (const name of ["i32", "ref", "none"]) {
    // A lost stop would wait for ever: the race fails the test instead.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const lost = new Promise<"lost">((resolve) => {
      timer = setTimeout(() => resolve("lost"), 20_000);
    });
    const result = await Promise.race([
      stuck.invokeAsync(name, [], { timeout: 50 }),
      lost,
    ]);
    clearTimeout(timer);
    assert.notEqual(
      result,
      "lost",
      `${name}: the deadline did not end the wait`,
    );
    assert.equal((result as CallOutcome).outcome, "timeout", name);
  }
});

Deno.test("a thenable from a sync guest's import is refused as a promise is, not made 0", async () => {
  const bytes = await assembleWat(RESULT_KINDS);
  const guest = await loadGuest(bytes, {
    imports: {
      host: {
        i32: () => thenable((resolve) => resolve(42)),
        ref: () => thenable((resolve) => resolve(42)),
        none: () => thenable((resolve) => resolve(42)),
      },
    },
  });
  for (const name of ["i32", "none"]) {
    const { error } = expectOutcome(guest.invoke(name), "error");
    assert.ok(isHostImportError(error), name);
    assert.match(error.message, /returned a Promise.*async: true/, name);
  }
  // An externref takes it as a value, as it takes a promise.
  const value = expectOutcome(guest.invoke("ref"), "returned").value;
  assert.equal(typeof (value as { then: unknown }).then, "function");
});

Deno.test("an import returning a proxy of a promise is that import's error outcome, not the call's misuse", async () => {
  const bytes = await assembleWat(RESULT_KINDS);
  const proxied = () => new Proxy(new Promise(() => {}), {});
  for (const async of [false, true]) {
    const guest = await loadGuest(bytes, {
      async,
      imports: { host: { i32: proxied, ref: proxied, none: proxied } },
    });
    for (const name of async ? ["i32", "ref", "none"] : ["i32", "none"]) {
      const result = async
        ? await guest.invokeAsync(name, [], { timeout: 60_000 })
        : guest.invoke(name);
      const { error } = expectOutcome(result, "error");
      assert.ok(isHostImportError(error), `${name}: ${error}`);
      assert.equal(error.importName, `host.${name}`);
    }
  }
});

Deno.test("another guest's function export is refused as an import: its checks read that guest's flag and fuel, not this one's", async () => {
  // Before, B's 50 ms deadline never landed in A's loop, and B's fuel
  // never counted A's work.
  const spinning = await assembleWat(`(module
    (func (export "spin") (param i32) (result i32) (loop (br 0)) (i32.const 0)))`);
  const caller = await callingGuest("env", "f");
  const meter = new FuelMeter(spinning);
  const { instance } = await WebAssembly.instantiate(
    meter.bytes,
    meter.imports,
  );
  meter.attach(instance);
  const owners: [string, GuestOptions, string][] = [
    ["plain", {}, "of the guest bytes"],
    ["metered", { fuel: 1e6 }, "of the guest bytes"],
    ["stoppable", { interruptible: true, label: "A" }, "of the guest A"],
  ];
  for (const [what, options, owner] of owners) {
    const a = await loadGuest(spinning, options);
    for (const exported of [a.instance.exports.spin, instance.exports.spin]) {
      for (const limits of [{}, { fuel: 1000 }, { timeout: 50 }]) {
        await assert.rejects(
          () =>
            loadGuest(caller, { ...limits, imports: { env: { f: exported } } }),
          (error: unknown) =>
            isImportError(error) &&
            error.message.includes(
              `guest import env.f is the export "spin" ${
                exported === instance.exports.spin
                  ? "of the guest attached to a FuelMeter"
                  : owner
              }, whose code this guest's deadline, signal, stop and fuel do not reach`,
            ) && !error.message.includes("\n"),
          what,
        );
      }
    }
    if (what !== "stoppable") continue;
    // Called through its guest, its call is nested in the caller's, whose
    // deadline stops it.
    const b = await loadGuest(caller, {
      timeout: 50,
      imports: { env: { f: (n: number) => a.call("spin", n) } },
    });
    expectOutcome(b.invoke("run", [1]), "timeout");
  }
});

Deno.test("another guest's table export is refused as an import; a table of the host's that a guest exports again is not", async () => {
  const owner = await assembleWat(`(module
    (table (export "table") 1 funcref)
    (elem (i32.const 0) $spin)
    (func $spin (loop (br 0))))`);
  const importer = await assembleWat(`(module
    (import "env" "table" (table 1 funcref))
    (import "env" "f" (func $f))
    (export "table" (table 0))
    (func (export "run") (call_indirect (i32.const 0))))`);
  const a = await loadGuest(owner, { interruptible: true, label: "A" });
  await assert.rejects(
    () =>
      loadGuest(importer, {
        timeout: 50,
        imports: { env: { table: a.instance.exports.table, f: () => {} } },
      }),
    (error: unknown) =>
      isImportError(error) &&
      error.message.includes(
        `guest import env.table is the export "table" of the guest A`,
      ),
  );
  const table = new WebAssembly.Table({ element: "anyfunc", initial: 1 });
  const imports = { env: { table, f: () => {} } };
  const b = await loadGuest(importer, { timeout: 50, imports });
  assert.equal(b.instance.exports.table, table);
  await b.reinstantiate();
  await loadGuest(importer, { timeout: 50, imports });
});

/** A guest that imports `env.<name>` as a mutable global and sets it. */
function settingGuest(name: string, type: "i64" | "i32"): Promise<Uint8Array> {
  return assembleWat(`(module
    (import "env" ${JSON.stringify(name)} (global $g (mut ${type})))
    (func (export "run")
      (global.set $g (${type}.const ${
    type === "i64" ? "0x4000000000000000" : "0x3fffffff"
  }))))`);
}

Deno.test("another guest's fuel counter, zone count and stack pointer are refused as imports, whoever loaded it", async () => {
  // Before, a guest handed another's whole exports set its counter to 2^62
  // from an import the other called: on a budget of 1,000, the other ran
  // 10^8 turns of a loop, and its books said -4.6 * 10^18 consumed.
  const library = await assembleWat(`(module
    (global $sp (mut i32) (i32.const 1024))
    (func (export "stackSave") (result i32) (global.get $sp))
    (func (export "stackRestore") (param i32) (global.set $sp (local.get 0)))
    (func (export "alloc") (param i32) (result i32) (local.get 0))
    (func (export "spin") (loop (br 0))))`);
  const loaded = await loadGuest(library, { fuel: 1_000, label: "A" });
  const meter = new FuelMeter(library, { stopsWaitFor: ["alloc"] });
  const { instance } = await WebAssembly.instantiate(
    meter.bytes,
    meter.imports,
  );
  meter.attach(instance);
  const attached = instance.exports;
  const added = Object.keys(attached).filter((name) =>
    attached[name] instanceof WebAssembly.Global
  );
  // The counter, the zone count and the stack pointer.
  assert.equal(added.length, 3, added.join(", "));
  const owners: [string, WebAssembly.Exports, string[]][] = [
    ["A", loaded.instance.exports, ["early-exit:fuel"]],
    ["attached to a FuelMeter", attached, added],
  ];
  for (const [owner, exports, names] of owners) {
    for (const name of names) {
      const type = exports[name] instanceof WebAssembly.Global &&
          typeof (exports[name] as WebAssembly.Global).value === "bigint"
        ? "i64"
        : "i32";
      const bytes = await settingGuest(name, type);
      for (const options of [{}, { fuel: 1_000 }, { timeout: 50 }]) {
        await assert.rejects(
          () =>
            loadGuest(bytes, {
              ...options,
              imports: { env: exports },
            }),
          (error: unknown) =>
            isImportError(error) && error.importName === `env.${name}` &&
            error.message.includes(
              `the global "${name}" that early-exit added to the guest ${owner}`,
            ) && !error.message.includes("\n"),
          `${owner}: ${name}`,
        );
      }
    }
  }
  // Its counter still holds what its meter gave it: its budget holds.
  const spun = loaded.invoke("spin");
  assert.equal(expectOutcome(spun, "fuel_exhausted").fuel?.consumed, 1_000);
});

Deno.test("a meter's imports (out_of_fuel, on_stop_flag, the stop flag's memory) are refused as another guest's imports", async () => {
  // Before, a guest handed a meter's imports called its out_of_fuel and
  // drained a budget of 10,000 while the metered guest ran nothing.
  const meter = new FuelMeter(
    await assembleWat(`(module (func (export "f") (loop (br 0))))`),
    { fuel: 10_000 },
  );
  const [module] = Object.keys(meter.imports);
  const stoppable = await loadGuest(
    await assembleWat(`(module (func (export "f")))`),
    { fuel: 1_000, timeout: 60_000 },
  );
  const own = stoppable.meter!.imports;
  const imports: [string, string, WebAssembly.Imports][] = [
    ["out_of_fuel", "(func (param i64 i64) (result i64))", meter.imports],
    ["on_stop_flag", "(func (result i32))", meter.imports],
    ["stop_flag", "(memory 1 1 shared)", meter.imports],
    ["out_of_fuel", "(func (param i64 i64) (result i64))", own],
  ];
  for (const [name, type, from] of imports) {
    const importer = await assembleWat(
      `(module (import ${JSON.stringify(module)} "${name}" ${type}))`,
    );
    await assert.rejects(
      () => loadGuest(importer, { imports: { [module!]: from[module!]! } }),
      (error: unknown) =>
        isImportError(error) &&
        error.message.includes(
          `is the import "${name}" that early-exit gives the guest metered by a FuelMeter to meter and stop it`,
        ) && !error.message.includes("\n"),
      name,
    );
  }
  assert.equal(meter.remaining, 10_000);
  // A memory of the host's, or another guest's exported one, still links.
  const memory = new WebAssembly.Memory({ initial: 1 });
  await loadGuest(
    await assembleWat(`(module (import "env" "memory" (memory 1)))`),
    { imports: { env: { memory } } },
  );
});

Deno.test("an instance whose fuel counter a guest was handed before it was attached is refused by attach", async () => {
  const meter = new FuelMeter(
    await assembleWat(`(module (func (export "f") (loop (br 0))))`),
    { fuel: 1_000 },
  );
  const { instance } = await WebAssembly.instantiate(
    meter.bytes,
    meter.imports,
  );
  const [counter] = Object.keys(instance.exports).filter((name) =>
    instance.exports[name] instanceof WebAssembly.Global
  );
  await loadGuest(await settingGuest(counter!, "i64"), {
    label: "B",
    imports: { env: instance.exports },
  });
  assert.throws(
    () => meter.attach(instance),
    (error: unknown) =>
      error instanceof TypeError &&
      error.message.includes(
        `global "${counter}", which early-exit added to meter and stop it, is an import of the guest B`,
      ) && !error.message.includes("\n"),
  );
  // A fresh instance, whose exports no guest was given, attaches.
  const fresh = await WebAssembly.instantiate(meter.bytes, meter.imports);
  meter.attach(fresh.instance);
  expectOutcome(
    meter.run(() => (fresh.instance.exports.f as () => void)()),
    "fuel_exhausted",
  );
});
