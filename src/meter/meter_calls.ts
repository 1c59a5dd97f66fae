/**
 * What the runners (`FuelMeter#run`, `Guest#invoke`) do to a meter around
 * one call: the interface the meter hands them, kept out of its public
 * class.
 *
 * @module
 */

import type { FuelMeter } from "./fuel.ts";
import type { MeterBooks } from "./fuel_books.ts";

/**
 * What the runners (`FuelMeter#run`, `Guest#invoke`) do to a meter around
 * one call, kept out of the public class.
 */
export interface MeterCalls {
  /**
   * Starts a call: settles the books, forgets the last stop, and when `cap`
   * is given sets aside what the tank holds beyond it until the call ends.
   * Returns the books as the call starts (what `usage` would read).
   */
  begin(meter: FuelMeter, cap: number | undefined): MeterBooks;
  /**
   * Ends a call (the innermost, or the one begun at `level`): settles the
   * books and puts back what the cap set aside.
   * Returns the books after (what `usage` would read), and whether the
   * guest's fuel had run out as the call ended (what `exhausted` read
   * before).
   */
  end(meter: FuelMeter, level?: number): MeterBooks & { exhausted: boolean };
  /**
   * How many calls of the meter are in progress: the level the next call
   * begins at, which its `end` takes to end that call and any nested in
   * it still open (whose own end a stack overflow cut short), and to do
   * nothing when run again for a call already ended.
   */
  level(meter: FuelMeter): number;
  /** Whether a stop came since the call began (which may move the books). */
  stoppedSinceBegin(meter: FuelMeter): boolean;
  /**
   * The call's own check, run at every slice before the user's `poll`;
   * with `yields`, each slice also lets the event loop run first.
   */
  watch(
    meter: FuelMeter,
    poll: (() => boolean) | undefined,
    yields: boolean,
  ): void;
  /**
   * Fuel the glue's cleanup may spend after this call is stopped; with
   * `soft`, the guest itself keeps running on it after the stop, so that a
   * library polling {@linkcode FuelMeter.stopping} can unwind by itself.
   */
  grace(
    meter: FuelMeter,
    fuel: number,
    soft: boolean,
    onStopping?: () => void,
  ): void;
  /**
   * Runs the host's own calls into the guest on fuel outside the books, so
   * that they work after a stop and count as nothing the guest did.
   * `afterStop` (the restore of the stack pointer after a stop) counts
   * their time as the grace's is, by the clock and in CPU time; otherwise
   * (its read as every run starts) by the clock alone.
   */
  offBooks<T>(meter: FuelMeter, fn: () => T, afterStop?: boolean): T;
  /** The guest's stop flag, when the meter supplies one. */
  flag(meter: FuelMeter): Int32Array | undefined;
  /**
   * Whether the meter was made with `suspend: true` (and JSPI is there):
   * its instance then takes promising calls only.
   */
  suspends(meter: FuelMeter): boolean;
  /**
   * Starts a call of a guest that counts no fuel (whose calls take no
   * `begin`): forgets the stop of an earlier call, so that `stop()` stops
   * this one.
   */
  forgetStop(meter: FuelMeter): void;
  /**
   * Marks the meter's last `runAsync` call as still waiting after its run
   * ended on a stop (or no longer): the stop holds until it has trapped.
   */
  strand(meter: FuelMeter, stranded: boolean): void;
  /** Whether the attached instance is inside one of its no-stop zones now. */
  insideZone(meter: FuelMeter): boolean;
  /**
   * Tells `onStop` of every {@linkcode FuelMeter.stop} until set again,
   * so that a call waiting on a promise ends at one too; returns the hook
   * it replaces.
   */
  onStop(
    meter: FuelMeter,
    onStop: (() => void) | undefined,
  ): (() => void) | undefined;
  /**
   * Charges the guest for work a host import did on its behalf (the bytes
   * a WASI call moved), from the fuel it holds and then the tank, as a
   * block of that cost would be. Returns `true` once paid (or when there is
   * nothing to pay: no fuel counted, no instance, a stop already pending,
   * whose call charges nothing more). Returns `false` when the budget
   * cannot pay: the whole budget then counts as spent, the meter as
   * exhausted (reason `fuel`), and the caller must end the call at once
   * (see `fuelRanOutInImport`). A refuel hook is not asked.
   */
  charge(meter: FuelMeter, fuel: number): boolean;
  /**
   * How many calls have begun since the meter's instance was attached (a
   * fresh instance's first calls get a backstop slice).
   */
  callsSinceAttach(meter: FuelMeter): number;
  /**
   * Marks a meter as a loaded guest's, whose calls do not go through
   * `run`: attaching it does not warm `run`'s stop path.
   */
  forGuest(meter: FuelMeter): void;
}
