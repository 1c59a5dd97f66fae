/**
 * The watchdog's thread: the code that runs inside its Worker.
 *
 * It is written as one self-contained function so that the watchdog can
 * start it from its source text (an eval'd `node:worker_threads` Worker):
 * that needs no file next to the module, no fetch and no permission,
 * whether early-exit was imported from a file or from an http(s) URL.
 *
 * The thread sleeps in `Atomics.wait` on the wake word, with a timeout set
 * to the next deadline (or the StopSignal polling period), and so sets a
 * flag on time however busy the main thread is. Deadlines come in two ways:
 *
 * - **Slots**, for the deadline of every call: a table in shared memory,
 *   each slot bound once (by a message) to a flag. A call writes its
 *   deadline into a slot and marks it armed, and unmarks it when it ends;
 *   no message is posted. The thread publishes the time it sleeps toward,
 *   and the main thread rings the wake word only for a deadline earlier
 *   than that.
 * - **Messages**, for deadlines, StopSignals and ticks that found no free
 *   slot. The main thread bumps the posted count and rings after
 *   each message; the thread then takes it in (with
 *   `receiveMessageOnPort`, or else through a turn of its event loop), and
 *   only acts once it has received all of them, so a disarm posted
 *   before a deadline always wins over it.
 *
 * The thread never sits in its event loop while a message is pending or
 * while the main thread may arm a slot: it always waits on the wake word
 * (a Worker left idle in its event loop was seen not to receive a message
 * posted while the main thread ran a guest). It is never terminated: it
 * waits for as long as the process lives, and keeps no process alive.
 *
 * @module
 */

/** A message from the main thread to the watchdog's thread. */
export type WatchdogMessage =
  | { op: "start"; board: SharedArrayBuffer }
  | {
    op: "bind";
    slot: number;
    tag: number;
    flag: Int32Array;
    /** For a watch: the StopSignal's word. */
    stop?: Int32Array;
  }
  | { op: "arm"; id: number; flag: Int32Array; at: number }
  | { op: "tick"; id: number; flag: Int32Array; at: number; every: number }
  | { op: "watch"; id: number; flag: Int32Array; stop: Int32Array }
  | { op: "disarm"; id: number }
  | SpawnMessage;

/**
 * Asks the thread to create another thread (the compile thread) from its
 * source text, and to hand it `port`, the other end of which the host
 * keeps: the creation holds the thread that asks for it until the new
 * thread's runtime exists, and this way it holds this thread, not the
 * host's JavaScript thread.
 */
export interface SpawnMessage {
  op: "spawn";
  /** The new thread's program, as source text. */
  source: string;
  /** The new thread's name. */
  name: string;
  /** Its `workerData`, to which `port` is added. */
  data: Record<string, unknown>;
  /** Given to the new thread; closed when it cannot be created. */
  port: { close(): void };
}

/** Control word 0: how many messages the main thread has posted. */
export const POSTED = 0;
/**
 * Control word 1: how many times the thread has read the host's clock
 * stamp (bumped and notified at each scan of the slots).
 */
export const SAMPLES = 1;
/** Control word 2: set by the thread once it has received its start. */
export const READY = 2;
/** Control word 3: bumped (and notified) to wake the thread. */
export const WAKE = 3;
/**
 * Control word 4: 1 while the thread reads the slots, before it publishes
 * the time it sleeps toward; a slot armed meanwhile always rings.
 */
export const SCANNING = 4;
/** Control word 5: how many messages the thread has received. */
export const RECEIVED = 5;
/*
 * Control words 0 to 5 take the board's first 24 bytes, as an `Int32Array`;
 * the `Float64Array` indices below start after them.
 */
/**
 * The host's clock, written just before each ring (a `Float64Array` index
 * on the board): the thread reads it, then its own clock, and so learns an
 * upper bound of how far its clock runs ahead of the host's.
 */
export const HOST_STAMP = 3;
/** The time the thread sleeps toward: a `Float64Array` index on the board. */
export const SLEEP_AT = 4;
/**
 * When the thread last set a flag for a passed deadline, the first time it
 * did for that deadline, and that deadline (`Float64Array` indices on the
 * board): what the stop-latency bench reads to tell the thread's own
 * lateness from the rest.
 */
export const LAST_FIRED_AT = 5;
/** See {@linkcode LAST_FIRED_AT}. */
export const LAST_FIRED_DEADLINE = 6;
/**
 * The thread's best bound of how far its clock runs ahead of the host's,
 * in milliseconds (a `Float64Array` index on the board; 0 until it has
 * one): it subtracts it from its own clock before it compares deadlines.
 */
export const CLOCK_AHEAD = 7;
/** Where the slots' state words begin, in bytes. */
export const SLOTS_BYTE = 64;
/** A slot's state word while the thread sets its flag. */
export const FIRING = -1;

/**
 * The board's size for `slots` slots (an even number): control words, the
 * published sleep time, then an `Int32` state word per slot, an `Int32`
 * fired word per slot (the tag of the binding whose deadline set the
 * flag), a `Float64` deadline per slot, and a `Float64` period per slot
 * (0 unless the slot is a periodic tick, whose deadline the thread moves
 * on each time it sets the flag).
 */
export function boardBytes(slots: number): number {
  return SLOTS_BYTE + slots * 4 + slots * 4 + slots * 8 + slots * 8;
}

/** What the thread is told when it starts. */
export interface WatchdogSettings {
  /** How often watched StopSignals are read, in milliseconds. */
  pollMs: number;
  /** How many slots the board has (an even number). */
  slots: number;
}

/** The part of the thread's message port that it uses. */
interface WorkerPort {
  on(event: "message", listener: (message: WatchdogMessage) => void): void;
}

/**
 * Takes the port's next message now, without its event loop (as
 * `node:worker_threads`' `receiveMessageOnPort`): `undefined` when none is
 * there yet.
 */
export type ReceiveNow = (
  port: WorkerPort,
) => { message: WatchdogMessage } | undefined;

/**
 * The thread's whole program. It must not refer to anything outside itself
 * (constants included): it runs from its own source text.
 *
 * A slot's state word is 0 when disarmed and its binding's tag when armed.
 * The thread sets a slot's flag only after swapping the tag for -1 (firing)
 * and puts the tag back after: a main thread that disarms waits for that,
 * so once a disarm returns the flag is never set for that slot again. A
 * slot bound anew gets a new tag, so the thread never sets the flag of a
 * binding it has not received yet.
 *
 * @param port The port the host posts the thread's messages on.
 * @param settings The polling period and the number of slots.
 * @param receiveNow Takes a message that is already there without going
 *   back to the event loop: the binding of the spare flag a load leaves is
 *   received as the loaded guest's first call is armed, and the turn of
 *   the event loop came 1.1 to 1.5 ms after the wake-up at the p99, up to
 *   13 ms, on a busy 2-core machine (0.2 to 0.4, at most 0.9, taken
 *   directly). Without it, the thread returns to its event loop for every
 *   message.
 * @param spawn Creates the thread a `spawn` message asks for (see
 *   {@linkcode spawnThread}); without it, such a message's port is closed,
 *   which tells the host that no thread came.
 */
export function runWatchdog(
  port: WorkerPort,
  settings: WatchdogSettings,
  receiveNow?: ReceiveNow,
  spawn?: (message: SpawnMessage) => void,
): void {
  const { pollMs, slots } = settings;
  // The layout, as in the constants beside this function.
  const posted = 0, samplesWord = 1, ready = 2, wake = 3, scanning = 4;
  const receivedWord = 5;
  const sleepAtIndex = 4, slotsByte = 64, firing = -1;
  const hostStamp = 3, lastFiredAt = 5, lastFiredDeadline = 6;
  const clockAhead = 7;
  type Entry = Exclude<
    WatchdogMessage,
    { op: "start" | "disarm" | "bind" | "spawn" }
  >;
  const entries = new Map<number, Entry>();
  const flags: (Int32Array | undefined)[] = [];
  const tags: number[] = [];
  const stops: (Int32Array | undefined)[] = [];
  let control: Int32Array | undefined;
  let sleepAt: Float64Array | undefined;
  let states: Int32Array | undefined;
  let fired: Int32Array | undefined;
  let deadlines: Float64Array | undefined;
  let periods: Float64Array | undefined;
  let received = 0;
  /** The port `receiveNow` reads: another in the warm-up. */
  let from: WorkerPort = port;
  /**
   * The least of (this thread's clock less a host's stamp, read before
   * it) so far: each is at least how far this clock runs ahead of the
   * host's, so a deadline compared against this clock less it has passed
   * by the host's clock too. Infinity until a stamp is read.
   */
  let ahead = Infinity;
  /** This thread's clock: each runtime reckons its own `timeOrigin`. */
  const ownNow = () => performance.timeOrigin + performance.now();
  /** This thread's clock, on the host's. */
  const now = () => ahead === Infinity ? ownNow() : ownNow() - ahead;
  /**
   * Reads the host's last stamp, then this thread's clock, keeps the
   * bound they give, and returns the time on the host's clock.
   */
  const sample = (): number => {
    const stamp = sleepAt![hostStamp];
    const own = ownNow();
    if (stamp > 0 && own - stamp < ahead) {
      ahead = own - stamp;
      sleepAt![clockAhead] = ahead;
    }
    Atomics.add(control!, samplesWord, 1);
    Atomics.notify(control!, samplesWord);
    return ahead === Infinity ? own : own - ahead;
  };

  /** Sets the flags of messages that are due; returns how long to sleep. */
  const fireEntries = (time: number): number => {
    // Without an iterator when there is nothing to read: the thread then
    // allocates nothing as it wakes, and its own collections (one took 14
    // ms on a busy machine, across a deadline) come rarely.
    if (entries.size === 0) return Infinity;
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

  /** Sets the flags of slots that are due; returns how long to sleep. */
  const fireSlots = (time: number): number => {
    let sleep = Infinity;
    for (let slot = 0; slot < flags.length; slot++) {
      const flag = flags[slot];
      const tag = tags[slot];
      if (flag === undefined || Atomics.load(states!, slot) !== tag) continue;
      const stop = stops[slot];
      if (stop !== undefined) {
        // A watch: read the StopSignal at every poll.
        sleep = Math.min(sleep, pollMs);
        if (Atomics.load(stop, 0) === 0) continue;
      } else {
        const at = deadlines![slot];
        if (time < at) {
          sleep = Math.min(sleep, at - time);
          continue;
        }
      }
      if (Atomics.compareExchange(states!, slot, tag, firing) === tag) {
        // The deadline read above may be a call's that ended since, and
        // the slot armed again with the same tag: read once more, now that
        // the slot is this thread's (a disarm waits for it).
        if (stop === undefined && time < deadlines![slot]) {
          Atomics.store(states!, slot, tag);
          sleep = Math.min(sleep, deadlines![slot] - time);
          continue;
        }
        // Marked before the flag is set: whoever sees the flag sees why.
        const first = Atomics.exchange(fired!, slot, tag) !== tag;
        Atomics.store(flag, 0, 1);
        const every = stop === undefined ? periods![slot] : 0;
        if (first && stop === undefined && every === 0) {
          // Only the first time: a flag set again every poll, while the
          // guest's thread waits for a core, says nothing of the wake-up.
          sleepAt![lastFiredAt] = now();
          sleepAt![lastFiredDeadline] = deadlines![slot];
        }
        if (every > 0) {
          // A tick: the slot is this thread's while it fires, so its next
          // time can be written. A tick missed is not made up for.
          const next = deadlines![slot] + every;
          const at = next > time ? next : time + every;
          deadlines![slot] = at;
          Atomics.store(states!, slot, tag);
          sleep = Math.min(sleep, at - time);
          continue;
        }
        Atomics.store(states!, slot, tag);
      }
      // Set again until disarmed, as for a deadline sent by message.
      sleep = Math.min(sleep, pollMs);
    }
    return sleep;
  };

  /**
   * Sets the flags that are due, and publishes and returns how long to
   * sleep.
   */
  const scan = (): number => {
    const time = sample();
    const sleep = Math.max(0, Math.min(fireEntries(time), fireSlots(time)));
    sleepAt![sleepAtIndex] = time + sleep;
    return sleep;
  };

  /**
   * One turn: takes in a message already posted, or sets the flags that
   * are due and sleeps until the next is due (`longest` at most; not at
   * all when it is negative), or a ring. False when a message is still to come: only the event loop
   * brings it.
   */
  const step = (longest: number): boolean => {
    const board = control!;
    Atomics.store(board, scanning, 1);
    // Read before the checks: a message or slot that comes after them
    // changes the word, and the wait below returns at once.
    const woken = Atomics.load(board, wake);
    // Return to the event loop only for a message still to come. One may
    // also arrive before the main thread counts it: this thread is then
    // ahead, and waits here for the ring that follows the count (were it
    // to return, nothing would call it back, and no flag would be set).
    if ((Atomics.load(board, posted) - received | 0) > 0) {
      const next = receiveNow?.(from);
      if (next === undefined) return false;
      receive(next.message);
      return true;
    }
    const sleep = Math.min(scan(), longest);
    Atomics.store(board, scanning, 0);
    if (sleep >= 0) Atomics.wait(board, wake, woken, sleep);
    return true;
  };

  /**
   * Runs until a message is pending, or for one turn if `once`, each turn
   * sleeping `longest` milliseconds at most.
   */
  const run = (longest: number, once: boolean): void => {
    while (control !== undefined && step(longest) && !once);
  };

  /** Reads and writes the slots of `board`, of `count` slots. */
  const useBoard = (board: SharedArrayBuffer, count: number): void => {
    control = new Int32Array(board, 0, slotsByte / 4);
    sleepAt = new Float64Array(board, 0, slotsByte / 8);
    states = new Int32Array(board, slotsByte, count);
    fired = new Int32Array(board, slotsByte + count * 4, count);
    deadlines = new Float64Array(board, slotsByte + count * 8, count);
    periods = new Float64Array(board, slotsByte + count * 16, count);
  };

  /**
   * Turns through a board of its own, without sleeping, whose slots take
   * every path (a deadline to come, one passed, a tick, a StopSignal set
   * and not, a slot disarmed, an unbound one, and the same as messages,
   * and a binding taken in as `receiveNow` takes one),
   * as many times as V8 takes to optimise that code fully (TurboFan after
   * about 3,000 calls, counted again once Maglev has compiled it): traced
   * in fresh processes, those compiles came during the first 15 to 75
   * calls, one of them 26 ms long on a busy machine, and the deadlines
   * they fell across were set up to 57 ms late. A few milliseconds, once,
   * before the thread says it is ready.
   */
  const warmUp = (): void => {
    const count = 6;
    const words = () => new Int32Array(new SharedArrayBuffer(4));
    useBoard(new SharedArrayBuffer(slotsByte + count * 24), count);
    const stop = words();
    const far = now() + 3_600_000;
    for (let slot = 0; slot < count - 1; slot++) {
      flags[slot] = words();
      tags[slot] = 1;
      stops[slot] = slot === 3 ? stop : undefined;
    }
    entries.set(-1, { op: "arm", id: -1, flag: words(), at: 0 });
    entries.set(-2, { op: "tick", id: -2, flag: words(), at: 0, every: 1 });
    entries.set(-3, { op: "watch", id: -3, flag: words(), stop });
    flags[count - 1] = undefined;
    const binding = { op: "bind", slot: count - 1, tag: 1, flag: words() };
    const channel = new MessageChannel();
    from = channel.port2 as unknown as WorkerPort;
    for (let round = 0; round < 6_000; round++) {
      // The entries sent by message (used only when every slot is held) in
      // the first turns alone, for their feedback, as a message taken in.
      if (round === 64) entries.clear();
      if (round < 64 && (round & 3) === 0) {
        channel.port1.postMessage(binding);
        Atomics.store(control!, posted, received + 1);
      }
      deadlines![0] = far;
      deadlines![1] = deadlines![2] = 0;
      periods![2] = 1;
      fired![1] = 0;
      for (let slot = 0; slot < count - 1; slot++) states![slot] = 1;
      states![count - 2] = round & 1;
      stop[0] = round & 1;
      // A host's stamp in most turns, none in some (as before its first
      // ring), and one that tightens the bound now and then.
      sleepAt![hostStamp] = (round & 7) === 0
        ? 0
        : ownNow() - ((round & 3) === 1 ? 0 : 1);
      // No wait, but in a few turns a wait that returns at once (numbers
      // that are not small integers, as Infinity is not, so that the code
      // compiled for them fits the real turns too).
      run(round < 64 ? 1e-9 : -0.5, true);
    }
    flags.length = tags.length = stops.length = 0;
    entries.clear();
    received = 0;
    ahead = Infinity;
    from = port;
    channel.port1.close();
  };

  /** Takes one message in, and counts it. */
  const receive = (message: WatchdogMessage): void => {
    if (message.op === "start") {
      warmUp();
      useBoard(message.board, slots);
      Atomics.store(control!, ready, 1);
      Atomics.notify(control!, ready);
    } else if (message.op === "bind") {
      flags[message.slot] = message.flag;
      tags[message.slot] = message.tag;
      stops[message.slot] = message.stop;
    } else if (message.op === "disarm") entries.delete(message.id);
    else if (message.op === "spawn") {
      // Counted as received only once the thread exists: until then this
      // thread sets no flag, and the host, which waits for the count,
      // knows it.
      if (spawn !== undefined) spawn(message);
      else message.port.close();
    } else entries.set(message.id, message);
    received++;
    // Whatever this thread did for an entry before its disarm is done.
    Atomics.store(control!, receivedWord, received);
    Atomics.notify(control!, receivedWord);
  };

  port.on("message", (message) => {
    receive(message);
    run(Infinity, false);
  });
}

/** The part of `node:worker_threads` that {@linkcode spawnThread} uses. */
export interface SpawnThreads {
  Worker: new (source: string, options: {
    eval: true;
    name: string;
    workerData: unknown;
    transferList: unknown[];
    env: Record<string, string>;
  }) => {
    on(event: "error", listener: () => void): unknown;
    unref(): void;
  };
}

/**
 * Creates the thread a `spawn` message asks for, on the watchdog's thread:
 * an eval'd `node:worker_threads` Worker, unref'd, given the message's
 * port. When none can be created the port is closed, and the host sees
 * its own end close, as it does when the thread ends (or meets an error
 * nothing caught: it closes the port then). Self-contained: it runs from
 * its source text.
 *
 * @param threads `node:worker_threads`, as the watchdog's thread has it.
 * @param message What to create.
 */
export function spawnThread(
  threads: SpawnThreads,
  message: SpawnMessage,
): void {
  // A thread that fails ends its channel, which is how the host learns of
  // it: this thread's event loop, where the Worker's own events come, turns
  // too rarely, and the channel of a thread left to end of an uncaught
  // error stayed open.
  const guard = `{
    const port = require("node:worker_threads").workerData.port;
    const end = () => { try { port.close(); } catch {} };
    process.on("uncaughtException", end);
    process.on("unhandledRejection", end);
  }
`;
  try {
    const worker = new threads.Worker(guard + message.source, {
      eval: true,
      name: message.name,
      workerData: { ...message.data, port: message.port },
      transferList: [message.port],
      // Not the default copy of process.env, which asks for --allow-env.
      env: {},
    });
    // Its end is seen by the host, as its port's close.
    worker.on("error", () => {});
    worker.unref();
  } catch {
    try {
      message.port.close();
    } catch {
      // Already handed over: it closes with the thread that failed.
    }
  }
}
