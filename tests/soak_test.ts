/**
 * A soak of every way a call can stop: 10,000 calls of each on one guest
 * keep the heap and RSS flat. It runs in a child with `--expose-gc`, so
 * that each figure is taken after a forced GC, away from this process's
 * other tests.
 */

import assert from "./support/assert.ts";
import { runDeno } from "./support/cli.ts";
import type { SoakReport } from "./support/soak_child.ts";

const MiB = 1024 * 1024;
/** Growth over a kind's 10,000 calls: far above noise, far below a leak of 4 KiB a call. */
const MAX_GROWTH = 32 * MiB;
/**
 * Growth from the second thousand calls to the last, once warm: a heap leak
 * of 256 bytes a call, or an RSS leak of 2 KiB, would pass these.
 */
const MAX_WARM_HEAP_GROWTH = 2 * MiB;
const MAX_WARM_RSS_GROWTH = 16 * MiB;
const HANG_MS = 240_000;

Deno.test("10,000 calls of each stop kind keep the heap and RSS flat", async () => {
  const run = await runDeno(
    [
      "run",
      "--v8-flags=--expose-gc",
      "--allow-read",
      "--allow-env",
      "tests/support/soak_child.ts",
    ],
    { signal: AbortSignal.timeout(HANG_MS) },
  );
  assert.equal(run.signal, null, `killed after ${HANG_MS} ms: it hung`);
  assert.equal(run.code, 0, run.stderr);
  const report: SoakReport = JSON.parse(run.stdout);
  const kinds = Object.keys(report.kinds);
  assert.deepEqual(kinds, [
    "interrupt",
    "fuel",
    "deadline",
    "StopSignal",
    "trap",
    "abort",
  ]);
  const lines: string[] = [];
  for (
    const [kind, { before, blocks, wrong, seconds }] of Object.entries(
      report.kinds,
    )
  ) {
    assert.equal(blocks.length, 10, kind);
    assert.equal(wrong, 0, `${kind}: ${wrong} calls ended otherwise`);
    const last = blocks.at(-1)!;
    const growth = {
      heap: last.heap - before.heap,
      rss: last.rss - before.rss,
      warmHeap: last.heap - blocks[1].heap,
      warmRss: last.rss - blocks[1].rss,
    };
    const figures = Object.entries(growth).map(([name, bytes]) =>
      `${name} ${(bytes / MiB).toFixed(2)} MiB`
    ).join(", ");
    assert.ok(growth.heap < MAX_GROWTH, `${kind}: ${figures}`);
    assert.ok(growth.rss < MAX_GROWTH, `${kind}: ${figures}`);
    assert.ok(growth.warmHeap < MAX_WARM_HEAP_GROWTH, `${kind}: ${figures}`);
    assert.ok(growth.warmRss < MAX_WARM_RSS_GROWTH, `${kind}: ${figures}`);
    lines.push(`  ${kind}: ${figures} (${seconds.toFixed(1)} s)`);
  }
  console.log(
    `soak: 10,000 calls of each kind in ${
      report.seconds.toFixed(1)
    } s; growth after a forced GC:\n${lines.join("\n")}`,
  );
});
