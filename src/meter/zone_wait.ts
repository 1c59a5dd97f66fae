/**
 * A stop's wait for a metered guest to leave its no-stop zones (see
 * `wasm/stop_zones.ts`): the zone global of the attached instance, and the
 * wait's bounds, by guest work ({@linkcode ZONE_WAIT_FUEL}, each check
 * counting at least 1, and a bulk operator's chunk
 * {@linkcode ZONE_CHUNK_FUEL}) and by time ({@linkcode ZONE_WAIT_MS}).
 *
 * Whether a stop waits, and the grace fuel the guest spends meanwhile, are
 * the meter's: they are read at every slice, and stay in its own fields.
 *
 * @module
 */

import { ZONE_DEPTH, ZONE_STOP_WAITING } from "../wasm/stop_zones.ts";
import { boundOver, type RunTime, runTimeNow } from "./run_time.ts";
import {
  ZONE_CHUNK_FUEL,
  ZONE_WAIT_FUEL,
  ZONE_WAIT_MS,
} from "./meter_waits.ts";

/**
 * The meters whose current run's stop landed inside a no-stop zone, its
 * wait spent (or never begun: `grace: 0`), or whose cleanup after the stop
 * ran out of grace inside one: the run's outcome reports it
 * (`stoppedInZone`) and forgets it.
 */
export const stopsInZone: WeakSet<object> = new WeakSet();

/** The zones of one attached instance, and the wait of the current stop. */
export class ZoneWait {
  /** The attached instance's zone global, when it has zones. */
  #zone: WebAssembly.Global | undefined;
  /** When the stop that waits for a zone was put off. */
  #started: RunTime = { wall: 0, cpu: 0 };
  /**
   * What is left of the wait's {@linkcode ZONE_WAIT_FUEL} once the guest
   * has spent what it was handed: the most the wait hands out again.
   */
  #left = 0;
  /**
   * The counter as the wait's last check left it: a check that finds it
   * the same had no fuel spent since (the next chunk of a bulk operator).
   */
  #checkLeft: bigint | undefined;
  /** How many checks in a row found the counter as the one before left it. */
  #idleChecks = 0;
  /** What the wait's chunks counted ({@linkcode ZONE_CHUNK_FUEL} each). */
  #chunkFuel = 0;

  /** Takes the zone global of a newly attached instance. */
  attach(zone: WebAssembly.Global | undefined): void {
    this.#zone = zone;
  }

  /** Whether the attached instance has zones. */
  get present(): boolean {
    return this.#zone !== undefined;
  }

  /** The zone global's value: the depth, and the waiting mark. */
  read(): number {
    return this.#zone!.value as number;
  }

  /** Whether the guest is inside a zone now. */
  get inside(): boolean {
    return this.#zone !== undefined &&
      ((this.#zone.value as number) & ZONE_DEPTH) !== 0;
  }

  /**
   * Sets the guest's zone depth to 0 between calls: a trap that unwound
   * through a zone skipped its wrapper's way out.
   */
  leaveAll(): void {
    if (this.#zone !== undefined) this.#zone.value = 0;
  }

  /** A new stop's wait: all of {@linkcode ZONE_WAIT_FUEL} to hand out. */
  begin(): void {
    this.#left = ZONE_WAIT_FUEL;
    this.#chunkFuel = 0;
  }

  /** Whether what is left of the wait's fuel pays for `need`. */
  affords(need: number): boolean {
    return this.#left >= need;
  }

  /** Starts the wait's clock, as the stop is put off. */
  startClock(): void {
    this.#started = runTimeNow();
  }

  /**
   * Whether a stop has waited for the guest to leave its zone for
   * {@linkcode ZONE_WAIT_MS}: fuel is not time (a pass that faults in a
   * fresh page, or calls a slow import, costs a few units), so the grace
   * alone let a guest whose `malloc` never returns hold a deadline off for
   * seconds. Every pass in the zone asks, so the CPU time's part of the
   * bound is read at each once the clock's has passed.
   */
  over(): boolean {
    return boundOver(this.#started, ZONE_WAIT_MS);
  }

  /** Forgets the counter the last check left: the next one counts 1. */
  restartChecks(): void {
    this.#checkLeft = undefined;
    this.#idleChecks = 0;
  }

  /**
   * Marks the zone global, so that the wrapper that leaves the last zone
   * asks the meter again.
   *
   * @param value The global's value as the wait read it.
   */
  markWaiting(value: number): void {
    this.#zone!.value = value | ZONE_STOP_WAITING;
  }

  /**
   * Hands the guest what the wait may of `grace`: at most
   * {@linkcode ZONE_WAIT_FUEL} in all, what the guest gave back counting
   * again. Returns it.
   */
  handOut(grace: number): number {
    const give = Math.min(grace, this.#left);
    this.#left -= give;
    return give;
  }

  /** What the guest had left of what it was handed, to hand out again. */
  giveBack(left: number): void {
    this.#left += left;
  }

  /**
   * A pass in the zone while the stop waits costs its grace, which the
   * counter holds, at least 1: a loop the cost table makes free ends. A
   * check with no fuel spent since the one before, but for the first of a
   * row (a loop header right after a function's entry), counts a chunk's
   * worth: a bulk operator's next chunk.
   *
   * @param now The guest's counter.
   * @returns The counter to give the guest, or `undefined` when the wait is over: the guest left its zone, spent its grace, or ran out of time.
   */
  passCheck(now: bigint): bigint | undefined {
    this.#idleChecks = now === this.#checkLeft ? this.#idleChecks + 1 : 0;
    const chunk = this.#idleChecks > 1;
    const cost = chunk ? ZONE_CHUNK_FUEL : 1;
    const left = Number(now) - cost;
    if (
      left >= 0 && ((this.#zone!.value as number) & ZONE_DEPTH) !== 0 &&
      !this.over()
    ) {
      if (chunk) this.#chunkFuel += cost;
      return this.#checkLeft = BigInt(left);
    }
    return undefined;
  }

  /**
   * Forgets what the wait's checks counted, as the books are settled.
   *
   * @returns What the chunks counted, which paid for no fuel.
   */
  forget(): number {
    const chunks = this.#chunkFuel;
    this.#chunkFuel = 0;
    this.restartChecks();
    return chunks;
  }

  /**
   * Ends the wait (or one never begun): forgets its checks and clears the
   * zone global's mark.
   *
   * @returns What the chunks counted, for the grace to get back.
   */
  end(): number {
    const chunks = this.forget();
    const zone = this.#zone;
    if (zone !== undefined) zone.value = (zone.value as number) & ZONE_DEPTH;
    return chunks;
  }
}
