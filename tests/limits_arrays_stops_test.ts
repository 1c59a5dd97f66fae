/**
 * A guest that keeps GC arrays at the default cap, one after another, each
 * on fresh pages: the engine makes each in one step no check interrupts,
 * and the kernel faults in its pages as the engine zeroes them (about 12
 * µs a 4 KiB page on a 2-core VM, so 24 to 32 ms of CPU for 8 MiB, the cap
 * before). The stop waits for one array at most, so the call's thread CPU
 * past its deadline is bounded by the cap's size: counted in CPU time, which
 * a busy machine does not stretch.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { watBinaryen } from "./support/instrument.ts";
import { threadCpuMs } from "./support/thread_cpu.ts";
import { expectOutcome } from "./support/outcome.ts";
import { loadGuest } from "../mod.ts";
import { DEFAULT_ARRAY_BYTES } from "../src/limits.ts";

const TIMEOUT_MS = 5;
/**
 * CPU past the deadline a regression would exceed: an array at the old cap
 * alone took 24 ms or more; one at the cap now, about 3.
 */
const SLACK_MS = 15;

const HOARDER = await watBinaryen(
  `(module
  (type $ints (array (mut i32)))
  (type $node (struct (field (ref null $node)) (field (ref $ints))))
  (global $kept (mut (ref null $node)) (ref.null $node))
  (func (export "run")
    (loop $again
      (global.set $kept (struct.new $node (global.get $kept)
        (array.new_default $ints (i32.const ${DEFAULT_ARRAY_BYTES / 4}))))
      (br $again))))`,
  ["Strings", "CompactImports"],
);

Deno.test("a deadline stops a guest keeping arrays at the default cap within one array's allocation", async () => {
  for (const async of [false, true]) {
    // The fewest of three fresh guests: one collection of the host's heap
    // may fall in a call, an allocation too long falls in every one.
    let fewest = Infinity;
    for (let i = 0; i < 3; i++) {
      const guest = await loadGuest(
        HOARDER,
        async ? { async: true } : { interruptible: true },
      );
      const before = threadCpuMs();
      const outcome = async
        ? await guest.invokeAsync("run", [], { timeout: TIMEOUT_MS })
        : guest.invoke("run", [], { timeout: TIMEOUT_MS });
      fewest = Math.min(fewest, threadCpuMs() - before);
      expectOutcome(outcome, "timeout");
    }
    assert.ok(
      fewest < TIMEOUT_MS + SLACK_MS,
      `${async ? "async" : "sync"}: ${fewest.toFixed(1)} ms of CPU`,
    );
  }
});
