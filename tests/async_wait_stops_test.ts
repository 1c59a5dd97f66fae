/**
 * An async guest waiting in a host import's promise is stopped there by
 * every stop: a StopSignal (which has no event, so the call looks at it) as
 * well as a deadline and an abort, in a call and in a start function, and
 * a deadline whose timer fires a little early is looked at again rather
 * than lost.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { assembleWat } from "../guest/build.ts";
import { type CallOutcome, isAborted, loadGuest, StopSignal } from "../mod.ts";
import { expectOutcome } from "./support/outcome.ts";
import { stopFromAnotherThread } from "./support/stopper_thread.ts";

/** How late a stop may land in a test: only a lost stop gets near it. */
const SLACK_MS = 5_000;
const TIMEOUT_MS = 50;

const WAITER = await assembleWat(`
(module
  (import "host" "wait" (func $wait))
  (func (export "wait") (call $wait))
  (func (export "quick") (result i32) (i32.const 1)))
`);

const WAITING_START = await assembleWat(`
(module
  (import "host" "wait" (func $wait))
  (func $start (call $wait))
  (start $start))
`);

/** An import that never settles. */
const imports = { host: { wait: () => new Promise<void>(() => {}) } };

/** `call`, or a failure once {@linkcode SLACK_MS} has passed. */
async function guarded<T>(call: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const lost = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what}: the stop was lost`)),
      SLACK_MS,
    );
  });
  try {
    return await Promise.race([call, lost]);
  } finally {
    clearTimeout(timer);
  }
}

/** A StopSignal another thread sets after {@linkcode TIMEOUT_MS}. */
async function stopLater(): Promise<{ stop: StopSignal; done: () => void }> {
  const stop = new StopSignal();
  const stopper = await stopFromAnotherThread(stop, { after: TIMEOUT_MS });
  return { stop, done: stopper.terminate };
}

Deno.test("a StopSignal stops an async call waiting in a host import", async () => {
  const guest = await loadGuest(WAITER, { async: true, imports });
  const { stop, done } = await stopLater();
  try {
    const result = await guarded(
      guest.invokeAsync("wait", [], { stop }),
      "a wait",
    );
    assert.ok(isAborted(expectOutcome(result, "aborted").error));
  } finally {
    done();
  }
  assert.equal(
    expectOutcome(await guest.invokeAsync("quick"), "returned").value,
    1,
  );
});

Deno.test("a StopSignal stops an async start function waiting in a host import", async () => {
  const { stop, done } = await stopLater();
  try {
    await assert.rejects(
      guarded(
        loadGuest(WAITING_START, { async: true, stop, imports }),
        "a start function's wait",
      ),
      (error) => isAborted(error),
    );
  } finally {
    done();
  }
});

Deno.test("deadlines of calls waiting in a host import all land", async () => {
  const guest = await loadGuest(WAITER, { async: true, imports });
  for (let call = 0; call < 40; call++) {
    const result: CallOutcome = await guarded(
      guest.invokeAsync("wait", [], { timeout: 2 }),
      `wait ${call}`,
    );
    expectOutcome(result, "timeout");
  }
});

Deno.test("a StopSignal set by a plain store from another thread, without stop(), still ends a wait", async () => {
  const guest = await loadGuest(WAITER, { async: true, imports });
  const stop = new StopSignal();
  // What a thread that only has the buffer may do: no notify.
  setTimeout(() => Atomics.store(new Int32Array(stop.buffer), 0, 1), 20);
  const outcome = expectOutcome(
    await guarded(guest.invokeAsync("wait", [], { stop }), "plain store"),
    "aborted",
  );
  assert.ok(isAborted(outcome.error));
});

Deno.test("one StopSignal ends every call waiting on it at once, and calls that ended let go of it", async () => {
  const stop = new StopSignal();
  // Calls that end on their own first: their waits for the signal end too.
  const quick = await loadGuest(WAITER, { async: true, imports });
  for (let i = 0; i < 200; i++) {
    expectOutcome(await quick.invokeAsync("quick", [], { stop }), "returned");
  }
  const guests = await Promise.all(
    Array.from(
      { length: 20 },
      () => loadGuest(WAITER, { async: true, imports }),
    ),
  );
  const waits = guests.map((guest) => guest.invokeAsync("wait", [], { stop }));
  setTimeout(() => stop.stop("all of you"), 20);
  const outcomes = await guarded(Promise.all(waits), "shared StopSignal");
  for (const outcome of outcomes) {
    const aborted = expectOutcome(outcome, "aborted");
    assert.match(aborted.error.message, /all of you/);
  }
});
