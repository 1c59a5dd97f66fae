/**
 * An isolated call stopped while the guest's start function runs names the
 * export `(start)`, whatever stopped it; stopped in the export, the export.
 */

import assert from "./support/assert.ts";
import { wat } from "./support/instrument.ts";
import { invokeIsolated, isolatedChildrenExited } from "../mod.ts";

/** A guest whose start function spins when `startSpins`, and whose `spin` does. */
function spinner(startSpins: boolean): Promise<Uint8Array> {
  return wat(`(module
    (func $spin (export "spin") (loop $again (br $again)))
    (func $start ${startSpins ? "(call $spin)" : ""})
    (start $start))`);
}

Deno.test("isolation: a deadline or an abort in the start function names the export (start)", async () => {
  try {
    // The export's deadline is long enough for the child to start and
    // reach the export, on a busy machine.
    for (
      const [startSpins, expected, after] of [
        [true, "(start)", 500],
        [false, "spin", 2_500],
      ] as const
    ) {
      const guest = await spinner(startSpins);
      const timedOut = await invokeIsolated(guest, "spin", [], {
        timeout: after,
      });
      assert.equal(timedOut.outcome, "timeout");
      assert.equal(
        timedOut.export,
        expected,
        `timeout, start spins: ${startSpins}`,
      );
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), after);
      const aborted = await invokeIsolated(guest, "spin", [], {
        signal: controller.signal,
      });
      clearTimeout(timer);
      assert.equal(aborted.outcome, "aborted");
      assert.equal(
        aborted.export,
        expected,
        `abort, start spins: ${startSpins}`,
      );
    }
  } finally {
    await isolatedChildrenExited();
  }
});
