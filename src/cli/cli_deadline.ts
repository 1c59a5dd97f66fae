/**
 * The command line's `--timeout`: one deadline for the whole run, as a
 * `timeout`-like flag promises, not one for the call alone. It counts from
 * the moment the command line is ready to stop a guest (Deno's start-up and
 * the watchdog thread's, which no stop could cut short, come before it),
 * and holds the guest's read, the `--imports` module's load, the rewrite,
 * the compile, the instantiation, the start function and the call: each
 * gets what is left of it. Before, a 270 MB guest's rewrite ran 20 s under
 * `--timeout 100`, and only then did the call's own deadline start.
 *
 * @module
 */

import { DeadlineExceeded } from "../errors.ts";
import { startPunctualTimer } from "../watchdog/punctual_timer.ts";
import { nextTurn } from "../watchdog/yield.ts";

/** What the run was doing when its deadline passed, before the call began. */
export type RunPhase =
  | "reading the guest"
  | "loading the --imports module"
  | "loading the guest";

/**
 * The run's deadline passed before the call began: thrown to end the run,
 * which reports it as the call's `timeout`, saying where it was.
 */
export class RunTimedOut extends Error {
  /**
   * @param stop The run's stop at its deadline.
   * @param phase What the run was doing.
   */
  constructor(readonly stop: DeadlineExceeded, readonly phase: RunPhase) {
    super(`${stop.message}, while ${phase}`);
    this.name = "RunTimedOut";
  }
}

/** A run's deadline, from its start. */
export class RunDeadline {
  /** When the run started, from `performance.now()`. */
  readonly started: number;
  /** The time the run is allowed, in milliseconds. */
  readonly timeout: number;
  /**
   * Aborts at the deadline, with a `TimeoutError` as its reason, which the
   * load reports as a deadline (`DeadlineExceeded`), not an abort.
   */
  readonly signal: AbortSignal;
  readonly #cancel: () => void;

  /**
   * Starts the deadline now.
   *
   * @param timeout The time the run is allowed, in milliseconds.
   */
  constructor(timeout: number) {
    this.started = performance.now();
    this.timeout = timeout;
    const controller = new AbortController();
    this.signal = controller.signal;
    // Made now, not when the deadline passes: a process's first
    // DOMException took 0.2 to 0.3 ms to make.
    const reason = new DOMException(
      `--timeout ${timeout} ms passed`,
      "TimeoutError",
    );
    // Not AbortSignal.timeout, which fires at once past 2^31 - 1 ms, and
    // fires a millisecond step late.
    this.#cancel = startPunctualTimer(timeout, () => controller.abort(reason));
  }

  /** The time left, in milliseconds: 0 once the deadline has passed. */
  remaining(): number {
    return Math.max(0, this.started + this.timeout - performance.now());
  }

  /** Whether the deadline has passed, by the clock (its timer may be late). */
  get passed(): boolean {
    return this.remaining() === 0;
  }

  /** The time from the run's start to now, in milliseconds. */
  elapsed(): number {
    return performance.now() - this.started;
  }

  /** The run's stop at its deadline, timed now. */
  exceeded(): DeadlineExceeded {
    return new DeadlineExceeded(this.timeout, this.elapsed());
  }

  /**
   * Waits for `promise`, unless the deadline comes first: then rejects
   * with {@linkcode RunTimedOut}, and what `promise` gives is no one's
   * concern. A rejection that the deadline's abort caused (a read given
   * up) is the deadline's too.
   *
   * @param promise What the run waits for.
   * @param phase What the run is doing meanwhile, for the report.
   * @returns What it gives.
   */
  race<T>(promise: Promise<T>, phase: RunPhase): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const due = () => reject(new RunTimedOut(this.exceeded(), phase));
      if (this.signal.aborted) {
        promise.catch(() => {});
        return due();
      }
      this.signal.addEventListener("abort", due, { once: true });
      promise.then(
        resolve,
        (error) => this.signal.aborted ? due() : reject(error),
      ).finally(() => this.signal.removeEventListener("abort", due));
    });
  }

  /**
   * Gives the event loop a turn, in which the deadline's timer fires if
   * it is due, between two pieces of the run's work that would otherwise
   * hold the thread as one (the end of the read and the start of the
   * load, in a fresh process: 1.4 to 2.2 ms).
   *
   * @param phase What the run is doing, for the report.
   * @throws {RunTimedOut} When the deadline has passed.
   */
  async turn(phase: RunPhase): Promise<void> {
    await nextTurn();
    if (this.signal.aborted || this.passed) {
      throw new RunTimedOut(this.exceeded(), phase);
    }
  }

  /** Cancels the timer, so that it keeps no process alive. */
  dispose(): void {
    this.#cancel();
  }
}
