/**
 * Options of `loadGuest` that a careless caller gets wrong: a flag given
 * as a string, imports that are not an object of modules (a number, a
 * promise from an async builder, a module left `null`). Each is refused
 * with a `TypeError` that says what was expected and what was given,
 * rather than taken for true or read as every import missing.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { loadGuest } from "../mod.ts";
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

Deno.test("loadGuest still takes imports built by a function, and true and false flags", async () => {
  for (const async of [true, false]) {
    const guest = await loadGuest(LOGS, { imports: () => log, async });
    const outcome = async
      ? await guest.invokeAsync("run")
      : guest.invoke("run");
    assert.equal(outcome.outcome, "returned");
  }
});
