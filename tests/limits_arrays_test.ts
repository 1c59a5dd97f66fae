/**
 * A guest loaded to be stopped (a deadline, `signal` or `stop`) may
 * allocate a GC array by length of at most `DEFAULT_ARRAY_BYTES`, or
 * `limits.arrays`: the engine makes and fills an array in one step no
 * check interrupts, so a longer one traps (`array_too_large`) before it is
 * allocated, in sync and async calls alike. Elements count as the engine
 * lays them out (`i8` 1 byte, `i64` 8, references 8).
 *
 * @module
 */

import assert from "./support/assert.ts";
import { watBinaryen } from "./support/instrument.ts";
import { FuelMeter, type GuestOptions, loadGuest } from "../mod.ts";
import { DEFAULT_ARRAY_BYTES } from "../src/module/limits.ts";
import { expectOutcome } from "./support/outcome.ts";
import { runMainHere } from "./support/cli.ts";
import { withDirectory } from "./support/temp_directory.ts";

const GUEST = await watBinaryen(`(module
  (type $bytes (array (mut i8)))
  (type $longs (array (mut i64)))
  (type $refs (array (mut anyref)))
  (data $d "abcd")
  (func (export "bytes") (param i32) (result i32)
    (array.len (array.new_default $bytes (local.get 0))))
  (func (export "longs") (param i32) (result i32)
    (array.len (array.new $longs (i64.const 7) (local.get 0))))
  (func (export "refs") (param i32) (result i32)
    (array.len (array.new $refs (ref.i31 (i32.const 1)) (local.get 0))))
  (func (export "from_data") (param i32) (result i32)
    (array.len (array.new_data $bytes $d (i32.const 0) (local.get 0)))))`);

function tooLarge(outcome: Parameters<typeof expectOutcome>[0]): void {
  const { error } = expectOutcome(outcome, "trap");
  assert.equal(error.trap, "array_too_large");
  assert.match(
    error.message,
    new RegExp(`limits\\.arrays \\(${DEFAULT_ARRAY_BYTES} bytes unless raised`),
  );
  assert.doesNotMatch(error.message, /\n/);
}

const STOPPABLE: [string, GuestOptions][] = [
  ["a timeout", { timeout: 60_000 }],
  ["a stop flag", { interruptible: true }],
  ["fuel and a timeout", { fuel: 1e12, timeout: 60_000 }],
];

for (const [mode, options] of STOPPABLE) {
  Deno.test(`array cap (${mode}): an allocation at the cap succeeds, one element more traps before it is made`, async () => {
    const guest = await loadGuest(GUEST, options);
    assert.equal(guest.call("bytes", DEFAULT_ARRAY_BYTES), DEFAULT_ARRAY_BYTES);
    tooLarge(guest.invoke("bytes", [DEFAULT_ARRAY_BYTES + 1]));
    assert.equal(
      guest.call("longs", DEFAULT_ARRAY_BYTES / 8),
      DEFAULT_ARRAY_BYTES / 8,
    );
    tooLarge(guest.invoke("longs", [DEFAULT_ARRAY_BYTES / 8 + 1]));
    tooLarge(guest.invoke("refs", [DEFAULT_ARRAY_BYTES / 8 + 1]));
    // Over the cap, not the segment's bounds, is what it meets first.
    tooLarge(guest.invoke("from_data", [DEFAULT_ARRAY_BYTES + 1]));
    assert.equal(guest.call("from_data", 4), 4);
  });
}

Deno.test("array cap: an async call traps the same way", async () => {
  const guest = await loadGuest(GUEST, { async: true, timeout: 60_000 });
  tooLarge(await guest.invokeAsync("bytes", [DEFAULT_ARRAY_BYTES + 1]));
  const ok = await guest.invokeAsync("bytes", [DEFAULT_ARRAY_BYTES]);
  assert.equal(expectOutcome(ok, "returned").value, DEFAULT_ARRAY_BYTES);
});

Deno.test("array cap: a raised limits.arrays lets a longer array through, up to itself", async () => {
  const raised = DEFAULT_ARRAY_BYTES * 2;
  const guest = await loadGuest(GUEST, {
    timeout: 60_000,
    limits: { arrays: raised },
  });
  assert.equal(guest.call("bytes", raised), raised);
  const { error } = expectOutcome(guest.invoke("bytes", [raised + 1]), "trap");
  assert.equal(error.trap, "array_too_large");
});

Deno.test("array cap: a guest no stop reaches (plain, or fuel only, which pays by length) allocates as the engine lets it", async () => {
  for (
    const options of [{}, { fuel: 1e12 }, { fuel: 1e12, interruptible: false }]
  ) {
    const guest = await loadGuest(GUEST, options);
    const length = DEFAULT_ARRAY_BYTES + 1;
    assert.equal(guest.call("bytes", length), length);
  }
});

Deno.test("array cap: FuelMeter writes it into the bytes it hands out, and limits.arrays raises it", async () => {
  for (
    const [limits, expected] of [[undefined, false], [
      { arrays: 2 ** 24 },
      true,
    ]] as const
  ) {
    const meter = new FuelMeter(GUEST, { fuel: 1e12, limits });
    const { instance } = await WebAssembly.instantiate(
      meter.bytes,
      meter.imports,
    );
    meter.attach(instance);
    const bytes = instance.exports.bytes as (n: number) => number;
    const length = DEFAULT_ARRAY_BYTES + 1;
    if (expected) assert.equal(bytes(length), length);
    else assert.throws(() => bytes(length), /requested new array is too large/);
  }
});

Deno.test("array cap: limits.arrays must be a whole number of bytes", async () => {
  await assert.rejects(
    loadGuest(GUEST, { limits: { arrays: -1 } }),
    /limits\.arrays must be a whole number from 0 to 2\^53 - 1 \(bytes\); got -1/,
  );
});

Deno.test("array cap: the command line reports the trap with --timeout", async () => {
  await withDirectory(async (directory) => {
    const path = `${directory}/arrays.wasm`;
    await Deno.writeFile(path, GUEST);
    const over = await runMainHere([
      path,
      "--invoke=bytes",
      `--arg=${DEFAULT_ARRAY_BYTES + 1}`,
      "--timeout=60000",
      "--json",
    ]);
    assert.equal(over.code, 1, over.stderr);
    const reported = JSON.parse(over.stdout);
    assert.equal(reported.outcome, "trap");
    assert.equal(reported.trap, "array_too_large");
    assert.match(reported.message, /raise limits\.arrays/);
  });
});
