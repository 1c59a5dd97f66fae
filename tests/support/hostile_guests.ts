/**
 * The hostile guests of issue #10 that more than one test throws at a stop:
 * each tries to dodge the fuel checks that carry the stop flag.
 */

import { assembleWat } from "../../guest/build.ts";

/**
 * A failed grow is charged 2^31 fuel and costs nothing: it used to game
 * slices. `pump` pumps `n` times, `pump_forever` never ends, `spin` is a
 * plain loop.
 */
export const PUMP = await assembleWat(`
(module
  (memory 1 1)
  (func (export "pump") (param $n i32) (local $i i32)
    (loop $again
      (drop (memory.grow (i32.const 0x7fffffff)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (local.get $n)))))
  (func (export "pump_forever")
    (loop $again (drop (memory.grow (i32.const 0x7fffffff))) (br $again)))
  (func (export "spin") (loop $again (br $again))))
`);

/** `spin`: a loop that a cost table making every operator free makes free. */
export const FREE_LOOP = await assembleWat(`
(module (func (export "spin") (loop $again (br $again))))
`);

/**
 * 1 GiB bulk operators on fresh memory, each one operator: `fill` and `copy`
 * once, `fill_forever` for ever; `fill_part` and `copy_part` over 16 MiB,
 * hundreds of chunks, for a run that must get to its end.
 */
export const BULK = await assembleWat(`
(module
  (memory 16384 16384)
  (func (export "fill")
    (memory.fill (i32.const 0) (i32.const 7) (i32.const 0x40000000)))
  (func (export "copy")
    (memory.copy (i32.const 0x100) (i32.const 0) (i32.const 0x3fffff00)))
  (func (export "fill_part")
    (memory.fill (i32.const 0) (i32.const 7) (i32.const 0x1000000)))
  (func (export "copy_part")
    (memory.copy (i32.const 0x100) (i32.const 0) (i32.const 0x1000000)))
  (func (export "fill_forever")
    (loop $again
      (memory.fill (i32.const 0) (i32.const 7) (i32.const 0x40000000))
      (br $again))))
`);

/**
 * `f`: `blocks` sequential blocks each typed `params` `i32`s to as many,
 * over that many copies of its parameter; blocks are no control points in
 * the compile units and weigh nothing in the compile cost. Found
 * underpriced (not yet weighed): at the module's limit of 4,194,304
 * parameters and results, 131,072 blocks of 16 (rewritten for a deadline,
 * 1.3 MB) held the first call 61 to 95 ms of thread CPU, and 2,080 blocks
 * of 1,000 held it 59 to 67 (load average 3 to 8), about 16 ns a value.
 */
export function paramBlocks(
  blocks: number,
  params: number,
): Promise<Uint8Array> {
  const types = "i32 ".repeat(params);
  return assembleWat(`(module
    (type $t (func (param ${types}) (result ${types})))
    (func (export "f") (param i32)
      ${"(local.get 0) ".repeat(params)}
      ${`(block (type $t) (param ${types}) (result ${types})) `.repeat(blocks)}
      ${"drop ".repeat(params)}))`);
}

// A third pass (issue #10): what it found still open.

/**
 * A WASI command that writes 1,000,000 bytes to stdout for ever. With the
 * host's stdout a pipe that nobody drains, each write holds the thread in
 * the host's write, where no stop reaches it (open: a 300 ms timeout
 * returned when the reader went away, 5.5 s later; see the third pass in
 * `docs/performance.md`).
 */
export const PIPE_WRITER = await assembleWat(`
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 17)
  (func (export "_start")
    (i32.store (i32.const 16) (i32.const 4096))
    (i32.store (i32.const 20) (i32.const 1000000))
    (loop $again
      (drop (call $write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 8)))
      (br $again))))
`);
