/**
 * Calls nested in a call of another guest, where one of the two is not
 * listed among the plain calls in progress (`src/call/cut_short_ends.ts`):
 * an unmetered guest's calls and async calls are not. Coming back from its
 * guest, a listed call ends the calls listed above it, whose end a stack
 * overflow cut short; an unlisted one must end none, or it would end the
 * call it is made inside of. It did: a metered guest's call whose import
 * called an unmetered guest trapped as that call returned, its deadline
 * gone. Each loop here is bounded by a count, so that a lost stop fails the
 * test (the count ran out) rather than hanging it.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { type GuestOptions, loadGuest } from "../mod.ts";
import { assembleWat as wat } from "../guest/build.ts";

/** Turns that take seconds of CPU: only a lost stop ends there. */
const TURNS = 2_000_000_000;

/** `run` calls its import, then counts to `TURNS`. */
const OUTER = await wat(`(module
  (import "env" "inner" (func $inner (result i32)))
  (func (export "run") (result i32) (local $n i32)
    (drop (call $inner))
    (loop $l
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $n) (i32.const ${TURNS}))))
    (local.get $n)))`);

/** `run` returns what its import returns. */
const THROUGH = await wat(`(module
  (import "env" "inner" (func $inner (result i32)))
  (func (export "run") (result i32) (call $inner)))`);

/** `one` returns 1. */
const INNER = await wat(`(module
  (func (export "one") (result i32) (i32.const 1)))`);

const METERED: [string, GuestOptions][] = [
  ["counting fuel", { fuel: 1e15, interruptible: true }],
  ["deadline-only", { fuel: false }],
];

for (const [mode, options] of METERED) {
  Deno.test(`${mode}: a call whose import calls an unmetered guest is still stopped by its deadline`, async () => {
    const inner = await loadGuest(INNER);
    const outer = await loadGuest(OUTER, {
      ...options,
      imports: { env: { inner: () => inner.call("one") } },
    });
    const result = outer.invoke("run", [], { timeout: 50 });
    assert.equal(result.outcome, "timeout");
    assert.equal(inner.invoke("one").outcome, "returned");
  });

  Deno.test(`${mode}: an unmetered call whose import calls a metered guest leaves the metered guest whole`, async () => {
    const inner = await loadGuest(INNER, options);
    const outer = await loadGuest(THROUGH, {
      imports: {
        env: { inner: () => inner.call("one") },
      },
    });
    assert.deepEqual(outer.invoke("run"), {
      outcome: "returned",
      export: "run",
      value: 1,
    });
    const later = inner.invoke("one", [], { timeout: 60_000 });
    assert.equal(later.outcome, "returned");
  });

  Deno.test(`${mode}: an async call whose import calls a metered guest is still stopped by its deadline`, async () => {
    const inner = await loadGuest(INNER, options);
    const outer = await loadGuest(OUTER, {
      ...options,
      async: true,
      imports: {
        env: {
          inner: () => inner.call("one"),
        },
      },
    });
    const result = await outer.invokeAsync("run", [], { timeout: 50 });
    assert.equal(result.outcome, "timeout");
    assert.equal(inner.invoke("one").outcome, "returned");
  });
}
