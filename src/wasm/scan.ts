/**
 * The first pass over the code: decodes every operator of a body once,
 * checks its indices and block structure, and plans the rewrite. The body
 * is cut into straight-line segments, each prepaid by a check at its start
 * (see `docs/rewriter.md` for where segments start and which checks may
 * go); bulk operators get a run-time charge; function indices shift. Each
 * body's edits go to a {@linkcode CodePlan}, and the rewritten size comes
 * back, so that the output can be allocated once at its exact size.
 *
 * {@linkcode BodyScanner} holds the scan loop and the state of the body it
 * scans; what it reads per opcode is in `operator_tables.ts`, the limits it
 * refuses past in `scan_limits.ts` and `scan_refusals.ts`, the operators it
 * replaces by calls in `helper_calls.ts`, and the deadline-only entry checks
 * in `entry_checks.ts`.
 *
 * @module
 */

import { PADDED_CALL_SIZE } from "./emitter.ts";
import {
  allocationBytes,
  allocationCost,
  allocationValues,
  exceptionCost,
} from "./allocation_sizes.ts";
import { heapCountFunction } from "./heap_count.ts";
import { type CheckTemplates, FUSED, LOAD, SYNC } from "./check_templates.ts";
import {
  type BodyRecord,
  type CodePlan,
  Edit,
  type FuelTargets,
  HAS_DYNAMIC,
  HAS_DYNAMIC_32,
  HAS_REFUND_64,
  IN_REGISTER,
  LENGTH_SHIFT,
  MARGIN,
  REFUND,
  REFUND_64,
  REFUND_LENGTH_SHIFT,
  RELOAD,
} from "./code_plan.ts";
import type { CostModel } from "./costs.ts";
import {
  type BulkOperands,
  MAX_ALIGNMENT,
  readMemArg,
  readOtherImmediate,
} from "./immediates.ts";
import { LIMITS, type ModuleInfo } from "./module.ts";
import {
  ATOMIC_OPS,
  GC_OPS,
  Imm,
  MISC_OPS,
  type OpcodeSpace,
  Role,
  SIMD_OPS,
  SINGLE_BYTE,
} from "./opcodes.ts";
import { fail, failAtLimit, Reader } from "./reader.ts";
import { planRegisterCopy } from "./register_copy_plan.ts";
import { readBlockType, readValType } from "./types.ts";
import { s64Size, u32Size } from "./writer.ts";
import { BODY_STEPS, type Steps } from "./steps.ts";
import { CheckSizes } from "./check_sizes.ts";
import { CallSites, settleEntryChecks } from "./entry_checks.ts";
import { HelperCalls } from "./helper_calls.ts";
import {
  clausesWeight,
  tagValues,
  typeResults,
  valuesWeight,
} from "./pushed_values.ts";
import { localsCost, readsFlagByCall } from "./locals_cost.ts";
import { allocationWeight, throwWeight } from "./allocation_weights.ts";
import { FLAG_CHECK_TYPE, flagCheckBody } from "./added_functions.ts";
import * as tables from "./operator_tables.ts";
import {
  BLOCK_VALUE_WEIGHT,
  CALL_PARAM_WEIGHT,
  FREE_HEIGHT,
  FREE_NESTING,
  IF_POINTS,
  IF_UNITS,
  LOCAL_HEIGHT_SHARE,
  localUnits,
  MAX_CATCH_CLAUSES,
  MAX_COMPILE_COST,
  MAX_COMPILE_UNITS,
  MAX_HEIGHT_WEIGHT,
  MAX_NESTING,
  NESTING_WEIGHT,
  REF_LOCAL_WEIGHT,
  refLocalUnits,
  STACKED_VALUE_UNITS,
  TAIL_CALL_PARAM_WEIGHT,
} from "./scan_limits.ts";
import {
  tooDearOperators,
  tooDearToCompile,
  tooDeep,
  tooManyClauses,
  unknownOpcode,
} from "./scan_refusals.ts";

// The scan loop's tables, bound to this module's own constants: read as
// imports, they made the rewrite of esbuild.wasm 5 to 15% slower.
const ATOMIC_DELTAS = tables.ATOMIC_DELTAS;
const COMPILE_WEIGHT = tables.COMPILE_WEIGHT;
const GC_DELTAS = tables.GC_DELTAS;
const HEIGHT_WEIGHT = tables.HEIGHT_WEIGHT;
/** The value types of a local that is not a reference. */
const NUMERIC_LOCALS = new Set(["i32", "i64", "f32", "f64", "v128"]);
const MISC_DELTAS = tables.MISC_DELTAS;
const NO_COPY = tables.NO_COPY;
const PREFIXED_HEIGHT_WEIGHTS = tables.PREFIXED_HEIGHT_WEIGHTS;
const SIMD_DELTAS = tables.SIMD_DELTAS;
const SINGLE_OPS = tables.SINGLE_OPS;
const SYNC_MISC = tables.SYNC_MISC;
/** The key of the added function that reads the flag for a wide body. */
const FLAG_CHECK_KEY = "flag";
const SYNC_SINGLE = tables.SYNC_SINGLE;
const TRAPS_ONLY = tables.TRAPS_ONLY;

/**
 * Per one-byte opcode that plays no role (`Role.Plain`): how
 * `#skipPlain` skips its immediate (see the `Skip` values) in bits 0-2, or
 * 0 if it leaves the operator to the scan loop; and how it changes the
 * operand stack's height, signed, from bit 3.
 */
const PLAIN = new Int8Array(256);
const enum Skip {
  None = 1,
  Local,
  Global,
  I32,
  I64,
  MemArg,
}
for (let op = 0; op < 0xfb; op++) {
  if (SINGLE_BYTE.role[op] !== Role.Plain) continue;
  const imm = SINGLE_BYTE.imm[op];
  PLAIN[op] = imm === Imm.None
    ? Skip.None
    : imm === Imm.Local
    ? Skip.Local
    : imm === Imm.Global
    ? Skip.Global
    : imm === Imm.I32
    ? Skip.I32
    : imm === Imm.I64
    ? Skip.I64
    : imm === Imm.MemArg
    ? Skip.MemArg
    : 0;
  if (PLAIN[op] !== 0) PLAIN[op] |= SINGLE_OPS[op]! >> 24 << 3;
}

const enum Frame {
  Function,
  Block,
  Loop,
  If,
  Else,
  Try,
  Catch,
  CatchAll,
  TryTable,
}

/** The dearest segment: costs stay exact doubles. */
const MAX_SEGMENT_COST = Number.MAX_SAFE_INTEGER;
/** What `#scanBody` returns for a body to scan again (see `#tryClauses`). */
const RESCAN = -2;
/** What `#scanBody` returns when it paused (see `#scanBodySteps`). */
const PAUSED = -3;
/** A `pauseAt` no body reaches: `#scanBody` then scans all at once. */
const NO_PAUSE = 0x7fffffff;

/** What `#operator` returns when the scan goes on with the next operator. */
const NEXT = -5;
/** What `#open` returns for a `try` met with the fuel in a register. */
const BAIL = -6;

/**
 * The dearest segment a `br_table`'s check tests for in advance, and the
 * dearest such check: their sum stays far from the largest cost.
 */
const MAX_MARGIN = 0x3fffffff;

/** `i32`, `i64`, `f32`, `f64` or `v128`. */
function isNumeric(byte: number): boolean {
  return byte >= 0x7b && byte <= 0x7f;
}

/**
 * Scans the function bodies of one module into a {@linkcode CodePlan}.
 *
 * @example Usage
 * ```ts ignore
 * const scanner = new BodyScanner(bytes, info, costs, targets, plan, templates);
 * const size = scanner.scan(bodyStart, bodyEnd, functionIndex);
 * ```
 */
export class BodyScanner {
  readonly #bytes: Uint8Array;
  readonly #info: ModuleInfo;
  readonly #costs: CostModel;
  readonly #targets: FuelTargets;
  readonly #code: CodePlan;
  readonly #templates: CheckTemplates;
  #frames: Uint8Array = new Uint8Array(2);
  /**
   * Per open frame, three fields: the operand stack's height below it
   * (its parameters excluded), its parameters and its results.
   */
  #stackFrames: Int32Array = new Int32Array(6);
  /** Where a block type read by `#blockArity` has its parameters. */
  #blockParams = 0;
  /** Whether `#scanBody` paused, and its next step goes on. */
  #paused = false;
  // The body being scanned, as `#readLocals` and `#startScan` set it up.
  // Its first byte, its code's end, its original function index, and
  // whether it keeps its fuel in a register.
  #start = 0;
  #end = 0;
  #functionIndex = 0;
  #inRegister = false;
  /** Its parameters, its locals (parameters included), and its locals of a
   * reference type (see `REF_LOCAL_WEIGHT`). */
  #params = 0;
  #localCount = 0;
  #refLocals = 0;
  /** Its local groups, where they start, where its code starts. */
  #groups = 0;
  #groupsStart = 0;
  #codeStart = 0;
  /** Its first edit. */
  #editsFrom = 0;
  /** Local and global indices below these are one byte and in range. */
  #localFast = 0;
  #globalFast = 0;
  /** The module's memories. */
  #memoryCount = 0;
  /**
   * The price of each catch clause a `try` or `try_table` is entered with:
   * a double from the start, as costs may be (a field that went from small
   * integers to doubles made V8 throw away the code that read it).
   */
  #clauseCost = 0.5;
  /** The sizes of the entry's and a loop header's flag checks. */
  #flagSize = 0;
  #loopFlagSize = 0;
  /** `FUSED << 5` where the entry's and loop headers' checks read the flag. */
  #fused = 0;
  /** What an `Edit.Flag` of this body holds (see `#flagCallValue`). */
  #flagCall = 0;
  /** Deadline-only: entry checks may go (see `settleEntryChecks`). */
  #deadlineOnly = false;
  /** `LOAD << 5` where a check after a call reads the counter. */
  #load = 0;
  /** The size of a reload of the fuel's local after a call. */
  #reloadLength = 0;
  // The scan's state, kept here between its steps, and while a method
  // other than `#scanLoop` works on it.
  /** Where the scan is. */
  #p = 0;
  /** How much the body grows. */
  #growth = 0;
  /** How many segments have started since the entry's. */
  #serial = 0;
  /** How many frames are open (the function's counts 1). */
  #depth = 1;
  /**
   * The check of the `br_table` that pays in advance for the segment
   * starting at the next `end`, if every way there is paid by it, and the
   * segments that lead there (see `#paidBy` and `#paidPreds`).
   */
  #endPaidBy = -1;
  #endPaidPreds = -1;
  /** Control points, for `MAX_COMPILE_UNITS`. */
  #controls = 0;
  /**
   * The weights of the operators, for `MAX_COMPILE_COST`: this step's,
   * summed from 0 (read back as a double, V8 summed them as doubles in
   * the whole loop), and the steps' before it, which may pass 2^31.
   */
  #weights = 0;
  #weightsBefore = 0.5;
  /**
   * The operand stack's height (whatever the frames), and its greatest
   * height (see `MAX_HEIGHT_WEIGHT`).
   */
  #height = 0;
  #most = 0;
  /** How deep its blocks have nested, for `FREE_NESTING`. */
  #deepest = 1;
  /** Whether a legacy `try`'s clauses were met before they were counted. */
  #clausesMissed = false;
  /** The call edit whose reload nothing has read yet, or -1. */
  #pendingReload = -1;
  /** The check edit of the open segment. */
  #segment = 0;
  /** The open segment's cost so far: a double (see `#clauseCost`). */
  #cost = 0.5;
  /** Whether the segment can trap, call or leave (see `SYNC_SINGLE`). */
  #sync = 0;
  /** Whether the code scanned is reachable. */
  #live = true;
  /**
   * What `#decodePrefixed` read: the code, immediate, role, compile weight,
   * height change and sync bits of a prefixed operator; and its price.
   */
  readonly #decoded = new Int32Array(6);
  #decodedCost = 0.5;
  /**
   * In the body being scanned, the compile weights of the values on the
   * operand stack at its calls (see the operator table's `heightWeight`),
   * the sum of those at its control points (see `MAX_COMPILE_UNITS`), and
   * the sum of its calls' `heightWeight`s, which its locals weigh by (see
   * `LOCAL_HEIGHT_SHARE`), its locals' weight (see `REF_LOCAL_WEIGHT`),
   * and its `if`s and `else`s (see `IF_UNITS`).
   */
  readonly #heightSums = new Float64Array(5);
  /**
   * Per open frame: which segment was open where it began (a count of
   * segment starts, shifted left by one), and bit 0 set if that segment was
   * live there.
   */
  #openedIn: Int32Array = new Int32Array(2);
  #catchTargets: Uint8Array = new Uint8Array(2);
  /**
   * Per open frame: the check edit of the `br_table` whose check pays in
   * advance for every way to its `end` seen so far, -1 if nothing names it
   * yet, -2 if something that check does not pay for does.
   */
  #tableOwners: Int32Array = new Int32Array(2);
  /**
   * Per open frame: the segments (check edits) that branch to it, as the
   * first node of a list in `#predNodes`, or -1.
   */
  #predHead: Int32Array = new Int32Array(2);
  /**
   * The nodes of those lists, two fields each: a segment, and the next
   * node or -1. The lists of a body share it; a node is its first field's
   * index.
   */
  #predNodes: Int32Array = new Int32Array(0);
  /** How many fields of `#predNodes` the scanned body uses. */
  #predUsed = 0;
  /**
   * The check edit of the `br_table` segment that tests in advance for the
   * open segment, or -1 (see {@linkcode Edit.Charge}).
   */
  #paidBy = -1;
  /**
   * The segments that lead to the open one, when it is paid in advance: a
   * list's first node in `#predNodes`.
   */
  #paidPreds = -1;
  /**
   * Per segment paid in advance (and per `br_table` segment, 0): the most
   * its table's check paid for up to its end, or -1 if it spent fuel
   * after its charge (a call), so that what follows must test. By the
   * segment's check edit less `#pathBase`, so that the bodies share its
   * first entries: sized by the body with the most edits rather than by
   * the module (esbuild: 4,598 against 264,070, where the two arrays grew
   * to 4 MB of fresh pages, each written once). Set in the body being
   * scanned only where `#pathSet` holds `#bodySerial`.
   */
  #pathOut: Int32Array = new Int32Array(0);
  /** Per check edit: the `#bodySerial` of the scan that set `#pathOut`. */
  #pathSet: Int32Array = new Int32Array(0);
  /** The first edit of the body being scanned: `#pathOut`'s entry 0. */
  #pathBase = 0;
  /** How many bodies (or attempts at one) have been scanned. */
  #bodySerial = 0;
  /** The sizes of the checks the plan will write. */
  readonly #sizes: CheckSizes;
  /** A reader for the less common immediates, reused across operators. */
  readonly #reader: Reader;
  /** The table or memory indices the last bulk operator named. */
  readonly #operands: BulkOperands = { first: 0, second: 0, segment: 0 };
  /** The index the last immediate read by `#slowImmediate` named. */
  #index = 0;
  /**
   * The catch clauses of each legacy `try` of the body being scanned, by
   * the `try`'s offset: they follow its body, so a first scan counts them
   * and a second charges them (see `#scanBody`).
   */
  readonly #tryClauses = new Map<number, number>();
  /** Whether `#tryClauses` holds the counts of the body being scanned. */
  #triesCounted = false;
  /** Per open frame, the offset of the legacy `try` it is, if it is one. */
  readonly #tryAt: number[] = [];
  /** Per open frame, the catch clauses of the legacy `try` seen so far. */
  readonly #clausesSeen: number[] = [];
  /** How many of the scanned body's edits get a branch hint. */
  #hints = 0;
  /** Whether the body being scanned holds a call its register copy refuses. */
  #noCopy = false;
  /** `HAS_DYNAMIC` bits of the body being scanned. */
  #bodyFlags = 0;
  /** The edits of the scanned body's calls to itself. */
  readonly #selfCalls: number[] = [];
  /** Deadline-only: every body's calls, for `settleEntryChecks`. */
  readonly #sites = new CallSites();
  /**
   * Where the immediate of the last `i32.const` or `i64.const` with a short
   * encoding starts, and where the operator after it starts.
   */
  #constAt = -1;
  #constEnd = -1;
  /** The calls of added functions that replace operators. */
  readonly #helpers: HelperCalls;
  /** What `#skipPlain` leaves for the scan loop: the segment's cost. */
  #plainCost = 0;
  /**
   * And the compile weights it saw (see `COMPILE_WEIGHT`), its
   * `SYNC_SINGLE` bits, and the operand stack's height where it stopped.
   */
  readonly #plainOut = new Int32Array(3);
  /**
   * Per `Skip` value, what `#skipPlain` compares with: local and global
   * indices below these are one byte and in range; an `i32.const` or
   * `i64.const` has an encoding shorter than the longest (5 and 10 bytes)
   * within these.
   */
  readonly #plainLimits = Int32Array.of(0, 0, 0, 0, 4, 9, 0);
  /**
   * @param bytes The input module.
   * @param info The module's sections before the code.
   * @param costs The cost model.
   * @param targets The added global and function.
   * @param code Where the plan goes.
   * @param templates The checks, for their sizes.
   */
  constructor(
    bytes: Uint8Array,
    info: ModuleInfo,
    costs: CostModel,
    targets: FuelTargets,
    code: CodePlan,
    templates: CheckTemplates,
  ) {
    this.#bytes = bytes;
    this.#info = info;
    this.#costs = costs;
    this.#targets = targets;
    this.#code = code;
    this.#templates = templates;
    this.#reader = new Reader(bytes, 0, 0);
    this.#sizes = new CheckSizes(templates, targets);
    // The arrays start small, so that the primer (see `primer.ts`) makes
    // them grow: V8 then has met the code that grows them before it
    // optimises the scan, instead of throwing the optimised code away when
    // a large input's first deep body or dense table makes them grow. And
    // each is written twice here, since V8 takes a field that only the
    // constructor wrote for a constant, and throws away the code optimised
    // on that assumption once it changes (a compile of the scan loop is 15
    // to 100 ms of a compiler thread).
    this.#growFrames();
    this.#predNodes = new Int32Array(8);
    this.#pathOut = new Int32Array(8);
    this.#pathSet = new Int32Array(8);
    this.#helpers = new HelperCalls(
      bytes,
      info,
      costs,
      targets,
      code,
      this.#operands,
      this.#reader,
    );
  }

  #growFrames(): void {
    const frames = new Uint8Array(this.#frames.length * 2);
    frames.set(this.#frames);
    this.#frames = frames;
    const openedIn = new Int32Array(frames.length);
    openedIn.set(this.#openedIn);
    this.#openedIn = openedIn;
    const targets = new Uint8Array(frames.length);
    targets.set(this.#catchTargets);
    this.#catchTargets = targets;
    const owners = new Int32Array(frames.length);
    owners.set(this.#tableOwners);
    this.#tableOwners = owners;
    const heads = new Int32Array(frames.length);
    heads.set(this.#predHead);
    this.#predHead = heads;
    const stacks = new Int32Array(frames.length * 3);
    stacks.set(this.#stackFrames);
    this.#stackFrames = stacks;
  }

  /** Sets `#pathOut` of the segment whose check is edit `segment`. */
  #setPathOut(segment: number, value: number): void {
    const at = segment - this.#pathBase;
    if (at >= this.#pathOut.length) {
      const length = Math.max(this.#pathOut.length * 2, at + 1);
      const out = new Int32Array(length);
      out.set(this.#pathOut);
      this.#pathOut = out;
      const set = new Int32Array(length);
      set.set(this.#pathSet);
      this.#pathSet = set;
    }
    this.#pathOut[at] = value;
    this.#pathSet[at] = this.#bodySerial;
  }

  /** Adds `segment` to the list of the segments that branch to `frame`. */
  #addPred(frame: number, segment: number): void {
    const at = this.#predUsed;
    if (at + 2 > this.#predNodes.length) {
      const nodes = new Int32Array(this.#predNodes.length * 2);
      nodes.set(this.#predNodes);
      this.#predNodes = nodes;
    }
    const nodes = this.#predNodes;
    nodes[at] = segment;
    nodes[at + 1] = this.#predHead[frame]!;
    this.#predHead[frame] = at;
    this.#predUsed = at + 2;
  }

  /**
   * Decodes and checks one function body and records its edits.
   *
   * @param start The first byte of the body (after its size).
   * @param end One past the body's last byte.
   * @param functionIndex The body's original function index.
   * @returns The size of the rewritten body, its size prefix included.
   */
  scan(start: number, end: number, functionIndex: number): number {
    const info = this.#info;
    const blockTypeValues = this.#startBody(functionIndex);
    this.#paused = false;
    if (this.#targets.countsFuel) {
      const size = this.#scanBody(start, end, functionIndex, true, NO_PAUSE);
      if (size >= 0) return size;
      info.blockTypeValues = blockTypeValues;
    }
    const size = this.#scanBody(start, end, functionIndex, false, NO_PAUSE);
    if (size !== RESCAN) return size;
    this.#triesCounted = true;
    info.blockTypeValues = blockTypeValues;
    return this.#scanBody(start, end, functionIndex, false, NO_PAUSE);
  }

  /**
   * {@linkcode BodyScanner.scan} in steps: it pauses every `STEP_BYTES`
   * or so of the body's code, so that a body of megabytes holds the thread
   * no longer than any other step of the scan. (A generator costs more
   * than the scan of a small body: `scan` serves those.)
   *
   * @param start The first byte of the body (after its size).
   * @param end One past the body's last byte.
   * @param functionIndex The body's original function index.
   * @returns The steps, which return the size of the rewritten body, its
   *   size prefix included.
   */
  *scanSteps(start: number, end: number, functionIndex: number): Steps<number> {
    const info = this.#info;
    const blockTypeValues = this.#startBody(functionIndex);
    if (this.#targets.countsFuel) {
      const size = yield* this.#scanBodySteps(start, end, functionIndex, true);
      if (size >= 0) return size;
      info.blockTypeValues = blockTypeValues;
    }
    const size = yield* this.#scanBodySteps(start, end, functionIndex, false);
    if (size !== RESCAN) return size;
    this.#triesCounted = true;
    info.blockTypeValues = blockTypeValues;
    return yield* this.#scanBodySteps(start, end, functionIndex, false);
  }

  /**
   * What a body's scan does first, whether at once or in steps; returns
   * the block types' count before it, which a body scanned again restores.
   */
  #startBody(functionIndex: number): number {
    if (this.#templates.flag.length > 0 && !this.#targets.countsFuel) {
      const defined = this.#info.definedFunctions;
      this.#sites.startBody(
        defined,
        functionIndex - this.#info.importedFunctions,
      );
    }
    this.#tryClauses.clear();
    this.#triesCounted = false;
    // A body scanned again counts its blocks' types once.
    return this.#info.blockTypeValues;
  }

  /**
   * `#scanBody` in steps of about `STEP_BYTES` of code: each step
   * scans up to where the next pause is due, and leaves its loop's state in
   * its fields for the next. The scan loop itself is no generator: V8's code
   * for it ran about a fifth slower as one.
   */
  *#scanBodySteps(
    start: number,
    end: number,
    functionIndex: number,
    inRegister: boolean,
  ): Steps<number> {
    this.#paused = false;
    const step = BODY_STEPS.bytes;
    let pauseAt = start + step;
    for (;;) {
      const size = this.#scanBody(
        start,
        end,
        functionIndex,
        inRegister,
        pauseAt,
      );
      if (size !== PAUSED) return size;
      yield;
      pauseAt = this.#p + step;
    }
  }

  /**
   * Scans one body with its fuel in a register (`inRegister`) or in the
   * counter. A body with exception handling keeps its fuel in the counter:
   * a landing site would need the counter exact on every path into it; such
   * a body returns -1 when scanned with `inRegister`, its edits undone. A
   * body with a legacy `try` that has catch clauses returns `RESCAN`, its
   * edits undone, until `#tryClauses` holds their counts.
   *
   * The work is split into small methods by operator class (the loop in
   * `#scanLoop`, each role's bookkeeping in a method of its own), so that
   * V8 compiles each soon and quickly: as one method of 14,400 bytes of
   * bytecode and 132 registers, Maglev took 75 to 340 ms of a compiler
   * thread over it, and a first rewrite ran that long in the baseline tier.
   */
  #scanBody(
    start: number,
    end: number,
    functionIndex: number,
    inRegister: boolean,
    pauseAt: number,
  ): number {
    const r = this.#reader;
    r.pos = start;
    r.end = end;
    // Where the last step paused, when this one goes on from there.
    const paused = this.#paused;
    this.#paused = false;
    if (paused) r.pos = this.#p;
    else this.#readLocals(start, end, functionIndex, inRegister);
    this.#pathBase = this.#editsFrom;
    this.#sizes.fuelLocal = this.#localCount;
    this.#templates.prepare(this.#localCount, inRegister);
    if (!paused) this.#startScan();
    this.#plainLimits[Skip.Local] = this.#localFast;
    this.#plainLimits[Skip.Global] = this.#globalFast;
    return this.#scanLoop(pauseAt);
  }

  /** Reads a body's locals, and what its scan needs of the module. */
  #readLocals(
    start: number,
    end: number,
    functionIndex: number,
    inRegister: boolean,
  ): void {
    const info = this.#info;
    const r = this.#reader;
    const params = info.typeParams[info.functionTypes[functionIndex]!]!;
    let localCount = params;
    // Its declared locals of a reference type (see `REF_LOCAL_UNITS` and
    // `REF_LOCAL_WEIGHT`).
    let refLocals = 0;
    const groups = r.count("local group", 2);
    this.#groupsStart = r.pos;
    for (let i = 0; i < groups; i++) {
      const at = r.pos;
      const count = r.u32();
      localCount += count;
      if (localCount > LIMITS.locals - 3) {
        failAtLimit(
          `function ${functionIndex} has too many locals to add fuel counters`,
          at,
        );
      }
      if (!NUMERIC_LOCALS.has(readValType(r, info.typeCount))) {
        refLocals += count;
      }
    }
    this.#start = start;
    this.#end = end;
    this.#functionIndex = functionIndex;
    this.#inRegister = inRegister;
    this.#params = params;
    this.#groups = groups;
    this.#localCount = localCount;
    this.#refLocals = refLocals;
    this.#codeStart = r.pos;
    this.#editsFrom = this.#code.editCount;
    // Local and global indices below these are one byte and in range.
    this.#localFast = Math.min(0x80, localCount);
    this.#globalFast = Math.min(0x80, info.globalCount);
    this.#memoryCount = info.memoryIs64.length;
  }

  /** Sets up the scan of a body whose locals `#readLocals` read. */
  #startScan(): void {
    const costs = this.#costs;
    const localCount = this.#localCount;
    const inRegister = this.#inRegister;
    const codeStart = this.#codeStart;
    this.#growth = 0;
    // How many segments have started since the entry's.
    this.#serial = 0;
    this.#depth = 1;
    this.#endPaidBy = -1;
    this.#endPaidPreds = -1;
    this.#frames[0] = Frame.Function;
    this.#stackFrames.fill(0, 0, 3);
    this.#heightSums.fill(0);
    this.#heightSums[3] = localCount +
      (REF_LOCAL_WEIGHT - 1) * this.#refLocals;
    this.#catchTargets[0] = 0;
    this.#tableOwners[0] = -2;
    this.#paidBy = -1;
    this.#bodySerial++;
    this.#predUsed = 0;
    this.#predHead[0] = -1;
    this.#controls = 0;
    this.#weights = 0;
    this.#weightsBefore = 0;
    this.#height = 0;
    this.#most = 0;
    this.#deepest = 1;
    this.#selfCalls.length = 0;
    // A thrown exception is matched against the catch clauses of every
    // `try` and `try_table` it leaves, one after another: the engine's work
    // grows with their number (65,000 clauses took 2.9 ms a throw), so each
    // clause is paid for where its `try` is entered, which a throw can leave
    // once. A legacy `try`'s clauses come after its body: counted by a
    // first scan of the body, paid in a second.
    this.#clauseCost = this.#targets.countsFuel ? costs.perElement : 0;
    this.#clausesMissed = false;
    // The stop flag is checked at the function's entry and loop headers,
    // whatever they cost, before the fuel.
    const flagSize = this.#templates.flag.length;
    this.#flagSize = flagSize;
    this.#loopFlagSize = inRegister
      ? this.#templates.flagInRegister.length
      : flagSize;
    // Or the entry's and the loop headers' checks read the flag themselves.
    const fused = this.#templates.fusesFlag && this.#targets.countsFuel
      ? FUSED << 5
      : 0;
    this.#fused = fused;
    this.#hints = 0;
    // A body of many locals reads the flag through a call (see
    // `WIDE_LOCALS`), whether its check asks the host or traps at once:
    // the edit's value, 2 and more, names the added function, and the
    // call, padded to the check's size, has no `if` to hint.
    const flagCall = flagSize > 0 && fused === 0 && !inRegister &&
        readsFlagByCall(localCount - this.#params)
      ? this.#flagCallValue(flagSize)
      : 0;
    this.#flagCall = flagCall;
    if (flagSize > 0 && fused === 0) {
      this.#code.pushEdit(codeStart, Edit.Flag, flagCall);
      if (flagCall === 0) this.#hints++;
      this.#growth += flagSize;
    }
    // Deadline-only, the entry's check may go, and checks may come before
    // calls (see `settleEntryChecks`).
    const deadlineOnly = flagSize > 0 && !this.#targets.countsFuel;
    this.#deadlineOnly = deadlineOnly;
    // A body scanned again records its calls again.
    if (deadlineOnly) {
      this.#sites.count = this.#sites.from[
        this.#functionIndex - this.#info.importedFunctions
      ]!;
    }
    // With the fuel in a register, the entry's check reads the counter.
    const load = inRegister ? LOAD << 5 : 0;
    this.#load = load;
    // The reload after the last call of a defined function, while nothing
    // has read the fuel's local since: a reload that nothing reads before
    // the next call overwrites the local, or before the function leaves
    // (the callee left the counter exact), is dropped.
    this.#pendingReload = -1;
    this.#reloadLength = this.#templates.reload.length;
    this.#segment = this.#code.pushEdit(
      codeStart,
      Edit.Check | 1 << 4 | load | fused,
      0,
    );
    // The engine zeroes the declared locals at every entry: beyond the
    // first FREE_LOCALS, the entry pays for them (40,000 `v128` locals took
    // 3.5 µs a call, for a few units).
    this.#cost = this.#targets.countsFuel
      ? localsCost(localCount - this.#params, costs.perElement)
      : 0;
    // Whether the segment can trap, call or leave (see `SYNC_SINGLE`).
    this.#sync = 0;
    this.#live = true;
    this.#bodyFlags = 0;
    this.#noCopy = false;
    this.#p = codeStart;
    this.#constAt = -1;
    this.#constEnd = -1;
    this.#helpers.inlineBulk = 0;
  }

  /**
   * The scan loop: decodes each operator, skips its common short
   * immediates inline, and hands any operator with a role, or a rarer
   * immediate, to `#operator`. Returns what `#scanBody` does.
   *
   * The segment's cost, what it syncs, the compile weights, the operand
   * stack's height and greatest height, and whether the code is reachable
   * are locals here, written to their fields before a call that reads or
   * changes them and read back after it.
   */
  #scanLoop(pauseAt: number): number {
    const bytes = this.#bytes;
    const end = this.#end;
    const singleOps = SINGLE_OPS;
    const singleCost = this.#costs.single;
    const localFast = this.#localFast;
    const globalFast = this.#globalFast;
    const hasMemory = this.#memoryCount > 0;
    const plainOut = this.#plainOut;
    const decoded = this.#decoded;
    let p = this.#p;
    let cost = this.#cost;
    let sync = this.#sync;
    let weights = this.#weights;
    let height = this.#height;
    let most = this.#most;
    let live = this.#live;
    // The `case` labels below are literal numbers, the values of `Imm` and
    // `Role` named in their comments: only literal labels make `switch` a
    // jump table, and this loop runs once per operator. The operator table
    // test holds each literal to its table. Common one-byte immediates are
    // skipped inline; the Reader decodes the rest.
    for (;;) {
      if (p >= pauseAt) {
        // A step ends here; the next goes on from this state.
        this.#p = p;
        this.#cost = cost;
        this.#sync = sync;
        this.#weightsBefore += weights;
        this.#weights = 0;
        this.#height = height;
        this.#most = most;
        this.#live = live;
        this.#paused = true;
        return PAUSED;
      }
      // Runs of operators that play no role, with short immediates, go
      // through a small loop of their own, which V8 optimises early.
      if (p < end && PLAIN[bytes[p]!] !== 0) {
        p = this.#skipPlain(
          p,
          end,
          pauseAt < end ? pauseAt : end,
          live,
          cost,
          hasMemory,
          height,
          most,
        );
        cost = this.#plainCost;
        weights += plainOut[0]!;
        sync |= plainOut[1]!;
        height = plainOut[2]!;
        // A run the pause cut short goes on in the next step.
        if (p >= pauseAt) continue;
      }
      if (p >= end) fail("function body does not end with end", p);
      const opPos = p;
      const op = bytes[p++]!;
      let code = op;
      let imm: number;
      let role: number;
      if (op < 0xfb) {
        const described = singleOps[op]!;
        imm = described & 0xff;
        role = described >> 8 & 0xff;
        if (live) cost += singleCost[op]!;
        sync |= described >> 16 & 3;
        weights += COMPILE_WEIGHT[op]!;
        height += described >> 24;
        if (imm === 1 /* Imm.None */ && role === 0 /* Role.Plain */) continue;
        if (imm === 0 /* Imm.Unknown */) unknownOpcode(-1, op, opPos);
      } else {
        p = this.#decodePrefixed(op, p, opPos);
        code = decoded[0]!;
        imm = decoded[1]!;
        role = decoded[2]!;
        weights += decoded[3]!;
        height += decoded[4]!;
        sync |= decoded[5]!;
        if (live) cost += this.#decodedCost;
      }

      // Immediates. `index` keeps what a role below needs. The common
      // short encodings are skipped inline; everything else goes through
      // one call, so that V8's optimised code of this loop has seen every
      // call in it early and is not thrown away at the first rare one.
      let index = 0;
      const immAt = p;
      let slow = true;
      // The height once the operator's fixed operands are off.
      const opHeight = height;
      switch (imm) {
        case 1: // Imm.None
          slow = false;
          break;
        // An operator that plays no role (`Role.Plain`, and no GC
        // allocation, whose size is paid up front) is done once its short
        // immediate is skipped: the most common operators leave here.
        case 8: // Imm.Local
          if (p < end && bytes[p]! < localFast) {
            p++;
            // What pushes leaves here or after the roles below; the rest
            // push nothing.
            if (height > most) most = height;
            if (role === 0 && op !== 0xfb) continue;
            slow = false;
          }
          break;
        case 9: // Imm.Global
          if (p < end && bytes[p]! < globalFast) {
            p++;
            if (height > most) most = height;
            if (role === 0 && op !== 0xfb) continue;
            slow = false;
          }
          break;
        case 19: // Imm.I32
        case 20: { // Imm.I64
          // Any encoding shorter than the longest one allowed (5 bytes for
          // i32, 10 for i64) is valid: skip it here; the Reader checks the
          // unused bits of a longest one.
          const last = Math.min(end, p + (imm === 19 ? 4 : 9));
          let q = p;
          while (q < last && bytes[q]! >= 0x80) q++;
          if (q < last) {
            p = q + 1;
            // A bulk operator right after it has a constant length.
            this.#constAt = immAt;
            this.#constEnd = p;
            if (height > most) most = height;
            if (role === 0 && op !== 0xfb) continue;
            slow = false;
          }
          break;
        }
        case 11: // Imm.MemArg
        case 12: // Imm.MemArgLane
          // Most memory arguments are two bytes: an alignment naming memory
          // 0, and an offset below 128.
          // Offsets of up to four bytes (below 2^28) fit any memory.
          if (p < end && bytes[p]! <= MAX_ALIGNMENT && hasMemory) {
            const last = Math.min(end, p + 5);
            let q = p + 1;
            while (q < last && bytes[q]! >= 0x80) q++;
            if (q < last) {
              p = q + 1;
              if (imm === 12) {
                if (p >= end) fail("unexpected end: expected lane index", p);
                p++;
              }
              if (role === 0 && op !== 0xfb) continue;
              slow = false;
            }
          }
          break;
        case 2: // Imm.BlockType
          if (p < end && (bytes[p] === 0x40 || isNumeric(bytes[p]!))) {
            p++;
            slow = false;
          }
          break;
        case 3: // Imm.Label
        case 5: // Imm.Func
          if (p < end && bytes[p]! < 0x80) {
            index = bytes[p++]!;
            slow = false;
          } else {
            // Up to four bytes (below 2^28) need no range check here.
            const last = Math.min(end, p + 4);
            let q = p;
            while (q < last && bytes[q]! >= 0x80) q++;
            if (q < last) {
              index = 0;
              for (let k = q; k >= p; k--) {
                index = index << 7 | bytes[k]! & 0x7f;
              }
              p = q + 1;
              slow = false;
            }
          }
          break;
      }
      if (slow) {
        p = this.#slowImmediate(imm, p, opPos, this.#depth, this.#localCount);
        index = this.#index;
      }
      // The rest, in methods of their own, on the state in fields.
      this.#cost = cost;
      this.#sync = sync;
      this.#weights = weights;
      this.#height = height;
      this.#most = most;
      this.#live = live;
      const result = this.#operator(
        op,
        code,
        imm,
        role,
        opPos,
        immAt,
        p,
        index,
        opHeight,
      );
      if (result !== NEXT) return result;
      cost = this.#cost;
      sync = this.#sync;
      weights = this.#weights;
      height = this.#height;
      most = this.#most;
      live = this.#live;
    }
  }

  /**
   * Decodes the opcode of a prefixed operator (`op` its prefix, its code
   * from `p`): its code, immediate, role, compile weight, height change and
   * sync bits go to `#decoded`, its price to `#decodedCost`. Returns where
   * its immediates start.
   */
  #decodePrefixed(op: number, p: number, opPos: number): number {
    const bytes = this.#bytes;
    const costs = this.#costs;
    let space: OpcodeSpace;
    let spaceCost: Float64Array;
    let spaceDelta: Int8Array;
    if (op === 0xfc) {
      space = MISC_OPS;
      spaceCost = costs.misc;
      spaceDelta = MISC_DELTAS;
    } else if (op === 0xfd) {
      space = SIMD_OPS;
      spaceCost = costs.simd;
      spaceDelta = SIMD_DELTAS;
    } else if (op === 0xfb) {
      space = GC_OPS;
      spaceCost = costs.gc;
      spaceDelta = GC_DELTAS;
    } else if (op === 0xfe) {
      space = ATOMIC_OPS;
      spaceCost = costs.atomics;
      spaceDelta = ATOMIC_DELTAS;
    } else {
      return unknownOpcode(-1, op, opPos);
    }
    let code: number;
    if (p < this.#end && bytes[p]! < 0x80) code = bytes[p++]!;
    else {
      const r = this.#reader;
      r.pos = p;
      code = r.u32();
      p = r.pos;
    }
    const imm = code < space.imm.length ? space.imm[code]! : Imm.Unknown;
    if (imm === 0 /* Imm.Unknown */) unknownOpcode(op, code, opPos);
    const decoded = this.#decoded;
    decoded[0] = code;
    decoded[1] = imm;
    decoded[2] = space.role[code]!;
    decoded[3] = space.compileWeight[code]!;
    decoded[4] = spaceDelta[code]!;
    decoded[5] = op === 0xfc && code < SYNC_MISC.length ? SYNC_MISC[code]! : 1;
    this.#decodedCost = spaceCost[code]!;
    return p;
  }

  /**
   * What an operator with a role, or with an immediate the loop does not
   * skip, does to the plan; the loop's state is in its fields. Returns
   * `NEXT`, or what `#scanBody` returns once the body's final `end` is
   * reached (or a `try` met with the fuel in a register).
   */
  #operator(
    op: number,
    code: number,
    imm: number,
    role: number,
    opPos: number,
    immAt: number,
    p: number,
    index: number,
    opHeight: number,
  ): number {
    // A `br_on_cast` names a label too, after its cast flags, and branches
    // there as `br_on_null` does. (Marking every open frame instead cost
    // the depth per operator: quadratic in a deep body.)
    if (imm === 28 /* Imm.BrOnCast */) this.#brOnCast(op, immAt);
    if (imm === 3) { // Imm.Label
      this.#label(op, role, index, immAt, opHeight);
    } else if (imm === 5) { // Imm.Func
      this.#functionIndexAt(op, index, opPos, immAt, p);
    } else if (
      this.#deadlineOnly &&
      (op === 0x11 || op === 0x13 || op === 0x14 || op === 0x15)
    ) {
      // `call_indirect`, `return_call_indirect`, `call_ref`,
      // `return_call_ref`: they may reach a function without an entry
      // check (see `settleEntryChecks`). Recorded with their type index.
      const r = this.#reader;
      r.pos = immAt;
      this.#sites.add(-1 - r.u32(), this.#code.pushEdit(opPos, Edit.Skip, 0));
    }
    if (op === 0xfb && code <= 8 || op === 0x08) {
      this.#allocation(op, code, index, opPos, immAt);
    }
    // A call (or an operator that calls out of line) handles every value
    // on the operand stack, and every local the engine keeps below it:
    // their weights, summed here, weigh in by the locals at the end.
    const heightWeight = op < 0xfb
      ? HEIGHT_WEIGHT[op]!
      : PREFIXED_HEIGHT_WEIGHTS[op - 0xfb]![code]!;
    if (heightWeight !== 0) {
      const heightSums = this.#heightSums;
      heightSums[2] += heightWeight;
      if (opHeight > FREE_HEIGHT) {
        heightSums[0] += (opHeight - FREE_HEIGHT) * heightWeight >> 4;
      }
    }
    if (this.#pendingReload >= 0 && role > 1 && role !== 5) {
      this.#settleReload(op, role, index);
    }

    // A new segment starts after this operator when `must` is set: 1 if
    // its check must stay even when free, 0 if a free one may go.
    let must = -1;
    switch (role) {
      case 0: // Role.Plain
        break;
      case 1: // Role.Block
      case 2: // Role.Loop
      case 3: // Role.If
      case 6: // Role.Try
      case 9: // Role.TryTable
        must = this.#open(role, opPos, immAt, opHeight);
        if (must === BAIL) return -1;
        break;
      case 4: // Role.Else
        this.#else(opPos, opHeight);
        must = 0;
        break;
      case 5: // Role.End
        if (this.#depth === 1) return this.#endBody(p);
        must = this.#endFrame(p);
        break;
      case 10: { // Role.BranchIf
        // A conditional branch counts as an `if` does; one with a label
        // counted 1 at its label (a `br_on_cast` has its label after its
        // flags).
        const more = imm === 3 ? IF_POINTS - 1 : IF_POINTS;
        this.#controls += more;
        if (opHeight > 0) this.#heightSums[1] += more * opHeight;
        // A conditional branch does not end its segment: the operators
        // after it were paid for with the ones before, and a taken branch
        // leaves them paid, as a trap does. One check per loop iteration
        // instead of two in a loop that tests its exit at the top.
        break;
      }
      case 11: // Role.Call
        must = this.#call(op, index);
        break;
      case 12: // Role.CallDynamic
        this.#callDynamic(op, immAt);
        must = 1;
        break;
      case 13: // Role.Transfer
        this.#transfer(op, imm, index, opPos, immAt, opHeight);
        break;
      case 7: // Role.Catch
        this.#catch(op, opPos, immAt, opHeight);
        must = 1;
        break;
      case 8: // Role.Delegate
        if (this.#frames[this.#depth - 1] !== Frame.Try) {
          fail("delegate without try", opPos);
        }
        this.#leaveFrame();
        must = 1;
        break;
      case 17: // Role.Wait
        // A wait blocks the thread as long as the guest asks, where no
        // check runs: with a stop flag, it waits in slices. A notify, like
        // a wait, is a call of the engine's runtime that a helper counts
        // toward a poll of the host's clock.
        if (this.#flagSize > 0) {
          this.#growth += this.#helpers.callWaitHelper(code, immAt, opPos, p);
          if (this.#inRegister) {
            // The helper's flag checks call the host, which may have
            // changed the counter.
            this.#growth += this.#reloadAfter();
          }
        }
        break;
      default: // Role.PerByte, Role.PerElement, Role.PerPage
        this.#bulk(op, code, imm, role, index, opPos, p);
    }
    // A call's results, a catch's values, a block's at its end.
    if (this.#height > this.#most) this.#most = this.#height;
    // A bulk operator, `memory.grow` or a wait: the rewrite's charges,
    // refunds and helper calls around it branch over the stack too, as
    // about 4 control points (at the limit, 900 `memory.grow`s over 1,000
    // constants held a first call 0.3 to 0.4 s before they counted; at 1,
    // 650 over 100 constants 0.2 s on 2 cores loaded 10 times over).
    if (role >= 14 /* Role.PerByte */ && opHeight > 0) {
      this.#heightSums[1] += 4 * opHeight;
    }
    if (must >= 0) this.#nextSegment(role, must, p);
    return NEXT;
  }

  /** A `br_on_cast`'s label, after its cast flags at `immAt`. */
  #brOnCast(op: number, immAt: number): void {
    const r = this.#reader;
    r.pos = immAt + 1;
    const frame = this.#depth - 1 - r.u32();
    if (this.#tableOwners[frame] !== -2) {
      this.#branchTo(frame, op, this.#segment, this.#live);
    }
  }

  /** A branch's label `index`, checked and noted at the frame it names. */
  #label(
    op: number,
    role: number,
    index: number,
    immAt: number,
    opHeight: number,
  ): void {
    const depth = this.#depth;
    this.#controls++;
    if (opHeight > 0) this.#heightSums[1] += opHeight;
    if (index === depth - 1) this.#sync |= 1; // leaves the function
    // `delegate` names a label outside the `try` it ends.
    if (index >= (role === 8 /* Role.Delegate */ ? depth - 1 : depth)) {
      fail(`label ${index} out of range`, immAt);
    }
    this.#catchTargets[depth - 1 - index] |= 2; // a branch names it
    if (this.#tableOwners[depth - 1 - index] !== -2) {
      this.#branchTo(depth - 1 - index, op, this.#segment, this.#live);
    }
  }

  /** A function index, checked, and its shift planned. */
  #functionIndexAt(
    op: number,
    index: number,
    opPos: number,
    immAt: number,
    p: number,
  ): void {
    const info = this.#info;
    const functionCount = info.functionCount;
    if (index >= functionCount) {
      fail(
        `function index ${index} out of range: the module has ${functionCount} functions`,
        immAt,
      );
    }
    // A deferred start that code may not name in `ref.func`.
    if (!info.startDeclared && index === info.deferredStart && op === 0xd2) {
      // The export that defers the start would declare it.
      fail(
        `ref.func names function ${index}, the start function, which no export or element segment declares: declare it (elem declare func ${index})`,
        immAt,
      );
    }
    const importedFunctions = info.importedFunctions;
    if (index >= importedFunctions) {
      if (this.#deadlineOnly && (op === 0x10 || op === 0x12)) {
        this.#sites.add(
          index - importedFunctions,
          this.#code.pushEdit(opPos, Edit.Skip, 0),
        );
      }
      const shift = info.functionShift;
      const edit = this.#code.pushEdit(
        immAt,
        Edit.Function | (p - immAt) << LENGTH_SHIFT,
        index + shift,
      );
      this.#growth += u32Size(index + shift) - (p - immAt);
      if (op === 0x10 && index === this.#functionIndex) {
        this.#selfCalls.push(edit);
      }
    } else if (this.#helpers.strings !== undefined) {
      this.#growth += this.#helpers.callString(op, index, opPos, p);
    }
  }

  /**
   * A GC allocation of a size its type fixes, or a `throw`: paid by size up
   * front, weighed for the compile, counted toward the host's look at its
   * heap.
   */
  #allocation(
    op: number,
    code: number,
    index: number,
    opPos: number,
    immAt: number,
  ): void {
    const info = this.#info;
    const live = this.#live;
    // GC allocations of a size the type fixes are paid by size up front,
    // and so is the exception a `throw` allocates. The compile writes each
    // field, element or thrown value inline.
    if (op === 0xfb) {
      if (live) {
        this.#cost += allocationCost(
          info,
          this.#reader,
          this.#costs.perElement,
          code,
          index,
          immAt,
        );
      }
      this.#weights += allocationWeight(
        info,
        this.#reader,
        code,
        index,
        immAt,
      );
    } else {
      if (live) {
        this.#cost += exceptionCost(info, this.#costs.perElement, index);
      }
      this.#weights += throwWeight(info, index);
    }
    // With a stop flag, the same allocations count their bytes toward the
    // host's look at its heap (`heap_count.ts`), in a call made before the
    // operator.
    if (
      this.#flagSize > 0 && live &&
      (op === 0xfb && (code <= 1 || code === 8) || op === 0x08)
    ) {
      const bytes = allocationBytes(
        info,
        this.#reader,
        op,
        code,
        index,
        immAt,
      );
      if (bytes > 0) {
        this.#growth += this.#helpers.callMade(
          `heap:${bytes}`,
          opPos,
          opPos,
          () => heapCountFunction(bytes, this.#targets.stopFlag!),
        );
        // The host's answer may have changed the counter.
        if (this.#inRegister) this.#growth += this.#reloadAfter();
      }
    }
    // The values a struct's fields or `array.new_fixed` take.
    if (op === 0xfb && (code === 0 || code === 8)) {
      this.#height -= allocationValues(
        info,
        this.#reader,
        code,
        index,
        immAt,
      );
    }
  }

  /**
   * A call, or a way out of the function, before anything read the local:
   * the pending reload is dead (after a call of an import, or a dynamic
   * one, the check reads the counter). Anything else that can lead to a
   * read (a branch, a segment start, a charge) keeps it.
   */
  #settleReload(op: number, role: number, index: number): void {
    if (
      role === 11 || role === 12 ||
      role === 13 && op !== 0x0e && (op !== 0x0c || index === this.#depth - 1)
    ) {
      this.#growth -= this.#dropReload(
        this.#pendingReload,
        this.#reloadLength,
      );
    }
    this.#pendingReload = -1;
  }

  /**
   * A `block`, `loop`, `if`, `try` or `try_table`: a frame opened. Returns
   * `must` (see `#operator`), or `BAIL` for a `try` or `try_table` met with
   * the fuel in a register.
   */
  #open(role: number, opPos: number, immAt: number, opHeight: number): number {
    const heightSums = this.#heightSums;
    // A plain `block` compiles at next to no cost; a `br` to it does.
    const points = role === 9 ? 1 + this.#operands.first : role === 2
      ? 8 // and its check and flag check
      : role === 3
      ? IF_POINTS
      : role !== 1
      ? 1
      : 0;
    this.#controls += points;
    if (opHeight > 0) heightSums[1] += points * opHeight;
    if (role === 3) heightSums[4]++;
    if (this.#inRegister && (role === 6 || role === 9)) {
      this.#code.editCount = this.#editsFrom;
      return BAIL;
    }
    let depth = this.#depth;
    const live = this.#live;
    if (role === 6) {
      this.#tryAt[depth] = opPos;
      this.#clausesSeen[depth] = 0;
      if (live) {
        this.#cost += (this.#tryClauses.get(opPos) ?? 0) * this.#clauseCost;
      }
    } else if (role === 9) {
      const clauses = this.#operands.first;
      if (clauses > MAX_CATCH_CLAUSES) tooManyClauses(opPos);
      if (live) this.#cost += clauses * this.#clauseCost;
      if (clauses > 0) {
        this.#weights += clausesWeight(this.#info, this.#reader, immAt);
      }
    }
    if (depth >= this.#frames.length) {
      if (depth >= MAX_NESTING) tooDeep(this.#functionIndex, opPos);
      this.#growFrames();
    }
    {
      // Its parameters stay on the stack, in the frame.
      const type = this.#bytes[immAt]!;
      let results = 0;
      let blockParams = 0;
      if (type !== 0x40) {
        if (type > 0x40 && type < 0x80) {
          results = 1;
          this.#weights += BLOCK_VALUE_WEIGHT;
        } else {
          results = this.#blockArity(immAt);
          blockParams = this.#blockParams;
          this.#weights += BLOCK_VALUE_WEIGHT * (blockParams + results);
        }
      }
      const stackFrames = this.#stackFrames;
      stackFrames[depth * 3] = this.#height - blockParams;
      stackFrames[depth * 3 + 1] = blockParams;
      stackFrames[depth * 3 + 2] = results;
    }
    this.#frames[depth] = role === 1
      ? Frame.Block
      : role === 2
      ? Frame.Loop
      : role === 3
      ? Frame.If
      : role === 6
      ? Frame.Try
      : Frame.TryTable;
    this.#catchTargets[depth] = 0;
    this.#tableOwners[depth] = -1;
    this.#predHead[depth] = -1;
    this.#openedIn[depth] = this.#serial << 1 | (live ? 1 : 0);
    depth++;
    this.#depth = depth;
    if (depth > this.#deepest) this.#deepest = depth;
    // An `if` does not end its segment: the start of its then-arm is
    // prepaid with what comes before, and a false condition leaves it
    // paid, as a taken `br_if` does.
    return role === 2 ? 1 : -1;
  }

  /** An `else`. */
  #else(opPos: number, opHeight: number): void {
    const heightSums = this.#heightSums;
    const depth = this.#depth;
    this.#controls += IF_POINTS;
    heightSums[4]++;
    if (opHeight > 0) heightSums[1] += IF_POINTS * opHeight;
    if (this.#frames[depth - 1] !== Frame.If) fail("else without if", opPos);
    this.#frames[depth - 1] = Frame.Else;
    const stackFrames = this.#stackFrames;
    this.#height = stackFrames[depth * 3 - 3]! + stackFrames[depth * 3 - 2]!;
  }

  /**
   * The `end` of a frame other than the function's (and a `delegate`):
   * the frame left, the operand stack as it leaves it.
   */
  #leaveFrame(): number {
    const depth = this.#depth - 1;
    this.#depth = depth;
    const stackFrames = this.#stackFrames;
    this.#height = stackFrames[depth * 3]! + stackFrames[depth * 3 + 2]!;
    return depth;
  }

  /** The `end` of a frame other than the function's; returns `must`. */
  #endFrame(p: number): number {
    const depth = this.#leaveFrame();
    const catchTargets = this.#catchTargets;
    const openedIn = this.#openedIn;
    const frames = this.#frames;
    const tableOwners = this.#tableOwners;
    let must = catchTargets[depth]! & 1; // an exception lands there
    if (
      (catchTargets[depth]! & 5) === 0 &&
      (catchTargets[depth] === 0 || !loopFollows(this.#bytes, p, this.#end)) &&
      openedIn[depth]! >> 1 === this.#serial &&
      (frames[depth] === Frame.Block || frames[depth] === Frame.If)
    ) {
      // No segment started inside this `block` or else-less `if`, and no
      // `br_table` or exception lands at its `end`: every way there
      // (falling through, an `if`'s false condition, a `br` or `br_if`
      // from inside) comes from the segment open before it, which then
      // pays for what follows too, and nothing it paid for is skipped that
      // was not already (a taken branch skips only what its segment paid
      // for after it). Reachable after the `end` if its start was. A
      // `br_table` could jump past every case of a dispatch: each would be
      // paid on every pass.
      must = -1;
      this.#live = (openedIn[depth]! & 1) === 1;
    } else if (
      (catchTargets[depth]! & 3) === 2 && tableOwners[depth]! >= 0 &&
      frames[depth] === Frame.Block
    ) {
      // Every way here comes from one `br_table`'s targets, paid in
      // advance by its check: it can pay for this segment too (see
      // `#closeSegment`), if the way in by falling through is paid.
      const owner = tableOwners[depth]!;
      if (!this.#live) {
        this.#endPaidBy = owner;
        this.#endPaidPreds = this.#predHead[depth]!;
      } else if (
        this.#paidBy === owner && this.#code.editCount === this.#segment + 1
      ) {
        this.#addPred(depth, this.#segment);
        this.#endPaidBy = owner;
        this.#endPaidPreds = this.#predHead[depth]!;
      }
    }
    return must;
  }

  /**
   * The function's final `end` at `p`: the body's compile limits checked,
   * its last segment closed, its record kept. Returns the rewritten size,
   * or `RESCAN`.
   */
  #endBody(p: number): number {
    this.#depth = 0;
    const end = this.#end;
    const start = this.#start;
    const codeStart = this.#codeStart;
    const functionIndex = this.#functionIndex;
    const localCount = this.#localCount;
    const refLocals = this.#refLocals;
    const heightSums = this.#heightSums;
    if (p !== end) fail("operators after the function's final end", p);
    // Each segment has a check (the entry's too, and one more for the
    // segment this `end` closes).
    const controls = this.#controls + this.#serial + 1;
    // With the steps' before this one.
    const weights = this.#weightsBefore + this.#weights +
      Math.max(0, this.#deepest - FREE_NESTING) * NESTING_WEIGHT;
    const stacked = heightSums[1]!;
    const piled = heightSums[0]! +
      Math.max(0, this.#most - FREE_HEIGHT) * MAX_HEIGHT_WEIGHT +
      Math.floor(heightSums[3]! * heightSums[2]! / (16 * LOCAL_HEIGHT_SHARE));
    const arms = heightSums[4]!;
    const units = localUnits(localCount) * controls +
      STACKED_VALUE_UNITS * stacked +
      refLocalUnits(localCount, refLocals) + IF_UNITS * arms;
    if (units > MAX_COMPILE_UNITS) {
      tooDearToCompile(
        functionIndex,
        localCount,
        controls,
        stacked,
        refLocals,
        arms,
        start,
      );
    }
    if (end - codeStart + weights + piled > MAX_COMPILE_COST) {
      tooDearOperators(functionIndex, end - codeStart + weights + piled, start);
    }
    this.#code.dear.note(
      functionIndex,
      units,
      end - codeStart + weights + piled,
    );
    const editsFrom = this.#editsFrom;
    if (this.#clausesMissed) {
      this.#code.editCount = editsFrom;
      return RESCAN;
    }
    let growth = this.#growth;
    if (this.#pendingReload >= 0) {
      growth -= this.#dropReload(this.#pendingReload, this.#reloadLength);
    }
    const inRegister = this.#inRegister;
    growth += this.#closeSegment(this.#segment, this.#cost, 1, inRegister);
    if (this.#deadlineOnly) {
      // A call runs its code, zeroes its declared locals (a function of
      // 40,000 `v128` locals and one operator took 7 µs a call) and does
      // its bulk operators' work: each weighs as bytes of code, so that
      // 8,000 calls of such a function in one body cannot go unchecked (55
      // ms).
      this.#sites.endBody(
        functionIndex - this.#info.importedFunctions,
        end - codeStart + (localCount - this.#params) +
          (this.#helpers.inlineBulk >> 4),
      );
    }
    return this.#finishBody({
      start,
      groupsStart: this.#groupsStart,
      codeStart,
      end,
      groups: this.#groups,
      localCount,
      flags: this.#bodyFlags | (inRegister ? IN_REGISTER : 0),
      editsFrom,
      hints: this.#hints,
      growth,
      functionIndex,
    });
  }

  /** A `call`'s compile weight, and its reload; returns `must`. */
  #call(op: number, index: number): number {
    const info = this.#info;
    if (NO_COPY[op] === 1) this.#noCopy = true;
    if (op === 0x10) {
      const type = info.functionTypes[index]!;
      const results = typeResults(info, type);
      const params = info.typeParams[type]!;
      this.#weights += valuesWeight(results) + CALL_PARAM_WEIGHT * params;
      this.#height += results - params;
    }
    if (index < info.importedFunctions) {
      this.#noCopy = true; // a copy calls no import
      return 1;
    }
    if (this.#inRegister) {
      // The callee spent fuel from the counter: the call's own edit (the
      // last) reads it back after the call.
      const code = this.#code;
      const reload = code.editCount - 1;
      this.#pendingReload = reload;
      code.setKind(reload, code.kindAt(reload) | RELOAD);
      this.#growth += this.#reloadLength;
    }
    return -1;
  }

  /** A `call_indirect` or `call_ref`'s compile weight. */
  #callDynamic(op: number, immAt: number): void {
    if (NO_COPY[op] === 1) this.#noCopy = true;
    if (op === 0x11 || op === 0x14) {
      // call_indirect and call_ref: the type comes first.
      const r = this.#reader;
      r.pos = immAt;
      const type = r.u32();
      const results = typeResults(this.#info, type);
      const params = this.#info.typeParams[type]!;
      this.#weights += valuesWeight(results) +
        CALL_PARAM_WEIGHT * Math.max(0, params);
      this.#height += results - params;
    }
  }

  /**
   * A way out that does not fall through (`br`, `br_table`, `return`,
   * `unreachable`, a throw, a tail call): what follows is unreachable.
   */
  #transfer(
    op: number,
    imm: number,
    index: number,
    opPos: number,
    immAt: number,
    opHeight: number,
  ): void {
    // A way out with no label (`unreachable`, `return`, a throw, a tail
    // call) costs the compile about what a branch does a local (measured
    // over locals, not over the operand stack's values).
    if (imm !== 3 && op !== 0x0e) this.#controls++;
    // A `return` carries its values as a `br` to the function's label does
    // (1,000 returns of 1,000 values held a first call 60 to 89 ms before
    // they counted).
    if (op === 0x0f && opHeight > 0) this.#heightSums[1] += opHeight;
    if (op >= 0x12 && op <= 0x15 && op !== 0x14) {
      // A tail call: its arguments take the caller's frame's place.
      const r = this.#reader;
      r.pos = immAt;
      const type = op === 0x12 ? this.#info.functionTypes[index]! : r.u32();
      this.#weights += TAIL_CALL_PARAM_WEIGHT *
        Math.max(0, this.#info.typeParams[type]!);
    }
    // A throw is made and unwound in the engine's runtime: with a stop
    // flag, a call before it counts it toward a poll of the host's clock,
    // as the grows' and waits' helpers do.
    if (this.#flagSize > 0 && op >= 0x08 && op <= 0x0a) {
      this.#growth += this.#helpers.callBeforeThrow(opPos);
    }
    if (op === 0x0e) {
      const r = this.#reader;
      r.pos = immAt;
      const points = r.u32() + 1;
      this.#controls += points;
      if (opHeight > 0) this.#heightSums[1] += points * opHeight;
      // A `br_table` whose segment spent nothing since its check can have
      // that check pay in advance for the segments it leads to.
      const segment = this.#segment;
      this.#ownTargets(
        immAt,
        this.#depth,
        this.#live && this.#inRegister && this.#cost > 0 &&
          this.#code.editCount === segment + 1
          ? segment
          : -2,
      );
    }
    this.#live = false;
    // What follows is unreachable: the engine does not compile it.
    this.#height = this.#stackFrames[this.#depth * 3 - 3]!;
  }

  /** A legacy `catch` or `catch_all`. */
  #catch(op: number, opPos: number, immAt: number, opHeight: number): void {
    const depth = this.#depth;
    this.#controls++;
    if (opHeight > 0) this.#heightSums[1] += opHeight;
    this.#checkCatch(op, depth, opPos);
    this.#height = this.#stackFrames[depth * 3 - 3]!;
    if (op === 0x07) { // catch: the tag's values, on the stack
      const r = this.#reader;
      r.pos = immAt;
      const values = tagValues(this.#info, r.u32());
      this.#weights += valuesWeight(values);
      this.#height += values;
    }
    const tryAt = this.#tryAt;
    if (++this.#clausesSeen[depth - 1]! > MAX_CATCH_CLAUSES) {
      tooManyClauses(tryAt[depth - 1]!);
    }
    if (this.#clauseCost > 0 && !this.#triesCounted) {
      const at = tryAt[depth - 1]!;
      this.#tryClauses.set(at, (this.#tryClauses.get(at) ?? 0) + 1);
      this.#clausesMissed = true;
    }
  }

  /**
   * A bulk operator, `memory.grow` or `table.grow`: its run-time charge,
   * refund and helper call.
   */
  #bulk(
    op: number,
    code: number,
    imm: number,
    role: number,
    index: number,
    opPos: number,
    p: number,
  ): void {
    const flagSize = this.#flagSize;
    const grow = op === 0x40 || op === 0xfc && code === 0x0f;
    // With a stop flag, a `table.grow` may become a helper call, which its
    // refund must then follow.
    let refund = false;
    if (this.#live) {
      const charge = this.#chargeBulk(imm, role, opPos);
      this.#growth += charge;
      if (charge > 0 && grow) {
        if (flagSize > 0) refund = true;
        else this.#growth += this.#refundGrow(op === 0x40, opPos, p);
      }
    }
    if (flagSize > 0) {
      const helpers = this.#helpers;
      const before = this.#code.editCount;
      const length = this.#constEnd === opPos ? this.#constAt : -1;
      let growth = 0;
      if (op === 0x40) {
        growth += helpers.callMemoryGrowHelper(opPos, p);
      } else if (grow) {
        growth += helpers.callGrowHelper(opPos, p);
      } else if (op === 0xfc) {
        growth += helpers.callHelper(code, opPos, p, length);
      } else if (op === 0xfb) {
        growth += helpers.callArrayHelper(code, index, opPos, p);
      }
      const called = this.#code.editCount !== before;
      if (this.#inRegister && called) {
        // The helper's flag checks call the host, which may have changed
        // the counter.
        growth += this.#reloadAfter();
      }
      if (refund) {
        growth += called
          ? this.#refundAfterCall(op === 0x40, p)
          : this.#refundGrow(op === 0x40, opPos, p);
      }
      this.#growth += growth;
    }
  }

  /**
   * Closes the open segment and starts the next at `p`, after an operator
   * of role `role`; `must` is 1 if its check must stay even when free.
   */
  #nextSegment(role: number, must: number, p: number): void {
    const height = this.#height;
    const inRegister = this.#inRegister;
    // The check that starts the next segment is a control point too.
    if (height > 0) this.#heightSums[1] += height;
    this.#pendingReload = -1;
    this.#growth += this.#closeSegment(
      this.#segment,
      this.#cost,
      this.#sync,
      inRegister,
    );
    const fused = this.#fused;
    if (role === 2 /* Role.Loop */ && this.#flagSize > 0 && fused === 0) {
      const flagCall = this.#flagCall;
      this.#code.pushEdit(p, Edit.Flag, inRegister ? 1 : flagCall);
      if (flagCall === 0) this.#hints++;
      this.#growth += this.#loopFlagSize;
    }
    // After a call, the check reads what the callee or the host left.
    const reads = role === 11 || role === 12
      ? this.#load
      : role === 2 /* Role.Loop */
      ? fused
      : 0;
    this.#segment = this.#code.pushEdit(p, Edit.Check | must << 4 | reads, 0);
    this.#paidBy = this.#endPaidBy;
    this.#paidPreds = this.#endPaidPreds;
    this.#endPaidBy = -1;
    this.#cost = 0;
    this.#sync = 0;
    this.#live = true;
    this.#serial++;
  }

  /**
   * Deadline-only, once every body is scanned: leaves out the entry checks
   * that may go, and reads the flag before the calls that need it (see
   * `entry_checks.ts`).
   *
   * @param small The size, size prefix included, up to which a body
   * counts as small.
   * @returns The steps, which return how much the bodies' sizes (size
   * prefixes included) grow, and how many more bodies are small.
   */
  *settleEntryChecks(
    small: number,
  ): Steps<{ growth: number; small: number }> {
    return yield* settleEntryChecks(
      this.#info,
      this.#code,
      this.#templates.flag.length,
      this.#sites,
      small,
    );
  }

  /**
   * Skips operators that play no role and whose immediates are short, as
   * the scan loop would (their prices added to `cost` if `live`), from `p`
   * to the first other operator. Leaves the cost in `#plainCost`, and the
   * rest in `#plainOut`; returns where it stopped. It
   * starts no operator at or past `limit` (where the scan pauses next).
   */
  #skipPlain(
    p: number,
    end: number,
    limit: number,
    live: boolean,
    cost: number,
    hasMemory: boolean,
    height: number,
    most: number,
  ): number {
    const bytes = this.#bytes;
    const singleCost = this.#costs.single;
    const limits = this.#plainLimits;
    let sync = 0;
    let weights = 0;
    while (p < limit) {
      const op = bytes[p]!;
      const plain = PLAIN[op]!;
      // The scan loop takes an operator that would make the operand stack
      // higher than ever before, and notes that height.
      const next = height + (plain >> 3);
      if (plain === 0 || next > most) break;
      const skip = plain & 7;
      // Local and Global, I32 and I64, MemArg (see `Skip`).
      const kind = skip >> 1;
      let q = p + 1;
      if (kind === 1) {
        if (q >= end || bytes[q]! >= limits[skip]!) break;
        q++;
      } else if (kind === 2) {
        // As in the scan loop: the Reader checks a longest encoding. (No
        // `Math.min` here or below: small enough, V8 inlines this method.)
        let last = q + limits[skip]!;
        if (last > end) last = end;
        let r = q;
        while (r < last && bytes[r]! >= 0x80) r++;
        if (r >= last) break;
        this.#constAt = q;
        q = r + 1;
        this.#constEnd = q;
      } else if (kind === 3) {
        if (q >= end || bytes[q]! > MAX_ALIGNMENT || !hasMemory) break;
        let last = q + 5;
        if (last > end) last = end;
        let r = q + 1;
        while (r < last && bytes[r]! >= 0x80) r++;
        if (r >= last) break;
        q = r + 1;
      }
      if (live) cost += singleCost[op]!;
      sync |= SYNC_SINGLE[op]!;
      weights += COMPILE_WEIGHT[op]!;
      height = next;
      p = q;
    }
    this.#plainCost = cost;
    const out = this.#plainOut;
    out[0] = weights;
    out[1] = sync;
    out[2] = height;
    return p;
  }

  /**
   * Drops the reload of call edit `edit`, which added `length` bytes;
   * returns `length`.
   */
  #dropReload(edit: number, length: number): number {
    const code = this.#code;
    code.setKind(edit, code.kindAt(edit) & ~RELOAD);
    return length;
  }

  /**
   * Has the helper call just planned (the last edit) read the counter back
   * into the fuel's local after it; returns the bytes that adds.
   */
  #reloadAfter(): number {
    const code = this.#code;
    const edit = code.editCount - 1;
    code.setKind(edit, code.kindAt(edit) | RELOAD);
    return this.#templates.reload.length;
  }

  /**
   * Reads the immediates the scan loop does not skip inline: their longer
   * encodings, and the less common layouts. Leaves a label, function or type
   * index in `#index`; returns where the immediates end.
   */
  #slowImmediate(
    imm: number,
    p: number,
    opPos: number,
    depth: number,
    localCount: number,
  ): number {
    const r = this.#reader;
    const info = this.#info;
    r.pos = p;
    this.#index = 0;
    switch (imm) {
      case Imm.Local:
        r.index(localCount, "local", "function");
        break;
      case Imm.Global:
        r.index(info.globalCount, "global", "module");
        break;
      case Imm.I32:
        r.skipSigned(32);
        break;
      case Imm.I64:
        r.skipSigned(64);
        break;
      case Imm.MemArg:
      case Imm.MemArgLane:
        readMemArg(r, info.memoryIs64, opPos);
        if (imm === Imm.MemArgLane) {
          if (r.pos >= r.end) {
            fail("unexpected end: expected lane index", r.pos);
          }
          r.pos++;
        }
        break;
      case Imm.BlockType:
        info.countBlockType(readBlockType(r, info.typeCount), opPos);
        break;
      case Imm.Label:
      case Imm.Func:
        this.#index = r.u32();
        break;
      case Imm.Index:
        this.#index = r.u32();
        break;
      case Imm.Type:
        this.#index = r.index(info.typeCount, "type", "module");
        break;
      case Imm.F64:
        if (r.end - p < 8) fail("unexpected end: expected 8 bytes", p);
        return p + 8;
      default:
        return readOtherImmediate(
          r,
          imm,
          p,
          info,
          depth,
          this.#catchTargets,
          this.#operands,
          opPos,
        );
    }
    return r.pos;
  }

  /**
   * How many values the block type at `immAt` leaves (a type index's
   * results; 1 for a value type); its parameters go in `#blockParams`.
   */
  #blockArity(immAt: number): number {
    const r = this.#reader;
    r.pos = immAt;
    this.#blockParams = 0;
    const byte = r.peek("block type");
    if (byte >= 0x40 && byte < 0x80) return byte === 0x40 ? 0 : 1;
    const type = r.s33();
    if (type < 0) return 0; // the empty type, in more than one byte
    this.#blockParams = Math.max(0, this.#info.typeParams[type]!);
    return typeResults(this.#info, type);
  }

  #checkCatch(op: number, depth: number, opPos: number): void {
    const frame = this.#frames[depth - 1];
    if (frame !== Frame.Try && frame !== Frame.Catch) {
      fail(`${op === 0x07 ? "catch" : "catch_all"} without try`, opPos);
    }
    this.#frames[depth - 1] = op === 0x07 ? Frame.Catch : Frame.CatchAll;
  }

  /**
   * Records a run-time charge before a bulk operator; returns the bytes it
   * adds. `#operands` holds the memories or tables the operator named.
   */
  #chargeBulk(imm: number, role: number, opPos: number): number {
    const costs = this.#costs;
    const info = this.#info;
    const unit = role === Role.PerByte
      ? costs.perByte
      : role === Role.PerElement
      ? costs.perElement
      : costs.perPage;
    if (unit === 0 || !this.#targets.countsFuel) return 0;
    // The operand is 64-bit when the memories or tables named are; the
    // operators that name a data or element segment (`memory.init`,
    // `table.init`) or none (the GC array operators) count with i32, and
    // so does a copy between a 32-bit and a 64-bit memory or table.
    const { first, second } = this.#operands;
    const is64 = imm === Imm.Memory || imm === Imm.MemoryPair
      ? info.memoryIs64[first]! && info.memoryIs64[second]!
      : imm === Imm.Table || imm === Imm.TablePair
      ? info.tableIs64[first]! && info.tableIs64[second]!
      : false;
    this.#code.pushEdit(opPos, Edit.Dynamic | (is64 ? 1 << 4 : 0), unit);
    this.#hints++;
    this.#bodyFlags |= is64 ? HAS_DYNAMIC : HAS_DYNAMIC | HAS_DYNAMIC_32;
    return this.#templates.charge(is64, unit).length;
  }

  /**
   * After a charged `memory.grow` (`memory`) or `table.grow`, from `opPos`
   * to `end`: gives the charge back should the grow fail, so that a failed
   * grow, which adds nothing, is not paid for as if it had (a guest asking
   * for 2^31 pages in a loop would otherwise burn through any budget, an
   * unlimited one included, without doing any work). The charge's edit,
   * the last, does it. Returns its size.
   */
  #refundGrow(memory: boolean, opPos: number, end: number): number {
    const first = this.#operands.first;
    const is64 = memory
      ? this.#info.memoryIs64[first]!
      : this.#info.tableIs64[first]!;
    const code = this.#code;
    const charge = code.editCount - 1;
    code.setKind(
      charge,
      code.kindAt(charge) | REFUND | (is64 ? REFUND_64 : 0) |
        (end - opPos) << REFUND_LENGTH_SHIFT,
    );
    if (is64) this.#bodyFlags |= HAS_DYNAMIC_32 | HAS_REFUND_64;
    return this.#templates.refund(is64).length;
  }

  /**
   * The refund of a charged `memory.grow` or `table.grow` that became a
   * call of an added function, after
   * the call (and its reload): see `#refundGrow`. Returns its size.
   */
  #refundAfterCall(memory: boolean, end: number): number {
    const first = this.#operands.first;
    const is64 = memory
      ? this.#info.memoryIs64[first]!
      : this.#info.tableIs64[first]!;
    this.#code.pushEdit(end, Edit.Refund | (is64 ? 1 << 4 : 0), 0);
    if (is64) this.#bodyFlags |= HAS_DYNAMIC_32 | HAS_REFUND_64;
    return this.#templates.refund(is64).length;
  }

  /**
   * The value of an `Edit.Flag` that calls the added function reading the
   * flag (see `WIDE_LOCALS`): 2 plus its number among the added
   * functions, added at the first such body. 0 (an inline check) when the
   * call, padded, would not fit in the inline check's `size` bytes.
   */
  #flagCallValue(size: number): number {
    if (size < PADDED_CALL_SIZE) return 0;
    const number = this.#code.helperNumber(FLAG_CHECK_KEY, () => ({
      type: FLAG_CHECK_TYPE,
      bytes: flagCheckBody(this.#targets.stopFlag!),
    }));
    return 2 + number;
  }

  /**
   * Puts the cost into a segment's check, or drops the check if the segment
   * is free and its check optional. Returns how many bytes the check adds.
   */
  #closeSegment(
    segment: number,
    cost: number,
    sync: number,
    inRegister: boolean,
  ): number {
    const code = this.#code;
    if (
      this.#paidBy >= 0 && inRegister && this.#targets.countsFuel &&
      // A check that reads the stop flag stays a test.
      (code.kindAt(segment) & FUSED << 5) === 0
    ) {
      // The most paid for on any way here, then through this segment.
      let path = cost;
      const nodes = this.#predNodes;
      const pathOut = this.#pathOut;
      const pathSet = this.#pathSet;
      const serial = this.#bodySerial;
      const base = this.#pathBase;
      for (let node = this.#paidPreds; node >= 0; node = nodes[node + 1]!) {
        const pred = nodes[node]! - base;
        if (
          pred >= pathSet.length || pathSet[pred] !== serial ||
          pathOut[pred]! < 0
        ) {
          return this.#closeTested(segment, cost, sync, inRegister);
        }
        const out = pathOut[pred]!;
        if (out + cost > path) path = out + cost;
      }
      if (path <= MAX_MARGIN) {
        const paid = cost > 0 ? this.#payInAdvance(this.#paidBy, path) : 0;
        if (paid >= 0) {
          // Kept in place even when free, so that no later segment takes
          // its number, by which the segments after it find its path.
          this.#setPathOut(
            segment,
            code.editCount === segment + 1 ? path : -1,
          );
          // A trap on the way from the dispatch's check, which wrote the
          // counter, leaves this segment uncharged: only what calls or
          // leaves needs the counter exact here.
          sync &= ~TRAPS_ONLY;
          if (cost === 0) {
            code.setKind(segment, sync ? Edit.Sync : Edit.Skip);
            return sync ? this.#templates.sync.length : 0;
          }
          code.setKind(segment, Edit.Charge | (sync ? SYNC : 0) << 5);
          code.setCost(segment, cost);
          return paid + this.#sizes.chargeSize(cost, sync);
        }
      }
    }
    return this.#closeTested(segment, cost, sync, inRegister);
  }

  /** `#closeSegment` for a segment that is not paid in advance. */
  #closeTested(
    segment: number,
    cost: number,
    sync: number,
    inRegister: boolean,
  ): number {
    const code = this.#code;
    const kind = code.kindAt(segment);
    const optional = (kind & 0x1f) === Edit.Check;
    if (
      cost === 0 && optional && !(inRegister && sync) ||
      !this.#targets.countsFuel
    ) {
      if (segment === code.editCount - 1) code.editCount--;
      else code.setKind(segment, Edit.Skip);
      return 0;
    }
    if (cost === 0 && optional) {
      // Free, but the counter must be right for what follows.
      code.setKind(segment, Edit.Sync);
      return this.#templates.sync.length;
    }
    if (cost > MAX_SEGMENT_COST) {
      // Capped, the segment would run for less than it costs.
      fail(
        `a straight-line stretch of code costs more than 2^53 - 1 fuel with these costs: lower the costs of its operators`,
        code.positionAt(segment),
      );
    }
    code.setCost(segment, cost);
    this.#hints++;
    let variant = kind >> 5 & FUSED;
    if (inRegister) {
      variant |= (kind >> 5 & LOAD) | (sync ? SYNC : 0);
      code.setKind(segment, (kind & 0x1f) | variant << 5);
    }
    const check = this.#templates.variants[variant]!;
    return check.fixed + check.costAt.length * s64Size(cost);
  }

  /**
   * Marks the labels a `br_table` names: owned by `check` (the check edit
   * of its segment), or, if `check` is -2 or another segment names them
   * too, owned by none.
   */
  #ownTargets(immAt: number, depth: number, check: number): void {
    const r = this.#reader;
    const owners = this.#tableOwners;
    r.pos = immAt;
    const n = r.u32();
    if (check >= 0) this.#setPathOut(check, 0);
    for (let i = 0; i <= n; i++) {
      const frame = depth - 1 - r.u32();
      const owner = owners[frame]!;
      if (check >= 0 && (owner === -1 || owner === check)) {
        owners[frame] = check;
        // Once per frame: a table may name a frame many times, and
        // `#closeSegment` needs each way in once.
        const head = this.#predHead[frame]!;
        if (head < 0 || this.#predNodes[head] !== check) {
          this.#addPred(frame, check);
        }
      } else owners[frame] = -2;
    }
  }

  /**
   * Notes a branch to `frame` from `segment`: paid for in advance if it is
   * a `br` or `br_if` from a segment its owner's `br_table` paid for, that
   * spent nothing since (no call); anything else leaves the frame unpaid.
   */
  #branchTo(frame: number, op: number, segment: number, live: boolean): void {
    const owner = this.#tableOwners[frame]!;
    const paidBy = this.#paidBy;
    if (
      (op === 0x0c || op === 0x0d) && live && paidBy >= 0 &&
      (owner === -1 || owner === paidBy) &&
      this.#code.editCount === segment + 1
    ) {
      this.#tableOwners[frame] = paidBy;
      this.#addPred(frame, segment);
    } else this.#tableOwners[frame] = -2;
  }

  /**
   * Has the check edit `check` also test for a following segment of cost
   * `cost`, which then pays without a test. Returns how many bytes that
   * adds to the check, or -1 if it cannot (the check was left out).
   */
  #payInAdvance(check: number, cost: number): number {
    const code = this.#code;
    const kind = code.kindAt(check);
    if ((kind & 0xf) !== Edit.Check) return -1;
    const own = code.cost(code.valueAt(check));
    if (own > MAX_MARGIN) return -1;
    const before = (kind & MARGIN) !== 0 ? code.margins.get(check)! : 0;
    if (cost <= before) return 0;
    code.margins.set(check, cost);
    code.setKind(check, kind | MARGIN);
    return this.#sizes.marginCheckSize(kind, own, cost) -
      (before > 0
        ? this.#sizes.marginCheckSize(kind, own, before)
        : this.#sizes.checkSize(kind >> 5 & 7, own));
  }

  /** Records a scanned body; returns its rewritten size with its prefix. */
  #finishBody(body: BodyRecord): number {
    // The locals the body gets (`writeLocals`): `$f`, and `$d`, `$n` and
    // `$r` for its charges and refunds. A body of 49,997 locals that grew a
    // 64-bit memory came out with 50,001, which the engine refused.
    const flags = body.flags;
    const added = 1 + (flags & HAS_DYNAMIC ? 1 : 0) +
      (flags & HAS_DYNAMIC_32 ? 1 : 0) + (flags & HAS_REFUND_64 ? 1 : 0);
    if (body.localCount + added > LIMITS.locals) {
      failAtLimit(
        `function ${body.functionIndex} has too many locals to add fuel counters`,
        body.groupsStart,
      );
    }
    if (
      this.#selfCalls.length > 0 && this.#targets.registerCopies &&
      !this.#noCopy
    ) {
      body.growth += planRegisterCopy(
        this.#code,
        this.#reader,
        this.#info,
        this.#targets,
        { ...body, selfCalls: this.#selfCalls },
      );
    }
    return this.#code.addBody(body);
  }
}

/**
 * Whether a `loop` starts at `at` after nothing but local reads, writes
 * and constants. A branched-to block's `end` right before a loop keeps its
 * segment: merged into the segment before the block, V8 (13.x–15.x) used
 * the branch hints of the function's checks worse, measured on hash-wasm's
 * xxhash64 (1.17 times plain against 0.91), though the loop's own code was
 * the same.
 *
 * @param bytes The module.
 * @param at Just after the block's `end`.
 * @param end The body's end.
 * @returns Whether a loop follows.
 */
function loopFollows(bytes: Uint8Array, at: number, end: number): boolean {
  for (let ops = 0; ops < 8 && at < end; ops++) {
    const op = bytes[at++]!;
    if (op === 0x03) return true;
    if (op < 0x20 || op > 0x22 && op !== 0x41 && op !== 0x42) return false;
    // Skip the operator's one LEB128 immediate.
    while (at < end && (bytes[at++]! & 0x80) !== 0);
  }
  return false;
}
