/**
 * `host.interrupt` of guest A called from an import of guest B, whose call
 * A's import made: A's stop unwinds B's call too. B's outcome said
 * "guest interrupted by host import (prepared): unwinding the guest", the
 * runner's own placeholder; it must be A's interrupt, with its name and
 * reason, and A's outcome the same.
 *
 * @module
 */

import assert from "./support/assert.ts";
import {
  type CallOutcome,
  type HostControls,
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
