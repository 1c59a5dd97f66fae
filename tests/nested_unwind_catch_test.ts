/**
 * A stop of the calls a nested call is made inside of unwinds the guest
 * code that made it: the import that made the nested call throws as it
 * returns into a guest that counts fuel (whose next check would otherwise
 * trap there, which V8 makes an error for at every level). A guest that
 * catches that throw does no work for it: its landing site's check stops
 * it, and the stop still ends each call.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { assembleWat } from "../guest/build.ts";
import { type CallOutcome, type Guest, loadGuest, StopSignal } from "../mod.ts";
import { expectOutcome } from "./support/outcome.ts";

const DEPTH = 50;

/**
 * `down(n)` calls the host's `deeper(n - 1)`, which calls `down` back,
 * inside a `try_table` that catches everything and calls again, counting
 * each catch in `worked`; `down(0)` spins.
 */
const CATCHER = await assembleWat(`(module
  (import "host" "deeper" (func $deeper (param i32)))
  (global $worked (export "worked") (mut i32) (i32.const 0))
  (func (export "down") (param $n i32)
    (if (i32.eqz (local.get $n)) (then (loop $spin (br $spin))))
    (loop $again
      (block $caught
        (try_table (catch_all $caught)
          (call $deeper (i32.sub (local.get $n) (i32.const 1))))
        (return))
      (global.set $worked (i32.add (global.get $worked) (i32.const 1)))
      (br $again)))
  (func (export "seven") (result i32) (i32.const 7)))`);

/** The guest, its nested calls' outcomes, and the bottom's hook. */
async function load(fuel: boolean, atBottom: () => void) {
  const outcomes: string[] = [];
  const guest: Guest = await loadGuest(CATCHER, {
    ...(fuel
      ? { fuel: 1e12, interruptible: true }
      : { fuel: false, timeout: 600_000 }),
    imports: {
      host: {
        deeper(n: number) {
          if (n === 0) atBottom();
          outcomes.push(
            guest.invoke("down", [n], { timeout: 600_000 }).outcome,
          );
        },
      },
    },
  });
  return { guest, outcomes };
}

/**
 * Checks that the outer call and every nested call ended by the stop, that
 * the guest did no work for the throws it caught, and that it still works.
 */
function expectUnwound(
  guest: Guest,
  outcomes: string[],
  result: CallOutcome,
  kind: "aborted" | "timeout",
): void {
  expectOutcome(result, kind);
  assert.deepEqual(outcomes, Array(DEPTH).fill(kind));
  const worked = guest.instance.exports.worked as WebAssembly.Global;
  assert.equal(worked.value, 0);
  assert.equal(guest.call("seven"), 7);
}

for (const fuel of [true, false]) {
  const mode = fuel ? "a guest that counts fuel" : "a deadline-only guest";
  Deno.test(`${mode} that catches what unwinds it after a nested call's stop does no work for it, and every call ends by the StopSignal`, async () => {
    const stop = new StopSignal();
    const { guest, outcomes } = await load(fuel, () => stop.stop());
    const result = guest.invoke("down", [DEPTH], { stop });
    expectUnwound(guest, outcomes, result, "aborted");
  });

  Deno.test(`${mode} that catches what unwinds it after a nested call's stop does no work for it, and every call ends by the outer deadline`, async () => {
    const timeout = 20;
    let passed = 0;
    // The bottom waits until the outer deadline has passed, however long
    // the descent took: the stop then lands there, in every nested call.
    const { guest, outcomes } = await load(fuel, () => {
      while (performance.now() < passed) { /* the deadline passes */ }
    });
    passed = performance.now() + timeout + 1;
    const result = guest.invoke("down", [DEPTH], { timeout });
    expectUnwound(guest, outcomes, result, "timeout");
  });
}
