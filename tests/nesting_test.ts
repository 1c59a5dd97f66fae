import assert from "./support/assert.ts";
import { assembleWat } from "../guest/build.ts";
import {
  type CallOptions,
  type CallOutcome,
  type Guest,
  type GuestOptions,
  invokeIsolated,
  isAborted,
  isDeadlineExceeded,
  isExportError,
  isolatedChildrenExited,
  loadGuest,
  runWasi,
  StopSignal,
} from "../mod.ts";
import { expectOutcome } from "./support/outcome.ts";

const NESTING_WAT = `
(module
  (import "host" "call_back" (func $call_back))
  (import "env" "interrupt_execution" (func $interrupt))
  (func (export "interrupt") (call $interrupt))
  (func (export "quick") (result i32) (i32.const 7))
  (func (export "spin") (loop $forever (br $forever)))
  (func (export "call_back_then_spin")
    (call $call_back)
    (loop $forever (br $forever)))
  (func (export "call_back_then_return") (result i32)
    (call $call_back)
    (i32.const 1)))
`;

/**
 * Fuel for an outer call that must be stopped some other way: far more than
 * a stopped call spends, but it ends a call whose stop was lost, so that
 * such a test fails instead of hanging.
 */
const GUARD_FUEL = 30_000_000_000;

/**
 * How the nesting guest is loaded: counting fuel and asking the host at a
 * set flag, or with `fuel: false`, whose flag checks trap. The guard ends
 * an outer call whose stop was lost, so that a test fails instead of
 * hanging (a guest that counts no fuel gets a deadline far away).
 */
interface Mode {
  name: string;
  load: GuestOptions;
  guard: CallOptions;
}

const COUNTING: Mode = {
  name: "interruptible",
  load: { interruptible: true },
  guard: { fuel: GUARD_FUEL },
};
const STOP_ONLY: Mode = {
  name: "fuel: false",
  load: { fuel: false },
  guard: { timeout: 120_000 },
};

/** A guest whose import `host.call_back` runs `callBack` with the guest. */
async function nestingGuest(
  callBack: (guest: Guest) => void,
  metered = true,
  mode: Mode = COUNTING,
): Promise<Guest> {
  const bytes = await assembleWat(NESTING_WAT, "nesting.wat");
  const guest: Guest = await loadGuest(bytes, {
    ...(metered ? mode.load : {}),
    imports: { host: { call_back: () => callBack(guest) } },
  });
  return guest;
}

/** Runs `name` nested inside the guest's own import; returns both outcomes. */
async function nested(
  mode: Mode,
  outer: [string, CallOptions],
  inner: [string, CallOptions?],
  before?: () => void,
): Promise<{ outer: CallOutcome; inner: CallOutcome | undefined }> {
  let innerOutcome: CallOutcome | undefined;
  const guest = await nestingGuest(
    (guest) => {
      before?.();
      innerOutcome = guest.invoke(inner[0], [], inner[1]);
    },
    true,
    mode,
  );
  const outerOutcome = guest.invoke(outer[0], [], {
    ...mode.guard,
    ...outer[1],
  });
  return { outer: outerOutcome, inner: innerOutcome };
}

for (const mode of [COUNTING, STOP_ONLY]) {
  Deno.test(`an outer deadline still holds after a nested call returned (${mode.name})`, async () => {
    // A thread kept off its core may reach the nested call after the
    // deadline, which then stops it too, or not reach it at all: those
    // endings are right as well, and the next try gives the nested call
    // more time to return first.
    for (const timeout of [50, 400, 3_200]) {
      const result = await nested(
        mode,
        ["call_back_then_spin", { timeout }],
        ["quick"],
      );
      const outer = expectOutcome(result.outer, "timeout");
      assert.ok(isDeadlineExceeded(outer.error));
      assert.equal(outer.error.timeout, timeout);
      if (result.inner === undefined) continue;
      if (result.inner.outcome === "timeout") continue;
      assert.equal(expectOutcome(result.inner, "returned").value, 7);
      return;
    }
    assert.fail("the nested call never returned before the outer deadline");
  });

  Deno.test(`an outer deadline stops a nested call that runs away, and then the outer call (${mode.name})`, async () => {
    // A thread kept off its core for the deadline before the guest calls
    // its import finds it passed at the guest's entry, and the nested call
    // is never made: the next try gives the guest more time to get there.
    for (const timeout of [50, 400, 3_200]) {
      const result = await nested(
        mode,
        ["call_back_then_spin", { timeout }],
        ["spin"],
      );
      const outer = expectOutcome(result.outer, "timeout");
      assert.equal(outer.error.timeout, timeout);
      if (result.inner === undefined) continue;
      const inner = expectOutcome(result.inner, "timeout");
      assert.equal(inner.error.timeout, timeout, "the outer call's deadline");
      return;
    }
    assert.fail("the guest never called its import before the outer deadline");
  });

  Deno.test(`an outer StopSignal set during a nested call stops the outer call (${mode.name})`, async () => {
    const stop = new StopSignal();
    const result = await nested(mode, ["call_back_then_return", { stop }], [
      "quick",
    ], () => stop.stop("outer stopped"));
    // The watchdog's thread sets the flag when it sees the StopSignal, which
    // may be before or after the nested call's one check: the outer stop
    // covers every call on the stack, so either ending is right.
    const inner = result.inner!;
    if (inner.outcome === "returned") assert.equal(inner.value, 7);
    else {assert.match(
        expectOutcome(inner, "aborted").error.message,
        /outer stopped/,
      );}
    const outer = expectOutcome(result.outer, "aborted");
    assert.ok(isAborted(outer.error));
    assert.match(outer.error.message, /outer stopped/);
  });

  Deno.test(`an outer StopSignal stops a nested call that runs away, and then the outer call (${mode.name})`, async () => {
    const stop = new StopSignal();
    const result = await nested(mode, ["call_back_then_spin", { stop }], [
      "spin",
    ], () => stop.stop());
    expectOutcome(result.inner!, "aborted");
    expectOutcome(result.outer, "aborted");
  });

  Deno.test(`a nested call's own shorter deadline stops it alone (${mode.name})`, async () => {
    const result = await nested(mode, ["call_back_then_return", {
      timeout: 600_000,
    }], ["spin", { timeout: 20 }]);
    const inner = expectOutcome(result.inner!, "timeout");
    assert.equal(inner.error.timeout, 20);
    assert.equal(expectOutcome(result.outer, "returned").value, 1);
  });

  Deno.test(`a nested call's own StopSignal stops it alone (${mode.name})`, async () => {
    const stop = new StopSignal();
    stop.stop();
    const result = await nested(mode, ["call_back_then_return", {
      timeout: 600_000,
    }], ["spin", { stop }]);
    expectOutcome(result.inner!, "aborted");
    assert.equal(expectOutcome(result.outer, "returned").value, 1);
  });
}

Deno.test("a nested call's fuel counts against the outer call's budget", async () => {
  const result = await nested(COUNTING, ["call_back_then_return", {
    fuel: 1_000_000,
  }], ["spin", { fuel: 1_000 }]);
  const inner = expectOutcome(result.inner!, "fuel_exhausted");
  assert.equal(inner.fuel!.consumed, 1_000);
  const outer = expectOutcome(result.outer, "returned");
  assert.ok(outer.fuel!.consumed > 1_000);
  // Both caps are gone once the calls end: the tank is unlimited again.
  assert.equal(outer.fuel!.remaining, Infinity);
});

Deno.test("a nested call gets no more fuel than the outer call has left", async () => {
  const result = await nested(COUNTING, ["call_back_then_return", {
    fuel: 500,
  }], ["spin", { fuel: 1_000_000 }]);
  const inner = expectOutcome(result.inner!, "fuel_exhausted");
  assert.ok(inner.fuel!.consumed < 500);
  expectOutcome(result.outer, "fuel_exhausted");
});

Deno.test("an interrupt in a nested call stops it alone, metered or not", async () => {
  for (const metered of [true, false]) {
    let inner: CallOutcome | undefined;
    const guest = await nestingGuest((guest) => {
      inner = guest.invoke("interrupt");
    }, metered);
    const outer = guest.invoke("call_back_then_return");
    expectOutcome(inner!, "interrupted");
    assert.equal(
      expectOutcome(outer, "returned").value,
      1,
      `metered: ${metered}`,
    );
  }
});

Deno.test("a nested call's misuse is the import's error, not the outer call's", async () => {
  for (const metered of [true, false]) {
    const guest = await nestingGuest((guest) => {
      guest.invoke("no_such_export");
    }, metered);
    const outer = guest.invoke("call_back_then_return");
    const error = expectOutcome(outer, "error").error;
    assert.equal(error.importName, "host.call_back");
    assert.ok(isExportError(error.cause), String(error.cause));
    assert.match(error.message, /threw: ExportError: .*"no_such_export"/);
  }
});

Deno.test("another load's or isolated call's stop, thrown by an import, is the import's error", async () => {
  const startSpins = await assembleWat(`(module
    (func $s (loop $forever (br $forever))) (start $s))`);
  const stopped = new StopSignal();
  stopped.stop("another load's stop");
  const others: [string, unknown][] = [
    ["Aborted", await loadGuest(startSpins, { stop: stopped }).catch((e) => e)],
    [
      "FuelExhausted",
      await loadGuest(startSpins, { fuel: 1000 }).catch((e) => e),
    ],
    [
      "DeadlineExceeded",
      (await invokeIsolated(await assembleWat(NESTING_WAT), "spin", [], {
        timeout: 50,
      }) as { error?: unknown }).error,
    ],
  ];
  const spinningCommand = await assembleWat(`(module
    (memory (export "memory") 1)
    (func (export "_start") (loop $forever (br $forever))))`);
  others.push([
    "Aborted",
    (await runWasi(spinningCommand, { stop: stopped }) as { error?: unknown })
      .error,
  ]);
  for (const [kind, thrown] of others) {
    assert.equal((thrown as Error).name, kind);
    for (const metered of [true, false]) {
      const guest = await nestingGuest(() => {
        throw thrown;
      }, metered);
      // Not `aborted`, `fuel_exhausted` or `timeout`: this call was never
      // stopped, and those numbers are another guest's.
      const outer = guest.invoke("call_back_then_return");
      const error = expectOutcome(outer, "error").error;
      assert.equal(error.importName, "host.call_back");
      assert.equal(error.cause, thrown);
    }
  }
  await isolatedChildrenExited();
});

Deno.test("async: an import that calls its own guest back is refused, not left waiting", async () => {
  let refused: unknown;
  let later: Promise<CallOutcome> | undefined;
  const guest: Guest = await loadGuest(
    await assembleWat(NESTING_WAT, "nesting.wat"),
    {
      async: true,
      imports: {
        host: {
          call_back: async () => {
            try {
              await guest.invokeAsync("quick");
            } catch (error) {
              refused = error;
            }
            // Work the import leaves behind may call the guest once the
            // call it was part of has returned.
            later = new Promise((resolve) => setTimeout(resolve, 0))
              .then(() => guest.invokeAsync("quick"));
          },
        },
      },
    },
  );
  // The timeout only ends a call that would wait for ever.
  const outer = await guest.invokeAsync("call_back_then_return", [], {
    timeout: 60_000,
  });
  assert.equal(expectOutcome(outer, "returned").value, 1);
  assert.ok(isExportError(refused), String(refused));
  assert.match(refused.message, /inside its own async call/);
  assert.equal(expectOutcome(await later!, "returned").value, 7);
});
