/**
 * A meter's stop once delivered: the guest was refused fuel (or found its
 * flag set) and trapped, and what runs after it, the library's glue
 * cleaning up and calling back in, spends a grace of fuel booked nowhere,
 * for {@linkcode GRACE_MS} at most. A soft stop lets the guest itself run
 * on its grace until the library hears of the stop and unwinds.
 *
 * `FuelMeter` decides when a stop is delivered; this class keeps what that
 * delivery changed until the books are settled.
 *
 * @module
 */

import { settledUnwaited } from "../thrown_values.ts";
import type { WatchdogHandle } from "../watchdog/watchdog.ts";
import { endGuard, guardHostCall } from "./meter_host_calls.ts";
import { GRACE_MS } from "./meter_waits.ts";
import { WHOLE_TANK } from "./meter_tank.ts";
import {
  boundOver,
  clockOnlyNow,
  type RunTime,
  runTimeNow,
} from "./run_time.ts";

/**
 * The delivery of a meter's stop, and the grace after it.
 *
 * @example A hard stop's cleanup spends its grace, then traps
 * ```ts
 * import { StopDelivery } from "./stop_delivery.ts";
 * import assert from "node:assert/strict";
 *
 * const delivery = new StopDelivery(undefined, () => {});
 * delivery.beginRun(100, false, undefined);
 * delivery.deliver();
 * assert.equal(delivery.delivered, true);
 * assert.equal(delivery.spend(60), 40n); // the cleanup's check is paid
 * assert.equal(delivery.spend(60), -1n); // and then refused
 * delivery.forget();
 * assert.equal(delivery.delivered, false);
 * ```
 */
export class StopDelivery {
  /** Set from a stop until the books are settled. */
  stopping = false;
  /**
   * Set once the guest was refused fuel: it trapped on the spot, so every
   * later check until the books are settled is the glue's cleanup calling
   * back in, which draws on the grace, never on the tank.
   */
  delivered = false;
  /** Fuel the glue's cleanup may still spend after a stop. */
  grace = 0;
  /** Whether the guest keeps running on its grace fuel after a stop. */
  soft = false;
  /**
   * Whether the library read `FuelMeter.stopping` during this soft stop:
   * it heard of it and unwinds, which its grace alone bounds. Until then
   * the stop lands as a hard one {@linkcode GRACE_MS} after it was
   * delivered: a guest inside one long built-in (QuickJS's
   * `'xy'.repeat(2 ** 25)`) asks no interrupt handler until it returns.
   */
  #heard = false;
  /** When the current stop was delivered, `undefined` before. */
  #at: RunTime | undefined;
  /** The watchdog's slots that end the grace's time (see `deliver`). */
  readonly #guards: WatchdogHandle[] = [];
  /** The current run's hook for the moment `stopping` turns true. */
  #onStopping: (() => void) | undefined;
  /** The guest's stop flag, which the grace's guards set. */
  readonly #flag: Int32Array | undefined;
  /** Marks the run as stopped inside a no-stop zone, if the guest is in one. */
  readonly #cutIfInZone: () => void;

  /**
   * @param flag The guest's stop flag, when it has one.
   * @param cutIfInZone Marks the run as stopped in a no-stop zone when the
   *   guest is inside one as it traps.
   */
  constructor(flag: Int32Array | undefined, cutIfInZone: () => void) {
    this.#flag = flag;
    this.#cutIfInZone = cutIfInZone;
  }

  /** A run's grace and hook, as the run begins. */
  beginRun(
    grace: number,
    soft: boolean,
    onStopping: (() => void) | undefined,
  ): void {
    this.grace = grace;
    this.soft = soft;
    this.#heard = false;
    this.#onStopping = onStopping;
  }

  /** Forgets the run's softness and hook, as the run ends. */
  endRun(): void {
    this.soft = false;
    this.#heard = false;
    this.#onStopping = undefined;
  }

  /**
   * `FuelMeter.stopping` as the library reads it: a soft stop's library
   * has heard of it once it asks.
   */
  hear(): boolean {
    if (this.stopping && this.soft) this.#heard = true;
    return this.stopping;
  }

  /**
   * Marks the guest as stopping, and tells the run's `onStopping` hook the
   * first time: a library's interrupt check can then be made to come sooner.
   */
  markStopping(): void {
    if (this.stopping) return;
    this.stopping = true;
    // An async hook: its promise is not waited for (what it returns is not
    // read), and a rejection of it must not end the process.
    settledUnwaited(this.#onStopping?.());
  }

  /** Records that the stop was delivered, and when, for the grace's clock. */
  deliver(): void {
    this.delivered = true;
    if (this.#at !== undefined) return;
    this.#at = runTimeNow();
    // A soft stop runs on out of the zone; a hard one cuts it here.
    if (!this.soft) this.#cutIfInZone();
    // The watchdog sets the flag once the time is up, and the next check of
    // what runs on the grace then traps (none asks the host before); a soft
    // stop's only if the library has not heard of it by then.
    const guard = guardHostCall(this.#flag, GRACE_MS);
    if (guard !== undefined) this.#guards.push(guard);
  }

  /**
   * Whether what runs on the grace after a stop has had its time: a hard
   * stop's cleanup, or a soft stop the library has not heard of.
   */
  over(): boolean {
    return this.#at !== undefined && !(this.soft && this.#heard) &&
      boundOver(this.#at, GRACE_MS);
  }

  /**
   * A check that found the flag set after a stop, whose grace's time is not
   * over: when the clock's part of it has passed (the watchdog set the flag)
   * but the guest's thread's CPU time has not (the thread was kept off its
   * core), the flag is set again so that the next check asks again.
   * Returns 0: the guest goes on.
   */
  goesOn(): number {
    const since = this.#at;
    if (
      since !== undefined && !(this.soft && this.#heard) &&
      performance.now() - since.wall >= GRACE_MS
    ) {
      Atomics.store(this.#flag!, 0, 1);
    }
    return 0;
  }

  /**
   * Pays a check made after the guest trapped: the glue's cleanup calling
   * back in. It spends the grace fuel, booked nowhere, and traps (-1) once
   * that is gone.
   */
  spend(need: number): bigint {
    if (this.grace < need || this.over()) {
      this.#cutIfInZone();
      return -1n;
    }
    // An endless grace is handed out a tank at a time.
    const give = Math.min(this.grace, WHOLE_TANK);
    this.grace -= give;
    return BigInt(give - need);
  }

  /** Forgets the stop's delivery, and its grace, as the slice comes back. */
  forget(): void {
    this.delivered = false;
    // The watchdog's setting of the flag for the grace's clock is no stop.
    // (Most calls have none: no copy of the empty list, twice a call.)
    if (this.#guards.length > 0) {
      for (const guard of this.#guards.splice(0)) {
        endGuard(this.#flag, guard, 0);
      }
    }
    this.#at = undefined;
    this.grace = 0;
    this.stopping = false;
    this.#heard = false;
  }

  /**
   * Sets the delivery up for a host's own call into the guest, outside the
   * books: as if a hard stop had been delivered with no grace, so that any
   * check that runs dry is refused, and one that finds the flag set
   * {@linkcode GRACE_MS} after this traps. Returns what puts it back.
   *
   * @param afterStop Whether the call follows a stop, whose CPU time the
   *   grace's clock then counts (else the clock's alone: every run reads
   *   the stack pointer so as it starts, where reading the CPU time would
   *   cost each a system call).
   */
  hostCall(afterStop: boolean): () => void {
    const { delivered, grace, soft } = this;
    const at = this.#at;
    this.#at = afterStop ? runTimeNow() : clockOnlyNow();
    this.soft = false;
    this.delivered = true;
    this.grace = 0;
    return () => {
      this.delivered = delivered;
      this.#at = at;
      this.grace = grace;
      this.soft = soft;
    };
  }
}
