/**
 * The stops of a load: `loadGuest`'s `signal` and `stop` end loading at any
 * point, not only in the start function. A fetch is aborted, any other
 * wait (a file that never ends, a compile) is given up, and a rewrite runs
 * in steps with a turn of the event loop between them, so that a stop
 * lands during it; the load rejects with the stop's branded error.
 *
 * @module
 */

import { Aborted, GuestLoadError } from "../errors.ts";
import type { Stop } from "../call/call_state.ts";
import { abortStop } from "../call/call_watch.ts";
import { watchOnEventLoop } from "../call/event_loop_stops.ts";
import { firePunctualTimersDue } from "../watchdog/punctual_timer.ts";
import type { StopSignal } from "../watchdog/stop_signal.ts";
import { pageSteps } from "./data_prefault.ts";
import { plainBufferOnThread } from "./compile_thread.ts";
import {
  runSteps,
  type Steps,
  takeTurnAsked,
  takeWaitAsked,
} from "../wasm/steps.ts";
import { nextTurn } from "../watchdog/yield.ts";

/**
 * How long the steps of a rewrite run before the event loop gets a turn, in
 * milliseconds: a stop that comes meanwhile waits for the turn, and for the
 * step it falls in. At 1 ms, a warm load of esbuild.wasm held the thread
 * over 2 ms of CPU at once 12 to 16 times in 10 loads in its steps alone (at
 * load average 14, where a step took up to 1 ms); at 0.5, once or twice.
 */
const STEPS_TURN_MS = 0.5;

/**
 * How many of the caller's bytes {@linkcode LoadStops.snapshot} copies
 * before it reads the load's StopSignal again: a fraction of a millisecond
 * into mapped pages (a copy of 64 MiB at once held the thread 10 ms and
 * more).
 */
export const SNAPSHOT_PIECE_BYTES = 1 << 20;

/** A load's AbortSignal and StopSignal, watched until disposed. */
export class LoadStops {
  /** Aborts when a stop comes: give it to `fetch`. */
  readonly signal: AbortSignal | undefined;
  readonly #controller: AbortController | undefined;
  readonly #dispose: () => void;
  readonly #rejects = new Set<(error: unknown) => void>();
  readonly #stopSignal: StopSignal | undefined;
  #stop: Stop | undefined;
  /** When the event loop last had a turn in the load, by `performance.now()`. */
  #turnedAt = -Infinity;

  /**
   * Watches the stops.
   *
   * @param signal The load's AbortSignal.
   * @param stop The load's StopSignal.
   */
  constructor(signal?: AbortSignal, stop?: StopSignal) {
    const started = performance.now();
    const watched = signal !== undefined || stop !== undefined;
    this.#controller = watched ? new AbortController() : undefined;
    this.signal = this.#controller?.signal;
    this.#stopSignal = stop;
    this.#dispose = watchOnEventLoop({ signal, stop }, started, (kind) => {
      this.#stopped(
        kind === "abort"
          ? abortStop(signal!, started)
          : () => new Aborted(stop!.reason),
      );
      return true;
    });
  }

  /** Records the stop, and ends what the load waits for with its error. */
  #stopped(stop: Stop): void {
    if (this.#stop !== undefined) return;
    this.#stop = stop;
    this.#controller!.abort();
    for (const reject of this.#rejects) reject(stop());
  }

  /**
   * Throws the stop's error, if one came. A StopSignal is read here, not
   * only when the event loop turns: one set while work held the thread
   * ends the load at once.
   *
   * @throws {Aborted} When the signal aborted or the StopSignal was set.
   * @throws {DeadlineExceeded} When a timed-out signal aborted.
   */
  check(): void {
    if (this.#stop === undefined && this.#stopSignal?.stopped) {
      const stop = this.#stopSignal;
      this.#stopped(() => new Aborted(stop.reason));
    }
    if (this.#stop !== undefined) throw this.#stop();
  }

  /**
   * Waits for `promise`, unless a stop comes first.
   *
   * @param promise What loading waits for.
   * @returns What it gives.
   */
  race<T>(promise: Promise<T>): Promise<T> {
    if (this.#stop !== undefined) {
      // Given up: how it ends is no one's concern, not an unhandled rejection.
      promise.catch(() => {});
      this.check();
    }
    if (this.#controller === undefined) return promise;
    const waited = new Promise<T>((resolve, reject) => {
      this.#rejects.add(reject);
      promise.then(resolve, reject).finally(() => this.#rejects.delete(reject));
    });
    if (!this.#turnDue()) return waited;
    // The work before this wait held the thread for a turn's time: the
    // turn comes first (a wait that is already over gives none). A stop
    // rejects the wait at once, and that is passed on without waiting for
    // the turn (which took the load's rejection 0.3 to 0.6 ms past its
    // stop on the command line).
    return new Promise<T>((resolve, reject) => {
      waited.catch(reject);
      this.#turn().then(() => waited).then(resolve, reject);
    });
  }

  /** Whether a stop is watched: whether {@linkcode LoadStops.runSteps} pauses. */
  get watched(): boolean {
    return this.#controller !== undefined;
  }

  /**
   * Runs work that holds the thread (the rewrite of a metered guest) in
   * steps, giving the event loop a turn about every half millisecond while a
   * stop is watched, so that an abort or a StopSignal ends it then, and
   * waiting where a step asks for what another thread makes
   * (`askToWait`).
   *
   * @param steps The work.
   * @returns What it returns.
   * @throws {Aborted} When a stop came.
   * @throws {DeadlineExceeded} When a timed-out signal aborted.
   */
  async runSteps<T>(steps: Steps<T>): Promise<T> {
    if (this.#controller === undefined) return runSteps(steps);
    try {
      // The work before the steps counts towards the first turn.
      if (this.#turnDue()) await this.#turn();
      for (;;) {
        const step = steps.next();
        if (step.done) return step.value;
        // A StopSignal is a word in shared memory, read at every step by
        // `check`; a deadline whose timer is due fires here, not after the
        // next turn.
        firePunctualTimersDue();
        this.check();
        // What another thread makes for the next step (never rejects).
        const waited = takeWaitAsked();
        if (waited !== undefined) {
          takeTurnAsked();
          // Not counted as a turn (whether the wait gave one is not known
          // here): the steps after it turn when the last known one is due.
          await this.race(waited);
          this.check();
        } else if (takeTurnAsked() || this.#turnDue()) {
          await this.#turn();
        }
      }
    } finally {
      steps.return(undefined as T);
    }
  }

  /**
   * A copy of the caller's bytes, for a load that gives the event loop
   * turns (in which the caller's code runs) or reads a cache. The copy
   * itself is taken at once, so no turn comes in the middle of it and it
   * holds the bytes as they were at one moment; what took the time was the
   * kernel mapping the fresh buffer's pages as the copy wrote them (14 MB:
   * 10 ms of CPU warm, 20 to 90 cold or on a busy machine, against about 1
   * ms into mapped pages). A watched load maps them first, in steps, with
   * turns of the event loop between them and at least one before the copy:
   * a stop that comes meanwhile ends the load there. The bytes copied are
   * those of that moment, after the load's first turns: a change the
   * caller makes before it is in the copy, one made after it is not, and
   * none is ever half in it. A StopSignal set during the copy ends the load
   * within {@linkcode SNAPSHOT_PIECE_BYTES} of it.
   *
   * @param bytes The bytes.
   * @param label The guest's name in messages.
   * @param room How many bytes the copy's buffer has before it, for the
   *   load to write the guest's limits over it (`joinLimitsInPlaceSteps`)
   *   rather than into a second buffer of its size.
   * @returns Their copy.
   * @throws {Aborted} When a stop came.
   * @throws {DeadlineExceeded} When a timed-out signal aborted.
   * @throws {GuestLoadError} With reason `io`, when the buffer was
   *   transferred away or resized before the copy.
   */
  async snapshot(
    bytes: Uint8Array,
    label: string,
    room = 0,
  ): Promise<Uint8Array> {
    if (this.#controller === undefined) {
      const copy = new Uint8Array(room + bytes.length).subarray(room);
      copy.set(bytes);
      return copy;
    }
    const length = bytes.length;
    // The allocation, which the C library may zero at once, and the copy
    // are each a hold of their own, with turns on either side.
    await this.#turn();
    // A large one made and mapped on the compile thread, when it is up,
    // while this one waits with the stops watched.
    const made = room + length > SNAPSHOT_PIECE_BYTES
      ? plainBufferOnThread(room + length)
      : undefined;
    // Undefined when the thread could not make it: made here after all.
    const onThread = made === undefined
      ? undefined
      : await this.race(made.catch(() => undefined));
    const buffer = new Uint8Array(onThread ?? new ArrayBuffer(room + length));
    await this.#turn();
    // The thread wrote every page of the buffer it made; one made here is
    // mapped in steps.
    if (onThread === undefined) {
      await this.runSteps(pageSteps(buffer, room + length));
    }
    const copy = buffer.subarray(room);
    await this.#turn();
    if (bytes.length !== length) {
      throw new GuestLoadError(
        "io",
        `cannot read ${label}: its buffer held ${length} bytes as the load began to copy them and ${bytes.length} when it did (it was transferred away or resized meanwhile)`,
        "leave the buffer as it is until loadGuest's promise settles, or give loadGuest a copy",
      );
    }
    // In pieces, with no turn between them (the copy is of one moment),
    // but a StopSignal, a word another thread sets, read after each.
    for (let at = 0; at < length; at += SNAPSHOT_PIECE_BYTES) {
      if (at > 0 && this.#stopSignal?.stopped) this.check();
      copy.set(bytes.subarray(at, at + SNAPSHOT_PIECE_BYTES), at);
    }
    await this.#turn();
    return copy;
  }

  /**
   * A turn of the event loop, after which a stop that came ends the load.
   * A StopSignal set while the work before it held the thread ends the
   * load before it: the turn would run other work first, for nothing.
   */
  async #turn(): Promise<void> {
    this.check();
    await nextTurn();
    this.#turnedAt = performance.now();
    // The turn ran this continuation before a timer's look queued behind
    // it: a deadline due by now fires here, before the next step holds the
    // thread.
    firePunctualTimersDue();
    this.check();
  }

  /**
   * Whether the load has held the thread for {@linkcode STEPS_TURN_MS}
   * since its last turn of the event loop, or has given none yet: the
   * caller's work before the load (reading the guest, say) held the thread
   * too, for all the load knows.
   */
  #turnDue(): boolean {
    return performance.now() >= this.#turnedAt + STEPS_TURN_MS;
  }

  /**
   * A turn of the event loop before work that holds the thread at once
   * (the engine's instantiation), while a stop is watched: the steps before
   * it and it are then two holds, not one.
   *
   * @throws {Aborted} When a stop came.
   * @throws {DeadlineExceeded} When a timed-out signal aborted.
   */
  async turn(): Promise<void> {
    if (this.#controller !== undefined) await this.#turn();
  }

  /** Stops watching: the start function's call watches from here. */
  dispose(): void {
    this.#dispose();
  }
}
