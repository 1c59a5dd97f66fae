/**
 * Runs WASI guests whose output goes to this process's stdout and stderr,
 * for `tests/wasi_full_pipe_test.ts`, in one process (each Deno process
 * the test starts cost it about 0.4 s):
 *
 * 1. The `order` guest twice under an hour's timeout, async and then
 *    holding the thread (`async: false`): the test reads these bytes.
 * 2. The pipe writer, whose pipe the test no longer reads, five times in a
 *    row: async under a timeout, an `AbortSignal` and a `StopSignal`; held
 *    under a timeout and a `StopSignal` set by another thread.
 *
 * The verdict (the outcomes) goes as JSON into the file named last, since
 * stdout and stderr may be a full pipe; then the process exits, whatever
 * writes are still pending.
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
export const RECORDS = 48;

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

/**
 * A `StopSignal` that a thread of its own sets 50 ms after it starts: a
 * run that holds this thread lets no timer of it fire.
 */
function stopFromAnotherThread(): StopSignal {
  const stop = new StopSignal();
  const source =
    "self.onmessage = (e) => { const flag = new Int32Array(e.data); " +
    "Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50); " +
    "Atomics.store(flag, 0, 1); " +
    "Atomics.notify(flag, 0); self.close(); };";
  const worker = new Worker(
    URL.createObjectURL(new Blob([source], { type: "text/javascript" })),
    { type: "module" },
  );
  worker.postMessage(stop.buffer);
  return stop;
}

if (import.meta.main) {
  const [orderPath, writerPath, verdictPath] = Deno.args;
  const order = await Deno.readFile(orderPath);
  const writer = await Deno.readFile(writerPath);
  const outcomes: string[] = [];
  for (const async of [true, false]) {
    outcomes.push(
      (await runWasi(order, { timeout: 3_600_000, async })).outcome,
    );
  }
  const stopIn50 = () => {
    const stop = new StopSignal();
    setTimeout(() => stop.stop("enough"), 50);
    return stop;
  };
  const runs = [
    () => ({ timeout: 50 }),
    () => ({ signal: AbortSignal.timeout(50) }),
    () => ({ stop: stopIn50() }),
    () => ({ timeout: 50, async: false }),
    () => ({ stop: stopFromAnotherThread(), async: false }),
  ];
  for (const options of runs) {
    outcomes.push((await runWasi(writer, options())).outcome);
  }
  await Deno.writeTextFile(verdictPath, JSON.stringify({ outcomes }));
  Deno.exit(0);
}
