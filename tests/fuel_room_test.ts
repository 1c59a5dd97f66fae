/**
 * Fuel past 2^53 - 1. A meter's books are exact only while every amount is a
 * safe integer: `addFuel(2 ** 53 - 1)` twice on a full tank used to leave
 * 27021597764222972 where 27021597764222973 was given, and each call after
 * it booked `consumed` and `remaining` that no longer added up. Fuel that
 * would take what a meter holds (its tank, the slice in the guest's counter
 * and what the calls in progress set aside by their caps) past 2^53 - 1 is
 * now refused with a `RangeError` that says how much fits, and the books
 * stay as they were.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { loadGuest } from "../mod.ts";
import { wat } from "./support/instrument.ts";

const MAX = Number.MAX_SAFE_INTEGER;

/** `count` calls the host, then loops `n` times. */
const COUNTS = await wat(`(module
  (import "host" "f" (func $f))
  (func (export "count") (param $n i32)
    (call $f)
    (loop $again
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $again (local.get $n)))))`);

/** Whether `error` is the one-line refusal of fuel past 2^53 - 1. */
function pastSafe(what: string, room: number) {
  return (error: unknown) =>
    error instanceof RangeError &&
    error.message.startsWith(`${what}: `) &&
    error.message.includes("past 2^53 - 1") &&
    error.message.includes(`give at most ${room},`) &&
    !error.message.includes("\n");
}

Deno.test("addFuel past 2^53 - 1 is refused, the books exact", async () => {
  const guest = await loadGuest(COUNTS, {
    fuel: MAX - 10,
    imports: { host: { f() {} } },
  });
  const meter = guest.meter!;
  assert.throws(() => meter.addFuel(11), pastSafe("FuelMeter.addFuel", 10));
  assert.equal(meter.remaining, MAX - 10);
  meter.addFuel(10);
  assert.equal(meter.remaining, MAX);
  assert.throws(() => meter.addFuel(1), pastSafe("FuelMeter.addFuel", 0));
  const total = meter.consumed + meter.remaining;
  for (const n of [1, 2, 3]) {
    const before = meter.remaining;
    const result = guest.invoke("count", [n]);
    assert.equal(result.outcome, "returned");
    assert.equal(result.fuel!.consumed + result.fuel!.remaining, before);
    assert.equal(meter.consumed + meter.remaining, total);
  }
  // Infinity always fits, and then anything does.
  meter.addFuel(Infinity);
  meter.addFuel(MAX);
  assert.equal(meter.remaining, Infinity);
});

Deno.test("fuel given inside a capped call counts what the cap set aside", async () => {
  const held: { give?: () => void; error?: unknown } = {};
  const guest = await loadGuest(COUNTS, {
    fuel: MAX,
    imports: {
      host: {
        f() {
          try {
            held.give?.();
          } catch (error) {
            held.error = error;
          }
        },
      },
    },
  });
  const meter = guest.meter!;
  const total = meter.consumed + meter.remaining;
  // The cap sets MAX - 100 aside; the call holds 100, less what it spent.
  held.give = () => meter.setFuel(MAX);
  let result = guest.invoke("count", [5], { fuel: 100 });
  assert.equal(result.outcome, "returned");
  assert.ok(pastSafe("FuelMeter.setFuel", 100)(held.error), String(held.error));
  assert.equal(meter.consumed + meter.remaining, total);
  held.error = undefined;
  held.give = () => meter.addFuel(1_000);
  const before = meter.remaining;
  result = guest.invoke("count", [5], { fuel: 100 });
  assert.equal(result.outcome, "returned");
  assert.ok(held.error instanceof RangeError, String(held.error));
  assert.equal(meter.remaining, before - result.fuel!.consumed);
  assert.equal(meter.consumed + meter.remaining, total);
});

Deno.test("a fuel amount that is not a number is a TypeError that names it", async () => {
  const guest = await loadGuest(COUNTS, {
    fuel: 10,
    imports: { host: { f() {} } },
  });
  assert.throws(
    () => guest.meter!.addFuel(5n as unknown as number),
    (error: unknown) =>
      error instanceof TypeError && error.message.endsWith("got bigint 5n"),
  );
  assert.equal(guest.meter!.remaining, 10);
});
