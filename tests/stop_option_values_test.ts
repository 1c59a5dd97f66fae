/**
 * A `stop` that is not a StopSignal, or a `signal` that is not an
 * AbortSignal, is refused with a `TypeError` that names the option, before
 * anything is armed: a call given one used to fail half-way through arming
 * its watch, leaving its deadline armed to stop a later call of the guest
 * as a trap. `invokeIsolated`, whose child no StopSignal reaches, refuses a
 * `stop` rather than ignoring it.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { assembleWat } from "../guest/build.ts";
import {
  FuelMeter,
  invokeIsolated,
  loadGuest,
  runWasi,
  StopSignal,
} from "../mod.ts";
import { expectOutcome } from "./support/outcome.ts";

const GUEST = await assembleWat(`
(module
  (memory (export "memory") 1)
  (func (export "spin") (loop $again (br $again)))
  (func (export "quick") (result i32) (i32.const 1))
  (func (export "_start")))
`);

const WRONG: [string, unknown, RegExp][] = [
  ["stop", {}, /stop must be a StopSignal .*got an object \(Object\)$/],
  [
    "stop",
    new AbortController().signal,
    /stop must be a StopSignal .*an AbortSignal goes in signal$/,
  ],
  ["signal", {}, /signal must be an AbortSignal .*got an object \(Object\)$/],
  ["signal", new StopSignal(), /a StopSignal goes in stop$/],
];

Deno.test("a wrong stop or signal leaves nothing armed to stop a later call", async () => {
  const guest = await loadGuest(GUEST, { interruptible: true });
  assert.throws(
    () => guest.invoke("quick", [], { timeout: 20, stop: {} as StopSignal }),
    TypeError,
  );
  // The refused call's deadline (20 ms) must not stop this one.
  const started = performance.now();
  const result = guest.invoke("spin", [], { timeout: 200 });
  const error = expectOutcome(result, "timeout").error;
  assert.equal(error.timeout, 200);
  assert.ok(performance.now() - started >= 200);
});

Deno.test("every entry point refuses a wrong stop or signal, naming it", async () => {
  const sync = await loadGuest(GUEST, { interruptible: true });
  const async = await loadGuest(GUEST, { async: true });
  const meter = new FuelMeter(GUEST);
  const { instance } = await WebAssembly.instantiate(
    meter.bytes,
    meter.imports,
  );
  meter.attach(instance);
  const quick = instance.exports.quick as () => number;
  for (const [option, value, message] of WRONG) {
    const given = { [option]: value };
    const entries: [string, () => unknown][] = [
      ["loadGuest", () => loadGuest(GUEST, given)],
      ["invokeAsync", () => async.invokeAsync("quick", [], given)],
      ["FuelMeter.run", () => meter.run(quick, given)],
      ["invokeIsolated", () => invokeIsolated(GUEST, "quick", [], given)],
      ["runWasi", () => runWasi(GUEST, given)],
    ];
    if (option === "stop") {
      entries.push(["invoke", () => sync.invoke("quick", [], given)]);
    }
    for (const [where, call] of entries) {
      await assert.rejects(
        async () => await call(),
        (error) =>
          error instanceof TypeError &&
          error.message.startsWith(`${where}'s ${option} must be`) &&
          message.test(error.message),
        `${where} with ${option}: ${String(value)}`,
      );
    }
  }
  // Each still works.
  expectOutcome(sync.invoke("quick"), "returned");
  expectOutcome(await async.invokeAsync("quick"), "returned");
  expectOutcome(meter.run(quick), "returned");
});

Deno.test("invokeIsolated refuses a StopSignal, which cannot reach its child", async () => {
  await assert.rejects(
    invokeIsolated(GUEST, "spin", [], {
      timeout: 100,
      stop: new StopSignal(),
    } as never),
    (error) =>
      error instanceof TypeError &&
      /invokeIsolated cannot take a StopSignal/.test(error.message),
  );
});

Deno.test("a StopSignal is made only over shared memory another thread can set, else a TypeError in one line", () => {
  for (
    const [buffer, pattern] of [
      [new ArrayBuffer(4), /got an ArrayBuffer, which no other thread can see/],
      [new SharedArrayBuffer(2), /got a SharedArrayBuffer of 2 bytes/],
      ["shared", /got string/],
      [null, /got object/],
    ] as const
  ) {
    assert.throws(
      () => new StopSignal(buffer as unknown as SharedArrayBuffer),
      (error: Error) =>
        error instanceof TypeError && pattern.test(error.message) &&
        !error.message.includes("\n"),
    );
  }
  const shared = new StopSignal();
  const other = new StopSignal(shared.buffer);
  other.stop();
  assert.equal(shared.stopped, true);
});
