/**
 * For `tests/wasi_writer_boot_test.ts`: puts bytes for stdout into a
 * `ThreadWrites` whose writing thread does not boot within its bound, as a
 * held WASI run does, and ends as that run would. Prints the bytes (through
 * whichever path writes them) and nothing else; a wait for a thread that
 * never comes would hold this process until its caller's guard ends it.
 *
 * Arguments: the case.
 * - `drain`: a write, then the run's end, which waits for the ring;
 * - `full`: a write of two parts larger than the ring under a 300 ms
 *   deadline: its wait for room ends at the deadline (the name of the
 *   error it throws goes to stderr), then the stopped run's end leaves
 *   what the ring holds to be written after it;
 * - `settle`: a write, then the end of a stopped run, which leaves the
 *   ring to be written after it;
 * - `late`: a real thread, which boots after the bound (here 0 ms), must
 *   write nothing the host wrote already.
 */
import { StopWatch } from "../../src/wasi/wasi_stops.ts";
import { RING_BYTES, ThreadWrites } from "../../src/wasi/wasi_thread_writes.ts";
import { spawnOnWatchdog } from "../../src/watchdog/watchdog.ts";

/** Bytes of `length`, each its index modulo 251, from `from`. */
export function pattern(from: number, length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (from + i) % 251);
}

if (import.meta.main) {
  const mode = Deno.args[0];
  const writes = mode === "late"
    ? new ThreadWrites(spawnOnWatchdog, 0)
    : new ThreadWrites(() => {}, 200);
  writes.start();
  // No stop comes: only the bound ends the waits.
  const watch = new StopWatch({ timeout: 600_000 });
  if (mode === "full") {
    const first = pattern(0, RING_BYTES - 100);
    const second = pattern(first.length, RING_BYTES / 2);
    const size = first.length + second.length;
    try {
      writes.write(1, [first, second], size, new StopWatch({ timeout: 300 }));
    } catch (error) {
      console.error((error as Error).name);
    }
    writes.settle();
  } else {
    const bytes = pattern(0, 1000);
    writes.write(1, [bytes], bytes.length, watch);
    if (mode === "settle") writes.settle();
    else writes.drain(watch);
  }
  // Long enough for a late thread to boot, and to find it must not write.
  if (mode === "late") await new Promise((done) => setTimeout(done, 1500));
}
