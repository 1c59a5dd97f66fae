/**
 * The hostile guests of issue #10 that more than one test throws at a stop:
 * each tries to dodge the fuel checks that carry the stop flag, or to hold
 * the engine's first compile, which no stop can cut short, with few bytes.
 */

import { assembleWat } from "../../guest/build.ts";
import {
  type Bytes,
  concatBytes,
  encodeLeb,
  PREAMBLE,
} from "./module_bytes.ts";

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

// The shapes that compile slowly for their bytes, weighed in the compile
// cost (`MAX_COMPILE_COST` in src/wasm/scan_limits.ts). Each guest exports
// `f: () -> ()`; its figures are the thread CPU of a fresh load's first
// call less its second, unrewritten, Deno 2.9.6.

/** A section of `content`, without spreading it into a call's arguments. */
function sectionOf(id: number, content: number[]): number[] {
  const out = [id, ...encodeLeb(content.length)];
  for (const byte of content) out.push(byte);
  return out;
}

/** A vector of `items`, each already encoded. */
function vectorOf(items: number[][]): number[] {
  const out = encodeLeb(items.length);
  for (const item of items) for (const byte of item) out.push(byte);
  return out;
}

/** A function type of `params` and `results`, each a value type's byte. */
function functionType(params: number[], results: number[]): number[] {
  return [
    0x60,
    ...encodeLeb(params.length),
    ...params,
    ...encodeLeb(results.length),
    ...results,
  ];
}

/**
 * A module of `types`, the functions `bodies` (each a type index and its
 * body, locals included), exporting the first as `f`; `beforeExport`
 * (tables, tags) and `beforeCode` (elements) go where their ids fall.
 */
function moduleOfBodies(
  types: number[][],
  bodies: [type: number, body: number[]][],
  beforeExport: number[][] = [],
  beforeCode: number[][] = [],
): Bytes {
  return concatBytes(
    PREAMBLE,
    sectionOf(1, vectorOf(types)),
    sectionOf(3, vectorOf(bodies.map(([type]) => encodeLeb(type)))),
    ...beforeExport,
    sectionOf(7, [0x01, 0x01, 0x66, 0x00, 0x00]), // "f", function 0
    ...beforeCode,
    sectionOf(
      10,
      vectorOf(bodies.map(([, body]) => [...encodeLeb(body.length), ...body])),
    ),
  );
}

/** `count` copies of `value`. */
function times(count: number, value: number): number[] {
  return new Array<number>(count).fill(value);
}

/** Appends `count` copies of `bytes` to `out`. */
function repeatInto(out: number[], count: number, ...bytes: number[]): void {
  for (let i = 0; i < count; i++) for (const byte of bytes) out.push(byte);
}

const I32 = 0x7f;
const I32_CONST_0 = [0x41, 0x00];

/**
 * `f`: `blocks` sequential blocks each typed `params` `i32`s to as many,
 * over that many constants. Blocks are no control points, and each
 * parameter and result weighs 2 (`BLOCK_VALUE_WEIGHT`). Before it did, at
 * the module's limit of 4,194,304 parameters and results, 131,072 blocks
 * of 16 (1.3 MB rewritten for a deadline) held the first call 55 to 95 ms
 * of thread CPU, and 2,080 blocks of 1,000 56 to 73 (load average 3 to
 * 17), about 14 ns a value; at the new limit (500 of 1,000, 31,000 of
 * 16), 12 to 21 ms at load average 17.
 */
export function paramBlocks(blocks: number, params: number): Bytes {
  const body = [0x00];
  repeatInto(body, params, ...I32_CONST_0);
  repeatInto(body, blocks, 0x02, 0x01, 0x0b); // block (type 1) end
  repeatInto(body, params, 0x1a);
  body.push(0x0b);
  return moduleOfBodies(
    [
      functionType([], []),
      functionType(times(params, I32), times(params, I32)),
    ],
    [[0, body]],
  );
}

/**
 * `f`: `calls` calls of an empty function of `args` `i32` parameters, each
 * over as many constants; with `tail`, `return_call`s, each after a
 * `br_if` out of its own block. A call's parameters weigh 4 each
 * (`CALL_PARAM_WEIGHT`), a tail call's 16. Before, 730 calls of 1,000
 * held a first call 43 to 46 ms (load average 17), 700 `return_call`s of
 * 1,000 69 to 159 ms and 7,000 of 100 73 to 171 (load average 9); at the
 * new limits (300 calls of 1,000, 2,300 of 100, 108 `return_call`s of
 * 1,000, 990 of 100), 7 to 29 ms at load average 10.
 */
export function argumentCalls(
  calls: number,
  args: number,
  tail = false,
): Bytes {
  const body = [0x00];
  for (let i = 0; i < calls; i++) {
    // block, i32.const 1, br_if 0
    if (tail) body.push(0x02, 0x40, 0x41, 0x01, 0x0d, 0x00);
    repeatInto(body, args, ...I32_CONST_0);
    body.push(tail ? 0x12 : 0x10, 0x01); // (return_)call 1
    if (tail) body.push(0x0b);
  }
  body.push(0x0b);
  return moduleOfBodies(
    [functionType([], []), functionType(times(args, I32), [])],
    [[0, body], [1, [0x00, 0x0b]]],
  );
}

/**
 * `f`: `count` allocations of `values` `i32`s each, dropped: `struct.new`
 * over as many constants, `struct.new_default` (of a struct of `values`
 * fields, taking none), or `array.new_fixed`. V8 writes each field inline,
 * and each weighs 32 (`ALLOCATED_VALUE_WEIGHT`). Before, 600
 * `struct.new`s of 1,000 fields held a first call 43 to 54 ms, and 8,000
 * `struct.new_default`s of 10,000 fields (32 KB) ended the process: V8
 * ran out of memory growing its code buffer. At the new limits (57 of
 * 1,000 fields, 6 of 10,000), 4 to 24 ms at load average 17, fields of
 * reference types the dearest.
 */
export function fixedAllocations(
  count: number,
  values: number,
  kind: "struct.new" | "struct.new_default" | "array.new_fixed",
): Bytes {
  const body = [0x00];
  for (let i = 0; i < count; i++) {
    if (kind !== "struct.new_default") {
      repeatInto(body, values, ...I32_CONST_0);
    }
    if (kind === "array.new_fixed") {
      body.push(0xfb, 0x08, 0x01, ...encodeLeb(values));
    } else body.push(0xfb, kind === "struct.new" ? 0x00 : 0x01, 0x01);
    body.push(0x1a); // drop
  }
  body.push(0x0b);
  const allocated = kind === "array.new_fixed"
    ? [0x5e, I32, 0x01] // (array (mut i32))
    : [0x5f, ...encodeLeb(values)];
  if (kind !== "array.new_fixed") repeatInto(allocated, values, I32, 0x01);
  return moduleOfBodies([functionType([], []), allocated], [[0, body]]);
}

/**
 * `f`: `throws` throws of a tag of `values` `i32`s, over as many
 * constants, each after a `br_if` out of its own block. Each 8 bytes of
 * the exception weigh 24 (`THROWN_SLOT_WEIGHT`: an `i32` takes 16). Before,
 * 480 throws of 1,000 held a first call 88 to 208 ms (load average 7 to
 * 10); at the new limit (38 of 1,000), 8 to 16 ms at load average 17.
 */
export function wideThrows(throws: number, values: number): Bytes {
  const body = [0x00];
  for (let i = 0; i < throws; i++) {
    body.push(0x02, 0x40, 0x41, 0x01, 0x0d, 0x00); // block, i32.const 1, br_if 0
    repeatInto(body, values, ...I32_CONST_0);
    body.push(0x08, 0x00, 0x0b); // throw 0, end
  }
  body.push(0x0b);
  return moduleOfBodies(
    [functionType([], []), functionType(times(values, I32), [])],
    [[0, body]],
    [sectionOf(13, [0x01, 0x00, 0x01])], // tag 0: type 1
  );
}

/**
 * `f` calls a function of `values` `i32` results that holds `returns`
 * returns of as many constants, each after a `br_if` out of its own block.
 * A return's values count as a branch's do in the compile units (16
 * each). Before, 1,000 returns of 1,000 held a first call 60 to 89 ms
 * (load average 7 to 10); at the new limit (65 of 1,000), 7 to 14 ms at
 * load average 17.
 */
export function wideReturns(returns: number, values: number): Bytes {
  const body = [0x00];
  for (let i = 0; i < returns; i++) {
    body.push(0x02, 0x40, 0x41, 0x01, 0x0d, 0x00); // block, i32.const 1, br_if 0
    repeatInto(body, values, ...I32_CONST_0);
    body.push(0x0f, 0x0b); // return, end
  }
  repeatInto(body, values, ...I32_CONST_0);
  body.push(0x0b);
  const caller = [0x00, 0x10, 0x01];
  repeatInto(caller, values, 0x1a);
  caller.push(0x0b);
  return moduleOfBodies(
    [functionType([], []), functionType([], times(values, I32))],
    [[0, caller], [1, body]],
  );
}

/**
 * `f`: `nests` nests of `depth` empty blocks, one after another. V8's
 * compile takes about 3 µs a level of the deepest, however many nests
 * reach it, and each level past 4,096 weighs 512 (`NESTING_WEIGHT`).
 * Before, 64,534 levels (what the nesting limit let through) held a first
 * call 187 to 232 ms, 16,000 46 to 59, and 64 nests of 1,000 5.0 to 5.8
 * against one's 2.1 to 2.7 (load average 21); at the new limit (8,143),
 * 22 to 33 ms at load average 25.
 */
export function deepNests(depth: number, nests = 1): Bytes {
  const body = [0x00];
  for (let k = 0; k < nests; k++) {
    repeatInto(body, depth, 0x02, 0x40); // block
    repeatInto(body, depth, 0x0b); // end
  }
  body.push(0x0b);
  return moduleOfBodies([functionType([], [])], [[0, body]]);
}

/**
 * `f`: `calls` calls of a function of `results` `i32` results, their
 * values left piled on the operand stack, then `unreachable`. Each value
 * after a call's first weighs 256 (`CALL_RESULT_WEIGHT`), and each on the
 * stack under a later call half a unit: an 18 KB function piling up
 * 4,000,000 (4,000 calls of 1,000) held its first call 25 to 37 s past a
 * 50 ms deadline, and the engine's validation of it 1.1 to 1.9 s.
 */
export function piledResults(calls: number, results: number): Bytes {
  const body = [0x00];
  repeatInto(body, calls, 0x10, 0x01); // call 1
  body.push(0x00, 0x0b); // unreachable, end
  const callee = [0x00];
  repeatInto(callee, results, ...I32_CONST_0);
  callee.push(0x0b);
  return moduleOfBodies(
    [functionType([], []), functionType([], times(results, I32))],
    [[0, body], [1, callee]],
  );
}

/**
 * `f`: `calls` calls of an empty function, in a function of `locals`
 * `i32` locals. The engine's compile handles every local at each call, and
 * each weighs a quarter of a value on the operand stack there
 * (`LOCAL_HEIGHT_SHARE`): 8,000 calls over 49,000 locals (16 KB) held a
 * first call 0.38 s.
 */
export function callsOverLocals(calls: number, locals: number): Bytes {
  const body = [0x01, ...encodeLeb(locals), I32];
  repeatInto(body, calls, 0x10, 0x01); // call 1
  body.push(0x0b);
  return moduleOfBodies(
    [functionType([], [])],
    [[0, body], [0, [0x00, 0x0b]]],
  );
}

// A third pass (issue #10): what it found still open.
