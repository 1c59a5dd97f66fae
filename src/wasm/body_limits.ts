/**
 * The refusals of the body scan that protect the engine itself, for a guest
 * that is not rewritten: blocks nested past the engine's comfort, and blocks
 * typed by function types that carry too many parameters and results
 * across the module. The engine validates every body as it compiles, and
 * those two cost it memory and time no stop can cut short, so a plain load
 * must refuse them before the engine sees the module, as a rewrite does.
 *
 * The pass only follows the operators' nesting and skips their immediates:
 * it checks nothing else. Bytes it cannot decode end the body's pass (the
 * engine says what is wrong with them), and the next body is read.
 *
 * @module
 */

import { readOtherImmediate } from "./immediates.ts";
import { LIMITS, type ModuleInfo } from "./module.ts";
import { Imm, prefixSpace, SINGLE_BYTE } from "./opcodes.ts";
import { keptFromEngine, Reader } from "./reader.ts";
import { MAX_NESTING } from "./scan_limits.ts";
import { tooDeep } from "./scan_refusals.ts";
import { COPY_STEP_BYTES, STEP_BYTES, type Steps } from "./steps.ts";
import { readBlockType, readValType } from "./types.ts";

/**
 * Walks a code section's bodies, refusing what {@linkcode MAX_NESTING} and
 * `LIMITS.blockTypeValues` refuse in a rewrite, in steps of about
 * {@linkcode STEP_BYTES}: only those a byte scan cannot clear.
 *
 * @param bytes The module.
 * @param start Where the code section's contents start.
 * @param end Where they end.
 * @param info The module's types (and counts) read so far.
 * @returns The steps.
 * @throws {InvalidModule} Kept from the engine (see `keptFromEngine`), for
 *   a body nested too deep or block types that carry too many values.
 *
 * @example Usage
 * ```ts ignore
 * yield* checkBodyLimitsSteps(bytes, start, end, info);
 * ```
 */
export function* checkBodyLimitsSteps(
  bytes: Uint8Array,
  start: number,
  end: number,
  info: ModuleInfo,
): Steps<void> {
  const deep = yield* bodiesToWalk(bytes, start, end, info);
  if (deep?.length === 0) return;
  const bodies = deep ?? everyBody(bytes, start, end, info);
  const walker = new BodyWalker(bytes, info);
  let pauseAt = 0;
  for (const [bodyStart, bodyEnd, index] of bodies) {
    if (pauseAt === 0) pauseAt = bodyStart + STEP_BYTES;
    try {
      walker.begin(bodyStart, bodyEnd, index);
      while (!walker.walk(pauseAt)) {
        pauseAt = walker.pos + STEP_BYTES;
        yield;
      }
    } catch (error) {
      if (keptFromEngine(error)) throw error;
      // Undecodable: the engine's verdict says what is wrong.
    }
    if (bodyEnd >= pauseAt) {
      pauseAt = bodyEnd + STEP_BYTES;
      yield;
    }
  }
}

/** A body: where it starts and ends, and its function's index. */
type Body = [start: number, end: number, functionIndex: number];

/** Every body of the code section `[start, end)`, as far as it decodes. */
function* everyBody(
  bytes: Uint8Array,
  start: number,
  end: number,
  info: ModuleInfo,
): Generator<Body> {
  const r = new Reader(bytes, start, end);
  let count: number;
  try {
    count = r.count("function body");
  } catch {
    return;
  }
  for (let i = 0; i < count; i++) {
    let size: number;
    try {
      size = r.u32();
    } catch {
      return;
    }
    const bodyStart = r.pos;
    if (size > end - bodyStart) return;
    yield [bodyStart, bodyStart + size, info.importedFunctions + i];
    r.pos = bodyStart + size;
  }
}

/** Bit `op` set for the operators that open a block (all one byte). */
const OPENERS = 1 << 0x02 | 1 << 0x03 | 1 << 0x04 | 1 << 0x06 | 1 << 0x1f;

/** What {@linkcode scanOpeners} found besides its count. */
const openerScan = { typed: 0 };

/**
 * Counts the bytes of `[start, until)` that could open a block in a body
 * that ends at `end`, and leaves in
 * `openerScan.typed` how many values the typed blocks among them could
 * carry. A plain function: the generator that calls it runs it optimised.
 */
function scanOpeners(
  bytes: Uint8Array,
  start: number,
  until: number,
  end: number,
  values: Int32Array,
  most: number,
): number {
  let openers = 0;
  let typed = 0;
  for (let p = start; p < until; p++) {
    const op = bytes[p]!;
    if (op > 0x1f || (OPENERS >> op & 1) === 0) continue;
    openers++;
    // A type index's first byte is below 0x40 (one byte) or has its top
    // bit set (more); 0x40 to 0x7f are the other block types.
    const next = p + 1 < end ? bytes[p + 1]! : 0x40;
    if (next < 0x40) typed += next < values.length ? values[next]! : 0;
    else if (next >= 0x80) typed += most;
  }
  openerScan.typed = typed;
  return openers;
}

/**
 * The bodies the walk must decode (`undefined` for all of them): a
 * byte scan bounds from above how deep each body can nest (by its bytes
 * that could open a block) and how many values the module's typed blocks
 * can carry (by those followed by what could be a type index), so that
 * only a body that could nest too deep is decoded, or every body when the
 * typed blocks could carry too many. Real guests need none.
 */
function* bodiesToWalk(
  bytes: Uint8Array,
  start: number,
  end: number,
  info: ModuleInfo,
): Steps<Body[] | undefined> {
  const typeCount = info.typeCount;
  // Each type's values as a block type (0 for other kinds of types).
  const values = new Int32Array(Math.min(typeCount, 64));
  let most = 0;
  // The most values a byte of code can carry: a block typed by type t
  // takes its opcode and t as an s33, of 1 byte below 64, 2 below 8,192, 3
  // below 2^20.
  let perByte = 0;
  const signatures = info.typeSignatures;
  for (let t = 0; t < typeCount; t++) {
    const signature = signatures[t];
    if (signature === undefined) continue;
    const count = signature.params.length + signature.results.length;
    if (t < 64) values[t] = count;
    if (count > most) most = count;
    const size = t < 64 ? 2 : t < 8192 ? 3 : t < 1 << 20 ? 4 : 5;
    if (count / size > perByte) perByte = count / size;
  }
  // Whether the typed blocks could carry too many values, and so need
  // counting; else only a body long enough to nest too deep is scanned.
  const countTyped = (end - start) * perByte > LIMITS.blockTypeValues;
  const deep: Body[] = [];
  let typed = 0;
  let pauseAt = start + COPY_STEP_BYTES;
  for (
    const [bodyStart, bodyEnd, index] of everyBody(bytes, start, end, info)
  ) {
    if (!countTyped && bodyEnd - bodyStart < 2 * MAX_NESTING) continue;
    let openers = 0;
    for (let p = bodyStart; p < bodyEnd;) {
      const until = Math.min(bodyEnd, Math.max(p, pauseAt));
      openers += scanOpeners(bytes, p, until, bodyEnd, values, most);
      typed += openerScan.typed;
      p = until;
      if (p >= pauseAt) {
        pauseAt = p + COPY_STEP_BYTES;
        yield;
      }
    }
    if (openers >= MAX_NESTING) deep.push([bodyStart, bodyEnd, index]);
  }
  return typed > LIMITS.blockTypeValues ? undefined : deep;
}

/** One body's walk, resumable between steps. */
class BodyWalker {
  readonly #bytes: Uint8Array;
  readonly #info: ModuleInfo;
  readonly #reader: Reader;
  readonly #catchTargets = new Uint8Array(MAX_NESTING + 1);
  readonly #operands = { first: 0, second: 0, segment: 0 };
  #end = 0;
  #depth = 0;
  #function = 0;
  /** The next byte to read. */
  pos = 0;

  constructor(bytes: Uint8Array, info: ModuleInfo) {
    this.#bytes = bytes;
    this.#info = info;
    this.#reader = new Reader(bytes);
  }

  /** Starts the body `[start, end)`: reads its locals. */
  begin(start: number, end: number, functionIndex: number): void {
    const r = this.#reader;
    r.pos = start;
    r.end = end;
    this.#end = end;
    this.#depth = 1;
    this.#function = functionIndex;
    const groups = r.count("local group", 2);
    for (let i = 0; i < groups; i++) {
      r.u32();
      readValType(r, this.#info.typeCount);
    }
    this.pos = r.pos;
  }

  /**
   * Walks operators until `until` or the body's final `end`.
   *
   * @returns Whether the body ended.
   */
  walk(until: number): boolean {
    const bytes = this.#bytes;
    const r = this.#reader;
    const info = this.#info;
    const end = this.#end;
    const typeCount = info.typeCount;
    let depth = this.#depth;
    let p = this.pos;
    try {
      while (depth > 0) {
        if (p >= until) return false;
        if (p >= end) r.fail("unexpected end of the function body", p);
        const opPos = p;
        const op = bytes[p++]!;
        let imm: number;
        let role: number;
        if (op >= 0xfb && op <= 0xfe) {
          const space = prefixSpace(op)!;
          r.pos = p;
          const code = r.u32();
          p = r.pos;
          imm = code < space.imm.length ? space.imm[code]! : 0;
          role = space.role[code] ?? 0;
        } else {
          imm = SINGLE_BYTE.imm[op]!;
          role = SINGLE_BYTE.role[op]!;
        }
        switch (imm) {
          case Imm.None:
            break;
          case Imm.Unknown:
            return r.fail("unknown opcode", opPos);
          case Imm.BlockType:
            // The empty type and numeric types take one byte.
            if (p < end && (bytes[p]! === 0x40 || bytes[p]! >= 0x7b)) {
              if (bytes[p]! < 0x80) {
                p++;
                break;
              }
            }
            r.pos = p;
            info.countBlockType(readBlockType(r, typeCount), opPos);
            p = r.pos;
            break;
          case Imm.Label:
          case Imm.Func:
          case Imm.Type:
          case Imm.Local:
          case Imm.Global:
          case Imm.Table:
          case Imm.Memory:
          case Imm.Index:
            r.pos = p;
            r.u32();
            p = r.pos;
            break;
          case Imm.CallIndirect:
          case Imm.TablePair:
          case Imm.MemoryPair:
          case Imm.DataMemory:
          case Imm.ElemTable:
          case Imm.TypeField:
          case Imm.TypeIndex:
          case Imm.TypeType:
            r.pos = p;
            r.u32();
            r.u32();
            p = r.pos;
            break;
          case Imm.I32:
            r.pos = p;
            r.skipSigned(32);
            p = r.pos;
            break;
          case Imm.I64:
            r.pos = p;
            r.skipSigned(64);
            p = r.pos;
            break;
          case Imm.F64:
            p += 8;
            break;
          case Imm.MemArg:
          case Imm.MemArgLane: {
            r.pos = p;
            const flags = r.u32();
            if (flags & 0x40) r.u32();
            r.u64();
            p = r.pos + (imm === Imm.MemArgLane ? 1 : 0);
            break;
          }
          default:
            // The other layouts, as the scan reads them (a `try_table`
            // counts its block type there).
            p = readOtherImmediate(
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
        switch (role) {
          case 1: // Role.Block
          case 2: // Role.Loop
          case 3: // Role.If
          case 6: // Role.Try
          case 9: // Role.TryTable
            if (depth >= MAX_NESTING) tooDeep(this.#function, opPos);
            depth++;
            break;
          case 5: // Role.End
          case 8: // Role.Delegate
            depth--;
            break;
        }
      }
      return true;
    } finally {
      this.#depth = depth;
      this.pos = p;
    }
  }
}
