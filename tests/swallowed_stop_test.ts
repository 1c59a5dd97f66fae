/**
 * A stop the stop flag makes the guest trap at, inside a function the host
 * calls back (a function reference the guest handed to an import), while
 * the host import catches the trap and returns, and the guest then returns
 * with no check left to run: the call still ends with the stop's outcome,
 * not `returned`.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { FuelMeter, loadGuest } from "../mod.ts";
import { assembleWat } from "../guest/build.ts";
import { expectOutcome } from "./support/outcome.ts";

const GUEST = await assembleWat(`(module
  (import "env" "take" (func $take (param funcref)))
  (func $spin (loop $again (br $again)))
  (elem declare func $spin)
  (func (export "run") (call $take (ref.func $spin))))`);

/** An import that calls the function it is given and swallows its trap. */
function swallowing(caught: unknown[]) {
  return {
    env: {
      take: (fn: () => void) => {
        try {
          fn();
        } catch (error) {
          caught.push(error);
        }
      },
    },
  };
}

for (const fuel of [undefined, false] as const) {
  const mode = fuel === false ? "deadline-only" : "plain with a deadline";
  Deno.test(`${mode}: a deadline whose trap a host import swallowed still ends the call as timeout`, async () => {
    // A thread kept off its core for the deadline before the guest calls
    // its import finds it passed at the call's entry, and no trap is
    // swallowed: such a call is tried again with a longer deadline.
    for (const timeout of [50, 400, 3_200]) {
      const caught: unknown[] = [];
      const guest = await loadGuest(GUEST, {
        fuel,
        timeout,
        imports: swallowing(caught),
      });
      expectOutcome(guest.invoke("run"), "timeout");
      if (caught.length === 0 && timeout < 3_200) continue;
      assert.equal(caught.length, 1);
      assert.ok(caught[0] instanceof WebAssembly.RuntimeError);
      break;
    }
  });
}

Deno.test("a deadline-only FuelMeter run whose function caught the flag's trap still ends as timeout", async () => {
  const bytes = await assembleWat(
    `(module (func (export "spin") (loop $again (br $again))))`,
  );
  const meter = new FuelMeter(bytes, { fuel: false });
  const { instance } = await WebAssembly.instantiate(meter.bytes, {
    ...meter.imports,
  });
  meter.attach(instance);
  const spin = instance.exports.spin as () => void;
  const caught: unknown[] = [];
  // As a library's glue that catches what the guest throws and returns.
  const result = meter.run(() => {
    try {
      spin();
    } catch (error) {
      caught.push(error);
    }
    return "carried on";
  }, { timeout: 50 });
  expectOutcome(result, "timeout");
  assert.equal(caught.length, 1);
});
