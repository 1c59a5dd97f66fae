/**
 * The watchdog's thread: the code that runs inside its Worker.
 *
 * It is written as one self-contained function so that the watchdog can
 * start it from its source text in a `data:` URL: that needs no file next to
 * the module, no fetch and no permission, whether early-exit was imported
 * from a file or from an http(s) URL.
 *
 * The thread sleeps in `Atomics.wait` on the control word, with a timeout
 * set to the next deadline (or the StopSignal polling period), and so sets a
 * flag on time however busy the main thread is. The main thread bumps the
 * control word after each message it posts; the thread then returns to its
 * event loop to receive the message, and only acts once it has received all
 * of them, so a disarm posted before a deadline always wins over it. It
 * never blocks while a message is pending, so `terminate()` (which cannot
 * interrupt a blocked thread) always lands.
 *
 * @module
 */

/** A message from the main thread to the watchdog's thread. */
export type WatchdogMessage =
  | { op: "start"; control: Int32Array }
  | { op: "arm"; id: number; flag: Int32Array; at: number }
  | { op: "tick"; id: number; flag: Int32Array; at: number; every: number }
  | { op: "watch"; id: number; flag: Int32Array; stop: Int32Array }
  | { op: "disarm"; id: number };

/** Control word 0: how many messages the main thread has posted. */
export const POSTED = 0;
/** Control word 1: set when the main thread is about to terminate the thread. */
export const QUITTING = 1;
/** Control word 2: set by the thread once it has received its start. */
export const READY = 2;

/** What the thread is told when it starts. */
export interface WatchdogSettings {
  /** How often watched StopSignals are read, in milliseconds. */
  pollMs: number;
  /** The control word counting posted messages: {@linkcode POSTED}. */
  posted: number;
  /** The control word set before termination: {@linkcode QUITTING}. */
  quitting: number;
  /** The control word the thread sets once started: {@linkcode READY}. */
  ready: number;
}

/** The parts of a worker's global scope the thread uses. */
interface WorkerScope {
  onmessage: ((event: MessageEvent<WatchdogMessage>) => void) | null;
}

/**
 * The thread's whole program. It must not refer to anything outside itself:
 * it runs from its own source text.
 *
 * @param scope The worker's global scope.
 * @param settings The polling period and where the control words are.
 */
export function runWatchdog(
  scope: WorkerScope,
  settings: WatchdogSettings,
): void {
  const { pollMs, posted, quitting, ready } = settings;
  type Entry = Exclude<WatchdogMessage, { op: "start" | "disarm" }>;
  const entries = new Map<number, Entry>();
  let control: Int32Array | undefined;
  let received = 0;
  const now = () => performance.timeOrigin + performance.now();

  /** Sets the flags that are due; returns how long to sleep. */
  const fire = (): number => {
    const time = now();
    let sleep = Infinity;
    for (const entry of entries.values()) {
      if (entry.op === "watch") {
        if (Atomics.load(entry.stop, 0) !== 0) Atomics.store(entry.flag, 0, 1);
        sleep = Math.min(sleep, pollMs);
        continue;
      }
      if (time >= entry.at) {
        Atomics.store(entry.flag, 0, 1);
        if (entry.op === "arm") {
          // Set again until disarmed: this thread's clock may run a little
          // ahead of the main thread's, whose host then finds the deadline
          // not yet passed and clears the flag.
          sleep = Math.min(sleep, pollMs);
          continue;
        }
        // A tick missed (the thread was descheduled) is not made up for.
        const next = entry.at + entry.every;
        entry.at = next > time ? next : time + entry.every;
      }
      sleep = Math.min(sleep, entry.at - time);
    }
    return sleep;
  };

  /** Runs until a message is pending or nothing is left to do. */
  const run = (): void => {
    while (control !== undefined) {
      if (Atomics.load(control, posted) !== received) return;
      if (Atomics.load(control, quitting) !== 0) return;
      const sleep = fire();
      if (sleep === Infinity) return;
      Atomics.wait(control, posted, received, Math.max(0, sleep));
    }
  };

  scope.onmessage = (event) => {
    const message = event.data;
    if (message.op === "start") {
      control = message.control;
      Atomics.store(control, ready, 1);
      Atomics.notify(control, ready);
    } else if (message.op === "disarm") entries.delete(message.id);
    else entries.set(message.id, message);
    received++;
    run();
  };
}
