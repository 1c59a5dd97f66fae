/**
 * The options of one call of a guest's export: `invoke`, `call` and their
 * async forms take them, and each applies to that call alone.
 *
 * @module
 */

import type { StopSignal } from "../watchdog/stop_signal.ts";

/**
 * Options for one call.
 *
 * @example Usage
 * ```ts
 * import { type CallOptions, loadGuest } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * const guest = await loadGuest(new URL("../../guest/compute.wasm", import.meta.url), {
 *   fuel: 1_000_000,
 * });
 * const capped: CallOptions = { fuel: 100 };
 * assert.equal(guest.invoke("fib", [20], capped).outcome, "fuel_exhausted");
 * ```
 */
export interface CallOptions {
  /**
   * The most fuel this call may draw from the guest's tank (metered guests
   * only). A cap, not a new tank: what the call does not spend stays, and
   * the tank behind the cap is untouched. A call capped at 1,000 on a guest
   * with 600 left may spend 600. A whole number or `Infinity`, as for
   * {@linkcode GuestOptions.fuel}.
   */
  fuel?: number;
  /**
   * Stops the call after this many milliseconds, with
   * {@linkcode DeadlineExceeded}. Overrides the guest's default timeout.
   * A finite number, 0 or more, as for {@linkcode GuestOptions.timeout}.
   */
  timeout?: number;
  /**
   * Stops the call, with {@linkcode Aborted}, when another thread sets it:
   * the way to cancel a plain call, during which this thread runs nothing
   * else. Needs a guest loaded with `interruptible` (or `timeout`, `async`):
   * on any other guest the call throws {@linkcode ExportError} rather than
   * run unstoppable. (A plain call takes no `signal`, which could not fire
   * while the call holds the thread: it throws `ExportError` too.)
   */
  stop?: StopSignal;
}

/**
 * What a refuel hook learns when an async call runs out of fuel.
 *
 * @example Usage
 * ```ts
 * import type { RefuelRequest } from "@early-exit/early-exit";
 *
 * // A refuel hook that grants a call three top-ups of 1,000 and no more.
 * let left = 3;
 * const refuel = (request: RefuelRequest) =>
 *   left-- > 0 ? Math.max(1_000, request.shortfall) : 0;
 * console.log(refuel({ shortfall: 10, consumed: 500 })); // 1000
 * ```
 */
export interface RefuelRequest {
  /** The fuel the next block needs beyond what is left. */
  shortfall: number;
  /** The fuel this call has consumed so far. */
  consumed: number;
}

/**
 * Options for one async call.
 *
 * @example Usage
 * ```ts
 * import { type AsyncCallOptions, loadGuest } from "@early-exit/early-exit";
 * import assert from "node:assert/strict";
 *
 * const guest = await loadGuest(new URL("../../guest/runaway.wasm", import.meta.url), {
 *   async: true,
 * });
 * const options: AsyncCallOptions = { signal: AbortSignal.abort("not wanted") };
 * assert.equal((await guest.invokeAsync("spin", [], options)).outcome, "aborted");
 * ```
 */
export interface AsyncCallOptions extends CallOptions {
  /**
   * Stops the call when aborted, with {@linkcode Aborted} (whose `cause` is
   * `signal.reason`), or {@linkcode DeadlineExceeded} for a timed-out
   * signal. It works even while the guest waits in an async host import.
   */
  signal?: AbortSignal;
  /**
   * Runs when the fuel runs out: return more fuel (or a promise of it) and
   * the same call carries on where it stopped; return 0 to let it end with
   * {@linkcode FuelExhausted}. If it throws or rejects, the call ends with
   * the `error` outcome, whose `HostImportError` has what it threw as
   * `cause`.
   */
  refuel?: (request: RefuelRequest) => number | Promise<number>;
}
