/**
 * A call of guest B made inside a call of guest A (from A's host import)
 * that reaches A's code through a table the host made: that code reads A's
 * stop flag, not B's, so B's call's deadline, StopSignal and AbortSignal
 * are armed on A's flag too, and A's code answers with B's stop. It had
 * answered only to A's calls: B's 30 ms deadline landed when A's loop ended
 * on its own, seconds later. Each loop here is bounded by a count, so that
 * a lost stop fails the test (the count ran out) rather than hanging it.
 *
 * @module
 */

import assert from "./support/assert.ts";
import {
  type CallOptions,
  type CallOutcome,
  type Guest,
  type GuestOptions,
  isDeadlineExceeded,
  isGuestTrap,
  loadGuest,
  StopSignal,
} from "../mod.ts";
import { assembleWat as wat } from "../guest/build.ts";
import { expectOutcome } from "./support/outcome.ts";
import { attachedMeter } from "./support/attached_meter.ts";
import { stopFromAnotherThread } from "./support/stopper_thread.ts";

/** Turns of A's loop that take seconds of CPU: only a lost stop ends there. */
const TURNS = 2_000_000_000;

/** What A's loop counts on, once B's call is over, in the same call of A. */
const AFTER = 1_000;

/**
 * Guest A: `spin` counts up to its argument in the global `n`; `install`
 * puts `spin` in the shared table; `through_b` calls its import (which
 * calls B) and then counts `extra` turns more.
 */
const A = await wat(`(module
  (type $spin (func (param i32)))
  (import "shared" "table" (table $t 1 funcref))
  (import "host" "call_b" (func $call_b))
  (global $n (export "n") (mut i32) (i32.const 0))
  (func $spin (export "spin") (param $to i32)
    (loop $again
      (global.set $n (i32.add (global.get $n) (i32.const 1)))
      (br_if $again (i32.lt_u (global.get $n) (local.get $to)))))
  (func (export "install") (table.set $t (i32.const 0) (ref.func $spin)))
  (func (export "through_b") (param $extra i32)
    (call $call_b)
    (call $spin (i32.add (global.get $n) (local.get $extra)))))`);

/** Guest B: calls the function at index 0 of the shared table. */
const B = await wat(`(module
  (type $spin (func (param i32)))
  (import "shared" "table" (table $t 1 funcref))
  (func (export "via_table") (param i32)
    (call_indirect $t (type $spin) (local.get 0) (i32.const 0))))`);

interface Linked {
  a: Guest;
  b: Guest;
  /** How far A's loop has counted. */
  turns(): number;
  /** B's call, once A's import has made it, and the count after it. */
  inner(): { outcome: CallOutcome; turns: number } | undefined;
}

/**
 * A and B over one table; A's import calls B's `via_table` with
 * `innerOptions`, plain or async as B was loaded.
 */
async function link(
  aOptions: GuestOptions,
  bOptions: GuestOptions,
  innerOptions: () => CallOptions & { signal?: AbortSignal },
): Promise<Linked> {
  const table = new WebAssembly.Table({ element: "anyfunc", initial: 1 });
  let inner: { outcome: CallOutcome; turns: number } | undefined;
  const turns = () => (a.instance.exports.n as WebAssembly.Global).value;
  const callB = bOptions.async
    ? async () => {
      const outcome = await b.invokeAsync("via_table", [TURNS], innerOptions());
      inner = { outcome, turns: turns() };
    }
    : () => {
      const outcome = b.invoke("via_table", [TURNS], innerOptions());
      inner = { outcome, turns: turns() };
    };
  const a: Guest = await loadGuest(A, {
    ...aOptions,
    label: "A",
    imports: { shared: { table }, host: { call_b: callB } },
  });
  const b: Guest = await loadGuest(B, {
    ...bOptions,
    label: "B",
    imports: { shared: { table } },
  });
  if (aOptions.async) await a.invokeAsync("install");
  else a.call("install");
  return { a, b, turns, inner: () => inner };
}

/** Asserts that B's call ended as `outcome` with A's loop cut short. */
function innerStopped(
  linked: Linked,
  outcome: CallOutcome["outcome"],
): number {
  const inner = linked.inner();
  assert.ok(inner !== undefined, "A's import called B");
  expectOutcome(inner.outcome, outcome);
  assert.ok(inner.turns < TURNS, `A's loop ran its ${inner.turns} turns out`);
  return inner.turns;
}

const A_MODES: [string, GuestOptions][] = [
  ["A interruptible", { interruptible: true }],
  ["A deadline-only", { fuel: false }],
  ["A counting fuel", { fuel: 1e15, timeout: 600_000 }],
];

const B_MODES: [string, GuestOptions][] = [
  ["B interruptible", { interruptible: true }],
  ["B deadline-only", { fuel: false }],
  ["B counting fuel", { fuel: 1e15, interruptible: true }],
];

for (const [aWhat, aOptions] of A_MODES) {
  for (const [bWhat, bOptions] of B_MODES) {
    Deno.test(`${aWhat}, ${bWhat}: B's deadline stops A's code that B's call reaches, and A's call goes on`, async () => {
      const linked = await link(aOptions, bOptions, () => ({ timeout: 30 }));
      const outer = linked.a.invoke("through_b", [AFTER], {
        timeout: 600_000,
      });
      expectOutcome(outer, "returned");
      const turns = innerStopped(linked, "timeout");
      // A's own loop after B's call ran in full: no trap at a flag that
      // was set for B alone.
      assert.equal(linked.turns(), turns + AFTER);
      // And A's next call is as any other.
      linked.a.call("spin", linked.turns() + 10);
      assert.equal(linked.turns(), turns + AFTER + 10);
    });
  }

  Deno.test(`${aWhat}: B's StopSignal, set from another thread, stops A's code that B's call reaches`, async () => {
    const stop = new StopSignal();
    const stopper = await stopFromAnotherThread(stop, { after: 30 });
    try {
      const linked = await link(
        aOptions,
        { interruptible: true },
        () => ({ stop }),
      );
      expectOutcome(linked.a.invoke("through_b", [AFTER]), "returned");
      const turns = innerStopped(linked, "aborted");
      assert.equal(linked.turns(), turns + AFTER);
    } finally {
      stopper.terminate();
    }
  });

  Deno.test(`${aWhat}: A's own deadline still holds after B's call was stopped in A's code`, async () => {
    const linked = await link(
      aOptions,
      { fuel: false },
      () => ({ timeout: 30 }),
    );
    const outer = linked.a.invoke("through_b", [TURNS], { timeout: 200 });
    expectOutcome(outer, "timeout");
    const turns = innerStopped(linked, "timeout");
    assert.ok(
      linked.turns() < turns + TURNS,
      "A's loop after B's call was stopped",
    );
  });
}

Deno.test("async A and async B: B's deadline and AbortSignal stop A's code that B's call reaches", async () => {
  const stops: [CallOutcome["outcome"], () => AsyncCallOptions][] = [
    ["timeout", () => ({ timeout: 30 })],
    ["aborted", () => {
      const controller = new AbortController();
      setTimeout(() => controller.abort(new Error("enough")), 30);
      return { signal: controller.signal };
    }],
  ];
  for (const [outcome, options] of stops) {
    const linked = await link({ async: true }, { async: true }, options);
    const outer = await linked.a.invokeAsync("through_b", [AFTER], {
      timeout: 600_000,
    });
    expectOutcome(outer, "returned");
    const turns = innerStopped(linked, outcome);
    assert.equal(linked.turns(), turns + AFTER);
  }
});

type AsyncCallOptions = CallOptions & { signal?: AbortSignal };

for (
  const [what, meterOptions] of [
    ["a deadline-only", { fuel: false }],
    ["a counting, resumable", { resumable: true }],
  ] as const
) {
  Deno.test(`${what} FuelMeter run as the outer call: B's deadline stops the library's code that B's call reaches`, async () => {
    const table = new WebAssembly.Table({ element: "anyfunc", initial: 1 });
    let inner: { outcome: CallOutcome; turns: number } | undefined;
    const b = await loadGuest(B, {
      label: "B",
      interruptible: true,
      imports: { shared: { table } },
    });
    const { meter, exports } = await attachedMeter<
      ((n: number) => void) & WebAssembly.Global
    >(A, meterOptions, undefined, {
      shared: { table },
      host: {
        call_b: () => {
          const outcome = b.invoke("via_table", [TURNS], { timeout: 30 });
          inner = { outcome, turns: exports.n.value };
        },
      },
    });
    const turns = () => exports.n.value as number;
    expectOutcome(meter.run(() => exports.install(0)), "returned");
    const outer = meter.run(() => exports.through_b(AFTER), {
      timeout: 600_000,
    });
    expectOutcome(outer, "returned");
    assert.ok(inner !== undefined, "the library's import called B");
    expectOutcome(inner.outcome, "timeout");
    assert.ok(inner.turns < TURNS, `the loop ran its ${inner.turns} turns out`);
    assert.equal(turns(), inner.turns + AFTER);
  });
}

/** Async A over `table`, whose import runs `callB`. */
function asyncA(
  table: WebAssembly.Table,
  callB: () => Promise<void>,
): Promise<Guest> {
  return loadGuest(A, {
    label: "A",
    async: true,
    imports: { shared: { table }, host: { call_b: callB } },
  });
}

/** What B's call or load ends with when it reaches async A's code. */
function reachedAsync(error: unknown): void {
  assert.ok(isGuestTrap(error), String(error));
  assert.equal(error.trap, "other");
  assert.ok(!error.message.includes("\n"), "one line");
  assert.match(
    error.message,
    /^guest trapped \(other\): a function of the async guest A, reached from another guest's call \(through a table or a reference\) while a call of A was in progress, stopped at a check that pauses for the event loop, .*: call it through A's invokeAsync, or load A without async: true$/,
  );
}

Deno.test("async A's code, reached from B's plain call made in A's import, ends B's call as a trap that names A, and A's call goes on", async () => {
  const linked = await link(
    { async: true },
    { interruptible: true },
    () => ({ timeout: 600_000 }),
  );
  const outer = await linked.a.invokeAsync("through_b", [AFTER]);
  expectOutcome(outer, "returned");
  const inner = linked.inner();
  assert.ok(inner !== undefined, "A's import called B");
  reachedAsync(expectOutcome(inner.outcome, "trap").error);
  assert.ok(inner.turns < TURNS, `A's loop ran its ${inner.turns} turns out`);
  assert.equal(linked.turns(), inner.turns + AFTER);
});

/** Guest B whose start function runs A's loop through the shared table. */
const STARTING = await wat(`(module
  (type $spin (func (param i32)))
  (import "shared" "table" (table $t 1 funcref))
  (func $start
    (call_indirect $t (type $spin) (i32.const ${TURNS}) (i32.const 0)))
  (start $start))`);

/**
 * Runs async A's `through_b`, whose import loads {@linkcode STARTING} with
 * `options`: what the load rejected with, and how far A's loop counted.
 */
async function loadedInA(
  options: GuestOptions,
): Promise<{ rejected: unknown; turns: number }> {
  const table = new WebAssembly.Table({ element: "anyfunc", initial: 1 });
  let rejected: unknown;
  const a = await asyncA(table, async () => {
    try {
      await loadGuest(STARTING, {
        ...options,
        label: "B",
        imports: { shared: { table } },
      });
    } catch (error) {
      rejected = error;
    }
  });
  await a.invokeAsync("install");
  expectOutcome(await a.invokeAsync("through_b", [AFTER]), "returned");
  const turns = (a.instance.exports.n as WebAssembly.Global).value;
  return { rejected, turns };
}

Deno.test("async A's code, reached from the start function of B loaded in A's import, rejects B's load with a trap that names A", async () => {
  for (const options of [{ timeout: 600_000 }, { fuel: false }] as const) {
    const { rejected, turns } = await loadedInA(options);
    reachedAsync(rejected);
    assert.ok(turns < TURNS + AFTER, `A's loop ran its ${turns} turns out`);
  }
});

Deno.test("of three nested calls of three guests, the middle one's deadline, the first to come, stops the innermost, whatever the others' are", async () => {
  // Only the first of the enclosing calls' deadlines is armed on the
  // innermost call's flag; the others still hold by the clock.
  const levels = await wat(`(module
    (import "host" "down" (func $down))
    (func (export "level") (call $down))
    (func (export "spin") (local $n i32)
      (loop $again
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br_if $again (i32.lt_u (local.get $n) (i32.const ${TURNS}))))))`);
  const outcomes: CallOutcome[] = [];
  const guests: Guest[] = [];
  const timeouts = [600_000, 40, 500_000];
  let depth = 0;
  const down = () => {
    const level = ++depth;
    const name = level === 2 ? "spin" : "level";
    const timeout = timeouts[level];
    outcomes.unshift(guests[level].invoke(name, [], { timeout }));
  };
  for (const label of ["G1", "G2", "G3"]) {
    guests.push(
      await loadGuest(levels, {
        label,
        interruptible: true,
        imports: { host: { down } },
      }),
    );
  }
  const outer = guests[0].invoke("level", [], { timeout: timeouts[0] });
  expectOutcome(outer, "returned");
  assert.equal(outcomes.length, 2);
  const [middle, innermost] = outcomes.map((outcome) =>
    expectOutcome(outcome, "timeout")
  );
  assert.equal(innermost.error.timeout, 40, "the middle call's deadline");
  assert.equal(middle.error.timeout, 40);
});

/**
 * Async A and async B, B's call made by A's import (awaited or not) and
 * running A's loop through the table, with a deadline of its own far off.
 */
async function outlivingB(awaited: boolean) {
  const table = new WebAssembly.Table({ element: "anyfunc", initial: 1 });
  let inner: Promise<CallOutcome> | undefined;
  const b = await loadGuest(B, {
    label: "B",
    async: true,
    imports: { shared: { table } },
  });
  const a = await asyncA(table, async () => {
    inner = b.invokeAsync("via_table", [TURNS], { timeout: 600_000 });
    if (awaited) await inner;
  });
  await a.invokeAsync("install");
  const turns = () => (a.instance.exports.n as WebAssembly.Global).value;
  return { a, turns, inner: () => inner! };
}

Deno.test("async A's call aborted while B's call, made and awaited in A's import, runs A's code: B's call stops with it", async () => {
  const { a, turns, inner } = await outlivingB(true);
  const controller = new AbortController();
  setTimeout(() => controller.abort(new Error("enough")), 30);
  const outer = await a.invokeAsync("through_b", [AFTER], {
    signal: controller.signal,
  });
  expectOutcome(outer, "aborted");
  expectOutcome(await inner(), "aborted");
  assert.ok(turns() < TURNS, `A's loop ran its ${turns()} turns out`);
  // A's next call is as any other.
  const before = turns();
  expectOutcome(await a.invokeAsync("spin", [before + 10]), "returned");
  assert.equal(turns(), before + 10);
});

Deno.test("async A's call that returns while B's call, made and not awaited in A's import, runs A's code: B's call traps outside A's calls", async () => {
  const { a, turns, inner } = await outlivingB(false);
  expectOutcome(await a.invokeAsync("through_b", [AFTER]), "returned");
  const { error } = expectOutcome(await inner(), "trap");
  assert.ok(isGuestTrap(error), String(error));
  assert.equal(error.trap, "outside_call");
  assert.ok(turns() < TURNS, `A's loop ran its ${turns()} turns out`);
});

Deno.test("two async calls made in async A's import, both running A's code: the first's deadline stops it alone, and the other returns", async () => {
  // Both arm their stops on A's flag; A's code that finds it set answers
  // only to the call it runs inside of.
  const table = new WebAssembly.Table({ element: "anyfunc", initial: 1 });
  const [b1, b2] = await Promise.all(
    ["B1", "B2"].map((label) =>
      loadGuest(B, { label, async: true, imports: { shared: { table } } })
    ),
  );
  let outcomes: CallOutcome[] = [];
  const a = await asyncA(table, async () => {
    outcomes = await Promise.all([
      b1.invokeAsync("via_table", [TURNS], { timeout: 30 }),
      // Long enough to be running A's code when B1's deadline comes.
      b2.invokeAsync("via_table", [300_000_000], { timeout: 600_000 }),
    ]);
  });
  await a.invokeAsync("install");
  expectOutcome(await a.invokeAsync("through_b", [AFTER]), "returned");
  expectOutcome(outcomes[0], "timeout");
  expectOutcome(outcomes[1], "returned");
});

Deno.test("async B loaded in async A's import, whose start function runs A's loop: the load's deadline stops it, and A's call goes on", async () => {
  const { rejected, turns } = await loadedInA({ async: true, timeout: 30 });
  assert.ok(isDeadlineExceeded(rejected), String(rejected));
  assert.ok(turns < TURNS, `A's loop ran its ${turns} turns out`);
});
