/**
 * Issue #10: a stop must never come early. The watchdog's thread and this
 * one each read time as `performance.timeOrigin + performance.now()`, and
 * each runtime reckons its own `timeOrigin` once (the wall clock less the
 * time since its start, read one after the other): were this thread's
 * reckoned late, the thread would find every deadline passed that much too
 * soon. Here this thread's `timeOrigin` is moved 5 s back, so that the
 * watchdog sets each call's flag at once and says it fired: no call may
 * then report a deadline before its own has passed by this thread's clock,
 * and a call that can go on past the flag returns.
 */

import assert from "./support/assert.ts";
import { assembleWat } from "../guest/build.ts";
import { SPIN_AND_SUM_WAT } from "./support/guests.ts";
import { isDeadlineExceeded, loadGuest } from "../mod.ts";

/** Runs `body` with this thread's `timeOrigin` moved `byMs` back. */
async function originBehind(
  byMs: number,
  body: () => Promise<void>,
): Promise<void> {
  const real = performance.timeOrigin;
  Object.defineProperty(performance, "timeOrigin", {
    get: () => real - byMs,
    configurable: true,
  });
  try {
    await body();
  } finally {
    delete (performance as { timeOrigin?: number }).timeOrigin;
  }
  assert.equal(performance.timeOrigin, real);
}

/** How a call ended, as a line, for the list of wrong ones. */
function described(outcome: { outcome: string; error?: unknown }): string {
  const error = outcome.error as Error | undefined;
  return `${outcome.outcome}${error === undefined ? "" : `: ${error.message}`}`;
}

for (const async of [true, false]) {
  Deno.test(
    `the watchdog's clock 5 s ahead of this thread's stops no call early (${
      async ? "async calls go on past the flag" : "plain calls"
    })`,
    async () => {
      const bytes = await assembleWat(SPIN_AND_SUM_WAT);
      // The watchdog runs before the clocks part.
      await loadGuest(bytes, { timeout: 1000 });
      const wrong: string[] = [];
      let returned = 0;
      await originBehind(5000, async () => {
        for (let round = 0; round < 8; round++) {
          const guest = await loadGuest(bytes, { async, timeout: 1000 });
          const call = (name: string, args: number[], timeout: number) =>
            async
              ? guest.invokeAsync(name, args, { timeout })
              : Promise.resolve(guest.invoke(name, args, { timeout }));
          // A short call: it returns, or (plain, trapped at the flag) is
          // stopped once its deadline has passed.
          const quick = await call("sum", [100_000], async ? 5000 : 40);
          if (quick.outcome === "returned") {
            returned++;
            assert.equal(quick.value, 705_082_704);
          } else if (
            async || quick.outcome !== "timeout" ||
            quick.error.elapsed < quick.error.timeout
          ) wrong.push(`sum: ${described(quick)}`);
          // A runaway: stopped, at its deadline, not before.
          const spin = await call("spin", [], 20);
          if (
            spin.outcome !== "timeout" || !isDeadlineExceeded(spin.error) ||
            spin.error.elapsed < spin.error.timeout
          ) wrong.push(`spin: ${described(spin)}`);
        }
      });
      assert.deepEqual(wrong, []);
      if (async) assert.equal(returned, 8);
    },
  );
}
