/**
 * The thread CPU one kept GC array takes, for `limits_arrays_stops_test.ts`,
 * which runs {@linkcode arrayCpuRounds} in a child process of its own: no
 * other test's heap or garbage there, and nothing else on its thread.
 *
 * @module
 */

import { settledThreadCpuMs } from "./thread_cpu.ts";
import { loadGuest } from "../../mod.ts";

/**
 * A guest whose `run(length, count)` keeps `count` arrays of `length` i32s,
 * each held by a struct of a linked list, so that none is collected: text
 * for binaryen (GC types), without its string types and compact imports.
 */
export const ARRAY_HOARDER_WAT = `(module
  (type $ints (array (mut i32)))
  (type $node (struct (field (ref null $node)) (field (ref $ints))))
  (global $kept (mut (ref null $node)) (ref.null $node))
  (func (export "run") (param $length i32) (param $left i32)
    (loop $again
      (global.set $kept (struct.new $node (global.get $kept)
        (array.new_default $ints (local.get $length))))
      (br_if $again
        (local.tee $left (i32.sub (local.get $left) (i32.const 1)))))))`;

/**
 * A guest whose `run` keeps an array of `bytes` in a list, in a loop,
 * until stopped: text for binaryen, as {@linkcode ARRAY_HOARDER_WAT}.
 */
export function arrayKeeperWat(bytes: number): string {
  return `(module
    (type $ints (array (mut i32)))
    (type $node (struct (field (ref null $node)) (field (ref $ints))))
    (global $kept (mut (ref null $node)) (ref.null $node))
    (func (export "run")
      (loop $l
        (global.set $kept (struct.new $node (global.get $kept)
          (array.new_default $ints (i32.const ${bytes / 4}))))
        (br $l))))`;
}

/**
 * The thread CPU, in ms, one array of `bytes` took on average in one call
 * of `hoarder`: a guest whose `run(length, count)` makes `count` arrays of
 * `length` `i32`s and keeps each, so that each is made on fresh pages.
 * Timed over the whole call, read settled at both ends: the thread's CPU
 * time is brought up to date only at ticks of a few ms while it runs (see
 * `thread_cpu.ts`), and a plain reading lagged by as much as a call of
 * small arrays took (their cost came out 0.05 to 0.18 ms an array in one
 * run, 0.13 to 0.15 settled).
 */
async function msPerArray(
  hoarder: Uint8Array,
  totalBytes: number,
  async: boolean,
  bytes: number,
): Promise<number> {
  const count = Math.round(totalBytes / bytes);
  const guest = await loadGuest(hoarder, {
    timeout: 60_000,
    limits: { arrays: bytes },
    ...(async ? { async: true } : {}),
  });
  const before = settledThreadCpuMs();
  const outcome = async
    ? await guest.invokeAsync("run", [bytes / 4, count])
    : guest.invoke("run", [bytes / 4, count]);
  const spent = settledThreadCpuMs() - before;
  if (outcome.outcome !== "returned") {
    throw new Error(`the hoarder ended ${outcome.outcome}, not returned`);
  }
  return spent / count;
}

/** Per mode and size: the ms an array took, in each round. */
export type ArrayCpu = Record<"sync" | "async", Record<string, number[]>>;

/**
 * `rounds` rounds, each timing arrays of every size in `sizes` in turn
 * (sync, then async), so that a machine whose speed drifts slows every
 * size alike.
 *
 * @param hoarder The guest (see {@linkcode msPerArray}).
 * @param totalBytes The bytes of arrays each call makes, whatever their
 *   size, so that every size fills the host's heap alike.
 * @param sizes Each array's bytes, in the order timed in each round.
 * @param rounds How many rounds.
 * @returns The ms per array, by mode and size, a value a round.
 */
export async function arrayCpuRounds(
  hoarder: Uint8Array,
  totalBytes: number,
  sizes: readonly number[],
  rounds: number,
): Promise<ArrayCpu> {
  const cpu: ArrayCpu = { sync: {}, async: {} };
  for (let round = 0; round < rounds; round++) {
    for (const async of [false, true]) {
      const mode = cpu[async ? "async" : "sync"];
      for (const bytes of sizes) {
        (mode[bytes] ??= []).push(
          await msPerArray(hoarder, totalBytes, async, bytes),
        );
      }
    }
  }
  return cpu;
}
