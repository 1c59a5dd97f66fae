/**
 * Without `--allow-run`, an isolated call cannot start its child: it fails
 * with a `GuestLoadError` naming the flag to add, as a missing read or net
 * permission does, not with Deno's own error.
 */

import assert from "./support/assert.ts";
import { invokeIsolated, isGuestLoadError } from "../mod.ts";
import { RUNAWAY } from "./support/guests.ts";

Deno.test({
  name: "an isolated call without --allow-run names the flag to add",
  permissions: { read: true, run: false },
  async fn() {
    // A deadline long enough that the call reaches the spawn: on a busy
    // machine, one of 100 ms passed while the guest was read, and the
    // call ended at it, before the missing permission could be met.
    const error = await invokeIsolated(RUNAWAY, "spin", [], {
      timeout: 60_000,
    }).then(() => undefined, (error: unknown) => error);
    assert.ok(isGuestLoadError(error), `got ${error}`);
    assert.equal(error.reason, "permission");
    assert.match(error.message, /--allow-run/);
  },
});
