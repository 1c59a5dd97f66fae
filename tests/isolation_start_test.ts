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

/**
 * Stops an isolated call of `spin` after `after` ms, by a timeout and by an
 * abort, and says which export each stop named.
 */
async function stopAfter(
  guest: Uint8Array,
  after: number,
): Promise<{ timeout: string; abort: string }> {
  const timedOut = await invokeIsolated(guest, "spin", [], { timeout: after });
  assert.equal(timedOut.outcome, "timeout");
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), after);
  const aborted = await invokeIsolated(guest, "spin", [], {
    signal: controller.signal,
  });
  clearTimeout(timer);
  assert.equal(aborted.outcome, "aborted");
  return { timeout: timedOut.export, abort: aborted.export };
}

Deno.test("isolation: a deadline or an abort in the start function names the export (start)", async () => {
  try {
    const named = await stopAfter(await spinner(true), 500);
    assert.deepEqual(named, { timeout: "(start)", abort: "(start)" });
  } finally {
    await isolatedChildrenExited();
  }
});

Deno.test("isolation: a deadline or an abort in the export names the export", async () => {
  try {
    const guest = await spinner(false);
    // The stop must fall after the child has started and run its (empty)
    // start function, which takes well under a second: a machine too busy
    // to do that within a deadline gets a longer one, so the test waits
    // rather than failing on load. Each try spins a child to its stop twice.
    let named = { timeout: "", abort: "" };
    for (const after of [1_000, 2_500, 10_000, 40_000]) {
      named = await stopAfter(guest, after);
      if (named.timeout !== "(start)" && named.abort !== "(start)") break;
    }
    assert.deepEqual(named, { timeout: "spin", abort: "spin" });
  } finally {
    await isolatedChildrenExited();
  }
});
