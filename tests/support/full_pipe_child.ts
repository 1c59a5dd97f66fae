/**
 * Runs a WASI guest (the module at the path given) whose output goes to
 * this process's stdout and stderr, for `tests/wasi_full_pipe_test.ts`,
 * and prints its verdict as JSON on a line of stderr (stdout may be a pipe
 * the test does not read):
 *
 * - `stops`: three times in a row, under a timeout, an `AbortSignal` and a
 *   `StopSignal` (each of 100 ms): the outcomes.
 * - `order`: once, under an hour's timeout: the outcome.
 */
import { runWasi, StopSignal } from "../../mod.ts";

/**
 * A WASI command that writes 1,000,000 bytes to stdout for ever: with the
 * host's stdout a pipe that nobody drains, a write that held the thread in
 * the host's write let no stop reach it (a 300 ms timeout returned when
 * the reader went away, 5.5 s later).
 */
export const PIPE_WRITER = `
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 17)
  (func (export "_start")
    (i32.store (i32.const 16) (i32.const 4096))
    (i32.store (i32.const 20) (i32.const 1000000))
    (loop $again
      (drop (call $write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 8)))
      (br $again))))`;

/** Records the `order` guest writes: record `i` to stdout if even, else stderr. */
export const RECORDS = 120;

/** The length of record `i`: up to 100,000 bytes, each the byte `i & 0xff`. */
export function recordLength(i: number): number {
  return (i * 7919) % 100_000 + 1;
}

/** Writes {@linkcode RECORDS} records, as {@linkcode recordLength} says. */
export const ORDERED_WRITES = `
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 3)
  (func (export "_start") (local $i i32) (local $length i32)
    (loop $again
      (local.set $length (i32.add (i32.rem_u
        (i32.mul (local.get $i) (i32.const 7919)) (i32.const 100000))
        (i32.const 1)))
      (memory.fill (i32.const 4096) (local.get $i) (local.get $length))
      (i32.store (i32.const 16) (i32.const 4096))
      (i32.store (i32.const 20) (local.get $length))
      (drop (call $write
        (i32.add (i32.const 1) (i32.and (local.get $i) (i32.const 1)))
        (i32.const 16) (i32.const 1) (i32.const 8)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (i32.const ${RECORDS}))))))`;

if (import.meta.main) {
  const [mode, path] = Deno.args;
  const guest = await Deno.readFile(path);
  const verdict: Record<string, unknown> = {};
  if (mode === "stops") {
    const stopIn300 = () => {
      const stop = new StopSignal();
      setTimeout(() => stop.stop("enough"), 100);
      return stop;
    };
    const runs = [
      () => ({ timeout: 100 }),
      () => ({ signal: AbortSignal.timeout(100) }),
      () => ({ stop: stopIn300() }),
    ];
    const outcomes: string[] = [];
    for (const options of runs) {
      outcomes.push((await runWasi(guest, options())).outcome);
    }
    verdict.outcomes = outcomes;
  } else {
    const result = await runWasi(guest, { timeout: 3_600_000 });
    verdict.outcome = result.outcome;
  }
  Deno.stderr.writeSync(
    new TextEncoder().encode(JSON.stringify(verdict) + "\n"),
  );
}
