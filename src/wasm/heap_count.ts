/**
 * The count of what a guest's GC allocations ask of the host's heap. A
 * struct, an array or an exception the guest makes lives on the host's
 * JavaScript heap, and one kept alive (a linked list in a global) for long
 * enough ends the whole host process, out of memory, in a few seconds:
 * sooner than a generous deadline, and with no fuel budget to bound it.
 * So with a stop flag, each allocation adds its bytes (as V8 lays the
 * object out, roughly) to a counter kept in the flag memory beside the
 * flag, and each time the counter reaches {@linkcode HEAP_STEP} the guest
 * leaves the count for the host, starts it again, and calls `on_stop_flag`
 * with the flag clear, as a bulk operator does between its chunks: the
 * host then reads its heap, and stops the guest when the heap is past its
 * limit (1 makes it trap). A module that
 * allocates nothing gets nothing added.
 *
 * @module
 */

import type { BulkHelper } from "./bulk_helpers.ts";
import { type StopFlagTargets, writeAskHost } from "./checks.ts";
import { Emitter } from "./emitter.ts";

/**
 * Where the counter is in the flag memory: the `i64` at this byte, after
 * the flag's word. The guest starts it again at 0 when it asks the host.
 */
export const HEAP_COUNT_OFFSET = 8;

/**
 * Where the guest leaves the count it asks the host about: the `i64` at
 * this byte, which the host reads (and clears) when `on_stop_flag` is
 * called; a host that does not read it is asked once every step, as by a
 * bulk operator's poll.
 */
export const HEAP_ASKED_OFFSET = 16;

/**
 * The bytes of allocations between two calls to the host: 4 MiB. Reading
 * the heap costs a few microseconds, against a millisecond or more for
 * the guest to allocate this much, and the heap can pass its limit by at
 * most this much (and one allocation) before the host hears of it.
 */
export const HEAP_STEP = 4_194_304;

/** What V8 adds to a struct's or an array's own bytes: a header. */
export const OBJECT_HEADER_BYTES = 16;

/** What V8 adds to an exception's values: its object and a value array. */
export const EXCEPTION_HEADER_BYTES = 64;

const I64 = 0x7e;

/**
 * Writes `count += bytes; if (count >= HEAP_STEP) { asked = count;
 * count = 0; if (on_stop_flag()) unreachable }`, `bytes` being an `i64`
 * already on the stack, and `local` an `i64` local it may use.
 *
 * @param e The output.
 * @param flag The stop flag's memory and callback.
 * @param local A scratch `i64` local.
 *
 * @example Usage
 * ```ts
 * import { writeHeapCount } from "./heap_count.ts";
 * import { Emitter } from "./emitter.ts";
 * import assert from "node:assert/strict";
 *
 * const e = new Emitter(64);
 * e.i64Const(32);
 * writeHeapCount(e, { memory: 1, onStopFlag: 0 }, 0);
 * assert.ok(e.len > 20);
 * ```
 */
export function writeHeapCount(
  e: Emitter,
  flag: StopFlagTargets,
  local: number,
): void {
  e.localSet(local);
  e.i32Const(0);
  e.i32Const(0);
  e.i64Load(flag.memory, HEAP_COUNT_OFFSET);
  e.localGet(local);
  e.i64Add();
  e.localTee(local);
  e.i64Store(flag.memory, HEAP_COUNT_OFFSET);
  e.localGet(local);
  e.i64Const(HEAP_STEP);
  e.i64LtU();
  e.i32Eqz();
  e.ifEmpty();
  e.i32Const(0);
  e.localGet(local);
  e.i64Store(flag.memory, HEAP_ASKED_OFFSET);
  e.i32Const(0);
  e.i64Const(0);
  e.i64Store(flag.memory, HEAP_COUNT_OFFSET);
  writeAskHost(e, flag.onStopFlag);
  e.end();
}

/**
 * The added function called just before an allocation of a size the
 * operator fixes (`struct.new`, `struct.new_default`, `array.new_fixed`,
 * `throw`): it counts `bytes`. It takes and leaves nothing, so the call
 * goes in front of the operator, whose operands stay where they are.
 *
 * @param bytes What the allocation takes.
 * @param flag The stop flag's memory and callback.
 * @returns The function's type and body.
 *
 * @example Usage
 * ```ts
 * import { heapCountFunction } from "./heap_count.ts";
 * import assert from "node:assert/strict";
 *
 * const added = heapCountFunction(48, { memory: 1, onStopFlag: 0 });
 * assert.deepEqual([...added.type], [0x60, 0, 0]); // () -> ()
 * ```
 */
export function heapCountFunction(
  bytes: number,
  flag: StopFlagTargets,
): BulkHelper {
  const e = new Emitter(64);
  e.u32(1); // one group of locals:
  e.u32(1);
  e.u8(I64); // the count
  e.i64Const(bytes);
  writeHeapCount(e, flag, 0);
  e.end();
  return { type: Uint8Array.of(0x60, 0, 0), bytes: e.sized() };
}
