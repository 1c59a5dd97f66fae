/**
 * Shapes whose first compile is dear for their bytes, each of which the
 * compile cost once let through: blocks typed with parameters and results,
 * calls and tail calls of many arguments, allocations of many fields,
 * throws and returns of many values, and blocks nested deep (`tests/support/hostile_guests.ts` has
 * their measured times). Each value they move now weighs, so the largest
 * the rewrite accepts is where the weights put it, and a larger one is
 * refused with one line before the engine compiles anything, rewritten
 * or not.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { isInvalidModule, loadGuest } from "../mod.ts";
import { instrument } from "../src/wasm/mod.ts";
import { checkInstanceSize } from "../src/module/instance_size.ts";
import { expectOutcome } from "./support/outcome.ts";
import type { Bytes } from "./support/module_bytes.ts";
import {
  argumentCalls,
  deepNests,
  fixedAllocations,
  paramBlocks,
  wideReturns,
  wideThrows,
} from "./support/hostile_guests.ts";

/** The one-line refusal of a function's compile cost, with its fix. */
function refusedForCost(functionIndex: number) {
  return (error: unknown) =>
    isInvalidModule(error) && !error.message.includes("\n") &&
    new RegExp(
      `^function ${functionIndex} has a compile cost of \\d+ \\(.*docs/rewriter\\.md#refused-functions.*\\), over the limit of 2097152, .*: split the function, or run it with invokeIsolated and a timeout but no fuel`,
    ).test(error.message);
}

/** The one-line refusal of a function's compile units. */
function refusedForUnits(functionIndex: number) {
  return (error: unknown) =>
    isInvalidModule(error) && !error.message.includes("\n") &&
    new RegExp(
      `^function ${functionIndex} has 0 locals and \\d+ control points .* and \\d+ values on the operand stack at them, 16 each: .* is over the limit of 1048576`,
    ).test(error.message);
}

Deno.test("131,072 blocks of 16 i32s in and out, which held a first call 55 to 95 ms and were accepted, are refused in every mode that rewrites", async () => {
  const blocks = paramBlocks(131_072, 16);
  assert.ok(WebAssembly.validate(blocks));
  assert.throws(() => instrument(blocks, {}), refusedForCost(0));
  await assert.rejects(
    () => loadGuest(blocks, { fuel: false, async: true }),
    refusedForCost(0),
  );
});

/**
 * For each shape: its largest accepted count, which the weights set, and
 * one more, which the old weights accepted too (as they did counts whose
 * first compile held the thread tens of milliseconds, or, for
 * `struct.new_default`, ended the process: see each guest's figures).
 */
const SHAPES: {
  name: string;
  make: (count: number) => Bytes;
  most: number;
  refused: (error: unknown) => boolean;
}[] = [
  {
    name: "blocks of 1,000 i32s in and out",
    make: (n) => paramBlocks(n, 1_000),
    most: 507,
    refused: refusedForCost(0),
  },
  {
    name: "calls of 1,000 arguments",
    make: (n) => argumentCalls(n, 1_000),
    most: 301,
    refused: refusedForCost(0),
  },
  {
    name: "return_calls of 1,000 arguments",
    make: (n) => argumentCalls(n, 1_000, true),
    most: 108,
    refused: refusedForCost(0),
  },
  {
    name: "struct.news of 1,000 fields",
    make: (n) => fixedAllocations(n, 1_000, "struct.new"),
    most: 57,
    refused: refusedForCost(0),
  },
  {
    name: "struct.new_defaults of 10,000 fields",
    make: (n) => fixedAllocations(n, 10_000, "struct.new_default"),
    most: 6,
    refused: refusedForCost(0),
  },
  {
    name: "array.new_fixeds of 1,000 elements",
    make: (n) => fixedAllocations(n, 1_000, "array.new_fixed"),
    most: 57,
    refused: refusedForCost(0),
  },
  {
    name: "throws of 1,000 i32s",
    make: (n) => wideThrows(n, 1_000),
    most: 38,
    refused: refusedForCost(0),
  },
  {
    name: "empty blocks nested",
    make: (n) => deepNests(n),
    most: 8_143,
    refused: refusedForCost(0),
  },
  {
    name: "returns of 1,000 values",
    make: (n) => wideReturns(n, 1_000),
    most: 65,
    refused: refusedForUnits(1),
  },
];

for (const { name, make, most, refused } of SHAPES) {
  Deno.test(`${most} ${name} load and run; ${most + 1} are refused with one line`, async () => {
    // The scan is the same in every mode: for a deadline here, metered
    // below.
    const guest = await loadGuest(make(most), { timeout: 10_000 });
    expectOutcome(guest.invoke("f"), "returned");
    const next = make(most + 1);
    assert.ok(WebAssembly.validate(next));
    assert.throws(() => instrument(next, {}), refused);
    // A plain load, which compiles the guest as it is, weighs it the same.
    checkInstanceSize(make(most), "the guest");
    assert.throws(() => checkInstanceSize(next, "the guest"), refused);
  });
}

Deno.test("8,000 struct.new_defaults of 10,000 fields, 52 KB that ended the process at their first call, are refused", () => {
  assert.throws(
    () =>
      instrument(fixedAllocations(8_000, 10_000, "struct.new_default"), {
        stopFlag: true,
        fuel: false,
      }),
    refusedForCost(0),
  );
});
