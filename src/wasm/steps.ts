/**
 * The rewrite as steps. Its long loops (the scan of the bodies, their
 * emission, the copy of the input's large sections) are generators that
 * yield after about {@linkcode STEP_BYTES} of work, so that a loader can
 * give the event loop a turn between steps and a stop that comes during a
 * rewrite of a large module lands at once, not when the rewrite ends.
 * `instrument()` runs every step at once.
 *
 * @module
 */

import type { Writer } from "./writer.ts";

/** A piece of the rewrite that pauses between steps and returns `T`. */
export type Steps<T> = Generator<void, T, void>;

/**
 * About how many bytes of input (scanned, emitted or copied) a step covers:
 * a fraction of a millisecond of a warm rewriter, about a millisecond of a
 * cold one.
 */
export const STEP_BYTES = 64 * 1024;

/**
 * The most function bodies a step of the scan or of the emission covers,
 * however few bytes they hold: each body has a cost of its own (its record,
 * its checks), which outweighs its bytes when bodies are tiny. A guest of
 * 100,000 empty functions (400 KB) was scanned in steps of 64 KiB, about
 * 20,000 bodies each, that held the thread 20 to 60 ms warm on a busy
 * 2-core machine, and up to 350 ms cold.
 */
export const STEP_BODIES = 512;

/**
 * How long a step of the bodies' scan or emission runs, in milliseconds,
 * before it pauses after the body it is in, whatever its bytes and bodies:
 * cold, the scan covered 64 KiB in 5 to 18 ms (esbuild.wasm, a process's
 * first loads), where warm it takes a fraction of one. See
 * {@linkcode stepTimeUp}.
 */
export const STEP_MS = 0.5;

/**
 * Whether a loop over function bodies has run {@linkcode STEP_MS} since
 * `since` (a `performance.now()`), and should pause after body `i`. The
 * clock is read after every eighth body only.
 *
 * @param i The body just done.
 * @param since When the step began.
 * @returns Whether to pause.
 *
 * @example Usage
 * ```ts
 * import { stepTimeUp } from "./steps.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(stepTimeUp(7, performance.now() - 1), true);
 * assert.equal(stepTimeUp(6, performance.now() - 1), false);
 * ```
 */
export function stepTimeUp(i: number, since: number): boolean {
  return (i & 7) === 7 && performance.now() - since >= STEP_MS;
}

/**
 * About how many bytes of a section other than the code a step reads
 * (types, imports, functions, globals, exports, element segments): reading
 * them costs more a byte than scanning code, as much as 0.2 µs warm for
 * element segments' function indices (esbuild's 10 KB took 1.7 to 2.4 ms,
 * 3.5 before V8 optimised the reader), and a process's first read of
 * element expressions about 0.5 µs a byte (a step of 4 KiB of `global.get`
 * entries held a command line's 5 ms deadline 3 to 5 ms late).
 */
export const READ_STEP_BYTES = 1024;

/**
 * How many bytes of an unchanged range are copied in one step: copying is
 * faster than rewriting, mostly page faults of the fresh output (16 pages
 * here; 64 took 0.8 ms on a busy machine, and up to 5 where a fault took
 * 80 µs).
 */
export const COPY_STEP_BYTES = 64 * 1024;

/**
 * How far apart the pauses inside one function body are: in its scan,
 * every {@linkcode STEP_BYTES} of its code; in its emission, every
 * {@linkcode STEP_BYTES} of its output and every
 * {@linkcode COPY_STEP_BYTES} of a run without edits. The primer (see
 * `primer.ts`) makes them a few bytes while it runs, so that V8 meets the
 * pauses before it optimises the loops they are in: met later, in the first
 * long body, they threw the optimised scan loop away.
 */
export const BODY_STEPS = { bytes: STEP_BYTES, copy: COPY_STEP_BYTES };

/** Whether a step asked for a turn of the event loop before the next one. */
let turnAsked = false;

/**
 * Asks a loader that runs the steps for a turn of the event loop after the
 * current step, however little of its time between turns has passed: the
 * next step is a hold of its own that cannot be split (an allocation of
 * the whole output, which the C library may zero at once: about 1 ms for
 * esbuild's 18 MB, more where its pages must be faulted in), and a stop
 * should not wait for it on top of the steps before it.
 *
 * @example Usage
 * ```ts
 * import { askForTurn, takeTurnAsked } from "./steps.ts";
 * import assert from "node:assert/strict";
 *
 * askForTurn();
 * assert.equal(takeTurnAsked(), true);
 * assert.equal(takeTurnAsked(), false);
 * ```
 */
export function askForTurn(): void {
  turnAsked = true;
}

/**
 * Whether a step asked for a turn since the last call, which forgets it.
 *
 * @returns Whether the event loop should get a turn before the next step.
 *
 * @example Usage
 * ```ts
 * import { takeTurnAsked } from "./steps.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(takeTurnAsked(), false);
 * ```
 */
export function takeTurnAsked(): boolean {
  const asked = turnAsked;
  turnAsked = false;
  return asked;
}

/** What a step asked the loader to wait for before the next one. */
let waitAsked: Promise<void> | undefined;

/**
 * Asks a loader that runs the steps to wait for `settled` before the next
 * step, its stops watched meanwhile: the next step needs what another
 * thread makes (the output's buffer, which the compile thread allocates
 * and zeroes so that this thread is not held meanwhile). `settled` never
 * rejects; the step after it reads how it went. Only a loader that pauses
 * may be asked: {@linkcode runSteps} throws.
 *
 * @param settled What to wait for.
 *
 * @example Usage
 * ```ts
 * import { askToWait, takeWaitAsked } from "./steps.ts";
 * import assert from "node:assert/strict";
 *
 * const ready = Promise.resolve();
 * askToWait(ready);
 * assert.equal(takeWaitAsked(), ready);
 * assert.equal(takeWaitAsked(), undefined);
 * ```
 */
export function askToWait(settled: Promise<void>): void {
  waitAsked = settled;
}

/**
 * What a step asked to wait for since the last call, which forgets it.
 *
 * @returns The promise to wait for before the next step, if any.
 *
 * @example Usage
 * ```ts
 * import { takeWaitAsked } from "./steps.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(takeWaitAsked(), undefined);
 * ```
 */
export function takeWaitAsked(): Promise<void> | undefined {
  const asked = waitAsked;
  waitAsked = undefined;
  return asked;
}

/**
 * Runs every step at once.
 *
 * @param steps The steps.
 * @returns What they return.
 *
 * @example Usage
 * ```ts
 * import { runSteps, type Steps } from "./steps.ts";
 * import assert from "node:assert/strict";
 *
 * function* count(): Steps<number> {
 *   yield;
 *   yield;
 *   return 2;
 * }
 * assert.equal(runSteps(count()), 2);
 * ```
 */
export function runSteps<T>(steps: Steps<T>): T {
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
    // No turns here: a request is dropped, not left for another runner.
    turnAsked = false;
    if (waitAsked !== undefined) {
      waitAsked = undefined;
      throw new Error(
        "internal error: a rewrite step asked to wait for another thread, which only a loader that pauses between steps can",
      );
    }
  }
}

/**
 * Copies `src[from, to)` to `w`, pausing after every
 * {@linkcode COPY_STEP_BYTES} but the last.
 *
 * @param w Where the bytes go.
 * @param src Where they come from.
 * @param from The first byte copied.
 * @param to The byte after the last one copied.
 *
 * @example Usage
 * ```ts
 * import { COPY_STEP_BYTES, copySteps } from "./steps.ts";
 * import { Writer } from "./writer.ts";
 * import assert from "node:assert/strict";
 *
 * const src = new Uint8Array(COPY_STEP_BYTES * 2 + 5).fill(7);
 * const w = new Writer();
 * const steps = copySteps(w, src, 0, src.length);
 * let pauses = 0;
 * while (!steps.next().done) pauses++;
 * assert.equal(pauses, 2);
 * assert.equal(w.len, src.length);
 * ```
 */
export function* copySteps(
  w: Writer,
  src: Uint8Array,
  from: number,
  to: number,
): Steps<void> {
  for (let at = from; at < to; at += COPY_STEP_BYTES) {
    w.copy(src, at, Math.min(to, at + COPY_STEP_BYTES));
    if (to - at > COPY_STEP_BYTES) yield;
  }
}
