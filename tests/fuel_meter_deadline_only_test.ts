/**
 * The deadline-only meter, `new FuelMeter(bytes, { fuel: false })`: its
 * guest counts no fuel and traps at a set stop flag. These tests drive it
 * as a library's loader would (QuickJS, sql.js) and throw the hostile
 * guests of issue #10 at it: every stop must land, a run that finishes must
 * return what it would have returned plain, and what needs fuel must be
 * refused in one line. Hang guards only; no timing is asserted.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { attachedMeter } from "./support/attached_meter.ts";
import { assembleWat } from "../guest/build.ts";
import {
  FuelMeter,
  type FuelMeterOptions,
  isAborted,
  isDeadlineExceeded,
  isExportError,
  isInterrupted,
  StopSignal,
} from "../mod.ts";
import { instrument } from "../src/wasm/mod.ts";
import { expectOutcome } from "./support/outcome.ts";
import { BULK, FREE_LOOP, PUMP } from "./support/hostile_guests.ts";
import { stopFromWorker } from "./support/worker_stop.ts";
import {
  evaluate,
  meteredQuickJS,
  plainQuickJS,
  QUICKJS_PROGRAMS,
  SPIN_JS,
} from "./support/quickjs.ts";
import {
  type Database,
  meteredSqlJs,
  plainSqlJs,
  RUNAWAY_CTE,
  sqljsBytes,
  WORKLOAD,
} from "./support/sqljs.ts";

const DEADLINE_ONLY: FuelMeterOptions = { fuel: false };
/** A hang guard: far beyond what any stop here takes. */
const GUARD = 120_000;
const COMPUTE = await Deno.readFile(
  new URL("../guest/compute.wasm", import.meta.url),
);

function attached(bytes: Uint8Array, host?: WebAssembly.Imports) {
  return attachedMeter(bytes, DEADLINE_ONLY, undefined, host);
}

function assertTimedOut(
  meter: FuelMeter,
  fn: () => unknown,
  what: string,
  timeout = 30,
) {
  const result = expectOutcome(
    meter.run(fn, { timeout, label: what }),
    "timeout",
  );
  assert.ok(isDeadlineExceeded(result.error), what);
  assert.ok(
    result.error.elapsed >= timeout,
    `${what}: ${result.error.elapsed}`,
  );
  assert.equal(meter.stopReason, "deadline", what);
  assert.equal(result.fuel, undefined, what);
}

Deno.test("deadline-only FuelMeter: no fuel checks are written, and a finished run returns its value unchanged, with no fuel", async () => {
  const { meter, exports } = await attached(COMPUTE);
  assert.equal(meter.countsFuel, false);
  const fib = exports.fib as (n: number) => number;
  const sumTo = exports.sum_to as (n: number) => bigint;
  const plain = await WebAssembly.instantiate(COMPUTE);
  const plainFib = plain.instance.exports.fib as (n: number) => number;
  for (const n of [0, 1, 2, 10, 25]) {
    const done = expectOutcome(meter.run(() => fib(n)), "returned");
    assert.equal(done.value, plainFib(n));
    assert.equal(done.fuel, undefined);
  }
  const watched = expectOutcome(
    meter.run(() => sumTo(1_000_000), { timeout: GUARD }),
    "returned",
  );
  assert.equal(watched.value, 499999500000n);
  assert.equal(meter.stopReason, undefined);
  assert.equal(meter.consumed, 0);
  // Nothing calls out_of_fuel: a counted guest's checks would.
  const counted = instrument(COMPUTE, { stopFlag: true });
  assert.ok(meter.bytes.length < counted.bytes.length);
});

Deno.test("deadline-only FuelMeter: a spin loop, a failed-grow pump and 1 GiB memory.fill end at their deadline", async () => {
  const free = await attached(FREE_LOOP);
  assertTimedOut(free.meter, () => free.exports.spin(), "spin");
  const pump = await attached(PUMP);
  assertTimedOut(pump.meter, () => pump.exports.pump_forever(), "pump");
  for (const name of ["fill", "fill_forever"]) {
    // A fresh instance each time, whose pages are not yet touched.
    const bulk = await attached(BULK);
    assertTimedOut(bulk.meter, () => bulk.exports[name](), name);
    // The meter is ready again: a pending flag does not stop the next run.
    const copied = bulk.meter.run(() => bulk.exports.copy_part(), {
      timeout: GUARD,
    });
    expectOutcome(copied, "returned");
  }
});

Deno.test("deadline-only FuelMeter: a StopSignal from another thread, a set one and an AbortSignal stop a spin", async () => {
  const { meter, exports } = await attached(FREE_LOOP);
  const stopped = await stopFromWorker((stop, started) =>
    meter.run(() => {
      started();
      exports.spin();
    }, { stop, timeout: GUARD })
  );
  assert.ok(isAborted(expectOutcome(stopped, "aborted").error));
  assert.equal(meter.stopReason, "stop");
  const stop = new StopSignal();
  stop.stop("enough");
  const set = expectOutcome(
    meter.run(() => exports.spin(), { stop }),
    "aborted",
  );
  assert.match(set.error.message, /enough/);
  const controller = new AbortController();
  controller.abort("no more");
  const aborted = expectOutcome(
    meter.run(() => exports.spin(), { signal: controller.signal }),
    "aborted",
  );
  assert.match(aborted.error.message, /no more/);
  assert.equal(meter.stopReason, "abort");
});

Deno.test("deadline-only FuelMeter: stop() and an abort from a host import end a spin; a stop between runs is forgotten", async () => {
  const held: { meter?: FuelMeter; abort?: () => void } = {};
  const guest = await assembleWat(`
  (module
    (import "host" "stop" (func $stop))
    (func (export "spin") (call $stop) (loop $again (br $again)))
    (func (export "seven") (result i32) (i32.const 7)))`);
  const { meter, exports } = await attached(guest, {
    host: { stop: () => held.abort ? held.abort() : held.meter!.stop() },
  });
  held.meter = meter;
  const interrupted = expectOutcome(
    meter.run(() => exports.spin()),
    "interrupted",
  );
  assert.ok(isInterrupted(interrupted.error));
  assert.equal(meter.stopReason, "host");
  const controller = new AbortController();
  held.abort = () => controller.abort("from the import");
  const aborted = expectOutcome(
    meter.run(() => exports.spin(), { signal: controller.signal }),
    "aborted",
  );
  assert.match(aborted.error.message, /from the import/);
  // Outside a run, a stop makes a plain call trap; the next run forgets it.
  meter.stop();
  assert.throws(() => exports.seven(), WebAssembly.RuntimeError);
  meter.stop();
  const seven = expectOutcome(meter.run(() => exports.seven()), "returned");
  assert.equal(seven.value, 7);
  assert.equal(meter.stopReason, undefined);
});

Deno.test("deadline-only FuelMeter: what needs fuel is refused in one line", async () => {
  const { meter, exports } = await attached(FREE_LOOP);
  const spin = () => exports.spin();
  for (
    const [options, pattern] of [
      [{ fuel: 1000 }, /fuel: 1000.*fuel: false.*counts none/],
      [{ soft: true }, /soft: true/],
      [{ grace: 5 }, /grace: 5/],
      [{ onStopping: () => {} }, /onStopping/],
    ] as const
  ) {
    assert.throws(
      () => meter.run(spin, options),
      (error: unknown) =>
        isExportError(error) && pattern.test(error.message) &&
        !error.message.includes("\n"),
    );
  }
  expectOutcome(meter.run(spin, { grace: 0, timeout: 5 }), "timeout");
  for (const call of [() => meter.addFuel(5), () => meter.setFuel(5)]) {
    assert.throws(
      call,
      (error: unknown) =>
        isExportError(error) && /fuel: false/.test(error.message),
    );
  }
  const refusedOptions: [FuelMeterOptions, RegExp][] = [
    [{ resumable: false }, /resumable: false/],
    [{ stopFlag: false }, /stopFlag: false/],
    [{ poll: () => false }, /poll/],
    [{ refuel: () => 0 }, /refuel/],
    [{ suspend: true }, /suspend: true/],
    [{ stopsWaitFor: ["spin"] }, /stopsWaitFor/],
  ];
  for (const [options, pattern] of refusedOptions) {
    assert.throws(
      () => new FuelMeter(FREE_LOOP, { ...options, fuel: false }),
      (error: unknown) =>
        error instanceof TypeError && pattern.test(error.message) &&
        /fuel: false/.test(error.message),
    );
  }
  assert.throws(
    () =>
      new FuelMeter(instrument(FREE_LOOP, { stopFlag: true }), DEADLINE_ONLY),
    (error: unknown) =>
      error instanceof TypeError && /bytes/.test(error.message),
  );
});

Deno.test("deadline-only FuelMeter: QuickJS gives the same results; a spin is stopped by a deadline, a StopSignal and an AbortSignal, and stops deep in its recursion leave its stack pointer where it was", async () => {
  const plain = (await plainQuickJS()).newContext();
  const { QuickJS, meter, exports } = await meteredQuickJS(
    undefined,
    new FuelMeter(await Deno.readFile(quickjsWasm()), DEADLINE_ONLY),
  );
  const vm = QuickJS.newContext();
  for (const code of QUICKJS_PROGRAMS) {
    const done = expectOutcome(meter.run(() => evaluate(vm, code)), "returned");
    assert.deepEqual(done.value, evaluate(plain, code), code);
    assert.equal(done.fuel, undefined);
  }
  const three = () =>
    assert.equal(
      expectOutcome(meter.run(() => evaluate(vm, "1 + 2")), "returned").value,
      3,
    );
  assertTimedOut(meter, () => evaluate(vm, SPIN_JS), "QuickJS spin");
  three();
  const fromWorker = await stopFromWorker((stop, started) =>
    meter.run(() => {
      started();
      return evaluate(vm, SPIN_JS);
    }, { stop, timeout: GUARD })
  );
  assert.ok(isAborted(expectOutcome(fromWorker, "aborted").error));
  three();
  const controller = new AbortController();
  controller.abort("no more");
  const aborted = expectOutcome(
    meter.run(() => evaluate(vm, SPIN_JS), { signal: controller.signal }),
    "aborted",
  );
  assert.match(aborted.error.message, /no more/);
  three();
  // Stops deep in QuickJS's recursion: its shadow stack pointer, found by
  // its accessors, is put back each time.
  const pointer = exports["early-exit:stack_pointer"] as WebAssembly.Global;
  assert.ok(pointer instanceof WebAssembly.Global);
  const before = pointer.value;
  for (let i = 0; i < 40; i++) {
    const code =
      `(function f(n) { return n === 0 ? (() => { ${SPIN_JS} })() : f(n - 1) + 1 })(${
        i % 20
      })`;
    assertTimedOut(meter, () => evaluate(vm, code), `stop ${i}`, 2);
    assert.equal(pointer.value, before, `stop ${i}`);
  }
  assert.equal(
    expectOutcome(
      meter.run(() => evaluate(vm, QUICKJS_PROGRAMS[0])),
      "returned",
    )
      .value,
    6765,
  );
  plain.dispose();
});

function quickjsWasm(): URL {
  return new URL(
    "./emscripten-module.wasm",
    import.meta.resolve("@jitl/quickjs-wasmfile-release-sync"),
  );
}

function ask(db: Database, sql: string): unknown {
  return db.exec(sql).map(({ values }) => values);
}

Deno.test("deadline-only FuelMeter: sql.js gives the same results, makes no no-stop zones, and a runaway query is stopped by a deadline, StopSignals and an AbortSignal", async () => {
  const plain = new (await plainSqlJs()).Database();
  const { SQL, meter } = await meteredSqlJs(DEADLINE_ONLY);
  // The allocator is no zone: a stop cannot wait on fuel it does not count.
  const exported = WebAssembly.Module.exports(
    new WebAssembly.Module(meter.bytes),
  );
  assert.ok(!exported.some(({ name }) => name.endsWith(":zone")));
  assert.ok(
    exported.length >
      WebAssembly.Module.exports(new WebAssembly.Module(await sqljsBytes()))
        .length,
    "the stack pointer is exported",
  );
  const db = new SQL.Database();
  // The table, its index and the first aggregate.
  for (const sql of WORKLOAD.slice(0, 4)) {
    const done = expectOutcome(meter.run(() => ask(db, sql)), "returned");
    assert.deepEqual(done.value, ask(plain, sql), sql);
    assert.equal(done.fuel, undefined);
  }
  const count = "SELECT count(*) FROM item";
  const counted = () =>
    assert.deepEqual(
      expectOutcome(meter.run(() => ask(db, count)), "returned").value,
      [[[20000]]],
    );
  assertTimedOut(meter, () => ask(db, RUNAWAY_CTE), "runaway CTE");
  counted();
  const fromWorker = await stopFromWorker((stop, started) =>
    meter.run(() => {
      started();
      return ask(db, RUNAWAY_CTE);
    }, { stop, timeout: GUARD })
  );
  assert.ok(isAborted(expectOutcome(fromWorker, "aborted").error));
  counted();
  const controller = new AbortController();
  (db as unknown as {
    create_function(name: string, fn: () => number): void;
  }).create_function("abort_now", () => {
    controller.abort("from SQL");
    return 1;
  });
  const aborted = expectOutcome(
    meter.run(
      () =>
        ask(
          db,
          "WITH RECURSIVE c(x) AS (SELECT abort_now() UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
        ),
      { signal: controller.signal, timeout: GUARD },
    ),
    "aborted",
  );
  assert.match(aborted.error.message, /from SQL/);
  counted();
  // No grace: the glue's cleanup trapped, and the statement stopped as it
  // stepped (in abort_now) is open. (A deadline may land before a statement
  // steps, on a loaded machine, and leave none open.)
  assert.match(
    expectOutcome(meter.run(() => ask(db, "VACUUM")), "error").error.message,
    /SQL statements in progress/,
  );
  plain.close();
});

Deno.test("deadline-only FuelMeter.create: a cache keeps the deadline-only rewrite apart from the counting one", async () => {
  const cache = await Deno.makeTempDir();
  try {
    const counting = await FuelMeter.create(FREE_LOOP, { cache });
    const first = await FuelMeter.create(FREE_LOOP, {
      ...DEADLINE_ONLY,
      cache,
    });
    const again = await FuelMeter.create(FREE_LOOP, {
      ...DEADLINE_ONLY,
      cache,
    });
    assert.deepEqual(
      first.bytes,
      new FuelMeter(FREE_LOOP, DEADLINE_ONLY).bytes,
    );
    assert.deepEqual(again.bytes, first.bytes);
    assert.notDeepEqual(counting.bytes, first.bytes);
    assert.equal(again.countsFuel, false);
    const { instance } = await WebAssembly.instantiate(
      again.bytes,
      again.imports,
    );
    again.attach(instance);
    const spin = instance.exports.spin as () => void;
    expectOutcome(again.run(spin, { timeout: 20 }), "timeout");
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
});
