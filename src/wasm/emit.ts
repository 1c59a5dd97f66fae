/**
 * The second pass over the code: writes every scanned body, copying the
 * input in bulk between the edits the scan planned and writing the checks,
 * charges and shifted indices at them.
 *
 * @module
 */

import { type CheckTargets, writeCheck } from "./checks.ts";
import type { CheckTemplates } from "./check_templates.ts";
import { Body, type CodePlan, EDIT_SIZE, writeLocals } from "./code_plan.ts";
import { type Emitter, PADDED_CALL_SIZE } from "./emitter.ts";
import { fail } from "./reader.ts";
import { writeCopyCall } from "./register_copy_plan.ts";
import { BODY_STEPS, STEP_BODIES, type Steps, stepTimeUp } from "./steps.ts";
import { putU32 } from "./writer.ts";

/** Runs shorter than this are copied word by word instead of by `set`. */
const SHORT_RUN = 48;

/**
 * Writes every scanned body, in scan order, each with its size prefix, and
 * records where its checks' `if`s are in `code.hints`. `w` must already
 * have room for all of them.
 *
 * @param w The output.
 * @param code The scanned code.
 * @param templates The checks.
 * @param bytes The input module.
 * @param targets The counter and the slow path.
 *
 * @example Usage
 * ```ts
 * import { CheckTemplates } from "./check_templates.ts";
 * import { CodePlan } from "./code_plan.ts";
 * import { Emitter } from "./emitter.ts";
 * import { emitBodies } from "./emit.ts";
 * import { runSteps } from "./steps.ts";
 * import assert from "node:assert/strict";
 *
 * const targets = { fuelGlobal: 0, slowFunction: 1, resumable: true };
 * const w = new Emitter(0);
 * const none = new Uint8Array(0);
 * runSteps(
 *   emitBodies(w, new CodePlan(0), new CheckTemplates(targets), none, targets),
 * );
 * assert.equal(w.len, 0);
 * ```
 */
export function* emitBodies(
  w: Emitter,
  code: CodePlan,
  templates: CheckTemplates,
  bytes: Uint8Array,
  targets: CheckTargets,
): Steps<void> {
  const input = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  // The scan counted each body's hints: room for them all, and for each
  // body's function index and count.
  let hintFields = 0;
  for (let i = 0; i < code.bodyCount; i++) {
    hintFields += 2 + code.bodies[i * Body.Fields + Body.Hints]!;
  }
  code.hints = new Int32Array(hintFields);
  code.hintCount = 0;
  // STEP_BYTES, but for the primer's rewrite.
  const step = BODY_STEPS.bytes;
  let pauseAt = w.len + step;
  let bodiesAt = STEP_BODIES;
  // One record at a time is spare (see `sparePause`): an emit taking it
  // keeps V8's optimised `emitBody` from being thrown away at a full
  // garbage collection between two loads, which clears a class with no
  // object left.
  const paused = sparePause ?? new PausedBody();
  sparePause = undefined;
  let stepStart = performance.now();
  for (let i = 0; i < code.bodyCount; i++) {
    const b = i * Body.Fields;
    while (
      emitBody(w, code, templates, bytes, input, targets, b, pauseAt, paused)
    ) {
      yield;
      pauseAt = w.len + step;
      stepStart = performance.now();
    }
    if (w.len >= pauseAt || i >= bodiesAt || stepTimeUp(i, stepStart)) {
      yield;
      pauseAt = w.len + step;
      bodiesAt = i + STEP_BODIES;
      stepStart = performance.now();
    }
  }
  sparePause = paused;
}

/**
 * Where {@linkcode emitBody} paused in a long body, for its next step: the
 * next edit, the input not yet copied before it, where the body's output
 * starts and where its hints are.
 */
class PausedBody {
  /** Whether a body is under way. */
  active = false;
  next = 0;
  from = 0;
  sizeStart = 0;
  hintsAt = 0;
  h = 0;
}

/**
 * Writes body `b`, or goes on with it where `paused` says; returns whether
 * it paused (`paused` then says where) before its end. A long body pauses
 * once its output is past `pauseAt`, and after every
 * `COPY_STEP_BYTES` of a long run without edits, whose copy
 * faults the fresh output's pages in (one of 7.5 MB took 70 to 90 ms). Not
 * a generator: V8's code for the loop over the edits was slower as one.
 */
function emitBody(
  w: Emitter,
  code: CodePlan,
  templates: CheckTemplates,
  bytes: Uint8Array,
  input: DataView,
  targets: CheckTargets,
  b: number,
  pauseAt: number,
  paused: PausedBody,
): boolean {
  const body = code.bodies;
  const localCount = body[b + 5 /* Body.LocalCount */]!;
  const flags = body[b + 6 /* Body.Flags */]!;
  const size = body[b + 9 /* Body.Size */]!;
  templates.prepare(localCount, (flags & 4 /* IN_REGISTER */) !== 0);
  // COPY_STEP_BYTES, but for the primer's rewrite.
  const copy = BODY_STEPS.copy;

  const hints = code.hints;
  let sizeStart: number;
  let hintsAt: number;
  let h: number;
  let from: number;
  let next: number;
  if (paused.active) {
    sizeStart = paused.sizeStart;
    hintsAt = paused.hintsAt;
    h = paused.h;
    from = paused.from;
    next = paused.next;
    paused.active = false;
  } else {
    w.u32(size);
    sizeStart = w.len;
    hintsAt = code.hintCount;
    hints[hintsAt] = body[b + 10 /* Body.FunctionIndex */]! +
      code.functionShift;
    h = hintsAt + 2;
    writeLocals(
      w,
      bytes,
      body[b + 4 /* Body.Groups */]!,
      body[b + 1 /* Body.GroupsStart */]!,
      body[b + 2 /* Body.CodeStart */]!,
      flags,
    );
    from = body[b + 2 /* Body.CodeStart */]!;
    next = body[b + 7 /* Body.EditsFrom */]!;
  }

  // The room is reserved: write straight into the buffer.
  const buf = w.buf;
  const out = new DataView(buf.buffer, buf.byteOffset, buf.length);
  let o = w.len;
  // Per check variant (see `CheckTemplates.variants`): the template, as
  // words, where its costs go and where its `if` is.
  const variants = templates.variants;
  const chunks = code.chunks;
  const shift = code.chunkShift;
  const editsTo = body[b + 8 /* Body.EditsTo */]!;
  // The body's edits, a chunk of the edit list at a time.
  while (next < editsTo) {
    const first = next >>> shift << shift;
    const edits = chunks[next >>> shift]!;
    const fieldsTo = Math.min(editsTo - first, 1 << shift) * EDIT_SIZE;
    let at = (next - first) * EDIT_SIZE;
    next = first + fieldsTo / EDIT_SIZE;
    for (; at < fieldsTo; at += EDIT_SIZE) {
      const kind = edits[at + 1]!;
      if (kind === 0 /* Edit.Skip */) continue;
      const pos = edits[at]!;
      let n = pos - from;
      if (o >= pauseAt || n > copy) {
        // A step ends here, or after a piece of a long run; the next goes
        // on at this edit.
        if (o < pauseAt) {
          buf.set(bytes.subarray(from, from + copy), o);
          o += copy;
          from += copy;
        }
        w.len = o;
        const edit = first + at / EDIT_SIZE;
        return pauseBody(paused, edit, from, sizeStart, hintsAt, h);
      }
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
        case 1: { // Edit.Check
          const variant = kind >> 5 & 7;
          if ((kind & 0x100 /* MARGIN */) === 0 && value >= 0 && value < 0x40) {
            const check = variants[variant]!;
            const template = check.template;
            const words = check.words;
            const wordCount = words.length;
            for (let j = 0; j < wordCount; j++) {
              out.setUint32(o + 4 * j, words[j]!, true);
            }
            const templateLength = template.length;
            for (let j = wordCount * 4; j < templateLength; j++) {
              buf[o + j] = template[j]!;
            }
            buf[o + check.firstCostAt] = value;
            buf[o + check.secondCostAt] = value;
            buf[o + check.lastCostAt] = value;
            hints[h++] = o - sizeStart + check.ifAt;
            o += templateLength;
          } else {
            w.len = o;
            hints[h++] = emitDearCheck(
              w,
              code,
              templates,
              targets,
              localCount,
              kind,
              value,
              first + at / EDIT_SIZE,
            ) - sizeStart;
            o = w.len;
          }
          break;
        }
        case 2: { // Edit.Function
          o = putU32(buf, o, value);
          from = pos + (kind >> 5 /* LENGTH_SHIFT */);
          if ((kind & 0x10 /* RELOAD */) !== 0) {
            // After the call its index belongs to.
            const reload = templates.reload;
            buf.set(reload, o);
            o += reload.length;
          }
          break;
        }
        case 4: // Edit.SelfCall
        case 6: // Edit.BulkCall
          w.len = o;
          emitCall(w, code, templates, targets, kind, value);
          o = w.len;
          from = pos + (kind >> 5 /* LENGTH_SHIFT */);
          break;
        case 5: { // Edit.Flag
          if (value >= 2) {
            // A wide body's: a call of the added function that reads the
            // flag, padded with `nop`s to the inline check's size.
            w.len = o;
            w.callPadded(code.helperBase + value - 2);
            const pad = templates.flag.length - PADDED_CALL_SIZE;
            for (let j = 0; j < pad; j++) w.u8(0x01);
            o = w.len;
            break;
          }
          const inRegister = value === 1;
          const flag = inRegister ? templates.flagInRegister : templates.flag;
          hints[h++] = o - sizeStart +
            (inRegister ? templates.flagInRegisterIfAt : templates.flagIfAt);
          buf.set(flag, o);
          o += flag.length;
          break;
        }
        case 7: { // Edit.Sync
          const sync = templates.sync;
          buf.set(sync, o);
          o += sync.length;
          break;
        }
        case 8: { // Edit.Refund
          const refund = templates.refund((kind & 0x10) !== 0);
          buf.set(refund, o);
          o += refund.length;
          break;
        }
        case 9: // Edit.Charge
          w.len = o;
          writeCharge(w, localCount, code.cost(value));
          if ((kind >> 5 & 2 /* SYNC */) !== 0) w.bytes(templates.sync);
          o = w.len;
          break;
        case 3: { // Edit.Dynamic
          const is64 = (kind & 0x10) !== 0;
          const sequence = templates.charge(is64, value);
          hints[h++] = o - sizeStart + templates.chargeIfAt(is64, value);
          buf.set(sequence, o);
          o += sequence.length;
          if ((kind & 0x20 /* REFUND */) !== 0) {
            // The grow, then its refund.
            from = pos + (kind >> 7 /* REFUND_LENGTH_SHIFT */);
            for (let i = pos; i < from; i++) buf[o++] = bytes[i]!;
            const refund = templates.refund(
              (kind & 0x40 /* REFUND_64 */) !== 0,
            );
            buf.set(refund, o);
            o += refund.length;
          }
          break;
        }
      }
    }
  }
  w.len = o;
  const end = body[b + 3 /* Body.End */]!;
  if (end - from > copy) {
    w.copy(bytes, from, from + copy);
    from += copy;
    return pauseBody(paused, editsTo, from, sizeStart, hintsAt, h);
  }
  w.copy(bytes, from, end);
  if (h === hintsAt + 2) h = hintsAt;
  else hints[hintsAt + 1] = h - hintsAt - 2;
  code.hintCount = h;
  if (w.len - sizeStart !== size) {
    fail(
      `internal error: function ${
        body[b + 10 /* Body.FunctionIndex */]
      } came out ${w.len - sizeStart} bytes long instead of ${size}`,
      body[b + 0 /* Body.Start */]!,
    );
  }
  return false;
}

/**
 * A finished emit's {@linkcode PausedBody}, for the next one to take: kept
 * alive between loads with its hidden class, which `emitBody`'s optimised
 * code checks.
 */
let sparePause: PausedBody | undefined;

/** Records where `emitBody` paused; returns `true`. */
function pauseBody(
  paused: PausedBody,
  next: number,
  from: number,
  sizeStart: number,
  hintsAt: number,
  h: number,
): boolean {
  paused.active = true;
  paused.next = next;
  paused.from = from;
  paused.sizeStart = sizeStart;
  paused.hintsAt = hintsAt;
  paused.h = h;
  return true;
}

// The rarer edits are written out of `emitBody`'s loop: V8 compiles that
// loop sooner, and in less time, without them in it.

/**
 * A check whose cost has no one-byte slot in its template, or that tests
 * for a `br_table`'s dearest target as well (`MARGIN`); returns where its
 * `if` is in the whole output.
 */
function emitDearCheck(
  w: Emitter,
  code: CodePlan,
  templates: CheckTemplates,
  targets: CheckTargets,
  localCount: number,
  kind: number,
  value: number,
  edit: number,
): number {
  const variant = kind >> 5 & 7;
  if ((kind & 0x100 /* MARGIN */) === 0) {
    const start = w.len;
    return start + templates.writeWithCost(w, code.cost(value), variant);
  }
  // Tests for the dearest segment its `br_table` leads to as well.
  return writeCheck(
    w,
    targets,
    {
      local: localCount,
      inRegister: true,
      load: (variant & 1 /* LOAD */) !== 0,
      sync: (variant & 2 /* SYNC */) !== 0,
      flag: (variant & 4 /* FUSED */) !== 0,
    },
    code.cost(value),
    code.margins.get(edit)!,
  );
}

/**
 * A call of a register copy (`Edit.SelfCall`) or of a bulk helper, and the
 * reload after it if its edit asks for one (`RELOAD`).
 */
function emitCall(
  w: Emitter,
  code: CodePlan,
  templates: CheckTemplates,
  targets: CheckTargets,
  kind: number,
  value: number,
): void {
  if ((kind & 0xf) === 4 /* Edit.SelfCall */) {
    writeCopyCall(w, targets.fuelGlobal, value);
  } else {
    w.callPadded(code.helperBase + value);
  }
  if ((kind & 0x10 /* RELOAD */) !== 0) w.bytes(templates.reload);
}

/** `$f -= cost` without a test, on the fuel's local `fuel`. */
function writeCharge(w: Emitter, fuel: number, cost: number): void {
  w.localGet(fuel);
  w.i64Const(cost);
  w.u8(0x7d); // i64.sub
  w.localSet(fuel);
}
