/**
 * The function exports a load's rewrite adds beside the guest's own: the
 * start function's (`early-exit:start`), which the runner calls once after
 * instantiation, and the one that has dear functions compiled ahead
 * (`early-exit:precompile`), which calls the guest's inner functions with
 * zeros. Neither is a call the guest offers: `invoke` and `invokeAsync`
 * of them are an `ExportError` that lists only the guest's own exports, and
 * the start function runs once per instance.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { type GuestOptions, isExportError, loadGuest } from "../mod.ts";
import { wat } from "./support/instrument.ts";

/** A start function that counts its runs, and a function dear to compile. */
const GUEST = await wat(`(module
  (global $runs (export "runs") (mut i32) (i32.const 0))
  (func $start (global.set $runs (i32.add (global.get $runs) (i32.const 1))))
  (func $dear (local $x i32) (local ${"v128 ".repeat(1_023)})
    ${"(if (local.get $x) (then (local.set $x (i32.const 1)))) ".repeat(40)})
  (func (export "run") (call $dear))
  (start $start))`);

const MODES: [string, GuestOptions][] = [
  ["deadline", { timeout: 60_000 }],
  ["async", { async: true }],
  ["deadline-only", { fuel: false }],
];

const ADDED = ["early-exit:start", "early-exit:precompile"];

for (const [mode, options] of MODES) {
  Deno.test(`${mode}: the rewrite's added function exports cannot be called`, async () => {
    const guest = await loadGuest(GUEST, options);
    const runs = () =>
      (guest.instance.exports.runs as WebAssembly.Global).value;
    assert.equal(runs(), 1);
    const exports = WebAssembly.Module.exports(guest.module).map((e) => e.name);
    for (const name of ADDED) {
      assert.ok(exports.includes(name), `the rewrite added ${name}`);
      const call = options.async
        ? guest.invokeAsync(name, [0])
        : Promise.resolve().then(() => guest.invoke(name, [0]));
      await assert.rejects(call, (error: Error) =>
        isExportError(error) &&
        error.message.includes(`no export named "${name}"`) &&
        error.message.endsWith("its function exports are: run"));
      assert.equal(guest.signature(name), undefined);
    }
    assert.equal(runs(), 1);
    // The guest's own calls, and a fresh instance's start, run as before.
    const ran = options.async
      ? await guest.invokeAsync("run")
      : guest.invoke("run");
    assert.equal(ran.outcome, "returned");
    await guest.reinstantiate();
    assert.equal(runs(), 1);
    const again = options.async
      ? guest.invokeAsync("early-exit:start")
      : Promise.resolve().then(() => guest.invoke("early-exit:start"));
    await assert.rejects(again, isExportError);
    assert.equal(runs(), 1);
  });
}

Deno.test("a guest's own export of such a name stays the guest's", async () => {
  const guest = await loadGuest(
    await wat(`(module
      (func (export "early-exit:start") (result i32) (i32.const 7))
      (func $s) (start $s))`),
    { timeout: 60_000 },
  );
  const outcome = guest.invoke("early-exit:start");
  assert.equal(outcome.outcome === "returned" && outcome.value, 7);
});
