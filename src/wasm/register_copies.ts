/**
 * Register copies of self-recursive functions: the fuel travels as an extra
 * parameter and an extra result instead of through the counter global.
 *
 * A global lives in memory, so a check at every function entry chains each
 * call's fuel through a store and a load: on a naive recursive `fib`, V8
 * spends about as long on that chain as on the work. In the copy, a check
 * is register arithmetic. The counter is still written where it must be
 * right: before any operator that can trap (the host then reads what was
 * spent, exactly), before every call (a callee may overflow the stack or
 * read the counter), and on the way out, where the caller takes the fuel
 * back. The checks sit where the function's own checks sit and cost the
 * same, so both copies count alike.
 *
 * Only direct recursion goes through the copy: the original's calls to
 * itself call the copy instead (see `register_copy_plan.ts`). A body
 * qualifies when it uses only the operators the operator table allows in a
 * copy (numeric, local, global, memory access, plain control, direct calls
 * to defined functions) and does not branch to its own label
 * conditionally. A small copy also inlines its own body once at each call
 * to itself (see {@linkcode registerBody}).
 *
 * @module
 */

import { readMemArg } from "./immediates.ts";
import { Reader } from "./reader.ts";
import { readBlockType } from "./types.ts";
import { Emitter } from "./emitter.ts";
import {
  type CheckTargets,
  type StopFlagTargets,
  writeCheck,
  writeFlagCheck,
} from "./checks.ts";
import { Copy, Imm, MISC_OPS, SINGLE_BYTE } from "./opcodes.ts";

/** The cost that marks the stop flag's check in `RegisterBody.checks`. */
export const FLAG_CHECK = -1;

const COPY_CLASS = SINGLE_BYTE.copy;
const IMMEDIATES = SINGLE_BYTE.imm;

/** What a register copy refers to, and the body it copies. */
export interface RegisterBody {
  /** The input module. */
  bytes: Uint8Array;
  /** The body's first byte (its local declarations). */
  start: number;
  /** The body's first operator. */
  codeStart: number;
  /** One past the body's final `end`. */
  end: number;
  /** The function's parameter count: the fuel becomes local `params`. */
  params: number;
  /** The function's original index. */
  functionIndex: number;
  /** The copy's own index. */
  copyIndex: number;
  /** How many functions are imported (they cannot be called from a copy). */
  importedFunctions: number;
  /** How much a defined function's index grows in the output. */
  functionShift: number;
  /** Per memory: whether it is 64-bit. */
  memoryIs64: boolean[];
  /** How many types the module defines. */
  typeCount: number;
  /** The fuel counter global. */
  fuelGlobal: number;
  /** The slow path: `(counter, cost)` if resumable, else `()`. */
  slowFunction: number;
  /** Whether a failed check asks the host for more. */
  resumable: boolean;
  /** The stop flag's memory and callback, if it is checked. */
  stopFlag?: StopFlagTargets;
  /**
   * Checks by input position and cost, in order; a cost of
   * {@linkcode FLAG_CHECK} is the stop flag's check.
   */
  checks: number[];
  /** The function's type index, which types the block an inlined body is. */
  typeIndex: number;
  /** Each parameter's encoded value type. */
  paramTypes: Uint8Array[];
  /** How many calls to itself the body makes (inlined if few and small). */
  inlineSites: number;
}

/** How large a body may be, in bytes of code, to be inlined into its copy. */
const INLINE_MAX_CODE = 256;
/** How many self-calls a body may make and still be inlined at each. */
const INLINE_MAX_SITES = 4;
/** How many declared locals an inlined body may reset on each entry. */
const INLINE_MAX_LOCALS = 16;

/** Pushes the zero of each number type. */
const ZERO: Record<number, (e: Emitter) => void> = {
  0x7f: (e) => e.i32Const(0),
  0x7e: (e) => e.i64Const(0),
  0x7d: (e) => e.f32Const(0),
  0x7c: (e) => e.f64Const(0),
};

/**
 * The declared locals of a body as `[count, type]` pairs, if every one has a
 * number type; `undefined` otherwise (an inlined body must zero them).
 */
function numberLocals(
  bytes: Uint8Array,
  start: number,
  codeStart: number,
): number[] | undefined {
  const r = new Reader(bytes, start, codeStart);
  const groups = r.u32();
  const locals: number[] = [];
  for (let i = 0; i < groups; i++) {
    const count = r.u32();
    const type = r.u8();
    if (ZERO[type] === undefined) return undefined;
    locals.push(count, type);
  }
  return locals;
}

/**
 * Writes the register copy of one body, with its size prefix, and where
 * its checks' `if`s are; `undefined` if the body uses something a copy
 * does not handle.
 *
 * A small body is also inlined into the copy once at each of its calls to
 * itself. Naive recursion like `fib` is as call-dense as code gets, and
 * every real call needs the counter written first, since the callee's
 * entry is where the stack can overflow; an inlined call has no entry, so
 * half the frames need no write. The inlined body keeps its checks and
 * costs, so counts do not change.
 */
export function registerBody(
  body: RegisterBody,
): { bytes: Uint8Array; hints: number[] } | undefined {
  const { bytes, start, codeStart, end, params } = body;
  const locals = body.inlineSites > 0 && body.inlineSites <= INLINE_MAX_SITES &&
      end - codeStart <= INLINE_MAX_CODE
    ? numberLocals(bytes, start, codeStart)
    : undefined;
  let declared = 0;
  for (let i = 0; locals && i < locals.length; i += 2) declared += locals[i]!;
  const inline = locals !== undefined && declared <= INLINE_MAX_LOCALS;
  // Room for the body once per inlined call, and the copy's own; the
  // emitter grows should that not do.
  const w = new Emitter(
    ((inline ? body.inlineSites : 0) + 1) * 2 * (end - start) +
      64 * (params + 1),
  );
  if (inline) {
    const head = new Reader(bytes, start, codeStart);
    const groups = head.u32();
    const groupsStart = head.pos;
    w.u32(2 * groups + params);
    w.copy(bytes, groupsStart, codeStart);
    for (const type of body.paramTypes) {
      w.u8(1);
      w.bytes(type);
    }
    w.copy(bytes, groupsStart, codeStart);
  } else {
    w.copy(bytes, start, codeStart);
  }
  const copy = new CopyWriter(body, w, inline ? locals : undefined, declared);
  if (!copy.walk(false)) return undefined;
  return { bytes: w.sized(), hints: copy.hints };
}

/**
 * Writes one copy's code. A class rather than closures made per body, so
 * that every body calls the same functions: V8 then keeps the code it
 * optimised for one body instead of discarding it at the next.
 */
class CopyWriter {
  readonly body: RegisterBody;
  readonly w: Emitter;
  /** Where each check's `if` is, from the body's start, for branch hints. */
  readonly hints: number[] = [];
  /** The fuel's local: the one after the parameters. */
  readonly fuel: number;
  /** The declared locals to zero on entering an inlined body, if inlined. */
  readonly locals: number[] | undefined;
  /**
   * The inlined body's locals follow the copy's own: its parameters, then
   * its declared locals again.
   */
  readonly inlineBase: number;
  readonly targets: CheckTargets;

  constructor(
    body: RegisterBody,
    w: Emitter,
    locals: number[] | undefined,
    declared: number,
  ) {
    this.body = body;
    this.w = w;
    this.fuel = body.params;
    this.locals = locals;
    this.inlineBase = body.params + 1 + declared;
    this.targets = {
      fuelGlobal: body.fuelGlobal,
      slowFunction: body.slowFunction,
      resumable: body.resumable,
    };
  }

  spill(): void {
    this.w.localGet(this.fuel);
    this.w.globalSet(this.body.fuelGlobal);
  }

  check(cost: number): void {
    const { w, fuel } = this;
    this.hints.push(
      cost === FLAG_CHECK
        ? writeFlagCheck(w, this.body.stopFlag!, {
          local: fuel,
          fuelGlobal: this.body.fuelGlobal,
        })
        : writeCheck(w, this.targets, { local: fuel, inRegister: true }, cost),
    );
  }

  /** Enters the inlined body: its arguments are the block's parameters. */
  enterInline(): void {
    const { w, locals, inlineBase } = this;
    const params = this.body.params;
    w.blockOfType(this.body.typeIndex); // typed as the function itself
    for (let i = params - 1; i >= 0; i--) w.localSet(inlineBase + i);
    let index = inlineBase + params;
    for (let i = 0; i < locals!.length; i += 2) {
      for (let k = 0; k < locals![i]!; k++) {
        ZERO[locals![i + 1]!]!(w);
        w.localSet(index++);
      }
    }
  }

  /**
   * Writes the body's code once: as the copy itself, or as the copy's
   * inlined callee, whose fuel is the copy's own local and whose function
   * label is the block around it.
   */
  walk(inlined: boolean): boolean {
    const { body, w, fuel, inlineBase } = this;
    const { bytes, codeStart, end, checks } = body;
    const g = body.fuelGlobal;
    let nextCheck = 0;
    let depth = 1;
    // Whether the counter holds the fuel local's value on this straight
    // path.
    let spilled = false;
    const r = new Reader(bytes, codeStart, end);
    while (r.pos < end) {
      while (nextCheck < checks.length && checks[nextCheck] === r.pos) {
        this.check(checks[nextCheck + 1]!);
        nextCheck += 2;
        spilled = false;
      }
      const at = r.pos;
      // The scan has read this body: every operator is there.
      const op = bytes[r.pos++]!;
      const kind = COPY_CLASS[op]!;
      if (kind === Copy.Pure || kind === Copy.Traps) {
        if (kind === Copy.Traps && !spilled) {
          this.spill();
          spilled = true;
        }
        switch (IMMEDIATES[op]) {
          case Imm.Local: {
            w.u8(op);
            const index = r.u32();
            w.u32(
              inlined ? inlineBase + index : index >= fuel ? index + 1 : index,
            );
            continue;
          }
          case Imm.Global:
            w.u8(op);
            w.u32(r.u32());
            continue;
          case Imm.MemArg:
            readMemArg(r, body.memoryIs64, at);
            break;
          case Imm.I32:
            r.skipSigned(32);
            break;
          case Imm.I64:
            r.skipSigned(64);
            break;
          case Imm.F32:
            r.skip(4);
            break;
          case Imm.F64:
            r.skip(8);
            break;
        }
        w.copy(bytes, at, r.pos);
        continue;
      }
      switch (op) {
        case 0x00: // unreachable
          if (!spilled) this.spill();
          w.u8(op);
          spilled = true;
          continue;
        case 0x02: // block
        case 0x03: // loop
        case 0x04: // if
          readBlockType(r, body.typeCount);
          depth++;
          w.copy(bytes, at, r.pos);
          spilled = false;
          continue;
        case 0x05: // else
          w.u8(op);
          spilled = false;
          continue;
        case 0x0b: // end
          depth--;
          if (depth === 0) {
            if (!r.atEnd()) return false;
            if (!inlined) w.localGet(fuel);
          }
          w.u8(op);
          spilled = false;
          continue;
        case 0x0c: // br
        case 0x0d: { // br_if
          if (r.u32() === depth - 1) {
            if (op === 0x0d) return false;
            if (!inlined) w.localGet(fuel);
          }
          w.copy(bytes, at, r.pos);
          spilled = false;
          continue;
        }
        case 0x0e: { // br_table
          const n = r.u32();
          for (let i = 0; i <= n; i++) {
            if (r.u32() === depth - 1) return false;
          }
          w.copy(bytes, at, r.pos);
          continue;
        }
        case 0x0f: // return
          if (inlined) w.br(depth - 1);
          else {
            w.localGet(fuel);
            w.return();
          }
          continue;
        case 0x10: { // call
          const callee = r.u32();
          if (callee < body.importedFunctions) return false;
          if (
            callee === body.functionIndex && this.locals !== undefined &&
            !inlined
          ) {
            this.enterInline();
            if (!this.walk(true)) return false;
            spilled = false;
            continue;
          }
          if (!spilled) this.spill();
          if (callee === body.functionIndex) {
            w.localGet(fuel);
            w.call(body.copyIndex);
            w.localSet(fuel);
            spilled = false;
          } else {
            w.call(callee + body.functionShift);
            w.globalGet(g);
            w.localSet(fuel);
            spilled = true;
          }
          continue;
        }
        case 0xfc:
          if (MISC_OPS.copy[r.u32()] !== Copy.Pure) return false;
          w.copy(bytes, at, r.pos);
          continue;
        default:
          return false;
      }
    }
    return nextCheck === checks.length;
  }
}
