/**
 * Calls on one async guest run one at a time, in order: a call made while
 * another runs waits for its turn. Its own deadline, abort and StopSignal
 * still land while it waits, counted from when it was made, however long
 * the guest keeps the call before it running.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { assembleWat } from "../guest/build.ts";
import {
  type CallOutcome,
  ExportError,
  isAborted,
  isDeadlineExceeded,
  loadGuest,
  StopSignal,
} from "../mod.ts";
import { expectOutcome } from "./support/outcome.ts";
import { idleClockMs } from "./support/thread_cpu.ts";

/** How late a stop may land in a test: only a lost stop gets near it. */
const SLACK_MS = 5_000;
const TIMEOUT_MS = 50;
/** How long the first call keeps the guest: far longer than the slack. */
const FIRST_MS = 30_000;

const GUEST = await assembleWat(`
(module
  (func (export "spin") (loop $again (br $again)))
  (func (export "quick") (result i32) (i32.const 7)))
`);

/** Starts a call that keeps the guest for {@linkcode FIRST_MS}, stopped by `controller`. */
async function busyGuest() {
  const guest = await loadGuest(GUEST, { async: true });
  const controller = new AbortController();
  const first = guest.invokeAsync("spin", [], {
    timeout: FIRST_MS,
    signal: controller.signal,
  });
  return { guest, controller, first };
}

async function timed(
  call: Promise<CallOutcome>,
): Promise<{ result: CallOutcome; took: number }> {
  const started = performance.now();
  const result = await call;
  return { result, took: performance.now() - started };
}

Deno.test("a queued call's deadline lands while the call before it runs", async () => {
  const { guest, controller, first } = await busyGuest();
  try {
    const { result, took } = await timed(
      guest.invokeAsync("quick", [], { timeout: TIMEOUT_MS }),
    );
    const stopped = expectOutcome(result, "timeout");
    assert.ok(isDeadlineExceeded(stopped.error));
    assert.equal(stopped.error.timeout, TIMEOUT_MS);
    assert.deepEqual(stopped.fuel?.consumed, 0);
    assert.ok(took - TIMEOUT_MS < SLACK_MS, `${took} ms`);
  } finally {
    controller.abort("done");
  }
  expectOutcome(await first, "aborted");
  // The guest is usable afterwards, and a queued call that gets its turn in
  // time runs.
  const next = guest.invokeAsync("spin", [], { timeout: TIMEOUT_MS });
  const after = guest.invokeAsync("quick", [], { timeout: 60_000 });
  expectOutcome(await next, "timeout");
  assert.equal(expectOutcome(await after, "returned").value, 7);
});

Deno.test("a queued call's abort and StopSignal land while the call before it runs", async () => {
  const { guest, controller, first } = await busyGuest();
  try {
    const aborter = new AbortController();
    const timer = setTimeout(() => aborter.abort("no longer"), TIMEOUT_MS);
    const aborted = await timed(
      guest.invokeAsync("quick", [], { signal: aborter.signal }),
    );
    clearTimeout(timer);
    const error = expectOutcome(aborted.result, "aborted").error;
    assert.ok(isAborted(error));
    assert.equal(error.cause, "no longer");
    assert.ok(aborted.took - TIMEOUT_MS < SLACK_MS);

    const stop = new StopSignal();
    const stopper = setTimeout(() => stop.stop("stopped in line"), TIMEOUT_MS);
    const stopped = await timed(guest.invokeAsync("quick", [], { stop }));
    clearTimeout(stopper);
    assert.match(
      expectOutcome(stopped.result, "aborted").error.message,
      /stopped in line/,
    );
    assert.ok(stopped.took - TIMEOUT_MS < SLACK_MS);
  } finally {
    controller.abort("done");
  }
  expectOutcome(await first, "aborted");
});

Deno.test("a queued call's deadline counts from when it was made", async () => {
  const guest = await loadGuest(GUEST, { async: true });
  const first = guest.invokeAsync("spin", [], { timeout: 1_000 });
  // Its turn comes when the first call ends, 1 s in at the earliest, with
  // at most 100 ms of its deadline left. Counted from its turn, it would
  // spin on this thread for 1.1 s after that turn. The time between is
  // timed on a clock that leaves out this thread's waits for a CPU, which
  // a busy machine makes long: it shows the spin, not the machine.
  const second = guest.invokeAsync("spin", [], { timeout: 1_100 });
  expectOutcome(await first, "timeout");
  const firstEnded = idleClockMs();
  const error = expectOutcome(await second, "timeout").error;
  const after = idleClockMs() - firstEnded;
  assert.equal(error.timeout, 1_100);
  assert.ok(
    after < 600,
    `the deadlines ran one after the other: the second ended ${after} ms after the first, waits for a CPU aside`,
  );
});

Deno.test("a queued call to a missing export is refused, not stopped", async () => {
  const { guest, controller, first } = await busyGuest();
  try {
    await assert.rejects(
      guest.invokeAsync("missing", [], { signal: AbortSignal.abort() }),
      ExportError,
    );
  } finally {
    controller.abort("done");
  }
  expectOutcome(await first, "aborted");
});
