/**
 * A guest that catches the interrupt's exception and then computes on its
 * own, calling no import: in every mode with checks the interrupt still
 * holds, and at once (the handler runs up to its next check at most),
 * while an unrewritten guest runs on until it returns, as docs/design.md
 * says.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { type GuestOptions, loadGuest } from "../mod.ts";
import { wat } from "./support/instrument.ts";
import { expectOutcome } from "./support/outcome.ts";

/** How many turns the loop after the handler takes before it returns. */
const TURNS = 10_000_000;

const HANDLERS: Record<string, string> = {
  "legacy catch_all": `(try (do (call $stop)) (catch_all
    (global.set $count (i32.const 1))))`,
  "try_table catch_all": `(block $h (try_table (catch_all $h) (call $stop)))
    (global.set $count (i32.const 1))`,
};

const MODES: [string, GuestOptions][] = [
  ["interruptible", { interruptible: true }],
  ["deadline-only", { interruptible: true, fuel: false }],
  ["fuel", { fuel: 1e12 }],
  ["async", { async: true }],
  ["async deadline-only", { async: true, fuel: false }],
];

for (const [handler, body] of Object.entries(HANDLERS)) {
  const bytes = await wat(`(module
    (import "env" "interrupt_execution" (func $stop))
    (global $count (export "count") (mut i32) (i32.const 0))
    (func (export "run")
      ${body}
      (loop $again
        (global.set $count (i32.add (global.get $count) (i32.const 1)))
        (br_if $again (i32.lt_u (global.get $count) (i32.const ${TURNS}))))))`);

  Deno.test(`${handler} of the interrupt: the loop after it never runs, in every mode with checks`, async () => {
    for (const [mode, options] of MODES) {
      const guest = await loadGuest(bytes, options);
      const result = options.async
        ? await guest.invokeAsync("run")
        : guest.invoke("run");
      expectOutcome(result, "interrupted");
      const count = (guest.instance.exports.count as WebAssembly.Global).value;
      // The handler's own store may run (deadline-only), the loop's never.
      assert.ok(count <= 1, `${mode}: the loop ran ${count} turns`);
    }
  });

  Deno.test(`${handler} of the interrupt: an unrewritten guest runs on, and is reported interrupted`, async () => {
    const guest = await loadGuest(bytes);
    expectOutcome(guest.invoke("run"), "interrupted");
    assert.equal(
      (guest.instance.exports.count as WebAssembly.Global).value,
      TURNS,
    );
  });
}
