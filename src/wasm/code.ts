/**
 * Rewrites function bodies: splits each body into straight-line segments,
 * prepays each segment's cost with a check at its start, charges bulk
 * operators by their operand at run time, and shifts function indices.
 *
 * It works in two passes so that the output can be allocated once at its
 * exact size. {@linkcode CodeRewriter.scan} decodes every operator of a body
 * once, checks its indices and block structure, and appends to an edit list
 * (where checks go and what they cost, which index bytes change, where
 * run-time charges go), returning the rewritten body's size. Later,
 * {@linkcode CodeRewriter.emit} copies every body in bulk between its edits.
 * Neither pass allocates per operator.
 *
 * @module
 */

import type { CostModel } from "./costs.ts";
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
import { readMemArg } from "./immediates.ts";
import { fail, Reader } from "./reader.ts";
import {
  isAbstractHeapType,
  readBlockType,
  readHeapType,
  readValType,
} from "./types.ts";
import { putU32, s64Size, u32Size, type Writer } from "./writer.ts";
import { type CheckTargets, writeBulkCharge, writeCheck } from "./checks.ts";
import { Emitter } from "./emitter.ts";
import { registerBody, registerType } from "./register.ts";

/** What the added code refers to. */
export interface FuelTargets extends CheckTargets {
  /**
   * Whether self-recursive functions get a register copy, numbered from
   * `slowFunction + 1`.
   */
  readonly registerCopies: boolean;
}

/** A register copy: its type entry and its body with the size prefix. */
export interface RegisterCopy {
  /** The copy's function type, ready for the type section. */
  readonly type: Uint8Array;
  /** The copy's body, size prefix included. */
  readonly bytes: Uint8Array;
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

/**
 * Edit kinds, in the low 4 bits of an edit's second field; the bits above
 * hold a flag or a length.
 */
const enum Edit {
  /** A removed check (a free segment that needs none). */
  Skip,
  /** A check; flag: it must stay even if free; value: the cost. */
  Check,
  /** A function index; above: the old LEB length; value: the new index. */
  Function,
  /** A run-time charge; flag: 64-bit operand; value: the unit cost. */
  Dynamic,
  /**
   * A call of the function itself, routed to its register copy; above: the
   * old length of the call with its index; value: the copy's index.
   */
  SelfCall,
}

/** The custom section that marks branches likely or unlikely. */
export const BRANCH_HINTS = "metadata.code.branch_hint";

/** The size of the branch hint section's content, from a hint plan. */
function hintsContentSize(plan: number[]): number {
  let size = 1 + BRANCH_HINTS.length + u32Size(plan.length / 3);
  for (let i = 0; i < plan.length; i += 3) {
    size += u32Size(plan[i]!) + u32Size(plan[i + 1]!) +
      plan[i + 1]! * (plan[i + 2]! + 2);
  }
  return size;
}

/** A check with a one-byte cost, for bodies with a given number of locals. */
interface PreparedCheck {
  /** The check, with cost 0. */
  template: Uint8Array;
  /** `template` as little-endian words, for fast copying. */
  words: Uint32Array;
  /** Where the cost goes in `template`: once, or twice when resumable. */
  costAt: number[];
  /** Where the `if` is in `template`. */
  ifAt: number;
  /** The check's size without its costs. */
  fixed: number;
}

/** Fields per edit: input position, kind (and flag or length), value. */
const EDIT_SIZE = 3;

/** Fields per body record. */
const enum Body {
  Start,
  GroupsStart,
  CodeStart,
  End,
  Groups,
  LocalCount,
  Flags,
  EditsFrom,
  EditsTo,
  Size,
  FunctionIndex,
  Fields,
}

const HAS_DYNAMIC = 1;
const HAS_DYNAMIC_32 = 2;

/** Segment costs are capped here so that they stay exact doubles. */
const MAX_SEGMENT_COST = Number.MAX_SAFE_INTEGER;
/** Runs shorter than this are copied word by word instead of by `set`. */
const SHORT_RUN = 48;

/** `i32`, `i64`, `f32`, `f64` or `v128`. */
function isNumeric(byte: number): boolean {
  return byte >= 0x7b && byte <= 0x7f;
}

function unknownOpcode(prefix: number, code: number, at: number): never {
  const hex = (n: number) => `0x${n.toString(16).padStart(2, "0")}`;
  return fail(
    prefix < 0
      ? `unknown opcode ${hex(code)}`
      : `unknown opcode ${hex(prefix)} ${hex(code)}`,
    at,
  );
}

/**
 * Instruments the function bodies of one module.
 *
 * @example Usage
 * ```ts ignore
 * const rewriter = new CodeRewriter(bytes, info, costs, targets);
 * const size = rewriter.scan(bodyStart, bodyEnd, functionIndex);
 * // …after every body is scanned and `size`s are summed:
 * rewriter.emit(writer);
 * ```
 */
export class CodeRewriter {
  readonly #bytes: Uint8Array;
  readonly #input: DataView;
  readonly #info: ModuleInfo;
  readonly #costs: CostModel;
  readonly #targets: FuelTargets;
  /** The check for the body being scanned or emitted. */
  #check: PreparedCheck = {
    template: new Uint8Array(0),
    words: new Uint32Array(0),
    costAt: [0],
    ifAt: 0,
    fixed: 0,
  };
  /**
   * The offset of every check's `if` in its function body, grouped by
   * function: function index, hint count, then the offsets.
   */
  #hints: number[] = [];
  /** The index of the dynamic sequence's `if`, by cache key. */
  #dynamicIfAt: number[] = [];
  #edits: Int32Array;
  #editCount = 0;
  /** Costs that do not fit an `Int32Array`; an edit stores `-(i + 1)`. */
  #bigCosts: number[] = [];
  #bodies: Int32Array = new Int32Array(Body.Fields * 64);
  #bodyCount = 0;
  #frames: Uint8Array = new Uint8Array(64);
  #catchTargets: Uint8Array = new Uint8Array(64);
  #dynamicCache: (Uint8Array | undefined)[] = [];
  #preparedFor = -1;
  readonly #preparedChecks = new Map<number, PreparedCheck>();
  /** A reader for the less common immediates, reused across operators. */
  #reader: Reader;
  /** The table or memory indices the last bulk operator named. */
  #index = 0;
  #index2 = 0;
  /** `HAS_DYNAMIC` bits of the body being scanned. */
  #bodyFlags = 0;
  /** The edits of the scanned body's calls to itself. */
  #selfCalls: number[] = [];
  /** Register copies made so far. */
  readonly #copies: RegisterCopy[] = [];
  /** Their hints, laid out like `#hints`. */
  readonly #copyHints: number[] = [];

  /**
   * @param bytes The input module.
   * @param info The module's sections before the code.
   * @param costs The cost model.
   * @param targets The added global and function.
   * @param codeSize The code section's size, to size the edit list.
   */
  constructor(
    bytes: Uint8Array,
    info: ModuleInfo,
    costs: CostModel,
    targets: FuelTargets,
    codeSize = 0,
  ) {
    this.#bytes = bytes;
    this.#input = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    this.#info = info;
    this.#costs = costs;
    this.#targets = targets;
    this.#edits = new Int32Array(EDIT_SIZE * Math.max(256, codeSize >> 4));
    this.#reader = new Reader(bytes, 0, 0);
  }

  #pushEdit(pos: number, kind: number, value: number): number {
    const at = this.#editCount * EDIT_SIZE;
    if (at + EDIT_SIZE > this.#edits.length) {
      const next = new Int32Array(this.#edits.length * 2);
      next.set(this.#edits);
      this.#edits = next;
    }
    const edits = this.#edits;
    edits[at] = pos;
    edits[at + 1] = kind;
    edits[at + 2] = value;
    return this.#editCount++;
  }

  #growFrames(): void {
    const frames = new Uint8Array(this.#frames.length * 2);
    frames.set(this.#frames);
    this.#frames = frames;
    const targets = new Uint8Array(frames.length);
    targets.set(this.#catchTargets);
    this.#catchTargets = targets;
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
    const bytes = this.#bytes;
    const typeCount = info.typeCount;

    // Locals.
    const r = this.#reader;
    r.pos = start;
    r.end = end;
    let localCount = info.typeParams[info.functionTypes[functionIndex]!]!;
    const groups = r.count("local group", 2);
    const groupsStart = r.pos;
    for (let i = 0; i < groups; i++) {
      const at = r.pos;
      localCount += r.u32();
      if (localCount > LIMITS.locals - 3) {
        r.fail(
          `function ${functionIndex} has too many locals to add fuel counters`,
          at,
        );
      }
      readValType(r, typeCount);
    }
    const codeStart = r.pos;

    const editsFrom = this.#editCount;
    let growth = 0;
    const costs = this.#costs;
    const singleImm = SINGLE_BYTE.imm;
    const singleRole = SINGLE_BYTE.role;
    const singleCost = costs.single;
    const functionCount = info.functionCount;
    const importedFunctions = info.importedFunctions;
    const globalCount = info.globalCount;
    // Local indices below this are one byte and in range.
    const localFast = Math.min(0x80, localCount);
    const memory64 = info.memoryIs64;
    let frames = this.#frames;
    let catchTargets = this.#catchTargets;
    let depth = 1;
    frames[0] = Frame.Function;
    catchTargets[0] = 0;

    const checkFixed = this.#prepareFunction(localCount);
    this.#selfCalls.length = 0;
    let segment = this.#pushEdit(codeStart, Edit.Check | 1 << 4, 0);
    let cost = 0;
    let live = true;
    this.#bodyFlags = 0;

    // The `case` labels below are literal numbers, the values of `Imm` and
    // `Role` named in their comments: only literal labels make `switch` a
    // jump table, and this loop runs once per operator.
    let p = codeStart;
    for (;;) {
      if (p >= end) fail("function body does not end with end", p);
      const opPos = p;
      const op = bytes[p++]!;
      let code = op;
      let imm: number;
      let role: number;
      if (op < 0xfb) {
        imm = singleImm[op]!;
        role = singleRole[op]!;
        if (live) cost += singleCost[op]!;
        if (imm === 1 /* Imm.None */ && role === 0 /* Role.Plain */) continue;
        if (imm === 0 /* Imm.Unknown */) unknownOpcode(-1, op, opPos);
      } else {
        let space: OpcodeSpace;
        let spaceCost: Float64Array;
        if (op === 0xfc) {
          space = MISC_OPS;
          spaceCost = costs.misc;
        } else if (op === 0xfd) {
          space = SIMD_OPS;
          spaceCost = costs.simd;
        } else if (op === 0xfb) {
          space = GC_OPS;
          spaceCost = costs.gc;
        } else if (op === 0xfe) {
          space = ATOMIC_OPS;
          spaceCost = costs.atomics;
        } else {
          return unknownOpcode(-1, op, opPos);
        }
        r.pos = p;
        code = r.u32();
        p = r.pos;
        imm = code < space.imm.length ? space.imm[code]! : Imm.Unknown;
        if (imm === 0 /* Imm.Unknown */) unknownOpcode(op, code, opPos);
        role = space.role[code]!;
        if (live) cost += spaceCost[code]!;
      }

      // Immediates. `index` keeps what a role below needs.
      let index = 0;
      switch (imm) {
        case 1: // Imm.None
          break;
        case 8: // Imm.Local
          if (p < end && bytes[p]! < localFast) p++;
          else {
            r.pos = p;
            r.index(localCount, "local", "function");
            p = r.pos;
          }
          break;
        case 19: // Imm.I32
        case 20: // Imm.I64
          if (p < end && bytes[p]! < 0x80) p++;
          else {
            r.pos = p;
            r.skipSigned(imm === 19 ? 32 : 64);
            p = r.pos;
          }
          break;
        case 11: // Imm.MemArg
        case 12: // Imm.MemArgLane
          r.pos = p;
          readMemArg(r, memory64, opPos);
          p = r.pos;
          if (imm === 12) {
            if (p >= end) fail("unexpected end: expected lane index", p);
            p++;
          }
          break;
        case 2: // Imm.BlockType
          if (p < end && (bytes[p] === 0x40 || isNumeric(bytes[p]!))) p++;
          else p = this.#readBlockType(p, end);
          break;
        case 3: { // Imm.Label
          const at = p;
          r.pos = p;
          index = r.u32();
          p = r.pos;
          // `delegate` names a label outside the `try` it ends.
          if (index >= (role === 8 /* Role.Delegate */ ? depth - 1 : depth)) {
            fail(`label ${index} out of range`, at);
          }
          break;
        }
        case 5: { // Imm.Func
          const at = p;
          r.pos = p;
          index = r.u32();
          p = r.pos;
          if (index >= functionCount) {
            fail(
              `function index ${index} out of range: the module has ${functionCount} functions`,
              at,
            );
          }
          if (index >= importedFunctions) {
            const edit = this.#pushEdit(
              at,
              Edit.Function | (p - at) << 4,
              index + 1,
            );
            growth += u32Size(index + 1) - (p - at);
            if (op === 0x10 && index === functionIndex) {
              this.#selfCalls.push(edit);
            }
          }
          break;
        }
        case 9: // Imm.Global
          r.pos = p;
          r.index(globalCount, "global", "module");
          p = r.pos;
          break;
        case 16: // Imm.Index
          r.pos = p;
          r.u32();
          p = r.pos;
          break;
        case 7: // Imm.Type
          r.pos = p;
          r.index(typeCount, "type", "module");
          p = r.pos;
          break;
        case 22: // Imm.F64
          if (end - p < 8) fail("unexpected end: expected 8 bytes", p);
          p += 8;
          break;
        default:
          p = this.#readOtherImmediate(imm, p, end, depth, opPos);
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
          if (depth >= frames.length) {
            this.#growFrames();
            frames = this.#frames;
            catchTargets = this.#catchTargets;
          }
          frames[depth] = role === 1
            ? Frame.Block
            : role === 2
            ? Frame.Loop
            : role === 3
            ? Frame.If
            : role === 6
            ? Frame.Try
            : Frame.TryTable;
          catchTargets[depth] = 0;
          depth++;
          if (role === 2) must = 1;
          else if (role === 3) must = 0;
          break;
        case 4: // Role.Else
          if (frames[depth - 1] !== Frame.If) fail("else without if", opPos);
          frames[depth - 1] = Frame.Else;
          must = 0;
          break;
        case 5: // Role.End
          depth--;
          if (depth === 0) {
            if (p !== end) fail("operators after the function's final end", p);
            growth += this.#closeSegment(segment, cost, checkFixed);
            return this.#finishBody(
              start,
              groupsStart,
              codeStart,
              end,
              groups,
              localCount,
              editsFrom,
              growth,
              functionIndex,
            );
          }
          must = catchTargets[depth]!;
          break;
        case 10: // Role.BranchIf
          must = 0;
          break;
        case 11: // Role.Call
          if (index < importedFunctions) must = 1;
          break;
        case 12: // Role.CallDynamic
          must = 1;
          break;
        case 13: // Role.Transfer
          live = false;
          break;
        case 7: // Role.Catch
          this.#checkCatch(op, depth, opPos);
          must = 1;
          break;
        case 8: // Role.Delegate
          if (frames[depth - 1] !== Frame.Try) {
            fail("delegate without try", opPos);
          }
          depth--;
          must = 1;
          break;
        default: // Role.PerByte, Role.PerElement, Role.PerPage
          if (live) {
            growth += this.#chargeBulk(op, code, role, opPos, localCount);
          }
      }
      if (must >= 0) {
        growth += this.#closeSegment(segment, cost, checkFixed);
        segment = this.#pushEdit(p, Edit.Check | must << 4, 0);
        cost = 0;
        live = true;
      }
    }
  }

  /** Reads a block type that is not empty and not a numeric type. */
  #readBlockType(p: number, end: number): number {
    const r = this.#reader;
    r.pos = p;
    r.end = end;
    readBlockType(r, this.#info.typeCount);
    return r.pos;
  }

  /**
   * Reads the immediates of the less common operators. Leaves the table or
   * memory indices that bulk charges need in `#index` and `#index2`.
   */
  #readOtherImmediate(
    imm: number,
    p: number,
    end: number,
    depth: number,
    opPos: number,
  ): number {
    const info = this.#info;
    const typeCount = info.typeCount;
    const r = this.#reader;
    r.pos = p;
    r.end = end;
    switch (imm) {
      case Imm.BrTable: {
        const n = r.count("br_table target");
        for (let i = 0; i <= n; i++) {
          const at = r.pos;
          const label = r.u32();
          if (label >= depth) fail(`label ${label} out of range`, at);
        }
        break;
      }
      case Imm.CallIndirect: {
        r.index(typeCount, "type", "module");
        const at = r.pos;
        const table = r.u32();
        if (table >= info.tableIs64.length) {
          fail(`table index ${table} out of range`, at);
        }
        break;
      }
      case Imm.Table:
      case Imm.TablePair:
      case Imm.ElemTable:
      case Imm.Memory:
      case Imm.MemoryPair:
      case Imm.DataMemory: {
        const isTable = imm === Imm.Table || imm === Imm.TablePair ||
          imm === Imm.ElemTable;
        const what = isTable ? "table" : "memory";
        const limit = isTable ? info.tableIs64.length : info.memoryIs64.length;
        if (imm === Imm.ElemTable || imm === Imm.DataMemory) r.u32();
        let at = r.pos;
        const first = r.u32();
        this.#index = this.#index2 = first;
        if (first >= limit) fail(`${what} index ${first} out of range`, at);
        if (imm === Imm.TablePair || imm === Imm.MemoryPair) {
          at = r.pos;
          const second = r.u32();
          this.#index2 = second;
          if (second >= limit) fail(`${what} index ${second} out of range`, at);
        }
        break;
      }
      case Imm.F32:
      case Imm.V128:
      case Imm.Lane: {
        const size = imm === Imm.F32 ? 4 : imm === Imm.V128 ? 16 : 1;
        if (end - p < size) fail(`unexpected end: expected ${size} bytes`, p);
        return p + size;
      }
      case Imm.Zero:
        if (p >= end || r.bytes[p] !== 0) fail("expected a zero byte", p);
        return p + 1;
      case Imm.ValTypes: {
        const n = r.count("value type");
        for (let i = 0; i < n; i++) readValType(r, typeCount);
        break;
      }
      case Imm.HeapType:
        if (p < end && isAbstractHeapType(r.bytes[p]!)) return p + 1;
        readHeapType(r, typeCount);
        break;
      case Imm.TryTable: {
        readBlockType(r, typeCount);
        const n = r.count("catch clause", 2);
        for (let i = 0; i < n; i++) {
          const kindAt = r.pos;
          const kind = r.u8("catch kind");
          if (kind > 3) r.fail(`unknown catch kind ${kind}`, kindAt);
          if (kind < 2) r.u32();
          const at = r.pos;
          // Catch labels are resolved outside the `try_table` itself.
          const label = r.u32();
          if (label >= depth) r.fail(`label ${label} out of range`, at);
          this.#catchTargets[depth - 1 - label] = 1;
        }
        break;
      }
      case Imm.BrOnCast: {
        if (p >= end) fail("unexpected end: expected cast flags", p);
        const flags = r.u8();
        if (flags > 3) fail(`invalid cast flags ${flags}`, p);
        const at = r.pos;
        const label = r.u32();
        if (label >= depth) fail(`label ${label} out of range`, at);
        readHeapType(r, typeCount);
        readHeapType(r, typeCount);
        break;
      }
      case Imm.TypeField:
      case Imm.TypeIndex:
        r.index(typeCount, "type", "module");
        r.u32();
        break;
      case Imm.TypeType:
        r.index(typeCount, "type", "module");
        r.index(typeCount, "type", "module");
        break;
      default:
        return fail(`cannot decode the operator at ${opPos}`, opPos);
    }
    return r.pos;
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
   * adds. `#index` and `#index2` hold the operator's memories or tables.
   */
  #chargeBulk(
    op: number,
    code: number,
    role: number,
    opPos: number,
    localCount: number,
  ): number {
    const costs = this.#costs;
    const info = this.#info;
    const unit = role === Role.PerByte
      ? costs.perByte
      : role === Role.PerElement
      ? costs.perElement
      : costs.perPage;
    if (unit === 0) return 0;
    let is64 = false;
    if (op === 0xfc) {
      const a = this.#index;
      const b = this.#index2;
      // memory.init and table.init count with i32; so does a copy between
      // a 32-bit and a 64-bit memory or table.
      if (code === 0x0a || code === 0x0b) {
        is64 = info.memoryIs64[a]! && info.memoryIs64[b]!;
      } else if (code === 0x0e || code === 0x0f || code === 0x11) {
        is64 = info.tableIs64[a]! && info.tableIs64[b]!;
      }
    } else if (op === 0x40) {
      is64 = info.memoryIs64[this.#index]!;
    }
    this.#pushEdit(opPos, Edit.Dynamic | (is64 ? 1 << 4 : 0), unit);
    this.#bodyFlags |= is64 ? HAS_DYNAMIC : HAS_DYNAMIC | HAS_DYNAMIC_32;
    return this.#dynamicSequence(localCount, is64, unit).length;
  }

  /**
   * Puts the cost into a segment's check, or drops the check if the segment
   * is free and its check optional. Returns how many bytes the check adds.
   */
  #closeSegment(segment: number, cost: number, checkFixed: number): number {
    const edits = this.#edits;
    const at = segment * EDIT_SIZE;
    if (cost === 0 && edits[at + 1] === Edit.Check) {
      if (segment === this.#editCount - 1) this.#editCount--;
      else edits[at + 1] = Edit.Skip;
      return 0;
    }
    if (cost > 0x7fffffff) {
      if (cost > MAX_SEGMENT_COST) cost = MAX_SEGMENT_COST;
      this.#bigCosts.push(cost);
      edits[at + 2] = -this.#bigCosts.length;
    } else {
      edits[at + 2] = cost;
    }
    return checkFixed + this.#check.costAt.length * s64Size(cost);
  }

  /** Records a scanned body; returns its rewritten size with its prefix. */
  #finishBody(
    start: number,
    groupsStart: number,
    codeStart: number,
    end: number,
    groups: number,
    localCount: number,
    editsFrom: number,
    growth: number,
    functionIndex: number,
  ): number {
    if (this.#selfCalls.length > 0 && this.#targets.registerCopies) {
      growth += this.#copy(start, codeStart, end, functionIndex, editsFrom);
    }
    const flags = this.#bodyFlags;
    // Locals: the guest's groups, then $f (and $d) as i64, then $n as i32.
    const i64Locals = flags & HAS_DYNAMIC ? 2 : 1;
    const addedGroups = flags & HAS_DYNAMIC_32 ? 2 : 1;
    const localsGrowth = u32Size(groups + addedGroups) -
      (groupsStart - start) + u32Size(i64Locals) + 1 +
      (flags & HAS_DYNAMIC_32 ? 2 : 0);
    const size = end - start + growth + localsGrowth;
    if (size > LIMITS.functionSize) {
      fail(
        `function ${functionIndex} would exceed ${LIMITS.functionSize} bytes once instrumented`,
        start,
      );
    }
    const at = this.#bodyCount * Body.Fields;
    if (at + Body.Fields > this.#bodies.length) {
      const next = new Int32Array(this.#bodies.length * 2);
      next.set(this.#bodies);
      this.#bodies = next;
    }
    const body = this.#bodies;
    body[at + Body.Start] = start;
    body[at + Body.GroupsStart] = groupsStart;
    body[at + Body.CodeStart] = codeStart;
    body[at + Body.End] = end;
    body[at + Body.Groups] = groups;
    body[at + Body.LocalCount] = localCount;
    body[at + Body.Flags] = flags;
    body[at + Body.EditsFrom] = editsFrom;
    body[at + Body.EditsTo] = this.#editCount;
    body[at + Body.Size] = size;
    body[at + Body.FunctionIndex] = functionIndex;
    this.#bodyCount++;
    return u32Size(size) + size;
  }

  /** The register copies made, in index order. */
  get copies(): readonly RegisterCopy[] {
    return this.#copies;
  }

  /**
   * Makes the register copy of a self-recursive body if it qualifies, and
   * routes the body's calls to itself there. Returns the bytes that adds
   * to the body.
   */
  #copy(
    start: number,
    codeStart: number,
    end: number,
    functionIndex: number,
    editsFrom: number,
  ): number {
    const info = this.#info;
    const typeIndex = info.functionTypes[functionIndex]!;
    const typeOffset = info.typeOffsets[typeIndex]!;
    if (typeOffset < 0) return 0;
    const r = this.#reader;
    r.pos = typeOffset;
    r.end = this.#bytes.length;
    const signature = registerType(r, info.typeCount);
    if (signature === undefined) return 0;
    const edits = this.#edits;
    const checks: number[] = [];
    for (let at = editsFrom * EDIT_SIZE; at < this.#editCount * EDIT_SIZE;) {
      if ((edits[at + 1]! & 0xf) === Edit.Check) {
        const value = edits[at + 2]!;
        checks.push(
          edits[at]!,
          value < 0 ? this.#bigCosts[-value - 1]! : value,
        );
      }
      at += EDIT_SIZE;
    }
    const copyIndex = this.#targets.slowFunction + 1 + this.#copies.length;
    const made = registerBody({
      bytes: this.#bytes,
      start,
      codeStart,
      end,
      params: info.typeParams[typeIndex]!,
      functionIndex,
      copyIndex,
      importedFunctions: info.importedFunctions,
      memoryIs64: info.memoryIs64,
      typeCount: info.typeCount,
      fuelGlobal: this.#targets.fuelGlobal,
      slowFunction: this.#targets.slowFunction,
      resumable: this.#targets.resumable,
      checks,
      typeIndex,
      paramTypes: signature.paramTypes,
      inlineSites: this.#selfCalls.length,
    });
    if (made === undefined) return 0;
    this.#copies.push({ type: signature.type, bytes: made.bytes });
    this.#copyHints.push(copyIndex, made.hints.length, ...made.hints);
    // `global.get $fuel; call $copy; global.set $fuel` for `call $self`.
    const bracket = 2 * (1 + u32Size(this.#targets.fuelGlobal)) + 1 +
      u32Size(copyIndex);
    let growth = 0;
    for (const edit of this.#selfCalls) {
      const at = edit * EDIT_SIZE;
      const length = edits[at + 1]! >> 4;
      growth += bracket - (1 + length) -
        (u32Size(edits[at + 2]!) - length);
      edits[at] -= 1; // the call's opcode
      edits[at + 1] = Edit.SelfCall | (1 + length) << 4;
      edits[at + 2] = copyIndex;
    }
    return growth;
  }

  /**
   * Builds the per-function parts of the check (they name the function's
   * `$f` local) and returns the check's size without its two costs.
   */
  #prepareFunction(localCount: number): number {
    this.#dynamicCache.length = 0;
    this.#dynamicIfAt.length = 0;
    if (localCount === this.#preparedFor) return this.#check.fixed;
    this.#preparedFor = localCount;
    // Bodies with the same number of locals share their check.
    let check = this.#preparedChecks.get(localCount);
    if (check === undefined) {
      check = this.#prepareCheck(localCount);
      this.#preparedChecks.set(localCount, check);
    }
    this.#check = check;
    return check.fixed;
  }

  /** The check with a one-byte cost; where the cost goes is where it differs from a check of cost 1. */
  #prepareCheck(localCount: number): PreparedCheck {
    const fuel = { local: localCount, inRegister: false };
    const zero = new Emitter(64);
    const ifAt = writeCheck(zero, this.#targets, fuel, 0);
    const one = new Emitter(64);
    writeCheck(one, this.#targets, fuel, 1);
    const template = zero.finish();
    const costAt: number[] = [];
    for (let i = 0; i < template.length; i++) {
      if (template[i] !== one.buf[i]) costAt.push(i);
    }
    const words = new Uint32Array(template.length >> 2);
    for (let i = 0; i < words.length; i++) {
      const at = 4 * i;
      words[i] = template[at]! | template[at + 1]! << 8 |
        template[at + 2]! << 16 | template[at + 3]! << 24;
    }
    return {
      template,
      words,
      costAt,
      ifAt,
      fixed: template.length - costAt.length,
    };
  }

  /** The run-time charge before a bulk operator. */
  #dynamicSequence(localCount: number, is64: boolean, unit: number) {
    const key = (is64 ? 1 : 0) + 2 * unit;
    const cached = this.#dynamicCache[key];
    if (cached) return cached;
    const e = new Emitter(64);
    const ifAt = writeBulkCharge(
      e,
      this.#targets,
      {
        scratch: localCount,
        amount: localCount + 1,
        operand32: localCount + 2,
      },
      is64,
      unit,
    );
    const sequence = e.finish();
    this.#dynamicCache[key] = sequence;
    this.#dynamicIfAt[key] = ifAt;
    return sequence;
  }

  /**
   * Writes every scanned body, in scan order, each with its size prefix.
   * `w` must already have room for all of them.
   *
   * @param w The output.
   */
  /**
   * Per hinted function, in the order the section lists them: its index,
   * its hint count, and how many bytes each hint's offset takes. Known
   * after the scan, before {@linkcode CodeRewriter.emit} finds the offsets:
   * an offset is below its body's size, so it is written padded to the
   * width of that size.
   */
  #hintPlan(): number[] {
    const plan: number[] = [];
    const bodies = this.#bodies;
    const edits = this.#edits;
    for (let i = 0; i < this.#bodyCount; i++) {
      const b = i * Body.Fields;
      let count = 0;
      const to = bodies[b + Body.EditsTo]! * EDIT_SIZE;
      for (let at = bodies[b + Body.EditsFrom]! * EDIT_SIZE; at < to;) {
        const kind = edits[at + 1]! & 0xf;
        if (kind === Edit.Check || kind === Edit.Dynamic) count++;
        at += EDIT_SIZE;
      }
      if (count > 0) {
        plan.push(
          bodies[b + Body.FunctionIndex]! + 1,
          count,
          u32Size(bodies[b + Body.Size]!),
        );
      }
    }
    const copyHints = this.#copyHints;
    for (let i = 0, k = 0; i < copyHints.length; k++) {
      const count = copyHints[i + 1]!;
      plan.push(copyHints[i]!, count, u32Size(this.#copies[k]!.bytes.length));
      i += 2 + count;
    }
    return plan;
  }

  /**
   * The size of the `metadata.code.branch_hint` custom section that
   * {@linkcode CodeRewriter.writeBranchHints} writes; 0 when there are no
   * checks. Call it after the scan.
   */
  branchHintsSize(): number {
    const plan = this.#hintPlan();
    if (plan.length === 0) return 0;
    const content = hintsContentSize(plan);
    return 1 + u32Size(content) + content;
  }

  /**
   * Writes the `metadata.code.branch_hint` custom section that marks every
   * check's `if` as unlikely. Call it after {@linkcode CodeRewriter.emit}.
   * Without the hints, V8 lays out and allocates registers for a loop as if
   * the out-of-fuel path were as likely as the loop body: measured, a tight
   * loop with resumable checks ran 2.6 times slower than the plain loop,
   * and 1.04 times with the hints.
   */
  writeBranchHints(w: Writer): void {
    const plan = this.#hintPlan();
    if (plan.length === 0) return;
    const content = hintsContentSize(plan);
    const start = w.len;
    w.u8(0);
    w.u32(content);
    w.name(BRANCH_HINTS);
    w.u32(plan.length / 3);
    // Copies come after every other function, as the section's order wants.
    const hints = this.#hints.concat(this.#copyHints);
    let at = 0;
    for (let i = 0; i < plan.length; i += 3) {
      const count = hints[at + 1]!;
      if (hints[at] !== plan[i] || count !== plan[i + 1]) {
        fail(`internal error: the hints of function ${plan[i]} changed`, 0);
      }
      w.u32(plan[i]!);
      w.u32(count);
      for (let j = at + 2; j < at + 2 + count; j++) {
        w.u32Padded(hints[j]!, plan[i + 2]!);
        w.u8(1); // the hint's size
        w.u8(0); // unlikely
      }
      at += 2 + count;
    }
    if (
      at !== hints.length || w.len - start !== 1 + u32Size(content) + content
    ) {
      fail("internal error: the branch hints came out the wrong size", 0);
    }
  }

  emit(w: Emitter): void {
    const bodies = this.#bodies;
    for (let i = 0; i < this.#bodyCount; i++) {
      this.#emitBody(w, bodies, i * Body.Fields);
    }
  }

  #emitBody(w: Emitter, body: Int32Array, b: number): void {
    const bytes = this.#bytes;
    const input = this.#input;
    const localCount = body[b + Body.LocalCount]!;
    const flags = body[b + Body.Flags]!;
    const size = body[b + Body.Size]!;
    this.#prepareFunction(localCount);

    w.u32(size);
    const sizeStart = w.len;
    const hints = this.#hints;
    const hintsAt = hints.length;
    hints.push(body[b + Body.FunctionIndex]! + 1, 0);
    w.u32(body[b + Body.Groups]! + (flags & HAS_DYNAMIC_32 ? 2 : 1));
    w.copy(bytes, body[b + Body.GroupsStart]!, body[b + Body.CodeStart]!);
    w.u32(flags & HAS_DYNAMIC ? 2 : 1);
    w.u8(0x7e);
    if (flags & HAS_DYNAMIC_32) {
      w.u8(1);
      w.u8(0x7f);
    }

    // The room is reserved: write straight into the buffer.
    const buf = w.buf;
    const out = new DataView(buf.buffer, buf.byteOffset, buf.length);
    let o = w.len;
    const check = this.#check;
    const template = check.template;
    const templateLength = template.length;
    const words = check.words;
    const wordCount = words.length;
    const firstCostAt = check.costAt[0]!;
    // With one cost, the second write lands on the first: harmless.
    const secondCostAt = check.costAt[1] ?? firstCostAt;
    const checkIfAt = check.ifAt;
    const edits = this.#edits;
    const editsTo = body[b + Body.EditsTo]! * EDIT_SIZE;
    let from = body[b + Body.CodeStart]!;
    for (
      let at = body[b + Body.EditsFrom]! * EDIT_SIZE;
      at < editsTo;
      at += EDIT_SIZE
    ) {
      const kind = edits[at + 1]!;
      if (kind === Edit.Skip) continue;
      const pos = edits[at]!;
      let n = pos - from;
      if (n > SHORT_RUN) {
        buf.set(bytes.subarray(from, pos), o);
        o += n;
      } else {
        for (; n >= 4; n -= 4, o += 4, from += 4) {
          out.setUint32(o, input.getUint32(from, true), true);
        }
        for (; n > 0; n--) buf[o++] = bytes[from++]!;
      }
      from = pos;
      const value = edits[at + 2]!;
      switch (kind & 0xf) {
        case Edit.Check:
          if (value >= 0 && value < 0x40) {
            for (let j = 0; j < wordCount; j++) {
              out.setUint32(o + 4 * j, words[j]!, true);
            }
            for (let j = wordCount * 4; j < templateLength; j++) {
              buf[o + j] = template[j]!;
            }
            buf[o + firstCostAt] = value;
            buf[o + secondCostAt] = value;
            hints.push(o - sizeStart + checkIfAt);
            o += templateLength;
          } else {
            w.len = o;
            const cost = value < 0 ? this.#bigCosts[-value - 1]! : value;
            const ifAt = writeCheck(w, this.#targets, {
              local: localCount,
              inRegister: false,
            }, cost);
            hints.push(ifAt - sizeStart);
            o = w.len;
          }
          break;
        case Edit.Function: {
          o = putU32(buf, o, value);
          from = pos + (kind >> 4);
          break;
        }
        case Edit.SelfCall: {
          w.len = o;
          const g = this.#targets.fuelGlobal;
          w.globalGet(g);
          w.call(value);
          w.globalSet(g);
          o = w.len;
          from = pos + (kind >> 4);
          break;
        }
        case Edit.Dynamic: {
          const sequence = this.#dynamicSequence(
            localCount,
            (kind >> 4) === 1,
            value,
          );
          hints.push(
            o - sizeStart +
              this.#dynamicIfAt[((kind >> 4) === 1 ? 1 : 0) + 2 * value]!,
          );
          buf.set(sequence, o);
          o += sequence.length;
          break;
        }
      }
    }
    w.len = o;
    w.copy(bytes, from, body[b + Body.End]!);
    if (hints.length === hintsAt + 2) hints.length = hintsAt;
    else hints[hintsAt + 1] = hints.length - hintsAt - 2;
    if (w.len - sizeStart !== size) {
      fail(
        `internal error: function ${body[b + Body.FunctionIndex]} came out ${
          w.len - sizeStart
        } bytes long instead of ${size}`,
        body[b + Body.Start]!,
      );
    }
  }
}
