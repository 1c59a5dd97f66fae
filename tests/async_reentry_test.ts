/**
 * An async guest whose host import calls back into the guest: the guest
 * then runs under the import's JavaScript frame, which JSPI cannot suspend
 * through, so its first check that yields to the event loop fails. The
 * call must end with a branded error that says why and how to fix it, at
 * once and whatever stop the call was given; a plain call of the same
 * guest re-enters it and keeps its deadline.
 *
 * @module
 */

import assert from "./support/assert.ts";
import {
  type GuestOptions,
  isHostImportError,
  loadGuest,
  StopSignal,
} from "../mod.ts";
import { assembleWat } from "../guest/build.ts";
import { runGuarded } from "./support/guarded.ts";
import { within } from "./support/within.ts";

/** How late a stop may land in a test: only a lost stop gets near it. */
const SLACK_MS = 5_000;

const SPIN = `
  (import "host" "call" (func $call (param funcref)))
  (table 1 funcref) (elem (i32.const 0) $spin)
  (func $spin (loop $again (br $again)))`;

const REENTERS = await assembleWat(`(module ${SPIN}
  (func (export "run") (call $call (table.get 0 (i32.const 0)))))`);

const REENTERS_AT_START = await assembleWat(`(module ${SPIN}
  (func $start (call $call (table.get 0 (i32.const 0))))
  (start $start))`);

const imports = { host: { call: (f: () => void) => f() } };

const MODES: [string, GuestOptions][] = [
  ["counting", { fuel: Infinity }],
  ["fuel: false", { fuel: false }],
];

const FIX = /called back into the guest.*load the guest without async: true/;

for (const [mode, options] of MODES) {
  for (const by of ["no stop", "timeout", "stop", "signal"]) {
    Deno.test(`${mode}, ${by}: an async guest re-entered by a host import ends with a HostImportError that says how to fix it`, async () => {
      const guest = await loadGuest(REENTERS, {
        ...options,
        async: true,
        imports,
      });
      const callOptions = by === "timeout"
        ? { timeout: 60_000 }
        : by === "stop"
        ? { stop: new StopSignal() }
        : by === "signal"
        ? { signal: new AbortController().signal }
        : {};
      const outcome = await within(
        guest.invokeAsync("run", [], callOptions),
        SLACK_MS,
      );
      assert.ok(outcome !== undefined, "the call ended");
      assert.equal(outcome.outcome, "error");
      const error = "error" in outcome ? outcome.error : undefined;
      assert.ok(isHostImportError(error), String(error));
      assert.match(error.message, /^host import host\.call threw: /);
      assert.match(error.message, FIX);
      assert.ok(!error.message.includes("\n"));
    });
  }

  Deno.test(`${mode}: an async guest's start function re-entered by a host import fails its load with the same HostImportError`, async () => {
    const error = await loadGuest(REENTERS_AT_START, {
      ...options,
      async: true,
      imports,
    }).then(() => undefined, (error) => error);
    assert.ok(isHostImportError(error), String(error));
    assert.match(error.message, FIX);
  });

  Deno.test(`${mode}: the same guest loaded for plain calls is re-entered and stopped at its deadline`, async () => {
    const guest = await loadGuest(REENTERS, {
      ...options,
      interruptible: true,
      imports,
    });
    const started = performance.now();
    const outcome = guest.invoke("run", [], { timeout: 50 });
    assert.equal(outcome.outcome, "timeout");
    assert.ok(performance.now() - started < SLACK_MS);
  });
}

Deno.test("the CLI reports an async guest re-entered by its --imports as an error that says how to fix it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(`${dir}/guest.wasm`, REENTERS);
    await Deno.writeTextFile(
      `${dir}/imports.mjs`,
      "export default { host: { call: (f) => f() } };\n",
    );
    const run = await runGuarded([
      "run",
      "--no-prompt",
      "--allow-read",
      "main.ts",
      "--json",
      "--timeout",
      "60000",
      "--imports",
      `${dir}/imports.mjs`,
      "--invoke",
      "run",
      `${dir}/guest.wasm`,
    ]);
    assert.equal(run.code, 1, run.stderr);
    const record = JSON.parse(run.stdout);
    assert.equal(record.outcome, "error");
    assert.match(record.message, FIX);
    assert.equal(run.stderr, "");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
