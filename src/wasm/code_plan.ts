/**
 * The plan of the rewritten code section, which the scan writes and the
 * emitter carries out: per body, a record and a run of edits (where checks
 * go and what they cost, which index bytes change, where run-time charges
 * go). Flat typed arrays, so that neither pass allocates per operator.
 *
 * @module
 */

import type { BulkHelper } from "./bulk_helpers.ts";
import type { CheckTargets } from "./checks.ts";
import { LIMITS } from "./module.ts";
import { DearFunctions } from "./precompile.ts";
import { failAtLimit } from "./reader.ts";
import { u32Size, type Writer } from "./writer.ts";

/** What the added code refers to. */
export interface FuelTargets extends CheckTargets {
  /**
   * Whether self-recursive functions get a register copy, numbered from
   * `firstAppended`.
   */
  readonly registerCopies: boolean;
  /**
   * The index of the first function appended after the guest's (the
   * register copies, then the padding, then the helpers); the slow path
   * comes before the guest's.
   */
  readonly firstAppended: number;
  /**
   * Whether the code counts fuel; without, only the stop flag's checks
   * are written.
   */
  readonly countsFuel: boolean;
}

/** A register copy: its type entry and its body with the size prefix. */
export interface RegisterCopy {
  /** The copy's function type, ready for the type section. */
  readonly type: Uint8Array;
  /** The copy's body, size prefix included. */
  readonly bytes: Uint8Array;
}

/**
 * Edit kinds, in the low 4 bits of an edit's second field; the bits above
 * hold a flag or a length. The scan and emit loops write these values as
 * literal numbers (so that `switch` stays a jump table and no load is
 * left in the loop); a test holds each literal to this table.
 */
export const Edit = {
  /** A removed check (a free segment that needs none). */
  Skip: 0,
  /** A check; flag: it must stay even if free; value: the cost. */
  Check: 1,
  /**
   * A function index; flag: a reload follows (see {@linkcode RELOAD});
   * above: the old LEB length; value: the new index.
   */
  Function: 2,
  /**
   * A run-time charge; flag: 64-bit operand; above it, a refund after a
   * grow (see {@linkcode REFUND}); value: the unit cost.
   */
  Dynamic: 3,
  /**
   * A call of the function itself, routed to its register copy; flag: a
   * reload follows; above: the old length of the call with its index;
   * value: the copy's index.
   */
  SelfCall: 4,
  /** A check of the stop flag (function entry, loop header). */
  Flag: 5,
  /**
   * A bulk operator replaced by a call of its helper; flag: a reload
   * follows; above: the operator's length with its immediates; value: the
   * helper's number.
   */
  BulkCall: 6,
  /**
   * In a body with its fuel in a register: a free segment that writes the
   * fuel to the counter, since it can trap, call or leave.
   */
  Sync: 7,
  /**
   * The refund after a grow that became a helper call (see
   * {@linkcode REFUND}), written after the call and its reload; flag: the
   * grow's result is an `i64`.
   */
  Refund: 8,
  /**
   * In a body with its fuel in a register: a segment reached only by one
   * `br_table`, whose check tested for it in advance, pays without a test;
   * flag: it writes the fuel to the counter after; value: the cost.
   */
  Charge: 9,
} as const;

/**
 * Flag of a run-time charge's edit (`Dynamic`) before a `memory.grow` or
 * `table.grow`: after the grow, the same edit gives the charge back when
 * the grow failed (returned -1), the grow's length being above
 * {@linkcode REFUND_LENGTH_SHIFT}. One edit, not two, so that a body of
 * grows has one edit per grow.
 */
export const REFUND = 1 << 5;
/** Flag of a {@linkcode REFUND}: the grow's result is an `i64`. */
export const REFUND_64 = 1 << 6;
/** Where a charge's edit keeps the length of the grow it refunds. */
export const REFUND_LENGTH_SHIFT = 7;

/**
 * Flag of a check edit (above the variant bits): it also tests for the
 * dearest of the segments its `br_table` leads to (see `CodePlan.margins`),
 * and gives that back once the test has passed.
 */
export const MARGIN = 1 << 8;

/**
 * Flag of a call's edit (`Function`, `SelfCall`, `BulkCall`), below its
 * length: in a body with its fuel in a register, the fuel's local reads the
 * counter back after the call, which spent from it. One edit, not two, so
 * that a body of calls has one edit per call.
 */
export const RELOAD = 1 << 4;

/** Where a call's edit keeps its length, above {@linkcode RELOAD}. */
export const LENGTH_SHIFT = 5;

/** Fields per edit: input position, kind (and flag or length), value. */
export const EDIT_SIZE = 3;

/**
 * The most edits a chunk of the edit list holds, as a power of two: 65,536
 * edits, 768 KiB.
 */
const MAX_CHUNK_SHIFT = 16;
/** The fewest: 16 edits. */
const MIN_CHUNK_SHIFT = 4;

/**
 * Fields per body record, by offset. The emit loop writes these as
 * commented literals too.
 */
export const Body = {
  Start: 0,
  GroupsStart: 1,
  CodeStart: 2,
  End: 3,
  Groups: 4,
  LocalCount: 5,
  Flags: 6,
  EditsFrom: 7,
  EditsTo: 8,
  Size: 9,
  FunctionIndex: 10,
  /** How many of its edits get a branch hint (checks, charges, flags). */
  Hints: 11,
  /** How many fields a record has. */
  Fields: 12,
} as const;

/** Body flag: the body has run-time charges (and so the local `$d`). */
export const HAS_DYNAMIC = 1;
/** Body flag: one of its charges has an `i32` operand (the local `$n`). */
export const HAS_DYNAMIC_32 = 2;
/** Body flag: the body keeps its fuel in the local `$f`. */
export const IN_REGISTER = 4;
/**
 * Body flag: one of its grows returns an `i64` (the local `$r`, after `$n`,
 * which it then has too), which its refund keeps while it tests it.
 */
export const HAS_REFUND_64 = 8;

/**
 * Writes a body's local declarations: the guest's groups, then the added
 * `$f` (and `$d`) as `i64`, then `$n` as `i32` when a charge needs it, then
 * `$r` as `i64` when a grow's refund does.
 *
 * @param w The output.
 * @param bytes The input module.
 * @param groups How many groups the guest declares.
 * @param groupsStart Where its first group starts.
 * @param codeStart Where its code starts, after the groups.
 * @param flags The body's `HAS_DYNAMIC` bits.
 *
 * @example Usage
 * ```ts
 * import { writeLocals } from "./code_plan.ts";
 * import { Writer } from "./writer.ts";
 * import assert from "node:assert/strict";
 *
 * const w = new Writer();
 * writeLocals(w, new Uint8Array(0), 0, 0, 0, 0);
 * assert.deepEqual([...w.finish()], [1, 1, 0x7e]);
 * ```
 */
export function writeLocals(
  w: Writer,
  bytes: Uint8Array,
  groups: number,
  groupsStart: number,
  codeStart: number,
  flags: number,
): void {
  w.u32(groups + addedGroups(flags));
  w.copy(bytes, groupsStart, codeStart);
  w.u32(flags & HAS_DYNAMIC ? 2 : 1);
  w.u8(0x7e); // i64
  if (flags & HAS_DYNAMIC_32) {
    w.u8(1);
    w.u8(0x7f); // i32
  }
  if (flags & HAS_REFUND_64) {
    w.u8(1);
    w.u8(0x7e); // i64
  }
}

/** How many local groups {@linkcode writeLocals} adds. */
function addedGroups(flags: number): number {
  return 1 + (flags & HAS_DYNAMIC_32 ? 1 : 0) + (flags & HAS_REFUND_64 ? 1 : 0);
}

/** How many more bytes {@linkcode writeLocals} writes than the input had. */
function localsGrowth(groups: number, countSize: number, flags: number) {
  return u32Size(groups + addedGroups(flags)) - countSize +
    u32Size(flags & HAS_DYNAMIC ? 2 : 1) + 1 +
    (flags & HAS_DYNAMIC_32 ? 2 : 0) + (flags & HAS_REFUND_64 ? 2 : 0);
}

/** The arrays' first value (see {@linkcode CodePlan}'s constructor). */
const EMPTY = new Int32Array(0);

/** A scanned body, as {@linkcode CodePlan.addBody} records it. */
export interface BodyRecord {
  /** The body's first byte (its local declarations). */
  start: number;
  /** Its first local group. */
  groupsStart: number;
  /** Its first operator. */
  codeStart: number;
  /** One past its last byte. */
  end: number;
  /** How many local groups it declares. */
  groups: number;
  /** How many locals it has, parameters included. */
  localCount: number;
  /** Its `HAS_DYNAMIC` bits. */
  flags: number;
  /** Its first edit. */
  editsFrom: number;
  /** How many bytes its edits add. */
  growth: number;
  /** Its function index. */
  functionIndex: number;
  /** How many of its edits get a branch hint. */
  hints: number;
}

/**
 * The edit list and body records of one code section.
 *
 * @example Usage
 * ```ts
 * import { CodePlan, Edit } from "./code_plan.ts";
 * import assert from "node:assert/strict";
 *
 * const plan = new CodePlan(0, 1);
 * assert.equal(plan.pushEdit(10, Edit.Check, 3), 0);
 * assert.equal(plan.cost(plan.valueAt(0)), 3);
 * ```
 */
export class CodePlan {
  /**
   * Every edit, `EDIT_SIZE` fields each, in chunks of `2^chunkShift`
   * edits: edit `e` is in chunk `e >>> chunkShift`. A chunk is allocated
   * when the first edit comes that it holds, and never copied: the list
   * holds at most one chunk more than its edits (where one array doubled
   * as it grew, it held up to twice as many, and three times while it was
   * copied).
   */
  readonly chunks: Int32Array[] = [];
  /**
   * The size of a chunk, as a power of two: about a sixty-fourth of the code
   * section's size in edits, from 16 to 65,536 edits. A small module has
   * small chunks, so that the primer (see `primer.ts`) spreads its edits
   * over several, and V8 has met every path through the chunks before it
   * optimises the scan and the emitter.
   */
  readonly chunkShift: number;
  /** `2^chunkShift - 1`: the bits that place an edit in its chunk. */
  readonly #chunkMask: number;
  /** How many edits there are. */
  editCount = 0;
  /** The chunk {@linkcode CodePlan.pushEdit} writes to. */
  #chunk: Int32Array = EMPTY;
  /** The number of that chunk's first edit. */
  #chunkFirst = 0;
  /** Costs that do not fit an `Int32Array`; an edit stores `-(i + 1)`. */
  readonly bigCosts: number[] = [];
  /** Every body record, `Body.Fields` fields each. */
  bodies: Int32Array = EMPTY;
  /** How many bodies there are. */
  bodyCount = 0;
  /**
   * The offset of every check's `if` in its function body, grouped by
   * function: function index, hint count, then the offsets. Filled as the
   * bodies are emitted, up to {@linkcode CodePlan.hintCount}.
   */
  hints: Int32Array = EMPTY;
  /** How many fields of {@linkcode CodePlan.hints} are filled. */
  hintCount = 0;
  /** Register copies made so far, in index order. */
  readonly copies: RegisterCopy[] = [];
  /** Their hints, laid out like `hints`. */
  readonly copyHints: number[] = [];
  /** How much a defined function's index grows in the output. */
  functionShift = 1;
  /** The bulk operators' helpers made so far (see `bulk_helpers.ts`). */
  readonly helpers: BulkHelper[] = [];
  /** The bodies dear to compile (see `precompile.ts`). */
  readonly dear: DearFunctions = new DearFunctions();
  /** Each helper's number, by its site's key. */
  readonly helperNumbers: Map<string, number> = new Map();
  /**
   * The first helper's function index, known once the scan is done; the
   * calls are written with padded indices so that it need not be known
   * before.
   */
  helperBase = 0;
  /**
   * The margins of the checks flagged {@linkcode MARGIN}, by edit number:
   * how much fuel the check makes sure is left over after its own cost.
   */
  readonly margins: Map<number, number> = new Map();

  /**
   * @param codeSize The code section's size, to size the first chunk of
   * the edit list.
   * @param bodyCount How many bodies the code section has, to size the
   * body records.
   */
  constructor(codeSize: number, bodyCount = 0) {
    this.chunkShift = Math.min(
      MAX_CHUNK_SHIFT,
      Math.max(MIN_CHUNK_SHIFT, 31 - Math.clz32(codeSize >> 6)),
    );
    this.#chunkMask = (1 << this.chunkShift) - 1;
    // The chunk written to is set twice, so that V8 does not take the
    // field for a constant: the scan's optimised code, compiled while the
    // first large input is scanned, would be thrown away when it changes.
    this.#chunk = new Int32Array(EDIT_SIZE << this.chunkShift);
    this.chunks.push(this.#chunk);
    this.bodies = EMPTY;
    this.bodies = new Int32Array(Body.Fields * Math.max(1, bodyCount));
  }

  /**
   * The number of the added function `key` names, made by `make` the first
   * time a site asks for it.
   *
   * @param key What the function does, shared by every site that calls it.
   * @param make Makes the function.
   * @returns Its number among {@linkcode CodePlan.helpers}.
   */
  helperNumber(key: string, make: () => BulkHelper): number {
    let number = this.helperNumbers.get(key);
    if (number === undefined) {
      number = this.helpers.length;
      this.helpers.push(make());
      this.helperNumbers.set(key, number);
    }
    return number;
  }

  /**
   * Appends an edit.
   *
   * @param pos Where in the input it applies.
   * @param kind Its {@linkcode Edit} kind, with a flag or length above.
   * @param value Its value.
   * @returns The edit's number.
   */
  pushEdit(pos: number, kind: number, value: number): number {
    const n = this.editCount;
    let at = (n - this.#chunkFirst) * EDIT_SIZE;
    if (at < 0 || at >= this.#chunk.length) at = this.#room(n);
    const edits = this.#chunk;
    edits[at] = pos;
    edits[at + 1] = kind;
    edits[at + 2] = value;
    return this.editCount++;
  }

  /**
   * Makes edit `n`'s chunk the one written to, adding it if need be (edits
   * are added one after another, so the chunks before it are there);
   * returns where in it edit `n` goes. An edit list cut back (a body
   * scanned again) writes to the chunks it has again.
   */
  #room(n: number): number {
    const c = n >>> this.chunkShift;
    if (c === this.chunks.length) {
      this.chunks.push(new Int32Array(EDIT_SIZE << this.chunkShift));
    }
    this.#chunk = this.chunks[c]!;
    this.#chunkFirst = c << this.chunkShift;
    return (n & this.#chunkMask) * EDIT_SIZE;
  }

  /**
   * Where in the input edit `edit` applies.
   *
   * @param edit The edit's number.
   * @returns Its input position.
   */
  positionAt(edit: number): number {
    return this
      .chunks[edit >>> this.chunkShift]![(edit & this.#chunkMask) * EDIT_SIZE]!;
  }

  /**
   * Edit `edit`'s kind, with its flag or length.
   *
   * @param edit The edit's number.
   * @returns Its second field.
   */
  kindAt(edit: number): number {
    return this.chunks[edit >>> this.chunkShift]![
      (edit & this.#chunkMask) * EDIT_SIZE + 1
    ]!;
  }

  /**
   * Edit `edit`'s value.
   *
   * @param edit The edit's number.
   * @returns Its third field.
   */
  valueAt(edit: number): number {
    return this.chunks[edit >>> this.chunkShift]![
      (edit & this.#chunkMask) * EDIT_SIZE + 2
    ]!;
  }

  /**
   * Rewrites edit `edit`.
   *
   * @param edit The edit's number.
   * @param pos Where in the input it applies.
   * @param kind Its {@linkcode Edit} kind, with a flag or length above.
   * @param value Its value.
   */
  setEdit(edit: number, pos: number, kind: number, value: number): void {
    const chunk = this.chunks[edit >>> this.chunkShift]!;
    const at = (edit & this.#chunkMask) * EDIT_SIZE;
    chunk[at] = pos;
    chunk[at + 1] = kind;
    chunk[at + 2] = value;
  }

  /**
   * Sets edit `edit`'s kind, with its flag or length.
   *
   * @param edit The edit's number.
   * @param kind The second field.
   */
  setKind(edit: number, kind: number): void {
    this
      .chunks[edit >>> this.chunkShift]![
        (edit & this.#chunkMask) * EDIT_SIZE + 1
      ] = kind;
  }

  /**
   * A check's cost from its edit's value.
   *
   * @param value The value field of a check edit.
   * @returns The cost.
   */
  cost(value: number): number {
    return value < 0 ? this.bigCosts[-value - 1]! : value;
  }

  /**
   * Stores a check's cost in edit `edit`.
   *
   * @param edit The edit's number.
   * @param cost The cost, up to 2^53 - 1.
   */
  setCost(edit: number, cost: number): void {
    const chunk = this.chunks[edit >>> this.chunkShift]!;
    const at = (edit & this.#chunkMask) * EDIT_SIZE + 2;
    if (cost > 0x7fffffff) {
      this.bigCosts.push(cost);
      chunk[at] = -this.bigCosts.length;
    } else {
      chunk[at] = cost;
    }
  }

  /**
   * Appends a body record, its edits being the ones since `editsFrom`.
   *
   * @param body The scanned body.
   * @returns Its rewritten size, its size prefix included.
   */
  addBody(body: BodyRecord): number {
    const { start, groupsStart, end, groups, flags, functionIndex } = body;
    const size = end - start + body.growth +
      localsGrowth(groups, groupsStart - start, flags);
    if (size > LIMITS.functionSize) {
      failAtLimit(
        `function ${functionIndex} would exceed ${LIMITS.functionSize} bytes once instrumented`,
        start,
      );
    }
    const at = this.bodyCount * Body.Fields;
    if (at + Body.Fields > this.bodies.length) {
      const next = new Int32Array(this.bodies.length * 2);
      next.set(this.bodies);
      this.bodies = next;
    }
    this.bodyCount++;
    const fields = this.bodies;
    fields[at + Body.Start] = start;
    fields[at + Body.GroupsStart] = groupsStart;
    fields[at + Body.CodeStart] = body.codeStart;
    fields[at + Body.End] = end;
    fields[at + Body.Groups] = groups;
    fields[at + Body.LocalCount] = body.localCount;
    fields[at + Body.Flags] = flags;
    fields[at + Body.EditsFrom] = body.editsFrom;
    fields[at + Body.EditsTo] = this.editCount;
    fields[at + Body.Size] = size;
    fields[at + Body.FunctionIndex] = functionIndex;
    fields[at + Body.Hints] = body.hints;
    return u32Size(size) + size;
  }
}
