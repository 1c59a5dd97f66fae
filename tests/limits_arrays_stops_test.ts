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
const ARRAYS = 7;
/** The cap before: arrays of it took 24 to 32 ms of CPU each. */
const OLD_CAP_BYTES = 8 * 1024 * 1024;

const HOARDER = await watBinaryen(
  `(module
  (import "host" "kept" (func $kept))
  (type $ints (array (mut i32)))
  (type $node (struct (field (ref null $node)) (field (ref $ints))))
  (global $kept (mut (ref null $node)) (ref.null $node))
  (func (export "run") (param $length i32) (local $left i32)
    (local.set $left (i32.const ${ARRAYS}))
    (loop $again
      (global.set $kept (struct.new $node (global.get $kept)
        (array.new_default $ints (local.get $length))))
      (call $kept)
      (br_if $again
        (local.tee $left (i32.sub (local.get $left) (i32.const 1)))))))`,
  ["Strings", "CompactImports"],
);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** The median thread CPU, in ms, of one kept array of `bytes`. */
async function msPerArray(async: boolean, bytes: number): Promise<number> {
  // Each array is kept, so each is made on fresh pages.
  const marks: number[] = [];
  const kept = () => void marks.push(threadCpuMs());
  const guest = await loadGuest(HOARDER, {
    imports: { host: { kept } },
    timeout: 60_000,
    limits: { arrays: Math.max(bytes, DEFAULT_ARRAY_BYTES) },
    ...(async ? { async: true } : {}),
  });
  marks.push(threadCpuMs());
  const outcome = async
    ? await guest.invokeAsync("run", [bytes / 4])
    : guest.invoke("run", [bytes / 4]);
  expectOutcome(outcome, "returned");
  const each = marks.slice(1).map((mark, i) => mark - marks[i]!);
  assert.equal(each.length, ARRAYS);
  // The median: a collection of the host's heap may fall in one of them.
  return median(each);
}

// Against arrays at the cap before, in the same process, not a number of
// milliseconds: a loaded machine makes each page's fault dearer, on both
// sides alike. With the cap at 8 MiB, as before, both sides cost the same.
Deno.test("an array at the default cap holds a stoppable guest's thread under a third of what one at the cap before did", async () => {
  for (const async of [false, true]) {
    const atCap = await msPerArray(async, DEFAULT_ARRAY_BYTES);
    const larger = await msPerArray(async, OLD_CAP_BYTES);
    assert.ok(
      atCap * 3 < larger,
      `${async ? "async" : "sync"}: ${
        atCap.toFixed(1)
      } ms an array at the default cap, ${
        larger.toFixed(1)
      } ms one at the cap before (8 MiB): expected under a third`,
    );
  }
});
