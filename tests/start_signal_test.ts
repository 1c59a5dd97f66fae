/**
 * A load's `signal` stops the start function of a guest loaded for plain
 * calls too: that start function yields to the event loop as an async
 * call does, so a signal aborted by a timer (or timed out) fires while it
 * runs. Before, it held the thread, and a start function that never ended
 * held the load for ever. The guest's later calls are plain, and a call
 * nested in the start function (through a host import) runs as one.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { assembleWat } from "../guest/build.ts";
import { RUNAWAY_START_WAT } from "./support/guests.ts";
import {
  type CallOutcome,
  type Guest,
  isAborted,
  isDeadlineExceeded,
  loadGuest,
  StopSignal,
} from "../mod.ts";
import {
  START_YIELD_HELPER,
  startYieldCallback,
  TURN,
} from "../src/call/start_yield.ts";
import { suspending } from "../src/call/jspi.ts";
import { runDeno } from "./support/cli.ts";
import { docWatBytes } from "./support/doc_wat.ts";
import { expectOutcome } from "./support/outcome.ts";
import { stopFromAnotherThread } from "./support/stopper_thread.ts";

/**
 * Fuel that ends a start function whose stop was lost, so that such a test
 * fails with FuelExhausted instead of hanging.
 */
const GUARD_FUEL = 30_000_000_000;

const RUNAWAY_START = await assembleWat(RUNAWAY_START_WAT);

/**
 * A start function that tells the host it began, counts to `host.limit()`
 * (calling `host.work` now and then), and tells the host it ended.
 */
const COUNTING_START = await assembleWat(`
(module
  (import "host" "began" (func $began))
  (import "host" "limit" (func $limit (result i32)))
  (import "host" "work" (func $work))
  (import "host" "ended" (func $ended))
  (global $count (mut i32) (i32.const 0))
  (func $start
    (local $i i32)
    (local $limit i32)
    (call $began)
    (local.set $limit (call $limit))
    (loop $again
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (if (i32.eqz (i32.and (local.get $i) (i32.const 0xffffff)))
        (then (call $work)))
      (br_if $again (i32.lt_u (local.get $i) (local.get $limit))))
    (global.set $count (local.get $i))
    (call $ended))
  (start $start)
  (func (export "count") (result i32) (global.get $count))
  (func (export "busy") (param $n i32) (result i32)
    (local $i i32)
    (loop $again
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $i))
  (func (export "spin") (loop $forever (br $forever))))
`);

Deno.test("a plain guest's runaway start function stops when the load's signal aborts", async () => {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error("cancelled")), 30);
  try {
    await assert.rejects(
      loadGuest(RUNAWAY_START, { fuel: GUARD_FUEL, signal: controller.signal }),
      (e) => isAborted(e) && (e.cause as Error)?.message === "cancelled",
    );
  } finally {
    clearTimeout(timer);
  }
});

Deno.test("a plain guest's runaway start function stops when the load's signal times out", async () => {
  await assert.rejects(
    loadGuest(RUNAWAY_START, {
      fuel: GUARD_FUEL,
      signal: AbortSignal.timeout(30),
    }),
    (e) => isDeadlineExceeded(e),
  );
});

Deno.test("a plain guest's start function given a signal yields to the event loop, and its calls stay plain", async () => {
  let timerRan = false;
  let ranBeforeEnd: boolean | undefined;
  const guest = await loadGuest(COUNTING_START, {
    signal: new AbortController().signal,
    imports: {
      host: {
        began: () => void setTimeout(() => timerRan = true, 0),
        // A tenth of a second of counting or more: the timer's turn comes.
        limit: () => 0x4000000,
        work: () => {},
        ended: () => void (ranBeforeEnd = timerRan),
      },
    },
  });
  assert.equal(ranBeforeEnd, true, "a timer ran while the start function ran");
  assert.equal(
    expectOutcome(guest.invoke("count"), "returned").value,
    0x4000000,
  );
  // A plain call, stopped by its own deadline and by a StopSignal.
  expectOutcome(guest.invoke("spin", [], { timeout: 20 }), "timeout");
  const stop = new StopSignal();
  const stopper = await stopFromAnotherThread(stop, { after: 20 });
  try {
    expectOutcome(guest.invoke("spin", [], { stop }), "aborted");
  } finally {
    stopper.terminate();
  }
});

/**
 * Loads {@linkcode COUNTING_START} with a signal, then reinstantiates it:
 * its start function runs a second time with the guest at hand
 * (`guest()`), for imports that call it back.
 */
async function startedTwice(
  host: (guest: () => Guest | undefined) => Record<string, () => unknown>,
): Promise<Guest> {
  const loaded: { guest?: Guest } = {};
  const guest = await loadGuest(COUNTING_START, {
    signal: new AbortController().signal,
    imports: { host: host(() => loaded.guest) },
  });
  loaded.guest = guest;
  await guest.reinstantiate();
  return guest;
}

Deno.test("a plain call nested in a plain guest's yielding start function runs whole, and the start function goes on", async () => {
  const nested: unknown[] = [];
  const guest = await startedTwice((guest) => ({
    began: () => {},
    limit: () => 0x3000000,
    // From the second run of the start function, a call back into the
    // guest long enough for the flag's ticks to come.
    work: () => {
      const outcome = guest()?.invoke("busy", [200_000_000]);
      if (outcome !== undefined) {
        nested.push(expectOutcome(outcome, "returned").value);
      }
    },
    ended: () => {},
  }));
  assert.deepEqual(nested, [200_000_000, 200_000_000, 200_000_000]);
  assert.equal(
    expectOutcome(guest.invoke("count"), "returned").value,
    0x3000000,
  );
});

Deno.test("a plain call made from the event loop while a plain guest's start function yields runs whole, on its own stack", async () => {
  let between: CallOutcome | undefined;
  await startedTwice((guest) => ({
    // From the second run of the start function, a timer's call, which
    // runs while the start function is suspended at one of its turns,
    // long enough for the flag's ticks to come.
    began: () => {
      const loaded = guest();
      if (loaded === undefined) return;
      setTimeout(() => between = loaded.invoke("busy", [100_000_000]), 0);
    },
    limit: () => 0x6000000,
    work: () => {},
    ended: () => {},
  }));
  assert.ok(between !== undefined, "the timer's call ran");
  assert.equal(expectOutcome(between, "returned").value, 100_000_000);
});

Deno.test("a plain call made in a microtask that a yielding start function's last import queued runs whole", async () => {
  let after: CallOutcome | undefined;
  await startedTwice((guest) => ({
    began: () => {},
    limit: () => 0x3000000,
    work: () => {},
    // The microtask runs once the start function has returned, before the
    // load (here reinstantiate) has ended its call.
    ended: () => {
      const loaded = guest();
      if (loaded === undefined) return;
      queueMicrotask(() => after = loaded.invoke("busy", [100_000_000]));
    },
  }));
  assert.ok(after !== undefined, "the microtask's call ran");
  assert.equal(expectOutcome(after, "returned").value, 100_000_000);
});

Deno.test("the guest's raw exports, called nested in a yielding start function's import or in a microtask its last import queued, run whole", async () => {
  const ran: unknown[] = [];
  const busy = (guest: Guest) =>
    guest.instance.exports.busy as (n: number) => number;
  await startedTwice((guest) => ({
    began: () => {},
    limit: () => 0x3000000,
    // Not through invoke: no call of early-exit's is in progress, and the
    // host's frames are below the guest's code.
    work: () => {
      const loaded = guest();
      if (loaded !== undefined) ran.push(busy(loaded)(200_000_000));
    },
    ended: () => {
      const loaded = guest();
      if (loaded === undefined) return;
      queueMicrotask(() => ran.push(busy(loaded)(100_000_000)));
    },
  }));
  assert.deepEqual(ran, [200_000_000, 200_000_000, 200_000_000, 100_000_000]);
});

Deno.test("the start function's yielding callback goes on when the engine refuses its turn, and throws on anything else its turn throws", () => {
  // Called outside WebAssembly.promising, the suspending turn is refused.
  const refusedTurn = startYieldCallback(() => TURN, suspending(() => 1));
  refusedTurn.onStart.value = 1;
  assert.equal((refusedTurn.callback as () => number)(), 0);
  assert.equal(refusedTurn.onStart.value, 1, "the switch is set again");
  const boom = new Error("boom");
  const throwingTurn = startYieldCallback(() => TURN, () => {
    throw boom;
  });
  assert.throws(() => (throwingTurn.callback as () => number)(), boom);
  // Answers other than a turn pass through; the turn is not called.
  const noTurn = startYieldCallback((onStart) => onStart, () => {
    throw boom;
  });
  noTurn.onStart.value = 1;
  assert.equal((noTurn.callback as () => number)(), 1);
});

Deno.test("without WebAssembly.JSTag, the start function's yielding callback still links, and a refused turn is thrown as before", async () => {
  // The engine's own tag cannot be taken away in this process: a child
  // deletes it before it imports the helper.
  const script = `
    delete WebAssembly.JSTag;
    const { startYieldCallback, TURN } = await import("./src/call/start_yield.ts");
    const { suspending } = await import("./src/call/jspi.ts");
    const refused = startYieldCallback(() => TURN, suspending(() => 1));
    refused.onStart.value = 1;
    let thrown = "nothing";
    try { refused.callback(); } catch (error) { thrown = error.constructor.name; }
    console.log(JSON.stringify({ tag: typeof WebAssembly.JSTag, thrown }));
  `;
  const run = await runDeno(["eval", script]);
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(JSON.parse(run.stdout), {
    tag: "undefined",
    thrown: "SuspendError",
  });
});

Deno.test("the start function's yielding callback is the module its documentation writes out", async () => {
  const source = new URL("../src/call/start_yield.ts", import.meta.url);
  assert.deepEqual(
    await docWatBytes(source, 0, { exceptions: true }),
    [...START_YIELD_HELPER],
  );
});
