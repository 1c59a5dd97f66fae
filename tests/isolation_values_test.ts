/**
 * Isolated calls take and give the same values as calls in this process:
 * every number a float parameter or result can hold crosses to the child
 * and back, NaN, the infinities and -0 included. A reference, which cannot
 * cross, is refused rather than lost.
 */

import assert from "./support/assert.ts";
import { wat } from "./support/instrument.ts";
import {
  invokeIsolated,
  isExportError,
  isolatedChildrenExited,
  loadGuest,
} from "../mod.ts";

/** `echo` returns its arguments as they came; `zeros` two -0s. */
const ECHO = `(module
  (func (export "echo") (param f64 f64 f64 f64 f32 f32 i64)
    (result f64 f64 f64 f64 f32 f32 i64)
    (local.get 0) (local.get 1) (local.get 2) (local.get 3) (local.get 4)
    (local.get 5) (local.get 6))
  (func (export "zeros") (result f64 f32) (f64.const -0) (f32.const -0))
  (func (export "negative_zero") (result f64) (f64.const -0)))`;

const ARGS = [NaN, Infinity, -Infinity, -0, NaN, -0, -(2n ** 63n)];

Deno.test("isolation: NaN, the infinities and -0 cross to the child and back as they do in process", async () => {
  const bytes = await wat(ECHO);
  const local = await loadGuest(bytes);
  try {
    for (
      const [name, args] of [
        ["echo", ARGS],
        ["zeros", []],
        ["negative_zero", []],
      ] as const
    ) {
      const here = local.invoke(name, [...args]);
      const there = await invokeIsolated(bytes, name, [...args], {
        timeout: 60_000,
      });
      assert.equal(here.outcome, "returned", name);
      assert.equal(there.outcome, "returned", name);
      if (there.outcome !== "returned" || here.outcome !== "returned") continue;
      const values = (v: unknown) => Array.isArray(v) ? v : [v];
      const expected = values(here.value);
      const got = values(there.value);
      assert.equal(got.length, expected.length, name);
      expected.forEach((value, i) => {
        assert.ok(
          Object.is(got[i], value),
          `${name}, value ${i}: expected ${
            Object.is(value, -0) ? "-0" : String(value)
          }, got ${Object.is(got[i], -0) ? "-0" : String(got[i])}`,
        );
      });
    }
  } finally {
    await isolatedChildrenExited();
  }
});

Deno.test("isolation: an export that returns a reference is refused with one line, not answered with undefined", async () => {
  const bytes = await wat(`(module
    (func $f (result i32) (i32.const 1))
    (table $t 1 funcref)
    (elem (table $t) (i32.const 0) func $f)
    (func (export "function") (result funcref) (table.get $t (i32.const 0)))
    (func (export "null") (result externref) (ref.null extern))
    (func (export "pair") (result i32 externref) (i32.const 1) (ref.null extern)))`);
  try {
    for (const name of ["function", "null", "pair"]) {
      await assert.rejects(
        () => invokeIsolated(bytes, name, [], { timeout: 60_000 }),
        (error: Error) => {
          assert.ok(isExportError(error), String(error));
          assert.match(error.message, new RegExp(`"${name}"`));
          assert.match(error.message, /ref/);
          assert.equal(error.message.split("\n").length, 1);
          return true;
        },
        name,
      );
    }
  } finally {
    await isolatedChildrenExited();
  }
});

Deno.test("isolation: an argument that is not a number is refused as in process, naming it, before a child starts", async () => {
  const bytes = await wat(ECHO);
  const shown = new Map<unknown, string>([
    ["2", "a string"],
    [null, "null"],
    [{}, "an object"],
    [true, "a boolean"],
    [undefined, "undefined"],
  ]);
  for (const [value, kind] of shown) {
    const args = [1, value, 3, 4, 5, 6, 7n] as unknown as number[];
    await assert.rejects(
      () => invokeIsolated(bytes, "echo", args, { timeout: 60_000 }),
      (error: Error) => {
        assert.ok(isExportError(error), String(error));
        assert.match(error.message, new RegExp(`argument 1 is ${kind}:`));
        assert.match(error.message, /pass a number/);
        assert.equal(error.message.split("\n").length, 1);
        return true;
      },
    );
  }
  await isolatedChildrenExited();
});

Deno.test("isolation: a NaN argument's payload reaches the guest, as in process", async () => {
  const bytes = await wat(`(module
    (func (export "bits") (param f64) (result i64)
      (i64.reinterpret_f64 (local.get 0))))`);
  const payload = 0x7ff8000000000456n;
  const nan = new Float64Array(new BigUint64Array([payload]).buffer)[0]!;
  const local = await loadGuest(bytes);
  const here = local.invoke("bits", [nan]);
  assert.equal(
    here.outcome === "returned" && BigInt.asUintN(64, here.value as bigint),
    payload,
  );
  const there = await invokeIsolated(bytes, "bits", [nan]);
  assert.deepEqual(there, here);
  await isolatedChildrenExited();
});
