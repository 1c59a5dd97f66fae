/**
 * A guest's functions reached outside any call of that guest: through a
 * table the host made that another guest imports too, a funcref global both
 * import, a reference a host import hands another guest, or a reference the
 * host calls itself. Their checks read their own guest's stop flag and fuel,
 * so the calling guest's deadline, signal, stop and fuel never reached them
 * (a 200 ms deadline had not landed 20 s later). Each attempt here spins in
 * a loop bounded by a count, so that a route left open fails the test
 * rather than hanging it: the count says how much of the loop ran.
 *
 * @module
 */

import assert from "./support/assert.ts";
import {
  type CallOutcome,
  FuelMeter,
  type Guest,
  type GuestOptions,
  isGuestTrap,
  loadGuest,
} from "../mod.ts";
import { assembleWat as wat } from "../guest/build.ts";
import { expectOutcome } from "./support/outcome.ts";
import { attachedMeter } from "./support/attached_meter.ts";

/** How many turns the spin takes: long enough to see, short enough to end. */
const TURNS = 300_000;

/**
 * Guest A: `spin` counts up to its argument in the global `n`; `install`
 * puts `spin` in the table and the global it imports; `spin_ref` returns
 * it.
 */
const A = await wat(`(module
  (type $spin (func (param i32)))
  (import "shared" "table" (table $t 1 funcref))
  (import "shared" "global" (global $g (mut funcref)))
  (import "host" "call_b" (func $call_b))
  (global $n (export "n") (mut i32) (i32.const 0))
  (elem declare func $spin)
  (func $spin (export "spin") (param $to i32)
    (loop $again
      (global.set $n (i32.add (global.get $n) (i32.const 1)))
      (br_if $again (i32.lt_u (global.get $n) (local.get $to)))))
  (func (export "install")
    (table.set $t (i32.const 0) (ref.func $spin))
    (global.set $g (ref.func $spin)))
  (func (export "spin_ref") (result funcref) (ref.func $spin))
  (func (export "through_b") (call $call_b))
  (func (export "crash") unreachable))`);

/**
 * Guest B: calls the function at index 0 of the table it imports, the one
 * in the global it imports, or the one its host import hands it.
 */
const B = await wat(`(module
  (type $spin (func (param i32)))
  (import "shared" "table" (table $t 1 funcref))
  (import "shared" "global" (global $g (mut funcref)))
  (import "host" "give" (func $give (result funcref)))
  (table $own 1 funcref)
  (func (export "via_table") (param i32)
    (call_indirect $t (type $spin) (local.get 0) (i32.const 0)))
  (func (export "via_global") (param i32)
    (table.set $own (i32.const 0) (global.get $g))
    (call_indirect $own (type $spin) (local.get 0) (i32.const 0)))
  (func (export "via_import") (param i32)
    (table.set $own (i32.const 0) (call $give))
    (call_indirect $own (type $spin) (local.get 0) (i32.const 0)))
  (func (export "crash") unreachable))`);

interface Linked {
  a: Guest;
  b: Guest;
  /** How far A's spin counted. */
  turns(): number;
}

/** A and B, sharing a table and a global the host made. */
async function link(
  aOptions: GuestOptions,
  bOptions: GuestOptions,
  give: () => unknown = () => null,
  callB: () => void = () => {},
): Promise<Linked> {
  const shared = {
    table: new WebAssembly.Table({ element: "anyfunc", initial: 1 }),
    global: new WebAssembly.Global(
      { value: "anyfunc" as WebAssembly.ValueType, mutable: true },
      null,
    ),
  };
  const a = await loadGuest(A, {
    ...aOptions,
    label: "A",
    imports: { shared, host: { call_b: callB } },
  });
  const b = await loadGuest(B, {
    ...bOptions,
    label: "B",
    imports: { shared, host: { give } },
  });
  if (a.meter !== undefined && aOptions.async) {
    await a.invokeAsync("install");
  } else a.call("install");
  const n = a.instance.exports.n as WebAssembly.Global;
  return { a, b, turns: () => n.value as number };
}

const A_MODES: [string, GuestOptions][] = [
  ["plain calls", { interruptible: true }],
  ["deadline-only", { fuel: false }],
  ["a fuel budget and a deadline", { fuel: 1e9, timeout: 60_000 }],
  ["async calls", { async: true }],
];

const B_MODES: [string, GuestOptions][] = [
  ["a deadline", { timeout: 60_000 }],
  ["fuel", { fuel: 1e9, interruptible: true }],
  ["async calls", { async: true }],
];

async function callB(
  b: Guest,
  options: GuestOptions,
  name: string,
): Promise<CallOutcome> {
  return options.async
    ? await b.invokeAsync(name, [TURNS], { timeout: 60_000 })
    : b.invoke(name, [TURNS]);
}

function refused(outcome: CallOutcome): void {
  const { error } = expectOutcome(outcome, "trap");
  assert.ok(isGuestTrap(error), String(error));
  assert.equal(error.trap, "outside_call");
  assert.ok(!error.message.includes("\n"), "one line");
  assert.match(
    error.message,
    /^guest trapped \(outside_call\): a function of the guest A was called while none of its calls was in progress, and none of it ran: .*; call it through that guest's invoke, call or invokeAsync/,
  );
}

for (const [aWhat, aOptions] of A_MODES) {
  for (const [bWhat, bOptions] of B_MODES) {
    Deno.test(`A (${aWhat})'s function reached from B (${bWhat}) through a shared table, a global or an import's result runs none of A's code`, async () => {
      let handOut: unknown = null;
      const { a, b, turns } = await link(aOptions, bOptions, () => handOut);
      refused(await callB(b, bOptions, "via_table"));
      refused(await callB(b, bOptions, "via_global"));
      const returned = aOptions.async
        ? expectOutcome(await a.invokeAsync("spin_ref"), "returned").value
        : a.call("spin_ref");
      for (const reference of [returned, a.instance.exports.spin]) {
        handOut = reference;
        refused(await callB(b, bOptions, "via_import"));
      }
      assert.equal(turns(), 0);
      // A's own calls still run it.
      if (aOptions.async) await a.invokeAsync("spin", [10]);
      else a.call("spin", 10);
      assert.equal(turns(), 10);
    });
  }
}

Deno.test("the host's own call of A's function outside A's calls runs none of it", async () => {
  for (const [what, options] of A_MODES) {
    const { a, turns } = await link(options, {});
    const returned = options.async
      ? expectOutcome(await a.invokeAsync("spin_ref"), "returned").value
      : a.call("spin_ref");
    for (const spin of [returned, a.instance.exports.spin]) {
      // The engine's own function: its error is the engine's, unbranded.
      assert.throws(() => (spin as (to: number) => void)(TURNS), what);
    }
    assert.equal(turns(), 0, what);
  }
});

Deno.test("A's function reached from B inside a call of A runs, under that call", async () => {
  let inner: CallOutcome | undefined;
  const linked: Linked = await link(
    { interruptible: true },
    { timeout: 60_000 },
    () => null,
    () => void (inner = linked.b.invoke("via_table", [TURNS])),
  );
  expectOutcome(linked.a.invoke("through_b"), "returned");
  expectOutcome(inner!, "returned");
  assert.equal(linked.turns(), TURNS);
});

Deno.test("a guest's own unreachable in its own call stays an unreachable trap", async () => {
  for (const [what, options] of A_MODES) {
    const { a, b } = await link(options, { timeout: 60_000 });
    const outcomes = [
      options.async ? await a.invokeAsync("crash") : a.invoke("crash"),
      b.invoke("crash"),
    ];
    for (const outcome of outcomes) {
      const { error } = expectOutcome(outcome, "trap");
      assert.ok(isGuestTrap(error), what);
      assert.equal(error.trap, "unreachable", what);
    }
  }
});

Deno.test("a guest whose load failed after instantiation put its function in the host's table runs none of it", async () => {
  const table = new WebAssembly.Table({ element: "anyfunc", initial: 1 });
  const failing = await wat(`(module
    (import "shared" "table" (table $t 1 funcref))
    (memory (export "memory") 1)
    (elem (table $t) (i32.const 0) func $spin)
    (func $spin (param $to i32)
      (loop $again
        (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (i32.const 1)))
        (br_if $again (i32.lt_u (i32.load (i32.const 0)) (local.get $to)))))
    (func $start unreachable)
    (start $start))`);
  await assert.rejects(
    () =>
      loadGuest(failing, {
        label: "A",
        interruptible: true,
        imports: { shared: { table } },
      }),
    isGuestTrap,
  );
  const global = new WebAssembly.Global(
    { value: "anyfunc" as WebAssembly.ValueType, mutable: true },
    null,
  );
  const b = await loadGuest(B, {
    label: "B",
    timeout: 60_000,
    imports: { shared: { table, global }, host: { give: () => null } },
  });
  refused(b.invoke("via_table", [TURNS]));
});

Deno.test("a FuelMeter run that calls A's function outside A's calls ends as its trap", async () => {
  const meter = new FuelMeter(await wat(`(module (func (export "f")))`));
  const { instance } = await WebAssembly.instantiate(
    meter.bytes,
    meter.imports,
  );
  meter.attach(instance);
  const { a, turns } = await link({ fuel: false }, {});
  const spin = a.instance.exports.spin as (to: number) => void;
  refused(meter.run(() => spin(TURNS), { timeout: 60_000 }));
  assert.equal(turns(), 0);
});

/** A library whose `spin` counts up to its argument, unsigned, in `n`. */
const LIBRARY = await wat(`(module
  (global $n (export "n") (mut i32) (i32.const 0))
  (func (export "spin") (param $to i32)
    (loop $again
      (global.set $n (i32.add (global.get $n) (i32.const 1)))
      (br_if $again (i32.lt_u (global.get $n) (local.get $to))))))`);

Deno.test("a deadline-only library attached to a FuelMeter, called from another guest's import through a nested meter.run, stops at that guest's deadline", async () => {
  // The library's glue calls its exports directly, outside any run, so its
  // flag is not held set between runs: a run nested in the caller's call is
  // what arms it for the caller's deadline. A loop of 2^32 - 1 turns (seconds
  // of CPU) ends early only if a stop reached it.
  const caller = await wat(`(module
    (import "host" "library" (func $library))
    (func (export "run") (call $library)))`);
  for (const async of [false, true]) {
    const { meter, exports } = await attachedMeter<
      ((to: number) => void) & WebAssembly.Global
    >(LIBRARY, { fuel: false });
    const turns = () => (exports.n.value as number) >>> 0;
    let inner: CallOutcome | undefined;
    const b = await loadGuest(caller, {
      label: "B",
      ...(async ? { async } : { timeout: 50 }),
      imports: {
        host: {
          library: () => void (inner = meter.run(() => exports.spin(-1))),
        },
      },
    });
    const outcome = async
      ? await b.invokeAsync("run", [], { timeout: 50 })
      : b.invoke("run");
    expectOutcome(outcome, "timeout");
    expectOutcome(inner!, "timeout");
    assert.ok(turns() > 0 && turns() < 2 ** 32 - 1, `${turns()} turns`);
    // The library runs on, in a run of its own.
    const before = turns();
    expectOutcome(meter.run(() => exports.spin(before + 10)), "returned");
    assert.equal(turns(), before + 10);
  }
});
