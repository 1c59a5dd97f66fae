/**
 * Which stop flag checks at function entries a deadline-only rewrite
 * (`fuel: false`) can leave out: those of functions whose every call runs a
 * small, statically bounded number of operators. The flag's checks bound
 * how long a guest runs between two of them; a check at an entry is needed
 * only where calls can repeat without a loop header in between (recursion)
 * or where a call can run long. A function with no loop, no call through a
 * table or reference, no call of an import and no bulk operator, whose
 * direct calls (`call`, `return_call`) reach only such functions and form no
 * cycle, and which no table or reference can reach, runs each operator of its body at most once per call: its calls
 * run at most its own size plus, per call site, what that callee runs.
 * When that bound is at most {@linkcode ENTRY_BOUND}, its entry's check
 * goes.
 *
 * The caller pays: a stretch between two checks now also runs the bounded
 * callees it calls. So every function that keeps its checks must call,
 * between any two of them, at most {@linkcode CALLER_BOUND} (or its own size
 * again, when larger) in such callees (a call through a table or a
 * reference meets a check at its callee's entry); a module where one does
 * not keeps every check. Sizes are in bytes of code, which bound the operators (each takes
 * at least one byte).
 *
 * @module
 */

/**
 * The most operators one call of a function without an entry check may
 * run, in bytes of code.
 */
export const ENTRY_BOUND = 4096;

/**
 * The most operators the callees without entry checks may add to the
 * stretch between two checks of a function that keeps its own, in bytes of
 * code (or the function's own size, when larger).
 */
export const CALLER_BOUND = 65536;

/** What the scan learns of each body, in body order. */
export class EntryBounds {
  /** Per body: the entry's flag check's edit number, or -1. */
  readonly #entryEdit: number[] = [];
  /** Per body: its size in bytes of code. */
  readonly #size: number[] = [];
  /** Per body: whether it qualifies on its own (see the module doc). */
  readonly #plain: boolean[] = [];
  /** The bodies a `ref.func` in the code names. */
  readonly #referenced: number[] = [];
  /** Per body: where its callees start in {@linkcode EntryBounds.#calls}. */
  readonly #callsFrom: number[] = [];
  /** Per body: how many direct call sites it has. */
  readonly #callCount: number[] = [];
  /** Every body's direct callees (defined functions), one per call site. */
  readonly #calls: number[] = [];
  #entry = -1;
  #isPlain = true;

  /**
   * Starts a body (again, when the scan starts it over).
   *
   * @param entryEdit The entry's flag check's edit number, or -1.
   */
  begin(entryEdit: number): void {
    this.#entry = entryEdit;
    this.#isPlain = true;
    this.#calls.length = this.#bodyCallsStart();
  }

  #bodyCallsStart(): number {
    const n = this.#size.length;
    return n === 0 ? 0 : this.#callsFrom[n - 1]! + this.#callCount[n - 1]!;
  }

  /**
   * A direct call of a defined function.
   *
   * @param body The callee's body number.
   */
  call(body: number): void {
    this.#calls.push(body);
  }

  /**
   * A `ref.func`: a call through a reference can reach the function.
   *
   * @param body The function's body number.
   */
  referenced(body: number): void {
    this.#referenced.push(body);
  }

  /**
   * Something whose run is not bounded by the body's size: a loop, a call
   * of an import or through a table or a reference, a bulk operator.
   */
  unbounded(): void {
    this.#isPlain = false;
  }

  /**
   * Ends the body.
   *
   * @param size Its size in bytes of code.
   */
  end(size: number): void {
    const from = this.#bodyCallsStart();
    this.#entryEdit.push(this.#entry);
    this.#size.push(size);
    this.#plain.push(this.#isPlain);
    this.#callsFrom.push(from);
    this.#callCount.push(this.#calls.length - from);
  }

  /**
   * Decides which entries' checks go.
   *
   * @param referenced The body numbers that an element segment or a
   *   constant expression names: they keep their checks, as do those a
   *   `ref.func` names, so that a call through a table or a reference
   *   always meets one.
   * @returns The edit numbers of the checks to leave out, by body number
   *   (-1 for a body that keeps its check).
   */
  droppable(referenced: Iterable<number>): number[] {
    const n = this.#size.length;
    const plain = this.#plain.slice();
    for (const b of referenced) plain[b] = false;
    for (const b of this.#referenced) plain[b] = false;
    const calls = this.#calls;
    const from = this.#callsFrom;
    const count = this.#callCount;
    // The bound of one call, or -1 where the entry keeps its check.
    const bound = new Array<number>(n).fill(0);
    // 0 unvisited, 1 on the stack, 2 done.
    const state = new Uint8Array(n);
    const stack: number[] = [];
    const next: number[] = [];
    for (let root = 0; root < n; root++) {
      if (state[root] !== 0) continue;
      state[root] = 1;
      stack.push(root);
      next.push(0);
      while (stack.length > 0) {
        const top = stack.length - 1;
        const v = stack[top]!;
        const i = next[top]!;
        if (plain[v] && i < count[v]!) {
          next[top] = i + 1;
          const w = calls[from[v]! + i]!;
          if (state[w] === 0) {
            state[w] = 1;
            stack.push(w);
            next.push(0);
          } else if (state[w] === 1) {
            bound[v] = -1; // a cycle
          }
          continue;
        }
        stack.pop();
        next.pop();
        state[v] = 2;
        if (!plain[v] || bound[v] === -1) {
          bound[v] = -1;
          continue;
        }
        // A callee that keeps its check ends the stretch at its entry.
        let total = this.#size[v]!;
        for (let j = from[v]!; j < from[v]! + count[v]!; j++) {
          total += Math.max(0, bound[calls[j]!]!);
          if (total > ENTRY_BOUND) break;
        }
        bound[v] = total <= ENTRY_BOUND ? total : -1;
      }
    }
    // Each function that keeps its check may add at most so much in
    // callees without one; past that, its dearest callees keep theirs
    // (which only lowers what any other function adds).
    for (let v = 0; v < n; v++) {
      if (bound[v]! >= 0) continue;
      const limit = Math.max(CALLER_BOUND, this.#size[v]!);
      let added = 0;
      const through = new Map<number, number>();
      for (let j = from[v]!; j < from[v]! + count[v]!; j++) {
        const w = calls[j]!;
        if (bound[w]! < 0) continue;
        added += bound[w]!;
        through.set(w, (through.get(w) ?? 0) + bound[w]!);
      }
      if (added <= limit) continue;
      const dearest = [...through].sort((x, y) => y[1] - x[1]);
      for (const [w, adds] of dearest) {
        if (added <= limit) break;
        bound[w] = -1;
        added -= adds;
      }
    }
    return bound.map((b, v) => b >= 0 ? this.#entryEdit[v]! : -1);
  }
}
