/**
 * A `stop` is read once, when its option is checked: the call watches the
 * caller's buffer with a signal of the host's own, and asks the caller's
 * object only for the reason. A duck-typed signal (as another copy of
 * early-exit makes) whose `stopped` or `reason` getter throws after the
 * check, whose `buffer` getter would hand the watch another buffer, or a
 * real signal whose own `stopped` lies, still stops the call with the
 * branded outcome. A `reason` that threw once rejected `invokeAsync` with
 * the getter's own error, and ended the process from `runWasi`.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { isAborted, loadGuest, runWasi, StopSignal } from "../mod.ts";

const RUNAWAY = new URL("../guest/runaway.wasm", import.meta.url);
const SLEEP = new URL("../guest/wasi/sleep.wasm", import.meta.url);

/** Throws, as a hostile getter does. */
function fail(): never {
  throw new Error("the stop's own property was used");
}

/** How a caller's `stop` misbehaves once it has been checked. */
type Trick = "reason" | "stopped" | "buffer" | "lying real";

/** A `stop` over `buffer` that misbehaves by `trick` after its first read. */
function trickyStop(buffer: SharedArrayBuffer, trick: Trick): object {
  const flag = new Int32Array(buffer);
  if (trick === "lying real") {
    const real = new StopSignal(buffer);
    Object.defineProperty(real, "stopped", { get: () => false });
    Object.defineProperty(real, "reason", { get: fail });
    return real;
  }
  let looks = 0;
  const once = <T>(value: () => T) => () => looks++ < 1 ? value() : fail();
  const duck: Record<string, unknown> = {};
  Object.defineProperties(duck, {
    buffer: trick === "buffer"
      ? { get: once(() => buffer) }
      : { value: buffer },
    stopped: trick === "stopped"
      ? { get: once(() => Atomics.load(flag, 0) !== 0) }
      : { get: () => Atomics.load(flag, 0) !== 0 },
    reason: trick === "reason" ? { get: fail } : { value: undefined },
  });
  return duck;
}

const TRICKS: Trick[] = ["reason", "stopped", "buffer", "lying real"];

/** The aborted outcome of `result`, whatever the trick. */
function assertAborted(result: unknown, what: string): void {
  const { outcome, error } = result as { outcome: string; error: unknown };
  assert.equal(outcome, "aborted", what);
  assert.ok(isAborted(error), what);
  assert.match((error as Error).message, /stopped through a StopSignal/, what);
}

Deno.test("a stop that misbehaves after its check still stops an async call and a WASI run", async () => {
  const guest = await loadGuest(RUNAWAY, { async: true });
  for (const trick of TRICKS) {
    for (const where of ["invokeAsync", "runWasi"]) {
      const buffer = new SharedArrayBuffer(4);
      const stop = trickyStop(buffer, trick) as StopSignal;
      // Set as another thread would: through the buffer.
      const timer = setTimeout(() => new StopSignal(buffer).stop(), 30);
      const result = where === "invokeAsync"
        ? await guest.invokeAsync("spin", [], { stop, timeout: 60_000 })
        : await runWasi(SLEEP, {
          args: ["60000"],
          stop,
          timeout: 60_000,
          stdout: "capture",
        });
      clearTimeout(timer);
      assertAborted(result, `${where}, ${trick}`);
    }
  }
});

Deno.test("a stop set before the call, that misbehaves after its check, stops a plain call and a load", async () => {
  const guest = await loadGuest(RUNAWAY, { interruptible: true });
  for (const trick of TRICKS) {
    const buffer = new SharedArrayBuffer(4);
    new StopSignal(buffer).stop();
    const stop = trickyStop(buffer, trick) as StopSignal;
    assertAborted(guest.invoke("spin", [], { stop }), `invoke, ${trick}`);
    const again = trickyStop(buffer, trick) as StopSignal;
    await assert.rejects(
      () => loadGuest(RUNAWAY, { stop: again }),
      (error) => isAborted(error),
      `loadGuest, ${trick}`,
    );
  }
});

Deno.test("the reason given to a real signal's stop() is the outcome's, whatever its own properties say", async () => {
  const guest = await loadGuest(RUNAWAY, { async: true });
  const stop = new StopSignal();
  Object.defineProperty(stop, "reason", { get: fail });
  setTimeout(() => stop.stop("enough spinning"), 30);
  const result = await guest.invokeAsync("spin", [], { stop, timeout: 60_000 });
  assert.equal(result.outcome, "aborted");
  assert.match(result.error!.message, /enough spinning/);
});
