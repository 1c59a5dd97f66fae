/**
 * `host.interrupt` throws the interrupt's own error, naming the import, as
 * its documentation says (it threw the runner's placeholder, "guest
 * interrupted by host import (prepared): unwinding the guest"). Guest A's
 * `host.interrupt` called from an import of guest B, whose call A's import
 * made, unwinds B's call too, and B's outcome must name A's interrupt.
 *
 * @module
 */

import assert from "./support/assert.ts";
import {
  type CallOutcome,
  type HostControls,
  isHostImportError,
  isInterrupted,
  loadGuest,
} from "../mod.ts";
import { wat } from "./support/instrument.ts";
import { expectOutcome } from "./support/outcome.ts";

const CALLS_HOST = await wat(`(module
  (import "host" "f" (func $f))
  (func (export "run") (call $f)))`);

for (const fuel of [undefined, Infinity, false] as const) {
  Deno.test(`A's host.interrupt from B's import names A's interrupt in both outcomes (fuel: ${fuel})`, async () => {
    let hostOfA: HostControls | undefined;
    let inner: CallOutcome | undefined;
    const interruptible = fuel === undefined ? undefined : true;
    const b = await loadGuest(CALLS_HOST, {
      fuel,
      interruptible,
      imports: {
        host: { f: () => hostOfA!.interrupt("a.stop", { reason: "enough" }) },
      },
    });
    const a = await loadGuest(CALLS_HOST, {
      fuel,
      interruptible,
      imports: (host) => {
        hostOfA = host;
        return { host: { f: () => void (inner = b.invoke("run")) } };
      },
    });
    const outer = expectOutcome(a.invoke("run"), "interrupted");
    assert.equal(
      outer.error.message,
      "guest interrupted by host import a.stop: enough",
    );
    const stopped = expectOutcome(inner!, "interrupted");
    assert.ok(isInterrupted(stopped.error));
    assert.equal(stopped.error.message, outer.error.message);
    assert.equal(stopped.error.reason, "enough");
  });
}

Deno.test("host.interrupt throws an Interrupted naming the import it was given", async () => {
  let caught: unknown;
  const guest = await loadGuest(CALLS_HOST, {
    imports: (host) => ({
      host: {
        f: () => {
          try {
            host.interrupt("quota.check", { reason: "over quota" });
          } catch (error) {
            caught = error;
            throw error;
          }
        },
      },
    }),
  });
  const outcome = expectOutcome(guest.invoke("run"), "interrupted");
  assert.ok(isInterrupted(caught));
  assert.equal(
    (caught as Error).message,
    "guest interrupted by host import quota.check: over quota",
  );
  assert.equal(outcome.error.message, (caught as Error).message);
});

Deno.test("another guest's stop thrown through an import is the outer call's error outcome, not its stop", async () => {
  const inner = await loadGuest(
    await wat(`(module
      (import "env" "interrupt_execution" (func $i))
      (func (export "spin") (loop $l (br $l)))
      (func (export "interrupt") (call $i)))`),
    { fuel: 1_000 },
  );
  for (
    const [name, kind] of [["spin", "FuelExhausted"], [
      "interrupt",
      "Interrupted",
    ]]
  ) {
    for (const fuel of [undefined, 1_000_000]) {
      const outer = await loadGuest(CALLS_HOST, {
        fuel,
        imports: { host: { f: () => inner.call(name) } },
      });
      const result = expectOutcome(outer.invoke("run"), "error");
      assert.ok(isHostImportError(result.error));
      assert.equal(result.error.importName, "host.f");
      assert.equal((result.error.cause as Error).name, kind);
      if (fuel !== undefined) {
        assert.equal(result.fuel!.consumed + result.fuel!.remaining, fuel);
      }
      inner.meter!.addFuel(1_000);
    }
  }
});
