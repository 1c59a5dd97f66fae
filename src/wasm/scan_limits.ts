/**
 * The limits of one function body that the scan refuses past: how many catch
 * clauses a try may have, how deep blocks may nest, and what the engine's
 * compile of a function at its first call may cost, which no deadline or
 * stop can cut short. Their refusals are in `scan_refusals.ts`.
 *
 * @module
 */

/**
 * The most catch clauses a `try` or `try_table` may have. V8 (Deno 2.9.6)
 * ran out of its compiler's memory and ended the whole process as it
 * optimised a function that kept throwing through a `try_table` of 65,000
 * clauses (or a `try` of 100,000), and its memory grows about as the square
 * of a `try`'s clauses: the process peaked at 1.8 GB optimising one of
 * 16,000, at 0.64 GB for 8,000 and 0.23 GB for 4,000. Real code has a few.
 */
export const MAX_CATCH_CLAUSES = 4_096;
/**
 * The most a function's compile units may be: its locals (parameters
 * included; each counting {@linkcode NARROW_LOCAL_WEIGHT}, or
 * {@linkcode WIDE_LOCAL_WEIGHT} in a function of more than
 * {@linkcode NARROW_LOCALS}) plus 16, times its control points: each `if`,
 * `else`, `br_if` and `br_on_*` counting {@linkcode IF_POINTS}, each `br`,
 * `br_table` target, way out with no label (`unreachable`, `return`, a
 * throw, a tail call), `try`, `try_table`, catch clause, `delegate` and
 * check the rewriter adds 1, and each `loop` 10 in all; and each `if` and
 * `else` {@linkcode IF_UNITS} more once. V8 compiles a function at its
 * first call, on the caller's thread, before any check can run, and no
 * deadline or stop can cut that short. Its baseline compiler keeps a copy
 * of the locals' state for every arm and branch target, and once a
 * function's locals times its control points pass a few tens of
 * thousands, an operator costs, per local at 128 locals
 * (`bench/first_compile.ts`, thread CPU of the rewritten function's first
 * call, Deno 2.9.6, load average 1 to 2): a `br` or `br_table` target 50
 * to 90 ns, a `br_if` 75 to 90 (115 at 64 locals, load average 5), an
 * `if` 115 to 145, one whose arm traps or returns 180 to 200, an `if …
 * else` 270 to 290, a rewritten `loop` about 290; below that product, 0.15
 * to 0.5 µs an operator. A `call` or `select` costs next to nothing here
 * (the compile cost weighs them). 40,000 locals and 4,000 loops held a
 * call 4 s before there was a limit. Just under it, no shape measured
 * held a first call much longer than real guests' largest functions take
 * themselves: at load average 14 to 15, 19 to 40 ms (6,553 `if`s over 16
 * locals, 1,598 trapping `if`s over 64, 14,979 empty `if`s over one),
 * where esbuild's largest function (14 locals, 14,857 control points,
 * 904,762 units, 86% of the limit) took 17 to 20 ms, and the shape the
 * limit let through before (7,270 `if`s over 128 locals) 153 to 208 ms.
 * See `docs/rewriter.md` for the real guests' counts.
 */
export const MAX_COMPILE_UNITS = 1 << 20;
/**
 * The most locals a function may have and count
 * {@linkcode NARROW_LOCAL_WEIGHT} each in its compile units; in a function
 * of more, each counts {@linkcode WIDE_LOCAL_WEIGHT}. The engine's compile
 * at the first call costs about as much a local and control point however
 * many locals there are, 80 to 155 ns on Deno 2.9.6 for an `if` (a fresh
 * load's first call, thread CPU, on a quiet machine: 1,024 `i32` locals
 * and 1,000 `if`s took 110 to 133 ms, 40,000 `v128` locals and 5 `if`s 16
 * to 20 ms). Real guests need room only in narrow functions (their most is
 * 77 locals, and esbuild's largest count 14 locals and 14,857 control
 * points); a wider one gets about a quarter of a narrow one's a local.
 */
export const NARROW_LOCALS = 128;
/**
 * What each local of a function of at most {@linkcode NARROW_LOCALS}
 * counts. At 1, with every control point but a `loop` counting 1, the
 * limit let 100 to 200 ms of first compile through in such a function
 * (7,270 `if`s over 128 locals: 72 to 74 ms for 5,000 at load average 1
 * to 2, 153 to 208 ms for 7,270 at 14 to 15); at 3, with the weights of
 * {@linkcode IF_POINTS} and {@linkcode IF_UNITS}, 19 to 40 ms there. 4
 * would refuse esbuild's largest function.
 */
export const NARROW_LOCAL_WEIGHT = 3;
/**
 * The control points an `if`, an `else`, a `br_if` and a `br_on_*` count:
 * each arm or conditional branch keeps a copy of the locals' state that is
 * merged back where it rejoins, and costs the engine's compile about twice
 * a `br` or a `br_table` target a local (at 128 locals, 115 to 145 ns an
 * `if` and local, 270 to 290 an `if … else`, 75 to 115 a `br_if`, 50 to 90
 * a `br`, thread CPU on Deno 2.9.6). At 1, 5,040 `br_if`s over 64 locals
 * held a first call 34 to 37 ms at load average 12, the dearest shape then.
 */
export const IF_POINTS = 2;
/**
 * The compile units each `if` and `else` adds once, beside its control
 * points: their compile has a fixed part too, which the locals do not
 * scale. With one local, an `if` took 1.1 to 1.5 µs, a `br_if` 0.19 and a
 * `br_table` target 0.21 (thread CPU, Deno 2.9.6, load average 6 to 7, at
 * the limit): without this, 27,593 `if`s of a function of one local held
 * its first call 36 to 41 ms there. 48 would have left esbuild's largest
 * function 12% of room.
 */
export const IF_UNITS = 32;
/**
 * What each local of a function of more than {@linkcode NARROW_LOCALS}
 * counts, in place of {@linkcode NARROW_LOCAL_WEIGHT}: the limit then bounds
 * a first compile to about 10 ms of a quiet core whatever the width (2^20 /
 * 12 units at 110 ns, when an `if` counted 1; it counts 2 now). 16
 * would refuse a binaryen fuzz module's function of 149 locals and 450
 * control points; counting only the locals past the first 128 as 16 left
 * 256 locals and 473 `if`s 13 to 20 ms, and 150 about 50 ms.
 */
export const WIDE_LOCAL_WEIGHT = 12;

/**
 * What a function's locals count per control point in its compile units:
 * {@linkcode NARROW_LOCAL_WEIGHT} each, or {@linkcode WIDE_LOCAL_WEIGHT} each in a function of more than
 * {@linkcode NARROW_LOCALS}, and 16 for the control point itself.
 *
 * @param locals The function's locals, its parameters included.
 * @returns The units a control point of it costs.
 *
 * @example Usage
 * ```ts
 * import { localUnits } from "./scan_limits.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(localUnits(77), 3 * 77 + 16);
 * assert.equal(localUnits(128), 3 * 128 + 16);
 * assert.equal(localUnits(129), 12 * 129 + 16);
 * ```
 */
export function localUnits(locals: number): number {
  const weight = locals > NARROW_LOCALS
    ? WIDE_LOCAL_WEIGHT
    : NARROW_LOCAL_WEIGHT;
  return weight * locals + 16;
}
/**
 * The compile units of each declared local of a reference type in a
 * function of more than {@linkcode NARROW_LOCALS} locals, once, beside what
 * it counts at each control point. A function of 40,000 `funcref` locals
 * and no branch took 8 to 12 ms at its first call unrewritten (30,000, 1.5
 * ms; 40,000 `i32` locals, 0.3 to 2.2), 10 to 14 metered, and 15 to 18 with
 * one `if`; a metered check's `if` costs about 300 ns a `funcref` local.
 * With this, at most about 23,800 such locals fit beside one control point
 * (a fresh load's first call: 1.2 to 1.8 ms of thread CPU at 23,000 for a
 * deadline, 7.6 to 8.1 metered).
 */
export const REF_LOCAL_UNITS = 32;

/**
 * What a function's declared locals of reference types add to its compile
 * units once: {@linkcode REF_LOCAL_UNITS} each in a function of more than
 * {@linkcode NARROW_LOCALS} locals, else nothing.
 *
 * @param locals The function's locals, its parameters included.
 * @param refLocals Its declared locals of reference types.
 * @returns The units they add.
 *
 * @example Usage
 * ```ts
 * import { refLocalUnits } from "./scan_limits.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(refLocalUnits(100, 100), 0);
 * assert.equal(refLocalUnits(40_000, 40_000), 1_280_000);
 * ```
 */
export function refLocalUnits(locals: number, refLocals: number): number {
  return locals > NARROW_LOCALS ? REF_LOCAL_UNITS * refLocals : 0;
}

/**
 * The compile units of each value on the operand stack at a control point
 * (summed over them, as its locals are), and 4 times that at a bulk
 * operator, `memory.grow` or a wait, whose charges and helper calls branch:
 * the engine's compile carries the whole stack into every branch, and a
 * constant, which costs nothing where it stands, must be written out
 * there. Measured on Deno 2.9.6 at the first call of a function piling up
 * constants and then branching over them: 60 to 200 ns a value and control
 * point, where a unit is about 20 ns.
 */
export const STACKED_VALUE_UNITS = 16;
/**
 * The most a function's compile cost may be: its body's bytes, plus each
 * operator's weight (the operator table's `compileWeight`: a `call` 256, a
 * `call_indirect` or `call_ref` 1,024, a division 256, a bulk operator
 * 1,024; and each parameter and result of a block type
 * {@linkcode BLOCK_VALUE_WEIGHT}, of a call {@linkcode CALL_PARAM_WEIGHT},
 * of a tail call {@linkcode TAIL_CALL_PARAM_WEIGHT}, each field or element
 * an allocation fixes {@linkcode ALLOCATED_VALUE_WEIGHT}, each value a
 * `throw` writes {@linkcode THROWN_SLOT_WEIGHT} a slot). V8's baseline compile at the first call takes about 10 ns a unit
 * on 2 busy cores, whatever the locals (which `MAX_COMPILE_UNITS` counts):
 * at the limit, a function of any one kind held its first call 5 to 35 ms
 * on 2 cores loaded 6 to 8 times over. Before, 16,384 calls held it 66 to
 * 77 ms, 100,000 `memory.fill`s 0.5 s, 7 MB of `i32.add`s 160 ms. The
 * values on the operand stack weigh too: under each call or operator that
 * calls out (the table's `heightWeight`), and by the stack's greatest
 * height (`MAX_HEIGHT_WEIGHT`); 250,000 constants with 4,000 calls over
 * them held a first call 0.4 to 1.1 s before. The most in a function of a
 * real guest is 1,052,728 (esbuild; see `docs/rewriter.md`).
 */
export const MAX_COMPILE_COST = 1 << 21;
/**
 * The compile weight of each value after the first that a call (its
 * results) or a catch (its tag's parameters) pushes: a call's own.
 */
export const CALL_RESULT_WEIGHT = 256;
/**
 * The compile weight of each parameter and result of a block type (of a
 * `block`, `loop`, `if`, `try` or `try_table`): V8's baseline compile
 * moves a block's values into place where it opens and again where it
 * ends, though a plain `block` is no control point and its type is a byte
 * or two. Unweighed, 131,072 blocks of 16 `i32`s in and out held a first
 * call 55 to 95 ms of thread CPU, 2,080 of 1,000 56 to 73 ms (about 14
 * ns a value; first call less second, Deno 2.9.6, load average 3 to 17);
 * at 2, the most the limit lets through (500 blocks of 1,000, or 31,000
 * of 16), 12 to 21 ms at load average 17. Values merely below a block on
 * the stack cost it nothing. No real guest's dearest function moves by
 * more than 90 units.
 */
export const BLOCK_VALUE_WEIGHT = 2;
/**
 * The compile weight of each parameter of a `call`, `call_indirect` or
 * `call_ref`, beside the call's own: V8's baseline compile moves each
 * argument into its place, 30 to 75 ns each (first call less second,
 * thread CPU, Deno 2.9.6, load average 9 to 17), where the call itself
 * takes 0.3 to 1 µs. Unweighed, 730 calls of 1,000 constant arguments
 * (1.5 MB) held a first call 43 to 46 ms at load average 17, and 4,000 of
 * 100 20 to 34 ms.
 */
export const CALL_PARAM_WEIGHT = 4;
/**
 * The compile weight of each parameter of a `return_call`,
 * `return_call_indirect` or `return_call_ref`, in place of
 * {@linkcode CALL_PARAM_WEIGHT}: a tail call's arguments replace the
 * caller's frame, 100 to 240 ns each to compile. Unweighed, 7,000
 * `return_call`s of 100 arguments held a first call 73 to 171 ms at load
 * average 9, and 700 of 1,000 69 to 159 ms.
 */
export const TAIL_CALL_PARAM_WEIGHT = 16;
/**
 * The compile weight of each field of a `struct.new` or
 * `struct.new_default` and each element of an `array.new_fixed`: V8's
 * baseline compile writes each inline (first call less second, thread
 * CPU, Deno 2.9.6, load average 7 to 10): 75 to 90 ns an `i32` field of
 * `struct.new`, 140 to 250 a `v128`, 200 to 400 a reference (its write
 * barrier); 110 to 150 any field of `struct.new_default`, which takes
 * none from the stack; 110 to 140 an `i32` element, 160 to 355 a
 * reference. Unweighed, 600 `struct.new`s of 1,000 `i32` fields held a
 * first call 43 to 54 ms, and 8,000 `struct.new_default`s of a type of
 * 10,000 fields (32 KB of code) ended the process: V8 ran out of memory
 * growing the code buffer.
 */
export const ALLOCATED_VALUE_WEIGHT = 32;
/**
 * The compile weight of each 8 bytes a `throw` writes into its exception
 * for a number (2 for an `i32` or `f32`, 4 for an `i64` or `f64`, 8 for a
 * `v128`; V8 stores values in 16-bit pieces): 250 to 530 ns an `i32`, 330
 * to 850 an `i64`, 670 to 1,850 a `v128` (first call less second, thread
 * CPU, Deno 2.9.6, load average 7 to 10). Unweighed, 480 throws of 1,000
 * `i32`s held a first call 88 to 208 ms.
 */
export const THROWN_SLOT_WEIGHT = 24;
/**
 * The compile weight of each reference a `throw` writes into its
 * exception, in place of {@linkcode THROWN_SLOT_WEIGHT}: 420 to 1,390 ns
 * each.
 */
export const THROWN_REFERENCE_WEIGHT = 128;
/**
 * The compile weight of each value of the operand stack's greatest height
 * in a function, past {@linkcode FREE_HEIGHT}: V8's baseline compile of
 * values left on the stack costs far more than of values used as they
 * come (100,000 constants piled up, then dropped, took 16 to 33 ms at the
 * first call; as many dropped one at a time, 0.5 ms; 1,000,000 piled up,
 * 140 ms, Deno 2.9.6): about 4 times that.
 */
export const MAX_HEIGHT_WEIGHT = 64;
/**
 * How many of a function's locals weigh as one value on its operand stack
 * under a call (or an operator that calls out of line; the operator
 * table's `heightWeight`, in sixteenths of a unit a value). V8 keeps the locals below the operand stack and its
 * baseline compile handles each at every call, as it does the stack's
 * values, though a local costs less than the stack's values are weighed
 * at: 8,000 calls over 49,000 locals held a first call 0.38 s, over 10,000
 * locals 0.1 s, over 1,000 locals 12 ms (about 1 ns a local and call, at
 * load average 5, Deno 2.9.6). At a quarter of a stack value's weight, a
 * `call` weighs an eighth of a unit (about 1.25 ns) a local.
 */
export const LOCAL_HEIGHT_SHARE = 4;
/**
 * What a declared local of a reference type weighs under a call, in locals
 * of a numeric type (see {@linkcode LOCAL_HEIGHT_SHARE}): V8's baseline
 * compile lists each for its collector at every call. 320 calls over
 * 49,000 `externref` or `funcref` locals took 42 to 45 ms of the first
 * call's CPU, over as many `i32` locals 18 to 19, and the function without
 * the calls 16 to 20 and 12 to 13 (load average 4 to 10, Deno 2.9.6).
 */
export const REF_LOCAL_WEIGHT = 4;
/**
 * The values on the operand stack that an operator's `heightWeight`, and
 * the stack's greatest height, leave out: what the operator's own weight
 * was measured with. Real code keeps its stack lower.
 */
export const FREE_HEIGHT = 16;
/**
 * How deep a function's blocks, loops, ifs and tries may nest, its own
 * frame included, before each level deeper weighs
 * {@linkcode NESTING_WEIGHT} in its compile cost. V8's baseline compile
 * takes about 3 µs a level of the deepest nest, however many nests reach
 * it (first call less second, thread CPU, Deno 2.9.6, load average 21: a
 * nest of 1,000 empty blocks 2.1 to 2.7 ms, 64 of them one after another
 * 5.0 to 5.8; 16,000 46 to 59 ms; 64,534, which {@linkcode MAX_NESTING}
 * let through, 187 to 232 ms). esbuild's functions nest 3,290 deep at
 * most (sql.js 292, QuickJS 279).
 */
export const FREE_NESTING = 4_096;
/**
 * The compile weight of each level a function's blocks nest past
 * {@linkcode FREE_NESTING}: about 3 µs each, weighed at 5. At the limit
 * (8,192 levels deep, or fewer beside other dear operators), 20 to 25 ms.
 */
export const NESTING_WEIGHT = 512;
/**
 * How deep a function's blocks, loops, ifs and tries may nest, its own
 * frame included, in any load (a rewrite weighs the levels past
 * {@linkcode FREE_NESTING} too). V8 compiles a function at its first call,
 * on the caller's thread, in a time that grows with its deepest nest,
 * whatever else the body holds: 1,000,000 nested empty blocks (3 MB) held
 * a call 0.7 s past a 100 ms deadline, 2,000,000 held it 1.8 s (Deno
 * 2.9.6), and its validation took 240 MB. Sequential blocks cost next to
 * nothing, and nests after the deepest little. A `br_table` over nested
 * blocks (a `switch`) nests as deep as its cases, 65,520 at most.
 */
export const MAX_NESTING = 1 << 16;
