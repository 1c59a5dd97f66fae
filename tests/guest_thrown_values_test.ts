/**
 * What a guest with exception handling throws itself: a JavaScript value
 * through an imported `WebAssembly.JSTag` (`null`, an object the host gave
 * it), or an exception it caught in one call (a stop's unwind, a host
 * import's error) and throws again in a later one. Each ends the call as a
 * trap (`uncaught_exception`) with a one-line message, never as a throw of
 * the raw value out of `invoke` (an unbranded `null`) and never as a stop
 * that did not happen.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { type GuestOptions, isGuestTrap, loadGuest } from "../mod.ts";
import { wat } from "./support/instrument.ts";
import { expectOutcome } from "./support/outcome.ts";

const GUEST = await wat(`(module
  (import "env" "interrupt_execution" (func $stop))
  (import "env" "fail" (func $fail))
  (import "env" "give" (func $give (result externref)))
  (import "js" "tag" (tag $js (param externref)))
  (global $saved (mut exnref) (ref.null exn))
  (func (export "save_stop")
    (global.set $saved (block $h (result exnref)
      (try_table (catch_all_ref $h) (call $stop)) (return))))
  (func (export "save_failure")
    (global.set $saved (block $h (result exnref)
      (try_table (catch_all_ref $h) (call $fail)) (return))))
  (func (export "rethrow") (throw_ref (global.get $saved)))
  (func (export "throw_null") (throw $js (ref.null extern)))
  (func (export "throw_given") (throw $js (call $give))))`);

/** V8's tag for JavaScript exceptions, which the DOM types leave out. */
const JS_TAG =
  (WebAssembly as unknown as { JSTag: WebAssembly.ImportValue }).JSTag;

/** What the host gives the guest: an object whose text is two lines. */
const GIVEN = {
  toString: () => "first line\nsecond line",
};

async function load(options: GuestOptions) {
  return await loadGuest(GUEST, {
    ...options,
    imports: {
      js: { tag: JS_TAG },
      env: {
        fail: () => {
          throw new RangeError("the host's own failure");
        },
        give: () => GIVEN,
      },
    },
  });
}

/** Plain (no rewrite), deadline-only: a guest whose catch handler runs. */
const MODES: [string, GuestOptions][] = [
  ["plain", {}],
  ["deadline-only", { fuel: false, timeout: 60_000 }],
];

for (const [mode, options] of MODES) {
  Deno.test(`${mode}: a guest that throws a JavaScript value ends in a trap, not a throw of the value`, async () => {
    const guest = await load(options);
    const none = expectOutcome(guest.invoke("throw_null"), "trap");
    assert.equal(none.error.trap, "uncaught_exception");
    assert.equal(none.error.cause, null);
    assert.match(none.error.message, /JavaScript value .*\(null\)/);
    const given = expectOutcome(guest.invoke("throw_given"), "trap");
    assert.equal(given.error.cause, GIVEN);
    assert.match(given.error.message, /first line second line/);
    assert.ok(!given.error.message.includes("\n"), given.error.message);
    assert.throws(() => guest.call("throw_null"), isGuestTrap);
  });

  Deno.test(`${mode}: a stop's unwind the guest caught and throws again in a later call is no stop`, async () => {
    const guest = await load(options);
    // The first call is stopped; the guest keeps the unwind it caught.
    expectOutcome(guest.invoke("save_stop"), "interrupted");
    const again = expectOutcome(guest.invoke("rethrow"), "trap");
    assert.equal(again.error.trap, "uncaught_exception");
    // The host's next stop is still its own, named by its import.
    const stopped = expectOutcome(guest.invoke("save_stop"), "interrupted");
    assert.match(stopped.error.message, /env\.interrupt_execution/);
  });

  Deno.test(`${mode}: a host import's error the guest throws again in a later call is the guest's throw`, async () => {
    const guest = await load(options);
    // The guest catches the import's throw and returns normally.
    expectOutcome(guest.invoke("save_failure"), "returned");
    const again = expectOutcome(guest.invoke("rethrow"), "trap");
    assert.equal(again.error.trap, "uncaught_exception");
    assert.ok(again.error.cause instanceof RangeError);
  });
}

Deno.test("a start function that throws a JavaScript value fails the load with a trap", async () => {
  const bytes = await wat(`(module
    (import "js" "tag" (tag $js (param externref)))
    (func $start (throw $js (ref.null extern)))
    (start $start))`);
  const rejection = await loadGuest(bytes, {
    imports: { js: { tag: JS_TAG } },
  }).then(() => undefined, (error: unknown) => error);
  assert.ok(isGuestTrap(rejection), String(rejection));
});
