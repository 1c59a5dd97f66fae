/**
 * A metered guest's constant expressions may allocate at most
 * `MAX_SIZED_ELEMENTS` elements by length (`array.new`, `array.new_default`,
 * `struct.new_default`) when it is instantiated in this process: the engine
 * builds them as it instantiates, where no deadline, abort or StopSignal
 * can land, and a few bytes ask for gigabytes (300 globals of 10 MB arrays,
 * a 3.6 KB module, held a load with a 50 ms `timeout` for 5.6 s). Such a
 * guest is refused with `GuestLoadError` (reason `limits`) before the engine
 * sees it, in every mode that loads it here; `invokeIsolated`, whose child
 * is killed at its deadline, still runs it.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { watBinaryen } from "./support/instrument.ts";
import {
  FuelMeter,
  invokeIsolated,
  isDeadlineExceeded,
  isGuestLoadError,
  loadGuest,
} from "../mod.ts";
import { MAX_SIZED_ELEMENTS } from "../src/module/instance_size.ts";
import { expectOutcome } from "./support/outcome.ts";

/** `count` globals, each an `elements`-element array of `type`. */
function arrayGlobals(count: number, elements: number, type = "i8"): string {
  return `(module (type $a (array (mut ${type})))
    ${
    `(global (ref $a) (array.new_default $a (i32.const ${elements})))`
      .repeat(count)
  }
    (func (export "spin") (loop $again (br $again))))`;
}

/**
 * 30 arrays of 100,000 bytes (a guest asking for far more meets
 * `MAX_ALLOCATED_ELEMENTS` first, in any in-process load).
 */
const ARRAYS = await watBinaryen(arrayGlobals(30, 100_000));

/** 200 structs of 10,000 fields, each built from four bytes of module. */
const STRUCTS = await watBinaryen(`(module
  (type $s (struct ${"(field i64)".repeat(10_000)}))
  ${"(global (ref $s) (struct.new_default $s))".repeat(200)})`);

/**
 * An active segment's expressions, each an array: 100 of 100,000 elements.
 * (A passive segment's are refused sooner, by its first reads' budget:
 * tests/limits_passive_first_read_test.ts.)
 */
const ELEMENTS = await watBinaryen(`(module (type $a (array (mut i64)))
  (table 100 (ref null $a))
  (elem (table 0) (i32.const 0) (ref $a)
    ${"(item (array.new_default $a (i32.const 100000)))".repeat(100)}))`);

function refused(elements: number) {
  return (error: unknown) => {
    assert.ok(isGuestLoadError(error), String(error));
    assert.equal(error.reason, "limits");
    assert.match(
      error.message,
      new RegExp(`allocate ${elements} elements by length`),
    );
    assert.match(error.message, /invokeIsolated/);
    return true;
  };
}

const STOPPABLE = [
  { timeout: 50 },
  { fuel: false as const },
  { interruptible: true },
  { async: true, timeout: 50 },
  { fuel: 1e15 },
];

Deno.test("constant allocations by length above the cap are refused before instantiation, in every in-process mode", async () => {
  for (
    const [bytes, elements] of [
      [ARRAYS, 3_000_000],
      [STRUCTS, 2_000_000],
      [ELEMENTS, 10_000_000],
    ] as const
  ) {
    for (const options of STOPPABLE) {
      const started = performance.now();
      await assert.rejects(
        loadGuest(bytes, options),
        refused(elements),
      );
      // Refused before the engine builds anything: no hold of seconds.
      const took = performance.now() - started;
      assert.ok(took < 5_000, `${JSON.stringify(options)}: ${took} ms`);
    }
    assert.throws(() => new FuelMeter(bytes), refused(elements));
    assert.throws(
      () => new FuelMeter(bytes, { fuel: false }),
      refused(elements),
    );
  }
});

Deno.test("constant allocations up to the cap still load", async () => {
  const bytes = await watBinaryen(arrayGlobals(4, MAX_SIZED_ELEMENTS / 4));
  const guest = await loadGuest(bytes, { interruptible: true });
  expectOutcome(guest.invoke("spin", [], { timeout: 20 }), "timeout");
});

Deno.test("invokeIsolated still runs a guest over the cap, and ends it at its deadline", async () => {
  const bytes = await watBinaryen(arrayGlobals(3, 400_000));
  await assert.rejects(
    loadGuest(bytes, { timeout: 50 }),
    refused(1_200_000),
  );
  const result = await invokeIsolated(bytes, "spin", [], { timeout: 200 });
  const stopped = expectOutcome(result, "timeout");
  assert.ok(isDeadlineExceeded(stopped.error));
});
