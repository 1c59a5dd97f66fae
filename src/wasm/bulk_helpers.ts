/**
 * Interruptible bulk operators. With a stop flag, `memory.fill`,
 * `memory.copy`, `memory.init`, `table.fill`, `table.copy` and
 * `table.init` become calls to added functions that do the same work in
 * chunks ({@linkcode CHUNK} bytes, {@linkcode TABLE_CHUNK} elements),
 * asking `on_stop_flag` and checking the flag between chunks: one operator
 * on a gibibyte would otherwise run for seconds with no check.
 *
 * Each of these added functions first checks the flag, so that a call of
 * one chunk at most, which runs at once, still meets a check: a body of thousands of them
 * (1,900 fills of 64 KiB, 61 grows of 16 Ki elements) otherwise ran them
 * all with no check between, 45 to 120 ms past a deadline on 2 busy cores.
 * Then it traps exactly when the operator would, before writing
 * anything: an end offset that wraps around runs the operator itself
 * (which then traps), and a zero-length run of the operator at the end
 * offsets traps exactly when the whole range is out of bounds (a zero
 * length at `d + n` is out of bounds iff `d + n` is past the end, and for
 * an `init` the same holds of the segment's end, which a dropped segment
 * makes 0). A copy within one memory or table whose destination lies above
 * its source goes from the end backwards, so that overlapping ranges come
 * out as one copy would leave them. A stop between chunks leaves
 * the operation partly done.
 *
 * An operator of one chunk over {@linkcode UNCOUNTED_BYTES} is also
 * counted with the runtime calls, which poll the host's clock now and
 * then: the flag is only as punctual as the thread that sets it.
 *
 * `memory.atomic.wait32` and `wait64`, which do no work but can block the
 * thread for good, wait in slices the same way ({@linkcode waitHelper}).
 *
 * @module
 */

import {
  type StopFlagTargets,
  writeAskHost,
  writeFlagCheck,
  writeRuntimeCallCount,
  writeRuntimeWorkCount,
} from "./checks.ts";
import { Emitter } from "./emitter.ts";

/** Bytes per chunk: small enough to stop quickly, large enough to be cheap. */
export const CHUNK = 1 << 16;
/** Table elements per chunk. */
export const TABLE_CHUNK = 1 << 14;

const UNCOUNTED_BYTES_SHIFT = 13;
/**
 * The most bytes a memory operator of one chunk works on with nothing but
 * the flag's test; a larger one counts a unit of the runtime calls' count
 * (see `writeRuntimeWorkCount`) per this many bytes.
 */
export const UNCOUNTED_BYTES = 1 << UNCOUNTED_BYTES_SHIFT;
const UNCOUNTED_ELEMENTS_SHIFT = 9;
/** The same for a table operator, in elements (each weighs as 16 bytes). */
export const UNCOUNTED_ELEMENTS = 1 << UNCOUNTED_ELEMENTS_SHIFT;

/** The bulk operators a helper stands in for. */
export const BulkOp = {
  /** `memory.init segment memory` */
  Init: 0,
  /** `memory.copy destination source` */
  Copy: 1,
  /** `memory.fill memory` */
  Fill: 2,
  /** `table.init segment table` */
  TableInit: 3,
  /** `table.copy destination source` */
  TableCopy: 4,
  /** `table.fill table` */
  TableFill: 5,
} as const;

/** One of {@linkcode BulkOp}'s values. */
export type BulkOp = typeof BulkOp[keyof typeof BulkOp];

/** An operator and its immediates: what one helper stands in for. */
export interface BulkSite {
  /** The operator. */
  readonly op: BulkOp;
  /** The memory or table (the destination of a copy). */
  readonly first: number;
  /** The source of a copy; else `first`. */
  readonly second: number;
  /** The data segment of an `init`; else 0. */
  readonly segment: number;
}

/** A helper: its function type and its body with the size prefix. */
export interface BulkHelper {
  /** The helper's function type, ready for the type section. */
  readonly type: Uint8Array;
  /** Its body, size prefix included. */
  readonly bytes: Uint8Array;
  /** An existing type to use instead of `type`. */
  readonly typeIndex?: number;
}

/**
 * Writes `while (n > chunk) { body; check the flag }`, `n` being the
 * `i64` local `length`: the loop every helper runs its chunks in.
 *
 * @param e The output.
 * @param length The local holding the length left.
 * @param chunk The chunk size.
 * @param flag The stop flag's memory and callback.
 * @param body Writes one chunk's work.
 *
 * @example Usage
 * ```ts
 * import { writeChunkLoop } from "./bulk_helpers.ts";
 * import { Emitter } from "./emitter.ts";
 * import assert from "node:assert/strict";
 *
 * const e = new Emitter(64);
 * writeChunkLoop(e, 0, 16, { memory: 0, onStopFlag: 0 }, () => {});
 * assert.equal(e.buf[0], 0x02); // block
 * ```
 */
export function writeChunkLoop(
  e: Emitter,
  length: number,
  chunk: number,
  flag: StopFlagTargets,
  body: () => void,
): void {
  e.blockEmpty();
  e.loopEmpty();
  e.localGet(length);
  e.i64Const(chunk);
  e.i64LeU();
  e.brIf(1);
  body();
  // With the flag clear, the host is asked anyway (a poll): it reads its
  // own clock, so a stop lands here even when the thread that sets the
  // flag wakes late (it did by milliseconds while this thread faulted in
  // fresh pages).
  e.i32Const(0);
  e.flagLoad(flag.memory);
  e.i32Eqz();
  e.ifEmpty();
  writeAskHost(e, flag.onStopFlag);
  e.end();
  writeFlagCheck(e, flag);
  e.br(0);
  e.end();
  e.end();
}

const I32 = 0x7f;
const I64 = 0x7e;

/** The added locals: the operands widened to `i64`. */
const D = 3;
const S = 4;
const N = 5;

/**
 * A key that is the same for two sites exactly when one helper serves
 * both.
 *
 * @param site The operator and its immediates.
 * @returns The key.
 */
export function bulkKey(site: BulkSite): string {
  return `${site.op}:${site.first}:${site.second}:${site.segment}`;
}

/**
 * Writes the helper for one operator and its immediates.
 *
 * @param site The operator and its immediates.
 * @param is64 Per memory (or table, for a table operator): whether it is
 *   64-bit.
 * @param fillType What a fill fills with: `i32` for a memory, the table's
 *   element type for a table.
 * @param flag The stop flag's memory and callback.
 * @returns The helper's type and body.
 *
 * @example Usage
 * ```ts
 * import { BulkOp, bulkHelper } from "./bulk_helpers.ts";
 * import assert from "node:assert/strict";
 *
 * const site = { op: BulkOp.Fill, first: 0, second: 0, segment: 0 };
 * const i32 = new Uint8Array([0x7f]);
 * const helper = bulkHelper(site, [false], i32, { memory: 1, onStopFlag: 0 });
 * assert.deepEqual([...helper.type], [0x60, 3, 0x7f, 0x7f, 0x7f, 0]);
 * ```
 */
export function bulkHelper(
  site: BulkSite,
  is64: readonly boolean[],
  fillType: Uint8Array,
  flag: StopFlagTargets,
): BulkHelper {
  const { first, second } = site;
  // Memory and table operators come in the same order.
  const op = site.op % 3 as BulkOp;
  const table = site.op >= BulkOp.TableInit;
  const chunk = table ? TABLE_CHUNK : CHUNK;
  const destination64 = is64[first]!;
  // Fill takes its value and init its segment offset as they are.
  const source64 = op === BulkOp.Copy && is64[second]!;
  const length64 = op === BulkOp.Init
    ? false
    : op === BulkOp.Fill
    ? destination64
    : destination64 && source64;
  const type = Uint8Array.from([
    0x60,
    3,
    destination64 ? I64 : I32,
    ...(op === BulkOp.Fill ? fillType : [source64 ? I64 : I32]),
    length64 ? I64 : I32,
    0,
  ]);

  const e = new Emitter(256);
  e.u32(1);
  e.u32(3);
  e.u8(I64);
  const widen = (param: number, is64: boolean, local: number) => {
    e.localGet(param);
    if (!is64) e.i64ExtendI32U();
    e.localSet(local);
  };
  const narrow = (is64: boolean) => {
    if (!is64) e.i32WrapI64();
  };
  const operator = table
    ? () => {
      if (op === BulkOp.Fill) e.tableFill(first);
      else if (op === BulkOp.Copy) e.tableCopy(first, second);
      else e.tableInit(site.segment, first);
    }
    : () => {
      if (op === BulkOp.Fill) e.memoryFill(first);
      else if (op === BulkOp.Copy) e.memoryCopy(first, second);
      else e.memoryInit(site.segment, first);
    };
  // The second operand as the operator takes it, `plus` added to it.
  const pushSecond = (plus: () => void) => {
    if (op === BulkOp.Fill) e.localGet(1);
    else {
      e.localGet(S);
      plus();
      narrow(source64);
    }
  };
  const none = () => {};
  const plusLength = () => {
    e.localGet(N);
    e.i64Add();
  };

  // Up to `limit`, the flag clear: the operator as it was, which traps
  // exactly when it would and is over as soon as a chunk is. The flag is
  // read in the same test, so that a call of one chunk meets a check too
  // (see the module's doc); with the flag set, the check after it answers.
  const runIfClear = (limit: number, before: () => void) => {
    e.localGet(2);
    if (!length64) e.i64ExtendI32U();
    e.i64Const(limit);
    e.i64LeU();
    e.i32Const(0);
    e.flagLoad(flag.memory);
    e.i32Eqz();
    e.i32And();
    e.ifEmpty();
    before();
    e.localGet(0);
    e.localGet(1);
    e.localGet(2);
    operator();
    e.return();
    e.end();
  };
  // Most are small (a library's memcpy of a few bytes), and skip every
  // check below (a copy of 24 to 31 bytes and a fill of 16 to 23 in a
  // loop: 1.41 times plain through the added function before, 1.35 after).
  runIfClear(table ? UNCOUNTED_ELEMENTS : UNCOUNTED_BYTES, none);
  // One chunk at most is counted as runtime calls are, a unit per
  // UNCOUNTED_BYTES, and the host's clock is polled every 2 MiB or so:
  // the flag alone came late where the watchdog's thread woke late (a
  // body of 200 fills of 64 KiB, looped: 4 ms past its deadline; 1.3 at
  // most with the polls). A poll every 1 MiB cost a loop of 60 KB copies
  // 3.5 %, every 2 MiB 1.5 to 2 %, as much as every 4 MiB.
  runIfClear(chunk, () => {
    e.localGet(2);
    if (!length64) e.i64ExtendI32U();
    e.i64Const(table ? UNCOUNTED_ELEMENTS_SHIFT : UNCOUNTED_BYTES_SHIFT);
    e.i64ShrU();
    e.localSet(N);
    writeRuntimeWorkCount(e, flag, () => {
      e.localGet(N);
      e.i32WrapI64();
    });
  });
  writeFlagCheck(e, flag);

  widen(0, destination64, D);
  if (op !== BulkOp.Fill) widen(1, source64, S);
  widen(2, length64, N);

  // An end offset past the address space: the operator itself traps.
  const wraps = (local: number, is64: boolean) => {
    e.localGet(local);
    e.localGet(N);
    e.i64Add();
    if (is64) {
      e.localGet(local);
      e.i64LtU();
    } else {
      e.i64Const(0xffffffff);
      e.i64GtU();
    }
  };
  wraps(D, destination64);
  if (op !== BulkOp.Fill) {
    wraps(S, source64);
    e.i32Or();
  }
  e.ifEmpty();
  e.localGet(0);
  e.localGet(1);
  e.localGet(2);
  operator();
  e.unreachable();
  e.end();

  // Nothing at the end offsets: traps iff the whole range is out of bounds.
  e.localGet(D);
  plusLength();
  narrow(destination64);
  pushSecond(plusLength);
  if (length64) e.i64Const(0);
  else e.i32Const(0);
  operator();

  const pushChunk = () => {
    if (length64) e.i64Const(chunk);
    else e.i32Const(chunk);
  };
  const pushLength = () => {
    e.localGet(N);
    narrow(length64);
  };
  const advance = (local: number) => {
    e.localGet(local);
    e.i64Const(chunk);
    e.i64Add();
    e.localSet(local);
  };
  const shrink = () => {
    e.localGet(N);
    e.i64Const(chunk);
    e.i64Sub();
    e.localSet(N);
  };
  const chunks = (body: () => void) => writeChunkLoop(e, N, chunk, flag, body);
  const forwards = () => {
    chunks(() => {
      e.localGet(D);
      narrow(destination64);
      pushSecond(none);
      pushChunk();
      operator();
      advance(D);
      if (op !== BulkOp.Fill) advance(S);
      shrink();
    });
  };
  const backwards = () => {
    chunks(() => {
      shrink();
      e.localGet(D);
      plusLength();
      narrow(destination64);
      pushSecond(plusLength);
      pushChunk();
      operator();
    });
  };
  if (op === BulkOp.Copy && first === second) {
    e.localGet(D);
    e.localGet(S);
    e.i64GtU();
    e.ifEmpty();
    backwards();
    e.else();
    forwards();
    e.end();
  } else {
    forwards();
  }
  // The last chunk, or all of it when it is small.
  e.localGet(D);
  narrow(destination64);
  pushSecond(none);
  pushLength();
  operator();
  e.end();
  return { type, bytes: e.sized() };
}

/**
 * Writes the helper that stands in for `table.grow` of a defined table with
 * a stop flag. One operator of a million elements ran for over 100 ms with
 * no check (the engine fills each new element); the helper grows in chunks
 * of {@linkcode TABLE_CHUNK} elements, each with the same initial value,
 * asking `on_stop_flag` and checking the flag between them.
 *
 * A grow is all or nothing, and a grow in chunks would not be: so the
 * helper first decides whether the whole grow can succeed, from the size
 * the table has and the most it may hold (`most`: its declared maximum,
 * which holds the `limits` cap too, or the engine's largest table,
 * whichever is less: see `ModuleInfo.tableMaxima`), and returns -1 without
 * growing if it cannot; otherwise it returns the old size, as the operator
 * would. A chunk the engine refuses all the same (its memory ran out
 * midway) traps (`unreachable`) rather than return a wrong answer, the
 * table partly grown. A stop between chunks leaves the table partly grown
 * too, every new element holding the initial value. Up to one chunk, it is
 * the operator itself.
 *
 * @param table The table.
 * @param is64 Whether it is a table64 (`i64` sizes).
 * @param elementType Its element type, as encoded: the initial value's
 *   type.
 * @param most The most elements it may hold.
 * @param flag The stop flag's memory and callback.
 * @returns The helper's type and body.
 *
 * @example Usage
 * ```ts
 * import { tableGrowHelper } from "./bulk_helpers.ts";
 * import assert from "node:assert/strict";
 *
 * const funcref = new Uint8Array([0x70]);
 * const helper = tableGrowHelper(0, false, funcref, 1_000_000, {
 *   memory: 1,
 *   onStopFlag: 0,
 * });
 * assert.deepEqual([...helper.type], [0x60, 2, 0x70, 0x7f, 1, 0x7f]);
 * ```
 */
export function tableGrowHelper(
  table: number,
  is64: boolean,
  elementType: Uint8Array,
  most: number,
  flag: StopFlagTargets,
): BulkHelper {
  const size = is64 ? I64 : I32;
  const type = Uint8Array.from([0x60, 2, ...elementType, size, 1, size]);
  // Parameters: 0 the initial value, 1 the count; locals: the count left
  // and the old size, as `i64`.
  const LEFT = 2;
  const OLD = 3;
  const e = new Emitter(192);
  e.u32(1);
  e.u32(2);
  e.u8(I64);
  writeFlagCheck(e, flag);
  writeRuntimeCallCount(e, flag);
  const narrow = () => {
    if (!is64) e.i32WrapI64();
  };
  const pushMinusOne = () => {
    if (is64) e.i64Const(-1);
    else e.i32Const(-1);
  };
  // Grows by what is on the stack; traps if the engine refuses.
  const growOrTrap = () => {
    e.tableGrow(table);
    pushMinusOne();
    if (is64) e.i64Eq();
    else e.i32Eq();
    e.ifEmpty();
    e.unreachable();
    e.end();
  };

  e.localGet(1);
  if (!is64) e.i64ExtendI32U();
  e.localTee(LEFT);
  e.i64Const(TABLE_CHUNK);
  e.i64LeU();
  e.ifEmpty();
  e.localGet(0);
  e.localGet(1);
  e.tableGrow(table);
  e.return();
  e.end();

  e.tableSize(table);
  if (!is64) e.i64ExtendI32U();
  e.localSet(OLD);
  // More than it may hold: `LEFT > most || OLD + LEFT > most`, the first
  // keeping the sum from wrapping.
  e.localGet(LEFT);
  e.i64Const(most);
  e.i64GtU();
  e.localGet(OLD);
  e.localGet(LEFT);
  e.i64Add();
  e.i64Const(most);
  e.i64GtU();
  e.i32Or();
  e.ifEmpty();
  pushMinusOne();
  e.return();
  e.end();

  writeChunkLoop(e, LEFT, TABLE_CHUNK, flag, () => {
    e.localGet(0);
    if (is64) e.i64Const(TABLE_CHUNK);
    else e.i32Const(TABLE_CHUNK);
    growOrTrap();
    e.localGet(LEFT);
    e.i64Const(TABLE_CHUNK);
    e.i64Sub();
    e.localSet(LEFT);
  });
  // The last chunk.
  e.localGet(0);
  e.localGet(LEFT);
  narrow();
  growOrTrap();
  e.localGet(OLD);
  narrow();
  e.end();
  return { type, bytes: e.sized() };
}

/**
 * Writes the added function that stands in for `memory.grow` of `memory`
 * with a stop flag: it checks the flag, then grows as the operator would.
 * A grow cannot go in chunks (it is all or nothing) and does not need to:
 * what one costs is bounded, but a body of 8,000 of them (each a call of
 * the engine, 1.5 µs or more) ran 7 to 50 ms past a deadline with no check
 * between.
 *
 * @param memory The memory's index.
 * @param is64 Whether it is 64-bit.
 * @param flag The stop flag's memory and callback.
 * @returns The added function's type and body.
 *
 * @example Usage
 * ```ts
 * import { memoryGrowHelper } from "./bulk_helpers.ts";
 * import assert from "node:assert/strict";
 *
 * const grow = memoryGrowHelper(0, false, { memory: 1, onStopFlag: 0 });
 * assert.deepEqual([...grow.type], [0x60, 1, 0x7f, 1, 0x7f]);
 * ```
 */
export function memoryGrowHelper(
  memory: number,
  is64: boolean,
  flag: StopFlagTargets,
): BulkHelper {
  const size = is64 ? I64 : I32;
  const type = Uint8Array.from([0x60, 1, size, 1, size]);
  const e = new Emitter(80);
  e.u32(0);
  writeFlagCheck(e, flag);
  writeRuntimeCallCount(e, flag);
  e.localGet(0);
  e.u8(0x40); // memory.grow
  e.u32(memory);
  e.end();
  return { type, bytes: e.sized() };
}

/**
 * Writes the added function that stands in for `table.grow` of an imported
 * `table` with a stop flag: it checks the flag, then grows as the operator
 * would, in one step. Its maximum may be below the one its import declares,
 * so the grow cannot be decided in advance and go in chunks (see
 * {@linkcode tableGrowHelper}); but a body of many grows meets a check
 * before each.
 *
 * @param table The table's index.
 * @param is64 Whether it is 64-bit.
 * @param elementType Its element type, encoded as in the module.
 * @param flag The stop flag's memory and callback.
 * @returns The added function's type and body.
 *
 * @example Usage
 * ```ts
 * import { importedTableGrowHelper } from "./bulk_helpers.ts";
 * import assert from "node:assert/strict";
 *
 * const funcref = new Uint8Array([0x70]);
 * const grow = importedTableGrowHelper(0, false, funcref, {
 *   memory: 1,
 *   onStopFlag: 0,
 * });
 * assert.deepEqual([...grow.type], [0x60, 2, 0x70, 0x7f, 1, 0x7f]);
 * ```
 */
export function importedTableGrowHelper(
  table: number,
  is64: boolean,
  elementType: Uint8Array,
  flag: StopFlagTargets,
): BulkHelper {
  const size = is64 ? I64 : I32;
  const type = Uint8Array.from([0x60, 2, ...elementType, size, 1, size]);
  const e = new Emitter(80);
  e.u32(0);
  writeFlagCheck(e, flag);
  writeRuntimeCallCount(e, flag);
  e.localGet(0);
  e.localGet(1);
  e.tableGrow(table);
  e.end();
  return { type, bytes: e.sized() };
}

/**
 * The longest one wait of a helper made by {@linkcode waitHelper} lasts,
 * in nanoseconds (1 ms): a stop lands within about that long, as late as
 * the watchdog's other stops can be. A waiting guest then wakes a thousand
 * times a second, each time for a poll of well under a microsecond.
 */
export const WAIT_SLICE = 1_000_000;

/**
 * Writes the helper that stands in for `memory.atomic.wait32` or
 * `memory.atomic.wait64` with a stop flag. A wait blocks the thread for as
 * long as the guest asks (forever, with a negative timeout), where no check
 * runs; the helper waits in slices of {@linkcode WAIT_SLICE} instead,
 * checking the flag between them, and returns what the operator would:
 * 0 (woken), 1 (the value differed) or 2 (timed out, once the whole timeout
 * has passed). Each slice is the operator with the guest's own memory
 * argument, so the first one traps exactly when the operator would. Two
 * differences can be seen from another thread: a `memory.atomic.notify`
 * that comes between two slices wakes no one (the next slice waits on), and
 * a value changed between two slices ends the wait with 1, as a wake-up
 * that finds the value changed would.
 *
 * @param code The operator's 0xFE opcode: 1 (`wait32`) or 2 (`wait64`).
 * @param memarg The operator's memory argument, as the guest wrote it.
 * @param address64 Whether the memory it names is 64-bit.
 * @param flag The stop flag's memory and callback.
 * @returns The helper's type and body.
 *
 * @example Usage
 * ```ts
 * import { waitHelper } from "./bulk_helpers.ts";
 * import assert from "node:assert/strict";
 *
 * const helper = waitHelper(1, new Uint8Array([2, 0]), false, {
 *   memory: 1,
 *   onStopFlag: 0,
 * });
 * assert.deepEqual([...helper.type], [0x60, 3, 0x7f, 0x7f, 0x7e, 1, 0x7f]);
 * ```
 */
export function waitHelper(
  code: number,
  memarg: Uint8Array,
  address64: boolean,
  flag: StopFlagTargets,
): BulkHelper {
  const type = Uint8Array.from([
    0x60,
    3,
    address64 ? I64 : I32,
    code === 2 ? I64 : I32,
    I64,
    1,
    I32,
  ]);
  const e = new Emitter(160);
  e.u32(1);
  e.u32(1);
  e.u8(I32); // the result of a slice
  writeFlagCheck(e, flag);
  writeRuntimeCallCount(e, flag);
  const wait = () => {
    e.u8(0xfe);
    e.u32(code);
    e.bytes(memarg);
  };
  // An unsigned comparison: a negative timeout (forever) never ends the
  // loop by running out.
  writeChunkLoop(e, 2, WAIT_SLICE, flag, () => {
    e.localGet(0);
    e.localGet(1);
    e.i64Const(WAIT_SLICE);
    wait();
    e.localTee(3);
    e.i32Const(2);
    e.i32Eq();
    e.i32Eqz();
    e.ifEmpty();
    e.localGet(3);
    e.return();
    e.end();
    e.localGet(2);
    e.i64Const(WAIT_SLICE);
    e.i64Sub();
    e.localSet(2);
  });
  // What is left, at most one slice.
  e.localGet(0);
  e.localGet(1);
  e.localGet(2);
  wait();
  e.end();
  return { type, bytes: e.sized() };
}

/**
 * Writes the helper that stands in for `memory.atomic.notify` with a stop
 * flag: it checks the flag, counts a runtime call (see
 * `writeRuntimeCallCount`), then notifies as the operator would, with the
 * guest's own memory argument, so that it traps exactly when the operator
 * would. A notify does not block, but each is a call of the engine that
 * costs the guest one unit of fuel.
 *
 * @param memarg The operator's memory argument, as the guest wrote it.
 * @param address64 Whether the memory it names is 64-bit.
 * @param flag The stop flag's memory and callback.
 * @returns The helper's type and body.
 *
 * @example Usage
 * ```ts
 * import { notifyHelper } from "./bulk_helpers.ts";
 * import assert from "node:assert/strict";
 *
 * const helper = notifyHelper(new Uint8Array([2, 0]), false, {
 *   memory: 1,
 *   onStopFlag: 0,
 * });
 * assert.deepEqual([...helper.type], [0x60, 2, 0x7f, 0x7f, 1, 0x7f]);
 * ```
 */
export function notifyHelper(
  memarg: Uint8Array,
  address64: boolean,
  flag: StopFlagTargets,
): BulkHelper {
  const type = Uint8Array.from([0x60, 2, address64 ? I64 : I32, I32, 1, I32]);
  const e = new Emitter(96);
  e.u32(0);
  writeFlagCheck(e, flag);
  writeRuntimeCallCount(e, flag);
  e.localGet(0);
  e.localGet(1);
  e.u8(0xfe);
  e.u32(0); // memory.atomic.notify
  e.bytes(memarg);
  e.end();
  return { type, bytes: e.sized() };
}

/**
 * Writes the added function called before a `throw`, `rethrow` or
 * `throw_ref` with a stop flag: it counts a runtime call (see
 * `writeRuntimeCallCount`), since the engine makes the exception and
 * unwinds to its handler in its runtime, 1 to 3 µs for a unit of fuel. The
 * throw itself stays where it was, after the call.
 *
 * @param flag The stop flag's memory and callback.
 * @returns The added function's type and body.
 *
 * @example Usage
 * ```ts
 * import { throwCountHelper } from "./bulk_helpers.ts";
 * import assert from "node:assert/strict";
 *
 * const helper = throwCountHelper({ memory: 1, onStopFlag: 0 });
 * assert.deepEqual([...helper.type], [0x60, 0, 0]);
 * ```
 */
export function throwCountHelper(flag: StopFlagTargets): BulkHelper {
  const e = new Emitter(64);
  e.u32(0);
  writeRuntimeCallCount(e, flag);
  e.end();
  return { type: Uint8Array.of(0x60, 0, 0), bytes: e.sized() };
}
