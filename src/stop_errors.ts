/**
 * The errors that end a call: the host stopped the guest (an interrupt, its
 * fuel, a deadline, an abort), the guest trapped, or a host import threw.
 * Each is an outcome of the call, not a bug; which outcome is said in one
 * place, `outcome.ts`.
 *
 * @module
 */

import {
  EarlyExitError,
  ONE_LINE_PARTS,
  oneLineText,
} from "./early_exit_error.ts";
import { describeThrown, isInstance, readSafely } from "./thrown_values.ts";

/**
 * What an interrupt carries besides its message.
 *
 * @example Usage
 * ```ts
 * import { type InterruptDetails, Interrupted } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * const details: InterruptDetails = { reason: "over quota", code: "E_QUOTA" };
 * const stop = new Interrupted("quota.check", details);
 * assert.equal(stop.reason, "over quota");
 * ```
 */
export interface InterruptDetails {
  /** Why the host stopped the guest, in words. */
  reason?: string;
  /** A machine-readable code the host chose. */
  code?: string | number;
}

/**
 * The host stopped the guest: a host import (by default
 * `env.interrupt_execution`) was called and cut the call short.
 *
 * @example Usage
 * ```ts
 * import { Interrupted, isInterrupted } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * const stop = new Interrupted("env.interrupt_execution", { code: 7 });
 * assert.ok(isInterrupted(stop));
 * assert.equal(stop.code, 7);
 * ```
 */
export class Interrupted extends EarlyExitError {
  /** The import that stopped the guest, as `module.name`. */
  declare readonly importName: string;
  /** The host's reason, if it gave one. */
  declare readonly reason: string | undefined;
  /** The host's code, if it gave one. */
  declare readonly code: string | number | undefined;

  /**
   * Creates the error.
   *
   * @param importName The import that stopped the guest, as `module.name`.
   * @param details The host's reason and code.
   */
  constructor(importName: string, details?: InterruptDetails) {
    const reason = readSafely(details, "reason") as string | undefined;
    const why = reason === undefined
      ? ""
      : `: ${oneLineText(describe(reason))}`;
    super(
      "Interrupted",
      `guest interrupted by host import ${oneLineText(importName)}${why}`,
      ONE_LINE_PARTS,
    );
    this.importName = importName;
    this.reason = reason;
    this.code = readSafely(details, "code") as string | number | undefined;
  }
}

/**
 * The guest spent its fuel budget. The guest was stopped before the block
 * it could not pay for, so `consumed` counts only work that ran.
 *
 * @example Usage
 * ```ts
 * import { FuelExhausted, isFuelExhausted } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * const error = new FuelExhausted(1000, 998);
 * assert.ok(isFuelExhausted(error));
 * assert.equal(error.budget - error.consumed, 2);
 * ```
 */
export class FuelExhausted extends EarlyExitError {
  /** The fuel the call started with. */
  declare readonly budget: number;
  /** The fuel the call consumed before it was stopped. */
  declare readonly consumed: number;

  /**
   * Creates the error.
   *
   * @param budget The fuel the call started with.
   * @param consumed The fuel it consumed before it was stopped.
   * @param message What ran out, when it is not a call (a guest whose
   *   instantiation alone needs more than its budget).
   */
  constructor(budget: number, consumed: number, message?: string) {
    super(
      "FuelExhausted",
      message ??
        `guest ran out of fuel: consumed ${consumed} of a budget of ${budget}`,
    );
    this.budget = budget;
    this.consumed = consumed;
  }
}

/** Whether `cause` is a timed-out AbortSignal's reason. */
function timedOutSignal(cause: unknown): boolean {
  return isInstance(cause, DOMException) &&
    readSafely(cause, "name") === "TimeoutError";
}

/**
 * The call ran past its deadline (the `timeout` option, or an
 * `AbortSignal.timeout`) and was stopped.
 *
 * @example Usage
 * ```ts
 * import { DeadlineExceeded, isDeadlineExceeded } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * const error = new DeadlineExceeded(50, 50.4);
 * assert.ok(isDeadlineExceeded(error));
 * assert.equal(error.timeout, 50);
 * ```
 */
export class DeadlineExceeded extends EarlyExitError {
  /**
   * The time the call was allowed, in milliseconds; for a timed-out
   * `AbortSignal`, which does not tell its time, the time to its abort
   * event.
   */
  declare readonly timeout: number;
  /** The time from the call's start to the stop, in milliseconds. */
  declare readonly elapsed: number;

  /**
   * Creates the error.
   *
   * @param timeout The time the call was allowed, in milliseconds.
   * @param elapsed The time from the call's start to the stop, in milliseconds.
   * @param options The abort reason as `cause`, when an AbortSignal timed out.
   */
  constructor(timeout: number, elapsed: number, options?: ErrorOptions) {
    // A timed-out AbortSignal does not tell how long it allowed: the time
    // to its abort event, which may fire late, is no allowance to report.
    const allowed = timedOutSignal(options?.cause)
      ? "its AbortSignal timed out"
      : `${roundMs(timeout)} ms allowed`;
    super(
      "DeadlineExceeded",
      `guest stopped at its deadline: ${allowed}, stopped after ${
        roundMs(elapsed)
      } ms`,
      options,
    );
    this.timeout = timeout;
    this.elapsed = elapsed;
  }
}

/**
 * The call was aborted through its `AbortSignal`. `cause` is the signal's
 * reason.
 *
 * @example Usage
 * ```ts
 * import { Aborted, isAborted } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * const error = new Aborted("user pressed stop");
 * assert.ok(isAborted(error));
 * assert.equal(error.cause, "user pressed stop");
 * ```
 */
export class Aborted extends EarlyExitError {
  /**
   * Creates the error.
   *
   * @param reason The signal's reason, kept as `cause`.
   */
  constructor(reason: unknown) {
    super("Aborted", `guest call aborted: ${describe(reason)}`, {
      cause: reason,
    });
  }
}

/**
 * A guest ran out of memory. In isolation, the child process's V8 reached
 * its heap limit (`maxHeapMiB`, or V8's own), or the system refused it
 * memory or address space (a guest with thousands of memories reserves it
 * all), and ended the child. A load, in process or in the child, fails
 * with it when the system refuses the memories of the guest it
 * instantiates; an async call ends with it, before it starts, when the
 * memories and calls of the process's guests are at the most they may
 * hold. In
 * process, a guest's GC allocations (structs, arrays, exceptions, strings)
 * found the host's heap past `limits.heap` (its pages, which live data
 * fills), and the guest was stopped before V8 would have ended the host.
 * The host is unharmed.
 *
 * @example Usage
 * ```ts
 * import { isOutOfMemory, OutOfMemory } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * const error = new OutOfMemory(64);
 * assert.ok(isOutOfMemory(error));
 * assert.equal(error.heapLimitMiB, 64);
 * ```
 */
export class OutOfMemory extends EarlyExitError {
  /** The heap limit in MiB (the child's, or `limits.heap`), when known. */
  declare readonly heapLimitMiB: number | undefined;
  /** In process: the MiB of pages the host's heap would have held with the guest's allocation. */
  declare readonly heldMiB: number | undefined;

  /**
   * Creates the error.
   *
   * @param heapLimitMiB The heap limit in MiB, when the caller set one.
   * @param heldMiB In process, the MiB the host's heap would have held.
   * @param refusedBySystem The system refused V8 memory or address space
   * below its heap limit: `true` for an isolated call's child, which it
   * ended; `"instantiating"` for the memories of a guest being
   * instantiated, which failed; `"regions"` for an async call that did not
   * start, the regions its stack would take being at the most the process
   * may hold.
   */
  constructor(
    heapLimitMiB: number | undefined,
    heldMiB?: number,
    refusedBySystem: boolean | "instantiating" | "regions" = false,
  ) {
    const limit = heapLimitMiB === undefined
      ? "V8's default heap limit"
      : `a heap limit of ${heapLimitMiB} MiB`;
    super(
      "OutOfMemory",
      heldMiB !== undefined && heapLimitMiB !== undefined &&
        heldMiB < heapLimitMiB
        ? `the guest's allocations would leave the host's heap at ${heldMiB} MiB (the pages its live data fills), near V8's own limit, which limits.heap (${heapLimitMiB} MiB) is past: V8 would end the host first; lower limits.heap, or start deno with a larger --v8-flags=--max-old-space-size`
        : heldMiB !== undefined
        ? `the guest's allocations would leave the host's heap at ${heldMiB} MiB (the pages its live data fills), past limits.heap (${heapLimitMiB} MiB); raise limits.heap (bytes) or give the guest less to hold`
        : refusedBySystem === "regions"
        ? "the async call did not start: the memories of the guests alive and the async calls in progress in this process are at the most they may hold together (each takes the system's memory maps, and past them the engine ends the whole process); let calls end or guests go before starting more, or run guests with invokeIsolated"
        : refusedBySystem === "instantiating"
        ? "instantiating the guest ran out of memory: the system refused its V8 more memory or address space, below its heap limit (each of a guest's memories reserves address space); give the guest fewer or smaller memories"
        : refusedBySystem
        ? "the isolated call's child process ran out of memory: the system refused its V8 more memory or address space, below its heap limit (each of a guest's memories reserves address space); give the guest fewer or smaller memories"
        : `the isolated call's child process ran out of memory (${limit}); raise maxHeapMiB or give the guest less to hold`,
    );
    this.heapLimitMiB = heapLimitMiB;
    if (heldMiB !== undefined) this.heldMiB = heldMiB;
  }
}

/**
 * The kinds of trap a guest can hit.
 *
 * @example Usage
 * ```ts
 * import { loadGuest, type TrapKind } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * // (module (func (export "boom") unreachable))
 * const bytes = new Uint8Array([
 *   0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0, 7, 8, 1, 4, 98,
 *   111, 111, 109, 0, 0, 10, 5, 1, 3, 0, 0, 11,
 * ]);
 * const result = (await loadGuest(bytes)).invoke("boom");
 * const trap: TrapKind | undefined = result.outcome === "trap" ? result.error.trap : undefined;
 * assert.equal(trap, "unreachable");
 * ```
 */
export type TrapKind =
  | "unreachable"
  | "memory_out_of_bounds"
  | "table_out_of_bounds"
  | "divide_by_zero"
  | "integer_overflow"
  | "invalid_conversion"
  | "null_function"
  | "signature_mismatch"
  | "null_reference"
  | "bad_cast"
  | "array_out_of_bounds"
  | "array_too_large"
  | "unaligned_atomic"
  | "stack_overflow"
  | "uncaught_exception"
  // A function of a guest called while no call of that guest was in
  // progress: it trapped at its first check, before any of its code ran.
  | "outside_call"
  | "other";

/**
 * The guest trapped: it ran `unreachable`, accessed memory out of bounds,
 * divided by zero, overflowed the stack, and so on.
 *
 * @example Usage
 * ```ts
 * import { GuestTrap, isGuestTrap } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * const trap = new GuestTrap("divide_by_zero", "divide by zero");
 * assert.ok(isGuestTrap(trap));
 * assert.equal(trap.trap, "divide_by_zero");
 * ```
 */
export class GuestTrap extends EarlyExitError {
  /** Which trap it was. */
  declare readonly trap: TrapKind;

  /**
   * Creates the error.
   *
   * @param trap Which trap it was.
   * @param message The engine's description.
   * @param options The engine's original error as `cause`.
   */
  constructor(trap: TrapKind, message: string, options?: ErrorOptions) {
    super("GuestTrap", `guest trapped (${trap}): ${message}`, options);
    this.trap = trap;
  }
}

/**
 * A host import threw, or the JavaScript a `FuelMeter#run` ran threw an
 * error of its own (then `importName` is `FuelMeter.run` or
 * `FuelMeter.runAsync`). The thrown value is kept, untouched, as `cause`.
 *
 * @example Usage
 * ```ts
 * import { HostImportError, isHostImportError } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * const original = new TypeError("bad input");
 * const error = new HostImportError("env.log", original);
 * assert.ok(isHostImportError(error));
 * assert.equal(error.cause, original);
 * ```
 */
export class HostImportError extends EarlyExitError {
  /** The import that threw, as `module.name`. */
  declare readonly importName: string;

  /**
   * Creates the error.
   *
   * @param importName The import that threw, as `module.name`.
   * @param cause What it threw.
   * @param thrower What the message says threw; default `host import <importName>`.
   * @param fix How to avoid it, when the message can say: after the cause.
   */
  constructor(
    importName: string,
    cause: unknown,
    thrower?: string,
    fix?: string,
  ) {
    super(
      "HostImportError",
      `${thrower ?? `host import ${oneLineText(importName)}`} threw: ${
        describe(cause)
      }${fix === undefined ? "" : `; ${fix}`}`,
      { cause },
    );
    this.importName = importName;
  }
}

/** A thrown value or a reason, in one line for a message. */
const describe = describeThrown;

/** A time in milliseconds for a message: to a tenth, without trailing zeros. */
function roundMs(ms: number): string {
  return String(Number(ms.toFixed(1)));
}
