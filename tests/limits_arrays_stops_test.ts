/**
 * A guest that keeps GC arrays at the default cap, one after another, each
 * on fresh pages: the engine makes each in one step no check interrupts,
 * and the kernel faults in its pages as the engine zeroes them (about 12
 * µs a 4 KiB page on a 2-core VM, so 24 to 32 ms of CPU for 8 MiB, the cap
 * before), and a stop that falls meanwhile waits for it. Counted in the
 * thread's CPU time, which a busy machine does not stretch.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { watBinaryen } from "./support/instrument.ts";
import { threadCpuMs } from "./support/thread_cpu.ts";
import { expectOutcome } from "./support/outcome.ts";
import { loadGuest } from "../mod.ts";
import { DEFAULT_ARRAY_BYTES } from "../src/limits.ts";

/** Arrays a call keeps, each timed from the end of the one before. */
const ARRAYS = 9;
/**
 * The CPU one array may take at the median: an array at the old cap took
 * 24 ms or more on a 2-core VM; one at the cap now, about 3.
 */
const MOST_MS = 10;

const HOARDER = await watBinaryen(
  `(module
  (import "host" "kept" (func $kept))
  (type $ints (array (mut i32)))
  (type $node (struct (field (ref null $node)) (field (ref $ints))))
  (global $kept (mut (ref null $node)) (ref.null $node))
  (func (export "run") (local $left i32)
    (local.set $left (i32.const ${ARRAYS}))
    (loop $again
      (global.set $kept (struct.new $node (global.get $kept)
        (array.new_default $ints (i32.const ${DEFAULT_ARRAY_BYTES / 4}))))
      (call $kept)
      (br_if $again
        (local.tee $left (i32.sub (local.get $left) (i32.const 1)))))))`,
  ["Strings", "CompactImports"],
);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

Deno.test("an array at the default cap holds a stoppable guest's thread a few milliseconds of CPU", async () => {
  for (const async of [false, true]) {
    // Each array is kept, so each is made on fresh pages.
    const marks: number[] = [];
    const kept = () => void marks.push(threadCpuMs());
    const guest = await loadGuest(HOARDER, {
      imports: { host: { kept } },
      timeout: 60_000,
      ...(async ? { async: true } : {}),
    });
    marks.push(threadCpuMs());
    const outcome = async
      ? await guest.invokeAsync("run")
      : guest.invoke("run");
    expectOutcome(outcome, "returned");
    const each = marks.slice(1).map((mark, i) => mark - marks[i]!);
    assert.equal(each.length, ARRAYS);
    // The median: a collection of the host's heap may fall in one of them.
    assert.ok(
      median(each) < MOST_MS,
      `${async ? "async" : "sync"}: ${each.map((ms) => ms.toFixed(1))} ms`,
    );
  }
});
