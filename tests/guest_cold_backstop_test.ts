/**
 * A guest that asks for fuel (one with a start function) gets the meter's
 * backstop slice in its first watched plain calls, its start function's
 * among them: at each slice's end the host reads the call's deadline and
 * StopSignal by this thread's clock, so a stop lands within a slice of work
 * even when the watchdog's flag reaches the guest late. Here it never
 * reaches it: the guest is given a flag memory of its own, which no thread
 * sets, as if the watchdog's thread never woke. Everything is counted: in
 * fuel, and in calls of an import the guest makes only once its work is
 * done.
 */

import assert from "./support/assert.ts";
import { assembleWat } from "../guest/build.ts";
import {
  isAborted,
  isDeadlineExceeded,
  loadGuest,
  StopSignal,
} from "../mod.ts";
import { HOST_CALLS_PER_POLL } from "../src/load/imports.ts";
import { COLD_CALLS, COLD_SLICE } from "../src/meter/meter_tank.ts";
import { RUNTIME_CALLS_PER_POLL } from "../src/wasm/checks.ts";
import { FLAG_MEMORY_NAME } from "../src/wasm/stop_flag.ts";
import { expectOutcome } from "./support/outcome.ts";

/** About 10 million units of fuel: many slices. */
const N = 1_000_000;

/**
 * `work(n)` calls `host.mark`, sums 0 to n - 1, then calls `host.done`;
 * the start function does that work once, so the guest asks for fuel.
 */
const WORKER = await assembleWat(`
(module
  (import "host" "mark" (func $mark))
  (import "host" "done" (func $done))
  (func $work (param $n i32) (result i64) (local $i i32) (local $sum i64)
    (call $mark)
    (loop $again
      (local.set $sum
        (i64.add (local.get $sum) (i64.extend_i32_u (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (local.get $n))))
    (call $done)
    (local.get $sum))
  (func $start (drop (call $work (i32.const ${N}))))
  (start $start)
  (func (export "work") (param i32) (result i64) (call $work (local.get 0))))
`);

/** Ends a call whose stop was lost, so that the test fails, not hangs. */
const GUARD_FUEL = 1e12;

/**
 * Runs `fn` with this test's guests instantiated with a flag memory of
 * their own in place of the shared one the watchdog sets.
 */
async function withUnseenFlag<T>(fn: () => Promise<T>): Promise<T> {
  const instantiate = WebAssembly.instantiate;
  const ours = (module: WebAssembly.Module) =>
    WebAssembly.Module.imports(module).some((entry) =>
      entry.module === "host" && entry.name === "mark"
    );
  // deno-lint-ignore no-explicit-any
  (WebAssembly as any).instantiate = (
    module: WebAssembly.Module,
    imports: WebAssembly.Imports,
  ) => {
    if (!(module instanceof WebAssembly.Module) || !ours(module)) {
      return instantiate(module, imports);
    }
    const swapped: WebAssembly.Imports = {};
    let found = 0;
    for (const [name, fields] of Object.entries(imports)) {
      const copy = Object.create(null);
      for (const [field, value] of Object.entries(fields)) {
        const shared = field === FLAG_MEMORY_NAME &&
          value instanceof WebAssembly.Memory &&
          value.buffer instanceof SharedArrayBuffer;
        if (shared) found++;
        copy[field] = shared
          ? new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true })
          : value;
      }
      swapped[name] = copy;
    }
    assert.equal(found, 1, "the guest imports one shared flag memory");
    return instantiate(module, swapped);
  };
  try {
    return await fn();
  } finally {
    WebAssembly.instantiate = instantiate;
  }
}

/** Runtime calls a loop of {@linkcode RUNTIME_CALLERS} makes between ticks. */
const TICK_EVERY = 4 * RUNTIME_CALLS_PER_POLL;

/**
 * Loops of operators that the engine runs as calls of its runtime, each
 * one unit or so of fuel: `spin_<name>(n)` calls `host.mark`, then runs
 * its operator `n` times, calling `host.tick` after every
 * {@linkcode TICK_EVERY}th, then `host.done`. Exported with no start
 * function, so only the flag and the helpers' polls can stop them.
 */
const RUNTIME_CALLS: Record<string, string> = {
  "memory.grow 0": "(drop (memory.grow (i32.const 0)))",
  "table.grow 0": "(drop (table.grow $t (ref.null func) (i32.const 0)))",
  "memory.atomic.wait32, timeout 0":
    "(drop (memory.atomic.wait32 (i32.const 0) (i32.const 0) (i64.const 0)))",
  "memory.atomic.notify":
    "(drop (memory.atomic.notify (i32.const 0) (i32.const 1)))",
  "throw, caught": "(block $caught (try_table (catch_all $caught) (throw $e)))",
};

const RUNTIME_CALLERS = await assembleWat(`
(module
  (import "host" "mark" (func $mark))
  (import "host" "tick" (func $tick))
  (import "host" "done" (func $done))
  (memory 1 1 shared)
  (table $t 0 funcref)
  (tag $e)
  ${
  Object.values(RUNTIME_CALLS).map((op, at) => `
  (func (export "spin_${at}") (param $n i32) (local $i i32)
    (call $mark)
    (loop $again
      ${op}
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (if (i32.eqz (i32.rem_u (local.get $i) (i32.const ${TICK_EVERY})))
        (then (call $tick)))
      (br_if $again (i32.lt_u (local.get $i) (local.get $n))))
    (call $done))`).join("")
}
)
`);

/** Host imports whose `mark` runs what the test gives it next. */
function host() {
  const counts = { marks: 0, done: 0 };
  const ticks = { count: 0 };
  let onMark = () => {};
  return {
    counts,
    ticks,
    set onMark(fn: () => void) {
      onMark = fn;
    },
    imports: {
      host: {
        mark: () => {
          counts.marks++;
          onMark();
        },
        tick: () => void ticks.count++,
        done: () => void counts.done++,
      },
    },
  };
}

/** Waits on this thread until `ms` have passed. */
function holdFor(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) { /* the deadline passes meanwhile */ }
}

Deno.test("a start function that asks for fuel stops at a slice's end when the watchdog's flag never reaches it, by a StopSignal or a deadline", async () => {
  await withUnseenFlag(async () => {
    const byStop = host();
    const stop = new StopSignal();
    byStop.onMark = () => stop.stop("now");
    await assert.rejects(
      loadGuest(WORKER, { fuel: GUARD_FUEL, stop, imports: byStop.imports }),
      (error) => isAborted(error),
    );
    assert.deepEqual(byStop.counts, { marks: 1, done: 0 });

    const byDeadline = host();
    byDeadline.onMark = () => holdFor(3);
    await assert.rejects(
      loadGuest(WORKER, {
        fuel: GUARD_FUEL,
        timeout: 1,
        imports: byDeadline.imports,
      }),
      (error) => isDeadlineExceeded(error),
    );
    assert.deepEqual(byDeadline.counts, { marks: 1, done: 0 });
  });
});

Deno.test("a guest's first plain calls under a StopSignal or a deadline stop at a slice's end when the watchdog's flag never reaches them; later calls do not, and the fuel a call consumes stays the same", async () => {
  await withUnseenFlag(async () => {
    const calls = host();
    const guest = await loadGuest(WORKER, {
      fuel: GUARD_FUEL,
      interruptible: true,
      imports: calls.imports,
    });
    // The start function was the instance's first call.
    assert.deepEqual(calls.counts, { marks: 1, done: 1 });
    const unwatched = expectOutcome(guest.invoke("work", [N]), "returned");
    assert.ok(unwatched.fuel!.consumed > 5 * COLD_SLICE);
    for (let call = 2; call < COLD_CALLS; call++) {
      const stop = new StopSignal();
      const byStop = call % 2 === 0;
      calls.onMark = byStop ? () => stop.stop("now") : () => holdFor(3);
      const options = byStop ? { stop } : { timeout: 1 };
      const stopped = expectOutcome(
        guest.invoke("work", [N], options),
        byStop ? "aborted" : "timeout",
      );
      assert.ok(
        stopped.fuel!.consumed <= COLD_SLICE,
        `call ${call}: ${stopped.fuel!.consumed} units before the stop`,
      );
    }
    assert.equal(calls.counts.done, 2);
    // Past the instance's first calls, the flag alone keeps its stops:
    // unseen here, so the call does all its work.
    const stop = new StopSignal();
    calls.onMark = () => stop.stop("now");
    const late = guest.invoke("work", [N], { stop });
    assert.equal(calls.counts.done, 3);
    assert.equal(late.fuel!.consumed, unwatched.fuel!.consumed);

    // A fresh guest's sliced call consumes exactly what an unsliced one does.
    calls.onMark = () => {};
    const fresh = await loadGuest(WORKER, {
      fuel: GUARD_FUEL,
      interruptible: true,
      imports: calls.imports,
    });
    let slice = 0;
    calls.onMark = () => void (slice = fresh.meter!.slice);
    const sliced = expectOutcome(
      fresh.invoke("work", [N], { timeout: 600_000 }),
      "returned",
    );
    assert.equal(sliced.value, unwatched.value);
    assert.equal(sliced.fuel!.consumed, unwatched.fuel!.consumed);
    assert.equal(slice, COLD_SLICE);
    // The meter's own slice is put back once the call ends.
    assert.equal(fresh.meter!.slice, Infinity);
  });
});

Deno.test("loops of operators the engine runs as calls of its runtime stop within a poll's count of them when the watchdog's flag never reaches them, by a StopSignal or a deadline, with fuel or without", async () => {
  await withUnseenFlag(async () => {
    for (const fuel of [false, GUARD_FUEL] as const) {
      const calls = host();
      const guest = await loadGuest(RUNTIME_CALLERS, {
        fuel,
        interruptible: true,
        imports: calls.imports,
      });
      // Past the instance's first calls, so that no fuel slice backs the
      // flag: only the helpers' polls can stop these loops.
      for (let call = 0; call < COLD_CALLS; call++) {
        guest.invoke("spin_0", [1]);
      }
      const names = Object.keys(RUNTIME_CALLS);
      for (const [at, name] of names.entries()) {
        for (const byStop of [true, false]) {
          const stop = new StopSignal();
          calls.onMark = byStop ? () => stop.stop("now") : () => holdFor(3);
          const ticks = calls.ticks.count;
          const done = calls.counts.done;
          expectOutcome(
            guest.invoke(
              `spin_${at}`,
              [64 * TICK_EVERY],
              byStop ? { stop } : {
                timeout: 1,
              },
            ),
            byStop ? "aborted" : "timeout",
          );
          // A poll comes at least every RUNTIME_CALLS_PER_POLL of them,
          // before the loop's first tick.
          assert.equal(
            calls.ticks.count - ticks,
            0,
            `${name}, fuel ${fuel}, ${byStop ? "StopSignal" : "deadline"}`,
          );
          assert.equal(calls.counts.done, done);
        }
      }
    }
  });
});

/**
 * `spin()` calls `host.mark`, then calls `host.tick` in a loop that has no
 * end of its own: only the flag, and the look its import calls take at the
 * call's stops, can stop it.
 */
const IMPORT_CALLER = await assembleWat(`
(module
  (import "host" "mark" (func $mark))
  (import "host" "tick" (func $tick))
  (import "host" "done" (func $done))
  (func (export "spin")
    (call $mark)
    (loop $again (call $tick) (br $again))
    (call $done)))
`);

/** Ends a loop whose stop was lost, so that the test fails, not hangs. */
const GUARD_TICKS = 1_000_000;

Deno.test("a loop of host import calls stops within a poll's count of them when the watchdog's flag never reaches it, by a StopSignal or a deadline, in plain and async calls", async () => {
  await withUnseenFlag(async () => {
    for (const async of [false, true]) {
      const calls = host();
      const tick = calls.imports.host.tick;
      calls.imports.host.tick = () => {
        tick();
        if (calls.ticks.count > GUARD_TICKS) throw new Error("never stopped");
      };
      const guest = await loadGuest(IMPORT_CALLER, {
        fuel: false,
        async,
        imports: calls.imports,
      });
      for (const byStop of [true, false]) {
        const stop = new StopSignal();
        calls.onMark = byStop ? () => stop.stop("now") : () => holdFor(3);
        const ticks = calls.ticks.count;
        const options = byStop ? { stop } : { timeout: 1 };
        const result = async
          ? await guest.invokeAsync("spin", [], options)
          : guest.invoke("spin", [], options);
        const what = `${async ? "async" : "plain"}, ${
          byStop ? "StopSignal" : "deadline"
        }`;
        expectOutcome(result, byStop ? "aborted" : "timeout");
        // The stop was due before the first tick: the poll after the
        // HOST_CALLS_PER_POLL-th import call at the latest ends the loop.
        assert.ok(
          calls.ticks.count - ticks <= HOST_CALLS_PER_POLL,
          `${what}: ${calls.ticks.count - ticks} ticks`,
        );
        assert.equal(calls.counts.done, 0, what);
      }
    }
  });
});
