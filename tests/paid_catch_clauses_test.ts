/**
 * A throw is matched against the catch clauses of the `try` or `try_table`
 * it leaves one by one, so its work grows with their number: a guest that
 * throws through 10,000 clauses that never match, in a loop, made V8 work
 * about 450 µs a throw for 6 fuel, and ran for 41 s under `fuel: 1_000_000`.
 * Each clause is now paid for (`perElement`) where its `try` is entered.
 *
 * And a guest whose throws go through a `try_table` of 65,000 clauses (or a
 * `try` of 100,000) ended the whole process once V8 optimised its loop
 * (`Fatal process out of memory: Zone`), deadline-only guests included: the
 * rewriter refuses a `try` of more than 4,096 clauses (its optimising
 * compile of 16,000 peaked at 1.8 GB).
 *
 * @module
 */

import assert from "./support/assert.ts";
import { isInvalidModule, loadGuest } from "../mod.ts";
import { expectOutcome } from "./support/outcome.ts";
import { encodeLeb, moduleOf, section } from "./support/module_bytes.ts";

/**
 * Clauses that never match, before the `catch_all` that does. A thousand
 * prove the price per clause as well as ten thousand: with ten thousand, a
 * few throws through a legacy `try` made V8 optimise the function, which
 * took 2 to 8 s of CPU time for its 10,000 handlers.
 */
const CLAUSES = 1_000;

/**
 * A guest whose `run(n)` throws tag 1 n times, each time through a `try`
 * (`legacy`) or a `try_table` whose first `clauses` clauses catch tag 0 and
 * whose last catches everything.
 */
function thrower(
  legacy: boolean,
  clauses = CLAUSES,
): Uint8Array<ArrayBuffer> {
  const code = [0x03, 0x40, 0x02, 0x40]; // loop, block
  if (legacy) {
    code.push(0x06, 0x40, 0x08, 0x01); // try, throw 1
    for (let i = 0; i < clauses; i++) code.push(0x07, 0x00); // catch 0
    code.push(0x19, 0x0b); // catch_all, end
  } else {
    code.push(0x1f, 0x40, ...encodeLeb(clauses + 1));
    for (let i = 0; i < clauses; i++) code.push(0x00, 0x00, 0x00); // catch 0 0
    code.push(0x02, 0x00, 0x08, 0x01, 0x0b); // catch_all 0, throw 1, end
  }
  // end the block; n -= 1; loop while n != 0
  code.push(0x0b, 0x20, 0x00, 0x41, 0x01, 0x6b, 0x22, 0x00, 0x0d, 0x00, 0x0b);
  const body = [0x00, ...code, 0x0b];
  return moduleOf(
    section(1, [0x02, 0x60, 0x01, 0x7f, 0x00, 0x60, 0x00, 0x00]),
    section(3, [0x01, 0x00]),
    section(13, [0x02, 0x00, 0x01, 0x00, 0x01]), // two tags, type 1
    section(7, [0x01, 0x03, 0x72, 0x75, 0x6e, 0x00, 0x00]), // "run"
    section(10, [0x01, ...encodeLeb(body.length), ...body]),
  );
}

for (const legacy of [false, true]) {
  const form = legacy ? "try … catch" : "try_table";
  Deno.test(`a throw through a ${form} pays for each of its catch clauses`, async () => {
    const bytes = thrower(legacy);
    for (const interruptible of [false, true]) {
      const guest = await loadGuest(bytes, { fuel: 1e9, interruptible });
      const once = guest.invoke("run", [1]).fuel!.consumed;
      const twice = guest.invoke("run", [2]).fuel!.consumed;
      assert.ok(
        twice - once > CLAUSES,
        `a throw through ${CLAUSES + 1} clauses cost ${twice - once}`,
      );
      // 200 throws no longer fit in a budget that paid for them at 6 fuel
      // each (and few enough run that V8 does not optimise the loop).
      const budget = await loadGuest(bytes, { fuel: 50_000, interruptible });
      const result = budget.invoke("run", [200]);
      expectOutcome(result, "fuel_exhausted");
    }
  });
}

Deno.test("both forms of exception handling count a clause the same", async () => {
  const counts = [];
  for (const legacy of [false, true]) {
    const guest = await loadGuest(thrower(legacy), { fuel: 1e9 });
    counts.push(guest.invoke("run", [3]).fuel!.consumed);
  }
  assert.equal(counts[0], counts[1]);
});

Deno.test("a try of more than 4,096 catch clauses is refused, rewritten or not", async () => {
  for (const legacy of [false, true]) {
    // A plain load, which compiles the guest as it is, refuses it too.
    const modes = [
      { fuel: false, timeout: 1_000 },
      { fuel: 1e9, timeout: 1_000 },
      {},
    ] as const;
    for (const options of modes) {
      // 4,095 clauses and the catch_all load; one more does not.
      await loadGuest(thrower(legacy, 4_095), options);
      await assert.rejects(
        () => loadGuest(thrower(legacy, 4_096), options),
        (error) =>
          isInvalidModule(error) &&
          /more than 4096 catch clauses/.test(error.message),
      );
    }
  }
});
