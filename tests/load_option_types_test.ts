/**
 * Options of `loadGuest` that a careless caller gets wrong: a flag given
 * as a string, imports that are not an object of modules (a number, a
 * promise from an async builder, a module left `null`), a guest's source
 * that is a promise not awaited. Each is refused
 * with a `TypeError` that says what was expected and what was given,
 * rather than taken for true or read as every import missing.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { FuelMeter, invokeIsolated, loadGuest, runWasi } from "../mod.ts";
import { assembleWat } from "../guest/build.ts";

const LOGS = await assembleWat(`(module
  (import "env" "log" (func (param i32)))
  (func (export "run")))`);

const log = { env: { log: () => {} } };

Deno.test("loadGuest refuses a flag that is not true or false", async () => {
  for (const flag of ["async", "interruptible"]) {
    await assert.rejects(
      () => loadGuest(LOGS, { imports: log, [flag]: "yes" }),
      TypeError,
      `loadGuest's ${flag} must be true or false; got string "yes"`,
    );
  }
});

Deno.test("loadGuest refuses imports that are not an object of modules", async () => {
  const cases: [unknown, string][] = [
    [
      5,
      `loadGuest's imports must be an object of import modules, such as { env: { log(n) {} } }; got number 5`,
    ],
    [
      { env: null },
      `its module "env" must be an object of that module's imports, such as { log(n) {} }; got null`,
    ],
    [
      () => 5,
      `the value loadGuest's imports function returned must be an object of import modules, such as { env: { log(n) {} } }; got number 5`,
    ],
    [
      () => Promise.resolve(log),
      "not a promise: build it without await (a function given as imports must not be async)",
    ],
  ];
  for (const [imports, message] of cases) {
    await assert.rejects(
      // deno-lint-ignore no-explicit-any
      () => loadGuest(LOGS, { imports: imports as any }),
      TypeError,
      message,
    );
  }
});

Deno.test("loadGuest looks only at the import modules the guest imports", async () => {
  // Every module of the object used to be walked before the load, holding
  // the thread where no stop reaches: 300,000 modules about 1.2 s, and a
  // getter of a module the guest never imports ran all the same.
  let looks = 0;
  const imports: Record<string, unknown> = {
    ...log,
    get unused() {
      looks++;
      return null;
    },
  };
  for (let i = 0; i < 50_000; i++) imports[`m${i}`] = null;
  for (const async of [false, true]) {
    const guest = await loadGuest(LOGS, {
      imports: imports as WebAssembly.Imports,
      async,
    });
    assert.equal(guest.module instanceof WebAssembly.Module, true);
    const built = await loadGuest(LOGS, {
      imports: () => imports as WebAssembly.Imports,
      async,
    });
    assert.equal(built.module instanceof WebAssembly.Module, true);
  }
  assert.equal(looks, 0);
});

Deno.test("loadGuest still takes imports built by a function, and true and false flags", async () => {
  for (const async of [true, false]) {
    const guest = await loadGuest(LOGS, { imports: () => log, async });
    const outcome = async
      ? await guest.invokeAsync("run")
      : guest.invoke("run");
    assert.equal(outcome.outcome, "returned");
  }
});

Deno.test("a guest's source of the wrong kind is refused naming what was given, even a revoked proxy", async () => {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  const given: [unknown, RegExp][] = [
    [Promise.resolve(LOGS), /from an object \(Promise\).*await it first/],
    [proxy, /from an object: expected a path, URL(, | or )bytes/],
    [[0, 97, 115, 109], /from an array: expected a path, URL(, | or )bytes/],
    [Symbol("guest"), /from a symbol: expected/],
  ];
  for (const [source, says] of given) {
    const loads: [string, () => Promise<unknown>][] = [
      ["loadGuest", () => loadGuest(source as string)],
      ["invokeIsolated", () => invokeIsolated(source as string, "run")],
      ["runWasi", () => runWasi(source as string)],
    ];
    for (const [what, load] of loads) {
      await assert.rejects(load, (error: Error) => {
        assert.ok(error instanceof TypeError, `${what}: ${error}`);
        assert.match(error.message, says, what);
        return true;
      });
    }
    assert.throws(
      () => new FuelMeter(source as Uint8Array),
      (error: Error) =>
        error instanceof TypeError &&
        /FuelMeter meters a module's bytes/.test(error.message),
    );
  }
});
