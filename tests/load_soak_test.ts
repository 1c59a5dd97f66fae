/**
 * Loads stopped at every stage, over and over in one process, leave
 * nothing behind: no descriptor, no thread, no heap, and nothing that keeps
 * the process alive. It runs in a child with `--expose-gc` (Linux only: it
 * counts `/proc/self/fd` and `/proc/self/task`).
 *
 * @module
 */

import assert from "./support/assert.ts";
import { runDeno } from "./support/cli.ts";
import type { LoadSoakReport } from "./support/load_soak_child.ts";

const MiB = 1024 * 1024;
const HANG_MS = 120_000;
/** Two rounds of 72 loads and calls: a leak of 16 KiB each would not pass. */
const MAX_HEAP_GROWTH = 2 * MiB;
/** Room for a pool thread or descriptor of the runtime's own, not one per load. */
const SLACK = 4;

Deno.test({
  name:
    "loads stopped in the start function, the rewrite, the compile or a call leave no descriptor, thread or heap behind, and the process ends by itself",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const run = await runDeno(
      [
        "run",
        "--v8-flags=--expose-gc",
        // Deno reads /proc/self only with every permission.
        "--allow-all",
        "tests/support/load_soak_child.ts",
      ],
      { signal: AbortSignal.timeout(HANG_MS) },
    );
    assert.equal(run.signal, null, `killed after ${HANG_MS} ms: it hung`);
    assert.equal(run.code, 0, run.stderr);
    const { warm, last, ended, perRound, rounds, alwaysStopped }:
      LoadSoakReport = JSON.parse(
        run.stdout,
      );
    const total = Object.values(ended).reduce((sum, n) => sum + n, 0);
    assert.equal(total, rounds * perRound, JSON.stringify(ended));
    for (const how of Object.keys(ended)) {
      assert.ok(
        ["DeadlineExceeded", "Aborted", "timeout", "loaded"].includes(how),
        `a load or call ended with ${how}: ${JSON.stringify(ended)}`,
      );
    }
    // Every call of the spinning export, and every load of the guest whose
    // start function spins, was stopped.
    assert.equal(ended.timeout, rounds * alwaysStopped, JSON.stringify(ended));
    assert.ok(
      ended.DeadlineExceeded >= rounds * alwaysStopped,
      JSON.stringify(ended),
    );
    const figures = JSON.stringify({ warm, last });
    assert.ok(last.descriptors <= warm.descriptors + SLACK, figures);
    assert.ok(last.threads <= warm.threads + SLACK, figures);
    assert.ok(last.heap - warm.heap < MAX_HEAP_GROWTH, figures);
  },
});
