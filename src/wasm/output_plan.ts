/**
 * The rewritten module as a list of parts (new bytes, ranges of the input
 * to copy, the rewritten code, room for its branch hints), planned in one
 * walk over the input and then written into one buffer of exactly the
 * right size.
 *
 * @module
 */

import { InvalidModule } from "../errors.ts";
import { CodeRewriter } from "./code.ts";
import { Emitter } from "./emitter.ts";
import type { Patches } from "./patches.ts";
import { Reader } from "./reader.ts";
import {
  askForTurn,
  askToWait,
  COPY_STEP_BYTES,
  runSteps,
  type Steps,
} from "./steps.ts";
import { Writer } from "./writer.ts";

/**
 * Makes the buffer the output is written into, of exactly `size` bytes: a
 * loader that hands the output to another thread gives a shared one, so
 * that the output is written once, where that thread reads it. It may
 * give a promise of it (made on another thread), which only a loader that
 * pauses between steps can wait for.
 */
export type OutputAllocator = (
  size: number,
) => Uint8Array | Promise<Uint8Array>;

/**
 * A request to build the output over the input, in the input's own buffer
 * (which must have room after it for the output), when most of the output
 * is input the rewriter copies as it is: data segments and custom
 * sections, at the module's end. A fresh buffer of the output's size costs
 * a page fault per 4 kB on first touch (flite's 21.7 MB: 60 to 90 ms of CPU
 * on a 2-core VM), which the input's buffer, read into moments ago, has
 * paid. The input is gone then, unless `restore` puts it back.
 */
export interface InPlace {
  /**
   * Set once the output is built over the input: puts the input back (the
   * output is gone then). Calls after the first do nothing.
   */
  restore?: () => void;
}

/**
 * The least a build in place must move of the input's bytes: below it, the
 * page faults it saves are few.
 */
const IN_PLACE_MIN_BYTES = 1 << 20;

/** Room for the code's branch hints, written once the code is. */
class HintsSlot {
  constructor(readonly code: CodeRewriter, readonly size: number) {}
}

/** A piece of the output. */
type Part =
  | Uint8Array
  | { from: number; to: number }
  | CodeRewriter
  | HintsSlot;

/**
 * Where a vector section was planned: its first part, and the input's
 * section start and end, for planning it again with more entries.
 */
export type PlannedVector = [part: number, sectionStart: number, end: number];

/**
 * The parts of the output, in order.
 *
 * @example Usage
 * ```ts
 * import { OutputPlan } from "./output_plan.ts";
 * import assert from "node:assert/strict";
 *
 * const input = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
 * const plan = new OutputPlan(input);
 * plan.addInput(0, 8);
 * assert.deepEqual(plan.write(), input);
 * ```
 */
export class OutputPlan {
  readonly #bytes: Uint8Array;
  readonly #parts: Part[] = [];
  #size = 0;

  /** @param bytes The input module. */
  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  /**
   * The output's size so far, in bytes.
   *
   * @returns The sum of the parts' sizes.
   */
  get size(): number {
    return this.#size;
  }

  /**
   * Adds new bytes.
   *
   * @param part The bytes.
   */
  add(part: Uint8Array): void {
    this.#parts.push(part);
    this.#size += part.length;
  }

  /**
   * Adds a range of the input.
   *
   * @param from The first byte.
   * @param to One past the last.
   */
  addInput(from: number, to: number): void {
    this.#size += to - from;
    // A range that continues the last one extends it: a module of a
    // million custom sections is one copy, not a million.
    const last = this.#parts[this.#parts.length - 1];
    if (
      last !== undefined && !(last instanceof Uint8Array) &&
      !(last instanceof CodeRewriter) && !(last instanceof HintsSlot) &&
      last.to === from
    ) {
      last.to = to;
      return;
    }
    this.#parts.push({ from, to });
  }

  /**
   * Adds a section made of a header and `content`.
   *
   * @param id The section id.
   * @param content The section's contents.
   */
  addSection(id: number, content: Writer): void {
    const header = new Writer(6);
    header.u8(id);
    header.u32(content.len);
    this.add(header.finish());
    this.add(content.finish());
  }

  /**
   * Adds the rewritten code's bodies.
   *
   * @param code The scanned code.
   * @param size The bodies' size.
   */
  addCode(code: CodeRewriter, size: number): void {
    this.#parts.push(code);
    this.#size += size;
  }

  /**
   * Adds room for the code's branch hints.
   *
   * @param code The scanned code.
   * @param size The hint section's size.
   */
  addHints(code: CodeRewriter, size: number): void {
    this.#parts.push(new HintsSlot(code, size));
    this.#size += size;
  }

  /**
   * Copies a section, applying index patches if there are any.
   *
   * @param id The section id.
   * @param sectionStart Where the section starts in the input.
   * @param end Where it ends.
   * @param patches The index patches inside it.
   */
  addPatched(
    id: number,
    sectionStart: number,
    end: number,
    patches: Patches,
  ): void {
    if (patches.length === 0) return this.addInput(sectionStart, end);
    const r = new Reader(this.#bytes, sectionStart + 1, end);
    r.u32();
    const content = new Writer(end - r.pos + Math.max(0, patches.growth()));
    patches.copy(content, this.#bytes, r.pos, end);
    this.addSection(id, content);
  }

  /**
   * Adds a vector section with `added` more entries, written by `append`
   * after the input's (and by `prepend` before them). With `sectionStart`
   * -1 the section is new.
   *
   * @param id The section id.
   * @param sectionStart Where the section starts in the input, or -1.
   * @param end Where it ends.
   * @param append Writes the added entries that follow the input's.
   * @param added How many entries `append` and `prepend` write.
   * @param patches The index patches inside the input's entries.
   * @param prepend Writes the added entries that come before the input's.
   * @returns Where it was planned.
   */
  addVector(
    id: number,
    sectionStart: number,
    end: number,
    append: (w: Writer) => void,
    added = 1,
    patches?: Patches,
    prepend?: (w: Writer) => void,
  ): PlannedVector {
    const planned: PlannedVector = [this.#parts.length, sectionStart, end];
    this.addSection(
      id,
      this.#vectorContent(sectionStart, end, append, added, prepend, patches),
    );
    return planned;
  }

  /**
   * A vector section's contents: the input's entries (none when
   * `sectionStart` is -1) with `added` more around them.
   */
  #vectorContent(
    sectionStart: number,
    end: number,
    append: (w: Writer) => void,
    added: number,
    prepend?: (w: Writer) => void,
    patches?: Patches,
  ): Writer {
    let content: Writer;
    if (sectionStart < 0) {
      content = new Writer(64);
      content.u32(added);
      prepend?.(content);
    } else {
      const bytes = this.#bytes;
      const head = new Reader(bytes, sectionStart + 1, end);
      head.u32();
      const count = head.u32();
      content = new Writer(
        end - head.pos + 64 + Math.max(0, patches?.growth() ?? 0),
      );
      content.u32(count + added);
      prepend?.(content);
      if (patches) patches.copy(content, bytes, head.pos, end);
      else content.copy(bytes, head.pos, end);
    }
    append(content);
    return content;
  }

  /**
   * Plans again a vector section of the input planned earlier, with
   * `added` entries written by `append` after the input's (and by
   * `prepend` before them).
   *
   * @param planned Where it was planned.
   * @param id The section id.
   * @param append Writes the added entries that follow the input's.
   * @param added How many entries `append` and `prepend` write.
   * @param prepend Writes the added entries that come before the input's.
   * @param patches The index patches inside the input's entries.
   */
  replanVector(
    [part, sectionStart, end]: PlannedVector,
    id: number,
    append: (w: Writer) => void,
    added: number,
    prepend?: (w: Writer) => void,
    patches?: Patches,
  ): void {
    const old = this.#parts.splice(part, 2) as Uint8Array[];
    this.#size -= old[0]!.length + old[1]!.length;
    const content = this.#vectorContent(
      sectionStart,
      end,
      append,
      added,
      prepend,
      patches,
    );
    const header = new Writer(6);
    header.u8(id);
    header.u32(content.len);
    const parts = [header.finish(), content.finish()];
    this.#parts.splice(part, 0, ...parts);
    this.#size += parts[0]!.length + parts[1]!.length;
  }

  /**
   * Writes every part into one buffer.
   *
   * @returns The output.
   */
  write(): Uint8Array<ArrayBuffer> {
    return runSteps(this.writeSteps());
  }

  /**
   * {@linkcode OutputPlan.write} in steps: the code and large copies
   * pause between pieces.
   *
   * @param allocate Makes the output's buffer, of exactly the size given
   *   (by default a plain one).
   * @param inPlace Asks for the output to be built over the input, in its
   *   buffer, where that pays (see {@linkcode InPlace}); not with
   *   `allocate`.
   * @returns The steps, which return the output.
   */
  *writeSteps(
    allocate?: OutputAllocator,
    inPlace?: InPlace,
  ): Steps<Uint8Array<ArrayBuffer>> {
    const bytes = this.#bytes;
    // The output from `tail.first` on is built over the input at the end.
    const tail = inPlace === undefined || allocate !== undefined
      ? undefined
      : this.#tail();
    // A hold of its own, with turns before and after it: allocating
    // esbuild's 18 MB output took up to 6 ms.
    askForTurn();
    yield;
    const w = new Emitter(
      allocate !== undefined ? 0 : tail === undefined ? this.#size : tail.at,
    );
    if (allocate !== undefined) {
      let given = allocate(this.#size);
      if (given instanceof Promise) {
        // Made elsewhere: the loader waits for it, its stops watched.
        let made: { buffer: Uint8Array } | { error: unknown } | undefined;
        askToWait(given.then(
          (buffer) => void (made = { buffer }),
          (error) => void (made = { error }),
        ));
        yield;
        if (made === undefined) {
          throw new Error(
            "internal error: the rewrite went on before its output's buffer was made",
          );
        }
        if ("error" in made) throw made.error;
        given = made.buffer;
      }
      // Typed as plain: the caller's buffer may be shared, which only the
      // caller reads as such.
      w.buf = given as Uint8Array<ArrayBuffer>;
    }
    askForTurn();
    yield;
    let hints: HintsSlot | undefined;
    let hintsAt = 0;
    const parts = this.#parts;
    const written = tail === undefined ? parts.length : tail.first;
    for (let i = 0; i < written; i++) {
      const part = parts[i]!;
      if (part instanceof Uint8Array) {
        for (let from = 0; from < part.length; from += COPY_STEP_BYTES) {
          w.copy(part, from, Math.min(part.length, from + COPY_STEP_BYTES));
          if (part.length - from > COPY_STEP_BYTES) yield;
        }
      } else if (part instanceof CodeRewriter) yield* part.emit(w);
      else if (part instanceof HintsSlot) {
        hints = part;
        hintsAt = w.len;
        w.len += part.size;
      } else {
        for (let from = part.from; from < part.to; from += COPY_STEP_BYTES) {
          w.copy(bytes, from, Math.min(part.to, from + COPY_STEP_BYTES));
          if (part.to - from > COPY_STEP_BYTES) yield;
        }
      }
    }
    if (hints !== undefined) {
      const end = w.len;
      w.len = hintsAt;
      yield* hints.code.writeBranchHints(w);
      w.len = end;
    }
    if (tail !== undefined) {
      if (w.len !== tail.at) {
        throw new InvalidModule(
          `internal error: the module's first ${tail.at} bytes came out ${w.len} long`,
        );
      }
      return this.#buildInPlace(tail.first, w.finish(), inPlace!);
    }
    if (w.len !== this.#size) {
      throw new InvalidModule(
        `internal error: the module came out ${w.len} bytes long instead of ${this.#size}`,
      );
    }
    return w.finish();
  }

  /**
   * Where the output can be built over the input: from the first of the
   * last parts that are new bytes or input ranges, each range in the
   * input's order and moving towards the end (the last moved first then
   * overwrites none still to move), when they move enough of the input and
   * its buffer has room for the output.
   */
  #tail(): { first: number; at: number } | undefined {
    const bytes = this.#bytes;
    if (
      !(bytes.buffer instanceof ArrayBuffer) ||
      bytes.buffer.byteLength - bytes.byteOffset <
        Math.max(this.#size, bytes.length)
    ) return undefined;
    const parts = this.#parts;
    let at = this.#size;
    let next = bytes.length;
    let moved = 0;
    let found: { first: number; at: number } | undefined;
    for (let i = parts.length - 1; i >= 0; i--) {
      const part = parts[i]!;
      if (part instanceof Uint8Array) {
        at -= part.length;
        continue;
      }
      if (part instanceof CodeRewriter || part instanceof HintsSlot) break;
      at -= part.to - part.from;
      if (at < part.from || part.to > next) break;
      next = part.from;
      moved += part.to - part.from;
      found = { first: i, at };
    }
    if (found === undefined || moved < IN_PLACE_MIN_BYTES || moved < found.at) {
      return undefined;
    }
    return found;
  }

  /**
   * Builds the output over the input: the input ranges from part `first`
   * on moved to their places, the last first, then the new bytes among
   * them, then `head`, the output before them. What the input held outside
   * those ranges is kept aside, for `inPlace.restore`.
   */
  #buildInPlace(
    first: number,
    head: Uint8Array,
    inPlace: InPlace,
  ): Uint8Array<ArrayBuffer> {
    const bytes = this.#bytes;
    const parts = this.#parts;
    const whole = new Uint8Array(
      bytes.buffer as ArrayBuffer,
      bytes.byteOffset,
      Math.max(this.#size, bytes.length),
    );
    // [output at, input from, input to] of each range moved.
    const moves: [number, number, number][] = [];
    let at = head.length;
    let movedBytes = 0;
    for (let i = first; i < parts.length; i++) {
      const part = parts[i]!;
      if (part instanceof Uint8Array) at += part.length;
      else {
        const { from, to } = part as { from: number; to: number };
        moves.push([at, from, to]);
        at += to - from;
        movedBytes += to - from;
      }
    }
    const kept = new Uint8Array(bytes.length - movedBytes);
    let keptAt = 0;
    let end = 0;
    for (const [, from, to] of moves) {
      kept.set(bytes.subarray(end, from), keptAt);
      keptAt += from - end;
      end = to;
    }
    kept.set(bytes.subarray(end), keptAt);
    for (let i = moves.length - 1; i >= 0; i--) {
      const [outputAt, from, to] = moves[i]!;
      whole.copyWithin(outputAt, from, to);
    }
    at = head.length;
    for (let i = first; i < parts.length; i++) {
      const part = parts[i]!;
      if (part instanceof Uint8Array) {
        whole.set(part, at);
        at += part.length;
      } else {
        const { from, to } = part as { from: number; to: number };
        at += to - from;
      }
    }
    whole.set(head, 0);
    let restored = false;
    inPlace.restore = () => {
      if (restored) return;
      restored = true;
      // The first first: each moves back towards the start.
      for (const [outputAt, from, to] of moves) {
        whole.copyWithin(from, outputAt, outputAt + to - from);
      }
      let taken = 0;
      let next = 0;
      for (const [, from, to] of moves) {
        bytes.set(kept.subarray(taken, taken + from - next), next);
        taken += from - next;
        next = to;
      }
      bytes.set(kept.subarray(taken), next);
    };
    return whole.subarray(0, this.#size);
  }
}
