/**
 * The options of a guest, given to `loadGuest` (its calls' are in
 * `src/call/call_options.ts`).
 *
 * @module
 */

import type { CompileOptions } from "../module/compile_options.ts";
import type { CacheOption } from "../cache/rewrite_cache.ts";
import type { InterruptDetails } from "../errors.ts";
import type { InterruptOptions } from "./imports.ts";
import type { ResourceLimits } from "../module/limits.ts";
import type { StopSignal } from "../watchdog/stop_signal.ts";
import type { CostTable } from "../wasm/mod.ts";

/**
 * What a host import may use to stop the guest that called it.
 *
 * @example Usage
 * ```ts
 * import { type HostControls, loadGuest } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * // (module (import "quota" "check" (func)) (func (export "run") call 0))
 * const bytes = new Uint8Array([
 *   0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 2, 15, 1, 5, 113, 117, 111,
 *   116, 97, 5, 99, 104, 101, 99, 107, 0, 0, 3, 2, 1, 0, 7, 7, 1, 3, 114, 117,
 *   110, 0, 1, 10, 6, 1, 4, 0, 16, 0, 11,
 * ]);
 * const guest = await loadGuest(bytes, {
 *   imports: (host: HostControls) => ({
 *     quota: { check: () => host.interrupt("quota.check", { reason: "over quota" }) },
 *   }),
 * });
 * assert.equal(guest.invoke("run").outcome, "interrupted");
 * ```
 */
export interface HostControls {
  /**
   * Stops the guest: records the stop and throws an {@linkcode Interrupted}
   * error naming `importName`. Call it from inside a host import as
   * `host.interrupt("quota.check", { reason: "over quota" })`. It always
   * throws, also where no guest is there to unwind (a timer, which it would
   * then end with the error): to stop a call from outside its imports, use
   * `guest.meter.stop()`, a `StopSignal` or an `AbortSignal`.
   */
  interrupt(importName: string, details?: InterruptDetails): never;
}

/**
 * Options for {@linkcode loadGuest}.
 *
 * @example Usage
 * ```ts
 * import { type GuestOptions, loadGuest } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * const options: GuestOptions = { fuel: 1_000_000, timeout: 1_000 };
 * const guest = await loadGuest(new URL("../../guest/compute.wasm", import.meta.url), options);
 * assert.equal(guest.call("fib", 10), 55);
 * ```
 */
export interface GuestOptions {
  /**
   * The guest's imports, or a function that builds them given the controls
   * a host import can use to stop the guest.
   */
  imports?:
    | WebAssembly.Imports
    | ((host: HostControls) => WebAssembly.Imports);
  /**
   * The runner's interrupt import, or `false` to supply none. By default it
   * is `env.interrupt_execution`, and it is only added when the guest
   * imports it. Supplying that import in `imports` as well is refused with a
   * `TypeError`, rather than one silently replacing the other: pass `false`
   * here to supply your own.
   */
  interrupt?: InterruptOptions | false;
  /**
   * Meters the guest with this much fuel: its binary is rewritten to count
   * its own work and it stops, with {@linkcode FuelExhausted}, when the
   * budget is spent. `Infinity` meters without a limit (every stop then
   * still ends in a trap the guest cannot catch). Needs the guest's bytes,
   * not a compiled module. A whole number from 0 to 2^53 - 1, or
   * `Infinity`; anything else is a `RangeError` (or `TypeError`).
   *
   * `false` counts no fuel at all: the guest is only made stoppable (as
   * with `interruptible`) by a deadline, a `StopSignal` or an abort, with
   * the cheapest checks there are: a read of a flag at each loop header and
   * function entry (but that of a short function only direct calls reach,
   * which its callers' checks cover), which (for plain calls) traps when the
   * flag is set.
   * Choose it when a guest must be stoppable but need not be counted; its
   * calls then take no `fuel` and report none, and it takes no `costs`.
   */
  fuel?: number | false;
  /** The cost of each operator, for metering. See {@linkcode CostTable}. */
  costs?: CostTable;
  /**
   * How large the guest's memories and tables may get: `memory` in bytes
   * per linear memory (rounded down to 64 KiB pages), `tables` in elements
   * per table. A `memory.grow` or `table.grow` past a limit returns -1, as
   * at a declared maximum; a guest whose memory or table starts above its
   * limit is refused with a {@linkcode GuestLoadError} (reason `limits`)
   * before anything is allocated. An imported memory or table must then
   * have a maximum within the limit. Needs the guest's bytes, not a
   * compiled module; works metered or not. Without `tables`, the guest's
   * own tables may grow to 1,000,000 elements together (the host's garbage
   * collector walks them in pauses no stop can cut short: 10,000,000 paused
   * it 30 to 40 ms), an imported table to its own maximum. Without
   * `memory`, its own memories may grow to 4 GiB together (the host's
   * memory: one 32-bit memory keeps its reach, a 64-bit one stops at 4
   * GiB), an imported memory to its own maximum. A guest given as a
   * compiled module is held to neither.
   * @default {undefined} (memories and tables as above)
   */
  limits?: ResourceLimits;
  /**
   * The default timeout of every call, in milliseconds; meters the guest
   * (see {@linkcode CallOptions.timeout}). The start function, which runs
   * while the guest loads, is held to it too, counted from its call; the
   * load's own reading, rewriting and compiling are not (a 1.8 MB function
   * body took 13 to 27 ms to load under a 5 ms timeout): bound those
   * with a `signal` such as `AbortSignal.timeout(ms)`. A finite number, 0
   * or more; leave it out for no deadline (`NaN`, `Infinity` and negative
   * numbers are a `RangeError`).
   */
  timeout?: number;
  /**
   * Stops loading when aborted, wherever it waits (fetching or reading the
   * module, compiling it) and in the start function, if the guest has one:
   * `loadGuest` rejects with {@linkcode Aborted} (or
   * {@linkcode DeadlineExceeded} for a timed-out signal). A guest loaded
   * for plain calls runs its start function as an async call does, through
   * JSPI, yielding to the event loop about every half millisecond, so that
   * the signal can fire there too; its calls stay plain. Meters the guest.
   * It does not apply to calls: give those their own.
   */
  signal?: AbortSignal;
  /**
   * Stops loading when another thread sets it, wherever loading waits and in
   * the start function, if the guest has one: `loadGuest` rejects with
   * {@linkcode Aborted}. Meters the guest. It does not apply to calls: give
   * those their own.
   */
  stop?: StopSignal;
  /**
   * Loads the guest for async calls ({@linkcode Guest.invokeAsync}), through
   * JSPI; meters the guest. Every host function import may then return a
   * promise, which the guest waits for. (In a guest loaded for plain calls,
   * an import that returns a promise ends the call with a
   * `HostImportError`.)
   */
  async?: boolean;
  /**
   * Host imports, as `module.name`, that return promises. Read by nothing:
   * in an async guest every function import may return one.
   *
   * @deprecated Leave it out; it changes nothing.
   */
  asyncImports?: string[];
  /** The guest's name in messages. Default: its path or URL. */
  label?: string;
  /**
   * Compile options, as `WebAssembly.compile` takes them: `builtins`
   * (`["js-string"]`, the one set early-exit knows and prices; another set
   * is refused, since the engine would run its calls unpaid) and
   * `importedStringConstants`. The imports the engine then supplies
   * (`wasm:js-string`, the string constants' module) are not looked up in
   * `imports`. A metered guest's added imports go under another module
   * name than the string constants' (`early-exit~1` when those are
   * `early-exit`).
   * @default {undefined} (none)
   */
  compile?: CompileOptions;
  /**
   * Whether calls may be given a `timeout` or a `stop`: the guest then
   * also checks, at every function entry and loop header, a stop flag the
   * host's watchdog thread sets. Implied by `timeout`, `signal`, `stop` and
   * `async`. Its fuel checks trap when the budget is spent, as without it
   * (an async guest's, and a guest with a start function's, ask the host
   * for more instead, to yield and refuel).
   */
  interruptible?: boolean;
  /**
   * A directory (or a `RewriteCache`) to keep the metered rewrite in, so
   * that the next process that loads the same bytes with the same options
   * reads it rather than rewriting: the bulk of a metered start-up in a
   * fresh process. Needs read and write permission for the directory
   * (`--allow-read=DIR --allow-write=DIR`), else the load fails with a
   * {@linkcode GuestLoadError} naming them. An entry that is corrupted, or
   * that the engine refuses to compile, is rewritten and replaced. Whoever
   * can write the directory can change what the guest runs, as whoever can
   * write the guest's file can. Used only when the guest is metered.
   * @default {undefined} (no cache: every load rewrites)
   */
  cache?: CacheOption;
}
