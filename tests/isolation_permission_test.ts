/**
 * Without `--allow-run`, an isolated call cannot start its child: it fails
 * with a `GuestLoadError` naming the flag to add, as a missing read or net
 * permission does, not with Deno's own error, and whatever its deadline: the
 * permission is asked for before the deadline counts (a 1 ms deadline used
 * to win on a slow machine, and the call came back as a timeout).
 */

import assert from "./support/assert.ts";
import { invokeIsolated, isGuestLoadError } from "../mod.ts";
import { RUNAWAY } from "./support/guests.ts";

Deno.test({
  name: "an isolated call without --allow-run names the flag to add",
  permissions: { read: true, run: false },
  async fn() {
    const error = await invokeIsolated(RUNAWAY, "spin", [], { timeout: 1 })
      .then(() => undefined, (error: unknown) => error);
    assert.ok(isGuestLoadError(error), `got ${error}`);
    assert.equal(error.reason, "permission");
    assert.match(error.message, /--allow-run/);
  },
});
