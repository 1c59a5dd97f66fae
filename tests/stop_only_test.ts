/**
 * The deadline-only mode, `loadGuest(bytes, { fuel: false })`: no fuel is
 * counted, and (for plain calls) a set stop flag traps at once. These tests
 * try to make such a guest stop when it should not (a flag left set by an
 * earlier call, a nested call's stop, the guest's own `unreachable`) and
 * fail to stop when it should.
 */
import assert from "./support/assert.ts";
import { assembleWat } from "../guest/build.ts";
import {
  type Guest,
  isDeadlineExceeded,
  isExportError,
  loadGuest,
  StopSignal,
} from "../mod.ts";
import { expectOutcome } from "./support/outcome.ts";
import { stopFromAnotherThread } from "./support/stopper_thread.ts";

const GUEST_WAT = `
(module
  (import "host" "call_back" (func $call_back))
  (func (export "quick") (result i32) (i32.const 7))
  (func (export "spin") (loop $forever (br $forever)))
  (func (export "fail") (unreachable))
  (func $fib (export "fib") (param $n i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
      (then (local.get $n))
      (else (i32.add
        (call $fib (i32.sub (local.get $n) (i32.const 1)))
        (call $fib (i32.sub (local.get $n) (i32.const 2)))))))
  (func (export "call_back_then_return") (result i32)
    (call $call_back)
    (i32.const 1)))
`;

/** A hang guard: far beyond what any stop here takes. */
const GUARD = { timeout: 120_000 };

async function stopOnlyGuest(
  callBack: (guest: Guest) => void = () => {},
  async = false,
): Promise<Guest> {
  const bytes = await assembleWat(GUEST_WAT, "stop_only.wat");
  const guest: Guest = await loadGuest(bytes, {
    fuel: false,
    async,
    imports: { host: { call_back: () => callBack(guest) } },
  });
  return guest;
}

Deno.test("fuel: false: a deadline and a StopSignal stop a spin; the calls report no fuel", async () => {
  const guest = await stopOnlyGuest();
  const timedOut = expectOutcome(
    guest.invoke("spin", [], { timeout: 20 }),
    "timeout",
  );
  assert.ok(isDeadlineExceeded(timedOut.error));
  assert.equal(timedOut.error.timeout, 20);
  assert.ok(timedOut.error.elapsed >= 19, String(timedOut.error.elapsed));
  assert.equal(timedOut.fuel, undefined);
  const stop = new StopSignal();
  stop.stop("enough");
  const aborted = expectOutcome(
    guest.invoke("spin", [], { stop, ...GUARD }),
    "aborted",
  );
  assert.match(aborted.error.message, /enough/);
  const returned = expectOutcome(guest.invoke("fib", [15]), "returned");
  assert.equal(returned.value, 610);
  assert.equal(returned.fuel, undefined);
});

Deno.test("fuel: false: a StopSignal set by another thread stops a running call", async () => {
  const guest = await stopOnlyGuest();
  const stop = new StopSignal();
  const stopper = await stopFromAnotherThread(stop, { after: 20 });
  try {
    expectOutcome(guest.invoke("spin", [], { stop, ...GUARD }), "aborted");
  } finally {
    stopper.terminate();
  }
});

Deno.test("fuel: false: a call after a stopped one starts with a clear flag", async () => {
  const guest = await stopOnlyGuest();
  for (let i = 0; i < 20; i++) {
    expectOutcome(guest.invoke("spin", [], { timeout: 1 }), "timeout");
    // No deadline, no signal: nothing may stop this one.
    assert.equal(
      expectOutcome(guest.invoke("fib", [10]), "returned").value,
      55,
    );
    const stop = new StopSignal();
    stop.stop();
    expectOutcome(guest.invoke("spin", [], { stop, ...GUARD }), "aborted");
    assert.equal(
      expectOutcome(guest.invoke("fib", [10], GUARD), "returned").value,
      55,
    );
  }
});

Deno.test("fuel: false: the guest's own unreachable is a trap, not a stop", async () => {
  const guest = await stopOnlyGuest();
  const trapped = expectOutcome(guest.invoke("fail", [], GUARD), "trap");
  assert.match(trapped.error.message, /unreachable/);
});

Deno.test("fuel: false: a nested call's stop does not stop the call it is nested in", async () => {
  let inner;
  const guest = await stopOnlyGuest((guest) => {
    inner = guest.invoke("spin", [], { timeout: 5 });
  });
  for (const options of [{}, GUARD]) {
    const outer = guest.invoke("call_back_then_return", [], options);
    expectOutcome(inner!, "timeout");
    assert.equal(expectOutcome(outer, "returned").value, 1);
  }
});

Deno.test("fuel: false: a runaway start function is stopped by the load's timeout", async () => {
  const bytes = await assembleWat(
    `(module (func $start (loop $l (br $l))) (start $start))`,
    "start.wat",
  );
  await assert.rejects(
    () => loadGuest(bytes, { fuel: false, timeout: 20 }),
    (error: unknown) => isDeadlineExceeded(error),
  );
});

Deno.test("fuel: false: calls take no fuel, and the guest takes no costs", async () => {
  const guest = await stopOnlyGuest();
  assert.throws(
    () => guest.invoke("quick", [], { fuel: 10 }),
    (error: unknown) =>
      isExportError(error) && /loaded with fuel: false/.test(error.message),
  );
  const bytes = await assembleWat(GUEST_WAT, "stop_only.wat");
  await assert.rejects(
    () => loadGuest(bytes, { fuel: false, costs: { default: 2 } }),
    TypeError,
  );
});

Deno.test("fuel: false: async calls yield, and abort and time out", async () => {
  const guest = await stopOnlyGuest(() => {}, true);
  const controller = new AbortController();
  let turns = 0;
  const timer = setInterval(() => {
    if (++turns === 3) controller.abort("done waiting");
  }, 1);
  try {
    const aborted = expectOutcome(
      await guest.invokeAsync("spin", [], {
        signal: controller.signal,
        ...GUARD,
      }),
      "aborted",
    );
    assert.equal(turns, 3);
    assert.equal(aborted.fuel, undefined);
  } finally {
    clearInterval(timer);
  }
  expectOutcome(
    await guest.invokeAsync("spin", [], { timeout: 10 }),
    "timeout",
  );
  assert.equal(
    expectOutcome(await guest.invokeAsync("fib", [10]), "returned").value,
    55,
  );
});
