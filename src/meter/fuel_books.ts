/**
 * A meter's books: the fuel in its tank, the fuel in the guest's counter,
 * and what the calls in progress set aside by their caps.
 *
 * Fuel moves between two places only: the tank, which the host holds, and
 * the counter, a global of the guest that its checks charge. The books
 * count what was ever moved into the counter (`handed`), so that what the
 * guest consumed is `handed` less what its counter still holds, exact at
 * every exit. A stop parks what the counter held (the counter then makes
 * every check trap), and a check that could not pay leaves the slice
 * empty (`exhausted`). `FuelMeter` decides when fuel moves; this class
 * moves it.
 *
 * @module
 */

import { DETACHED, STOPPED, TRAPPING_TANK, WHOLE_TANK } from "./meter_tank.ts";

/**
 * A meter's books as a call begins or ends, from one read of the guest's
 * counter (each read converts a 64-bit global, and builds a bigint).
 */
export interface MeterBooks {
  /** Fuel spent since the meter was made. */
  consumed: number;
  /** Fuel the guest may still spend. */
  remaining: number;
}

/**
 * The books of one `FuelMeter`.
 *
 * @example Handing out a slice and taking it back
 * ```ts
 * import { FuelBooks } from "./fuel_books.ts";
 * import assert from "node:assert/strict";
 *
 * const books = new FuelBooks(1_000, 0, true, true);
 * books.slice = 100;
 * const counter = new WebAssembly.Global({ value: "i64", mutable: true }, 0n);
 * books.attach(counter);
 * books.refill();
 * assert.equal(counter.value, 100n);
 * counter.value = 40n; // the guest spent 60
 * assert.deepEqual(books.usage, { consumed: 60, remaining: 940 });
 * ```
 */
export class FuelBooks {
  /** Fuel not yet handed to the guest. */
  #tank: number;
  /** All fuel ever moved from the tank into the counter. */
  #handed: number;
  /** The most fuel handed to the guest at a time (see `FuelMeter.slice`). */
  #slice = Infinity;
  /** The counter's value as far as the books know before `attach`. */
  readonly #beforeAttach: number;
  /** The fuel every instance of the meter's bytes starts with. */
  readonly #initialFuel: number;
  /** Whether the guest asks for more fuel, or traps once it is spent. */
  readonly #resumable: boolean;
  /** False for a deadline-only meter, whose guest counts nothing. */
  readonly #countsFuel: boolean;
  /** The attached instance's fuel counter: the fuel in the guest's hands. */
  #counter: WebAssembly.Global | undefined;
  /** The counter's value when a stop was requested. */
  #parked: number | undefined;
  /** Set when the guest could not pay for a block: its slice is empty. */
  #exhausted = false;
  /**
   * The part of the tank each call in progress keeps out of the calls
   * nested in it by its cap, outermost first (a host import calls the
   * guest back): put back as the call ends. Entries from `runs` on are
   * stale.
   */
  readonly #setAsides: number[] = [];
  /** Calls in progress (`run`, a guest's calls, nested ones). */
  #runs = 0;
  /** While the guest waits in `out_of_fuel`: what was left of its slice. */
  waiting: number | undefined;

  /**
   * @param fuel The meter's whole budget.
   * @param initialFuel What the rewrite put in the counter already.
   * @param resumable Whether the guest asks for more fuel.
   * @param countsFuel False for a deadline-only meter.
   */
  constructor(
    fuel: number,
    initialFuel: number,
    resumable: boolean,
    countsFuel: boolean,
  ) {
    this.#tank = fuel - initialFuel;
    this.#handed = initialFuel;
    this.#beforeAttach = initialFuel;
    this.#initialFuel = initialFuel;
    this.#resumable = resumable;
    this.#countsFuel = countsFuel;
  }

  /** The attached instance's counter, `undefined` before `attach`. */
  get counter(): WebAssembly.Global | undefined {
    return this.#counter;
  }

  /** How many calls are in progress: the level the next call begins at. */
  get runs(): number {
    return this.#runs;
  }

  /** Fuel not yet handed to the guest. */
  get tank(): number {
    return this.#tank;
  }

  /** The most fuel handed to the guest at a time. */
  get slice(): number {
    return this.#slice;
  }

  set slice(fuel: number) {
    this.#slice = fuel;
  }

  /** What a stop parked of the counter, `undefined` with no stop held. */
  get parked(): number | undefined {
    return this.#parked;
  }

  /** Whether a check could not pay and the slice is empty. */
  get exhausted(): boolean {
    return this.#exhausted;
  }

  /** Fuel the guest has spent, and fuel it may still spend. */
  get usage(): MeterBooks {
    const inSlice = this.inSlice();
    return {
      consumed: this.#handed - inSlice,
      remaining: this.#tank + inSlice,
    };
  }

  /**
   * Connects the books to an instance's counter. Another instance held
   * before gives its slice back, and its counter is left so that its next
   * charge fails; the new one starts with the module's initial fuel, which
   * counts as handed out.
   */
  attach(counter: WebAssembly.Global): void {
    const old = this.#counter;
    if (old !== undefined) {
      this.returnSlice();
      if (this.#countsFuel) old.value = DETACHED;
      this.#tank -= this.#initialFuel;
      this.#handed += this.#initialFuel;
    }
    this.#counter = counter;
  }

  /** The fuel the calls in progress from level `from` on set aside. */
  setAside(from = 0): number {
    let aside = 0;
    for (let level = from; level < this.#runs; level++) {
      aside += this.#setAsides[level];
    }
    return aside;
  }

  /**
   * The fuel in the counter's slice. `raw`, when given, is the counter's
   * value as just read, for books that read it once.
   */
  inSlice(raw?: number): number {
    if (this.#parked !== undefined) return this.#parked;
    if (this.#exhausted) return 0;
    if (this.#counter === undefined) return this.#beforeAttach;
    const value = raw ?? Number(this.#counter.value);
    // A trapping check leaves -1 - (the fuel it found) in the counter.
    if (!this.#resumable && value < 0) return -1 - value;
    return Math.max(0, value);
  }

  /**
   * The counter's value, when the books would read it (it is attached and
   * no stop parked its fuel): one read, for books that settle at once.
   */
  readCounter(): number | undefined {
    return this.#counter !== undefined && this.#parked === undefined
      ? Number(this.#counter.value)
      : undefined;
  }

  /**
   * Whether the guest's fuel ran out, given the counter's value as just
   * read ({@linkcode FuelBooks.readCounter}): a check that traps leaves a
   * negative count.
   */
  exhaustedAt(raw: number | undefined): boolean {
    if (this.#resumable || this.#parked !== undefined) return this.#exhausted;
    return raw !== undefined && raw < 0;
  }

  /**
   * Whether fuel added to the tank must go into the counter now: a guest
   * that cannot ask for more must hold it before it runs, and one that ran
   * dry gets it at its next check.
   */
  get refillsOnAdd(): boolean {
    return !this.#resumable || (this.#exhausted && this.#parked === undefined);
  }

  /** Adds fuel to the tank. */
  add(fuel: number): void {
    this.#tank += fuel;
  }

  /** Sets what the guest may still spend: the next slice is loaded. */
  set(fuel: number): void {
    this.returnSlice();
    this.#tank = fuel;
    this.refill();
  }

  /**
   * Sets what the guest may still spend after the stop that parked its
   * slice, which holds: what stays parked is at most `fuel`.
   */
  setParked(fuel: number): void {
    const parked = this.#parked!;
    const keep = Math.min(parked, fuel);
    this.#handed -= parked - keep;
    this.#parked = keep;
    this.#tank = fuel - keep;
  }

  /**
   * Moves the fuel left in the counter back to the tank (`raw`: the
   * counter's value as just read, if it was). Every caller refills next,
   * which writes the counter.
   */
  returnSlice(raw?: number): void {
    const left = this.inSlice(raw);
    this.#tank += left;
    this.#handed -= left;
    this.#parked = undefined;
    this.#exhausted = false;
  }

  /**
   * Moves the next slice from the tank into the (empty) counter, just
   * after {@linkcode FuelBooks.returnSlice}, and returns the books then.
   */
  refill(): MeterBooks {
    if (this.#counter === undefined) {
      // Nothing parked or exhausted after the slice came back.
      return {
        consumed: this.#handed - this.#beforeAttach,
        remaining: this.#tank + this.#beforeAttach,
      };
    }
    const give = Math.min(this.#tank, this.#sliceSize());
    this.#tank -= give;
    this.#handed += give;
    this.#counter.value = BigInt(give);
    return { consumed: this.#handed - give, remaining: this.#tank + give };
  }

  /**
   * Parks what the counter holds for a stop, and leaves the counter so
   * that every check traps. The fuel of a check waiting in `out_of_fuel`
   * is what was left before it.
   */
  park(): void {
    const value = Number(this.#counter!.value);
    // A trapping check that found the flag set folded what it had left.
    this.#parked = this.waiting ??
      (!this.#resumable && value < 0 ? -1 - value : Math.max(0, value));
    this.#counter!.value = STOPPED;
  }

  /** Parks `before`, what a refused check had left, unless one is parked. */
  parkAt(before: number): void {
    this.#parked ??= before;
  }

  /**
   * Charges `fuel` for the host's work on the guest's behalf, from the
   * slice and then the tank. Returns false when the budget cannot pay:
   * it is spent, and the counter left as a check that ran dry leaves it,
   * so that any later check traps.
   */
  charge(fuel: number): boolean {
    const counter = this.#counter!;
    const before = this.#exhausted ? 0 : this.inSlice();
    if (before >= fuel) {
      counter.value = BigInt(before - fuel);
      return true;
    }
    const available = before + this.#tank;
    if (available >= fuel) {
      const give = Math.max(fuel, Math.min(available, this.#sliceSize()));
      this.#tank = available - give;
      this.#handed += give - before;
      counter.value = BigInt(give - fuel);
      return true;
    }
    this.#handed += this.#tank;
    this.#tank = 0;
    this.#exhausted = true;
    counter.value = this.#resumable ? 0n : -1n;
    return false;
  }

  /**
   * Pays a check of cost `need` that found `before` left in its slice,
   * with `added` more fuel in the tank (a `refuel` hook's), and returns
   * the counter to give the guest; `undefined` when the tank cannot pay,
   * which leaves the slice empty.
   */
  pay(before: number, need: number, added: number): bigint | undefined {
    this.#tank += added;
    const available = before + this.#tank;
    if (available < need) {
      this.#tank = available;
      this.#handed -= before;
      this.#exhausted = true;
      return undefined;
    }
    const give = Math.max(need, Math.min(available, this.#slice, WHOLE_TANK));
    this.#tank = available - give;
    this.#handed += give - before;
    return BigInt(give - need);
  }

  /** Counts a call of a meter that keeps no books: its level only. */
  enter(level: number): void {
    this.#runs = level + 1;
  }

  /**
   * Begins the call at `level`: the slice comes back, and what the tank
   * holds beyond `cap` is set aside until the call ends (an enclosing
   * call's set-aside stays aside meanwhile). Returns the books then.
   */
  begin(level: number, cap: number | undefined): MeterBooks {
    const counter = this.#counter;
    if (counter === undefined) {
      this.#runs = level + 1;
      this.#setAsides[level] = 0;
      this.returnSlice();
      if (cap !== undefined) {
        const allowed = Math.min(this.#tank, cap);
        this.#setAsides[level] = this.#tank === Infinity
          ? Infinity
          : this.#tank - allowed;
        this.#tank = allowed;
      }
      return this.refill();
    }
    const raw = this.readCounter();
    const left = this.inSlice(raw);
    const tank = this.#tank + left;
    const allowed = cap === undefined ? tank : Math.min(tank, cap);
    const aside = cap === undefined
      ? 0
      : tank === Infinity
      ? Infinity
      : tank - allowed;
    return this.#moveSlice(counter, raw, left, allowed, level + 1, aside);
  }

  /**
   * Ends the call begun at `level`, and any nested in it still open (whose
   * end a stack overflow cut short): what they set aside comes back, and
   * the next slice is loaded (`raw`: the counter's value as just read, if
   * it was). Returns the books then.
   */
  end(level: number, raw: number | undefined): MeterBooks {
    const runs = Math.max(0, level);
    const aside = this.#countsFuel ? this.setAside(runs) : 0;
    const counter = this.#counter;
    if (counter === undefined || !this.#countsFuel) {
      this.returnSlice(raw);
      this.#tank += aside;
      this.#runs = runs;
      return this.refill();
    }
    const left = this.inSlice(raw);
    return this.#moveSlice(counter, raw, left, this.#tank + left + aside, runs);
  }

  /** The most the counter takes at once. */
  #sliceSize(): number {
    return this.#resumable ? Math.min(this.#slice, WHOLE_TANK) : TRAPPING_TANK;
  }

  /**
   * {@linkcode FuelBooks.returnSlice} and {@linkcode FuelBooks.refill} as
   * a call begins or ends, in one step that a stack overflow cannot cut in
   * half (see `cut_short_ends.ts`): the counter is written first and the
   * books after it, with no call between, so that they stay as they were
   * or move whole, and the slice is never counted twice.
   *
   * @param counter The guest's counter.
   * @param raw The counter's value as just read, `undefined` when it was
   *   not (a stop parked its fuel).
   * @param left The fuel left in the counter's slice.
   * @param tank What the tank holds after the slice came back (less what
   *   a cap sets aside, plus what ending calls put back).
   * @param runs The calls in progress after this step.
   * @param aside What the call beginning sets aside by its cap.
   */
  #moveSlice(
    counter: WebAssembly.Global,
    raw: number | undefined,
    left: number,
    tank: number,
    runs: number,
    aside?: number,
  ): MeterBooks {
    const give = Math.min(tank, this.#sliceSize());
    // The counter often holds the slice already (nothing ran since the last
    // call's end loaded it): the write, a 64-bit conversion, is left out.
    if (raw !== give || this.#exhausted) counter.value = BigInt(give);
    this.#tank = tank - give;
    this.#handed += give - left;
    this.#parked = undefined;
    this.#exhausted = false;
    if (aside !== undefined) this.#setAsides[runs - 1] = aside;
    this.#runs = runs;
    return { consumed: this.#handed - give, remaining: this.#tank + give };
  }
}
