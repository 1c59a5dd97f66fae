/**
 * The watchdog: a thread that sets stop flags in shared memory, on time,
 * however busy the main thread is.
 *
 * A guest running synchronously holds its thread: no timer, no
 * `AbortSignal` event and no message runs there until it returns. So the
 * deadline is kept on another thread, which writes `1` into a flag the
 * guest reads at its checks, as Wasmtime's epoch ticker does. The flag is
 * element 0 of an `Int32Array` over shared memory, for example the buffer of
 * a shared one-page `WebAssembly.Memory` the guest imports.
 *
 * One thread serves the whole process. It starts as the runner's API
 * (`mod.ts`) is imported ({@linkcode startWatchdogAtImport}), or else with
 * the first handle (or {@linkcode startWatchdog}, which a guest that can be
 * stopped calls as it loads), and then runs for as long as the process
 * does, so no call ever waits for it to boot, and no load's stop waits for
 * the thread's creation. It is a `node:worker_threads` Worker, unref'd: it
 * keeps no process alive, and a process whose work is done exits while the
 * thread waits. Every handle must still be disarmed, also after its flag
 * fired, or its slot stays held.
 *
 * It also creates early-exit's other threads, the compile thread and the
 * listing thread ({@linkcode spawnOnWatchdog}): creating a thread holds the
 * thread that does it, and that must not be the one whose stops are due.
 *
 * @module
 */

import { MessageChannel, type MessagePort, Worker } from "node:worker_threads";
import type { StopSignal } from "./stop_signal.ts";
import {
  boardBytes,
  CLOCK_AHEAD,
  FIRING,
  HOST_STAMP,
  LAST_FIRED_AT,
  LAST_FIRED_DEADLINE,
  POSTED,
  READY,
  RECEIVED,
  runWatchdog,
  SAMPLES,
  SCANNING,
  SLEEP_AT,
  SLOTS_BYTE,
  type SpawnMessage,
  spawnThread,
  WAKE,
  type WatchdogMessage,
  type WatchdogSettings,
} from "./watchdog_worker.ts";

/** How often the watchdog reads the StopSignals it watches, in milliseconds. */
export const WATCH_POLL_MS = 0.5;

/**
 * How many deadline slots the board has. A slot is bound to a flag and
 * reused by later calls on it; a deadline that finds none free is sent by
 * message instead, and its call's end waits for the thread to receive its
 * disarm (tens of microseconds). A call nested in another guest's holds
 * two (its own deadline, and the first enclosing one on its flag): with
 * 128, two guests calling each other 100 deep took about 340 messages a
 * descent, and their unwinding 4.5 ms instead of 1.6. The thread holds the
 * flag memories of bound slots (a page each), at most this many, until the
 * slot is bound anew.
 */
export const DEADLINE_SLOTS = 512;

/** A flag the watchdog sets; call `disarm` when it is no longer needed. */
export interface WatchdogHandle {
  /**
   * Stops the watchdog from setting the flag (again). Leaves the flag as it
   * is. Calling it twice does nothing. Once it returns, the watchdog never
   * sets the flag for this handle again.
   */
  disarm(): void;
  /**
   * Whether the watchdog set the flag for this handle (a deadline found
   * passed by the watchdog's clock, which may run a fraction of a
   * millisecond ahead of this thread's), also once it is disarmed.
   */
  fired(): boolean;
}

/** The deadline slots, as the main thread sees them. */
interface Board {
  control: Int32Array;
  sleepAt: Float64Array;
  states: Int32Array;
  fired: Int32Array;
  deadlines: Float64Array;
  periods: Float64Array;
  /** Each slot's tag: bumped when the slot is bound to another flag. */
  tags: Int32Array;
  /** Whether a handle holds the slot. */
  held: Uint8Array;
  /** The free list each slot returns to: its flag's. */
  owners: (number[] | undefined)[];
  /** Free deadline slots bound to each flag. */
  pools: WeakMap<Int32Array, number[]>;
  /** Free watch slots bound to each flag and StopSignal buffer. */
  watchPools: WeakMap<Int32Array, WeakMap<SharedArrayBuffer, number[]>>;
  /** Slots never bound yet start here. */
  fresh: number;
}

interface Running {
  worker: Worker;
  /** The end of the thread's own channel that this thread posts on. */
  port: MessagePort;
  control: Int32Array;
  board: Board;
}

let running: Running | undefined;
let nextId = 1;
/** The posted count after the last disarm sent by message. */
let lastDisarm = 0;

/**
 * The thread's program, run from its source text: no file next to this
 * module, no fetch and no permission, whether early-exit was imported from a
 * file or from an http(s) URL.
 */
function workerSource(): string {
  const settings: WatchdogSettings = {
    pollMs: WATCH_POLL_MS,
    slots: DEADLINE_SLOTS,
  };
  return `const threads = require("node:worker_threads");
const spawnThread = ${spawnThread.toString()};
(${runWatchdog.toString()})(threads.workerData.port, ${
    JSON.stringify(settings)
  }, threads.receiveMessageOnPort, (message) => spawnThread(threads, message));`;
}

/** A stop flag's memory: shared, one page, as every rewrite imports it. */
const FLAG_MEMORY: WebAssembly.MemoryDescriptor = {
  initial: 1,
  maximum: 1,
  shared: true,
};

/**
 * Flag memories bound ahead of time, one per slot count asked for: the
 * next guest to load takes one whose binding the thread has already
 * received, so that its load neither wakes the thread nor waits for it.
 */
const spareFlags = new Map<number, BoundFlag & { posted: number }>();

/**
 * The posted count the thread must have received for every message this
 * thread relies on: all but the bindings of spare flags not yet taken.
 */
let needed = 0;

/** Raises {@linkcode needed} to `posted` (counts wrap as `Int32`s). */
function need(posted: number): void {
  if ((posted - needed | 0) > 0) needed = posted;
}

/**
 * Whether a message was posted without a ring since the last ring: the
 * next slot armed rings, so that the thread takes it at that call's start
 * rather than as it wakes for a deadline (whose flag would then wait for
 * it).
 */
let unrung = false;

/**
 * Wakes the thread from its wait, with this thread's clock written beside
 * the ring: the thread reads it as it wakes, and so measures how far its
 * own clock runs ahead of this one's: each runtime reckons its own
 * `timeOrigin`, from two clock reads a busy machine can hold apart.
 */
function ring(board: Board): void {
  unrung = false;
  // Only once it waits for rings: a stamp it reads later than that says
  // little (the time it took to start, not its clock).
  if (Atomics.load(board.control, READY) !== 0) {
    board.sleepAt[HOST_STAMP] = absolute(performance.now());
  }
  Atomics.add(board.control, WAKE, 1);
  Atomics.notify(board.control, WAKE);
}

/**
 * Posts a message and counts it; rings the thread unless `quiet`, when it
 * waits for its next wake-up (any ring, or {@linkcode watchdogReady}).
 */
function post(
  watchdog: Running,
  message: WatchdogMessage,
  quiet = false,
  transfer: MessagePort[] = [],
): number {
  watchdog.port.postMessage(message, transfer);
  const posted = Atomics.add(watchdog.control, POSTED, 1) + 1 | 0;
  if (quiet) {
    unrung = true;
    return posted;
  }
  need(posted);
  ring(watchdog.board);
  return posted;
}

function newBoard(): Board {
  const buffer = new SharedArrayBuffer(boardBytes(DEADLINE_SLOTS));
  const slots = DEADLINE_SLOTS;
  return {
    control: new Int32Array(buffer, 0, SLOTS_BYTE / 4),
    sleepAt: new Float64Array(buffer, 0, SLOTS_BYTE / 8),
    states: new Int32Array(buffer, SLOTS_BYTE, slots),
    fired: new Int32Array(buffer, SLOTS_BYTE + slots * 4, slots),
    deadlines: new Float64Array(buffer, SLOTS_BYTE + slots * 8, slots),
    periods: new Float64Array(buffer, SLOTS_BYTE + slots * 16, slots),
    tags: new Int32Array(slots),
    held: new Uint8Array(slots),
    owners: [],
    pools: new WeakMap(),
    watchPools: new WeakMap(),
    fresh: 0,
  };
}

function start(): Running {
  if (running !== undefined) return running;
  // Messages go over a channel of its own, handed over as it is created:
  // inside a Deno Worker, a message on the thread's parentPort took about
  // 500 ms to arrive, one on a transferred port 1 to 2 ms.
  const channel = new MessageChannel();
  const worker = new Worker(workerSource(), {
    eval: true,
    name: "early-exit watchdog",
    workerData: { port: channel.port2 },
    transferList: [channel.port2],
    // Node's default copies process.env, which asks for --allow-env (a prompt
    // in a terminal); the thread reads none of it.
    env: {},
  });
  // Never terminated, and never keeps the process alive.
  worker.unref();
  channel.port1.unref();
  const board = newBoard();
  running = { worker, port: channel.port1, control: board.control, board };
  post(running, {
    op: "start",
    board: board.control.buffer as SharedArrayBuffer,
  });
  return running;
}

/**
 * Starts the watchdog's thread now, if it is not running yet, so that the
 * first deadline does not wait for it to boot. A guest that can be stopped
 * calls this as it loads, while its module compiles.
 */
export function startWatchdog(): void {
  start();
}

/**
 * Has the watchdog's thread create another thread, from its source text,
 * and hand it `port`: creating a thread holds the thread that does it until
 * the new one's runtime exists (tens of milliseconds on a quiet machine,
 * hundreds on a busy one), and this way that is the watchdog's thread, not
 * this one. Meanwhile the watchdog's thread sets no flag, and counts the
 * message as received only once it is done, so a load waits for it in
 * {@linkcode watchdogReady} (asynchronously, its stops watched), and
 * {@linkcode watchdogCaughtUp} says no until then. When no thread can be
 * created, `port` is closed: its other end's `close` event tells the
 * caller, as it does when the new thread ends.
 *
 * @param source The new thread's program.
 * @param name The new thread's name.
 * @param data Its `workerData`; `port` is added to it as `port`.
 * @param port The end of a channel the new thread gets.
 * @throws When the watchdog's thread cannot start.
 */
export function spawnOnWatchdog(
  source: string,
  name: string,
  data: Record<string, unknown>,
  port: MessagePort,
): void {
  const message: SpawnMessage = { op: "spawn", source, name, data, port };
  lastSpawn = post(start(), message, false, [port]);
}

/** The posted count of the last thread asked for, if any. */
let lastSpawn: number | undefined;

/**
 * Whether the watchdog's thread is creating a thread
 * ({@linkcode spawnOnWatchdog}): it has not yet taken the message in.
 *
 * @returns True from the request until the new thread exists (or failed).
 */
export function threadSpawning(): boolean {
  const control = running?.control;
  if (control === undefined || lastSpawn === undefined) return false;
  return (lastSpawn - Atomics.load(control, RECEIVED) | 0) > 0;
}

/**
 * Starts the watchdog's thread as the runner's API is imported, before any
 * load or call has a stop that could fall due. Creating the thread holds
 * this thread until the new one's runtime exists, however it is made: a
 * fresh process's first `node:worker_threads` constructor also loads
 * Deno's Node.js compatibility modules on this thread (35 to 54 ms of its
 * CPU), and then waits for the new thread (a few milliseconds on a quiet
 * machine, a hundred or more on a busy one). Done in a process's first
 * stoppable load, that hold delayed a stop falling in it by as much;
 * nothing can cut it short. Where no thread can be made, nothing is
 * thrown here: the first load that needs one tries again, and says why it
 * cannot.
 */
export function startWatchdogAtImport(): void {
  try {
    start();
  } catch {
    // Reported by the first load that needs the thread.
  }
}

function checkFlag(flag: Int32Array): void {
  if (!(flag instanceof Int32Array) || !isShared(flag.buffer)) {
    throw new TypeError(
      "a watchdog flag must be an Int32Array over a SharedArrayBuffer (for example a shared WebAssembly.Memory's buffer)",
    );
  }
}

function isShared(buffer: ArrayBufferLike): boolean {
  return typeof SharedArrayBuffer === "function" &&
    buffer instanceof SharedArrayBuffer;
}

function checkTime(value: number, what: string): void {
  if (typeof value !== "number" || Number.isNaN(value)) {
    throw new TypeError(`${what} must be a number; got ${value}`);
  }
}

type Armed =
  | { op: "arm"; flag: Int32Array; at: number }
  | { op: "tick"; flag: Int32Array; at: number; every: number }
  | { op: "watch"; flag: Int32Array; stop: Int32Array };

function register(entry: Armed, into?: WatchdogHandle[]): WatchdogHandle {
  const watchdog = start();
  const id = nextId++;
  let live = true;
  let fired = false;
  const handle: WatchdogHandle = {
    disarm() {
      if (!live) return;
      // Dead once posted: a disarm cut short by a stack overflow before
      // then is run again (a second message for the id changes nothing).
      post(watchdog, { op: "disarm", id });
      live = false;
      lastDisarm = Atomics.load(watchdog.control, POSTED);
    },
    fired() {
      // Asked when the flag is found set: a deadline sent by message is
      // judged by this thread's clock, in the same way the thread judges it.
      if (!fired && entry.op === "arm") {
        fired = absolute(performance.now()) >= entry.at;
      }
      return fired;
    },
  };
  // Held before it is armed (see armSlot).
  into?.push(handle);
  post(watchdog, { ...entry, id });
  return handle;
}

/**
 * A free slot bound to `flag` (and `stop`, for a watch): one of its own,
 * else one never bound, else one taken from another binding and bound anew
 * (each binding is one message). -1 when every slot is held.
 */
function takeSlot(
  watchdog: Running,
  flag: Int32Array,
  stop?: { key: SharedArrayBuffer; word: Int32Array },
  quiet = false,
): number {
  const board = watchdog.board;
  let pool: number[] | undefined;
  if (stop === undefined) {
    pool = board.pools.get(flag);
    if (pool === undefined) board.pools.set(flag, pool = []);
  } else {
    let pools = board.watchPools.get(flag);
    if (pools === undefined) board.watchPools.set(flag, pools = new WeakMap());
    pool = pools.get(stop.key);
    if (pool === undefined) pools.set(stop.key, pool = []);
  }
  const own = pool.pop();
  if (own !== undefined) return own;
  let slot = board.fresh < DEADLINE_SLOTS ? board.fresh++ : -1;
  if (slot < 0) {
    slot = board.held.indexOf(0);
    if (slot < 0) return -1;
    const owner = board.owners[slot]!;
    owner.splice(owner.indexOf(slot), 1);
  }
  const tag = board.tags[slot] + 1;
  board.tags[slot] = tag;
  board.owners[slot] = pool;
  post(watchdog, { op: "bind", slot, tag, flag, stop: stop?.word }, quiet);
  return slot;
}

/** A deadline kept in a slot: arming and disarming it post nothing. */
class SlotHandle implements WatchdogHandle {
  readonly #watchdog: Running;
  readonly #slot: number;
  #live = true;
  #firedBeforeDisarm = false;

  constructor(watchdog: Running, slot: number) {
    this.#watchdog = watchdog;
    this.#slot = slot;
  }

  fired(): boolean {
    if (!this.#live) return this.#firedBeforeDisarm;
    const { fired, tags } = this.#watchdog.board;
    return Atomics.load(fired, this.#slot) === tags[this.#slot];
  }

  disarm(): void {
    if (!this.#live) return;
    const { states, tags, held, owners, fired } = this.#watchdog.board;
    const slot = this.#slot;
    const tag = tags[slot];
    // The thread may be setting the flag right now (FIRING): wait for it
    // to finish, so that no flag is set after this returns.
    while (Atomics.compareExchange(states, slot, tag, 0) === FIRING);
    // Read before the slot is handed on: whoever ends a guard asks after
    // disarming it whether the flag it finds set is the guard's.
    this.#firedBeforeDisarm = Atomics.load(fired, slot) === tag;
    // Handed back before it is marked dead, with no call after: a disarm
    // cut short by a stack overflow is run again, and finds it so.
    owners[slot]!.push(slot);
    this.#live = false;
    held[slot] = 0;
  }
}

/**
 * Arms a slot for `flag`: a deadline at `at` (absolute), or a watch of
 * `stop`, read every {@linkcode WATCH_POLL_MS}, or a tick at `at` and every
 * `every` milliseconds after. Sent by message instead
 * when every slot is held.
 */
function armSlot(
  flag: Int32Array,
  at: number,
  stop?: { key: SharedArrayBuffer; word: Int32Array },
  every = 0,
  into?: WatchdogHandle[],
): WatchdogHandle {
  const watchdog = start();
  const slot = takeSlot(watchdog, flag, stop);
  if (slot < 0) {
    return register(
      stop !== undefined
        ? { op: "watch", flag, stop: stop.word }
        : every > 0
        ? { op: "tick", flag, at, every }
        : { op: "arm", flag, at },
      into,
    );
  }
  // The handle is held (in `into`) before the slot is armed: a stack
  // overflow while arming it leaves a handle whose disarm frees it, never
  // an armed slot that nothing disarms (see `cut_short_ends.ts`).
  const handle = new SlotHandle(watchdog, slot);
  into?.push(handle);
  const { control, sleepAt, states, fired, deadlines, periods, tags, held } =
    watchdog.board;
  held[slot] = 1;
  Atomics.store(fired, slot, 0);
  deadlines[slot] = at;
  periods[slot] = every;
  Atomics.store(states, slot, tags[slot]);
  // The thread sleeps toward sleepAt; only an earlier time wakes it, or a
  // message posted without a ring.
  if (
    unrung || Atomics.load(control, SCANNING) !== 0 ||
    at < sleepAt[SLEEP_AT]
  ) {
    ring(watchdog.board);
  }
  return handle;
}

/** This thread's `performance.now()` as a time every thread agrees on. */
function absolute(atMs: number): number {
  return performance.timeOrigin + atMs;
}

/**
 * Sets `flag[0]` to 1 at a deadline, and again every
 * {@linkcode WATCH_POLL_MS} after it until disarmed: the threads' clocks
 * may differ by a fraction of a millisecond, so a host that finds the
 * deadline not yet passed clears the flag and is asked again.
 *
 * @param flag An `Int32Array` over shared memory.
 * @param atMs The deadline, as a `performance.now()` time of this thread.
 * @param into Where the handle is put before the watchdog can set the
 *   flag for it, when given.
 * @returns The handle to disarm it.
 * @throws {TypeError} When `flag` is not over shared memory.
 */
export function arm(
  flag: Int32Array,
  atMs: number,
  into?: WatchdogHandle[],
): WatchdogHandle {
  checkFlag(flag);
  checkTime(atMs, "the deadline");
  return armSlot(flag, absolute(atMs), undefined, 0, into);
}

/**
 * Sets `flag[0]` to 1 whenever `stop` is found set (it is read every
 * {@linkcode WATCH_POLL_MS}), whichever thread set it: a flag cleared while
 * the signal stays set is set again.
 *
 * @param stop The signal to copy into the flag.
 * @param flag An `Int32Array` over shared memory.
 * @param into Where the handle is put before the watchdog can set the
 *   flag for it, when given.
 * @returns The handle to disarm it.
 * @throws {TypeError} When `flag` is not over shared memory.
 */
export function watch(
  stop: StopSignal,
  flag: Int32Array,
  into?: WatchdogHandle[],
): WatchdogHandle {
  checkFlag(flag);
  const key = stop.buffer;
  const due = absolute(performance.now() + WATCH_POLL_MS);
  return armSlot(flag, due, { key, word: new Int32Array(key, 0, 1) }, 0, into);
}

/**
 * Sets `flag[0]` to 1 every `everyMs` milliseconds, for example so that an
 * async call yields to the event loop that often.
 *
 * @param flag An `Int32Array` over shared memory.
 * @param everyMs The period, in milliseconds.
 * @param into Where the handle is put before the watchdog can set the
 *   flag for it, when given.
 * @returns The handle to disarm it.
 * @throws {TypeError} When `flag` is not over shared memory.
 * @throws {RangeError} When the period is not positive.
 */
export function tick(
  flag: Int32Array,
  everyMs: number,
  into?: WatchdogHandle[],
): WatchdogHandle {
  checkFlag(flag);
  checkTime(everyMs, "the period");
  if (!(everyMs > 0) || everyMs === Infinity) {
    throw new RangeError(
      `the period must be a positive number of milliseconds; got ${everyMs}`,
    );
  }
  const at = absolute(performance.now() + everyMs);
  return armSlot(flag, at, undefined, everyMs, into);
}

/**
 * Binds `count` slots to `flag` now and leaves them free, so that a call's
 * deadline and ticks on it post no message. A guest that can be stopped
 * does this as it loads: a binding sent by message as its first call
 * starts was seen to reach the thread milliseconds late, or only once the
 * call had ended, and until it does no flag of that call is set.
 *
 * @param flag An `Int32Array` over shared memory.
 * @param count How many slots the flag's calls use at once.
 * @throws {TypeError} When `flag` is not over shared memory.
 */
export function bindFlag(flag: Int32Array, count: number): void {
  checkFlag(flag);
  bindSlots(flag, count, false);
}

/** Binds `count` slots to `flag`; returns the posted count after them. */
function bindSlots(flag: Int32Array, count: number, quiet: boolean): number {
  const watchdog = start();
  const taken: number[] = [];
  for (let i = 0; i < count; i++) {
    const slot = takeSlot(watchdog, flag, undefined, quiet);
    if (slot < 0) break;
    // Held until all are taken, so that the next one is another slot.
    watchdog.board.held[slot] = 1;
    taken.push(slot);
  }
  for (const slot of taken) {
    watchdog.board.held[slot] = 0;
    watchdog.board.owners[slot]!.push(slot);
  }
  return Atomics.load(watchdog.control, POSTED);
}

/** A stop flag memory and the word its slots are bound to. */
export interface BoundFlag {
  /** The flag memory: shared, one page, as every rewrite imports it. */
  memory: WebAssembly.Memory;
  /**
   * Its word, as an `Int32Array` at byte 0: the very array to arm, since
   * slots are bound to it, not to its memory.
   */
  flag: Int32Array;
}

/**
 * A fresh stop flag memory with `count` slots bound to its word, as
 * {@linkcode bindFlag} binds them: one bound ahead of time when there is
 * one, and another bound in its place for the next caller. A load that
 * took it then finds the thread caught up in {@linkcode watchdogReady},
 * without waiting for it: each such wait for another thread, on a busy
 * machine, was a chance for the load's thread to wait for a core (a tiny
 * guest's binding took 4 to 6 ms at the p90 of 40 to 50 loads, at load
 * average 4 to 5). The thread is rung for the next one's binding now,
 * though nothing waits for it: it takes it in while the load goes on.
 * Left for its next wake-up, which was the loaded guest's first call, it
 * took the binding in as that call began (0.1 to 0.3 ms of its CPU, against
 * 0.01 for a wake-up alone), beside the guest on two cores.
 *
 * @param count How many slots the flag's calls use at once.
 * @returns The memory and its word.
 */
export function boundFlag(count: number): BoundFlag {
  let taken = spareFlags.get(count);
  if (taken === undefined) {
    const memory = new WebAssembly.Memory(FLAG_MEMORY);
    const flag = flagOf(memory);
    taken = { memory, flag, posted: bindSlots(flag, count, false) };
  } else need(taken.posted);
  const memory = new WebAssembly.Memory(FLAG_MEMORY);
  const flag = flagOf(memory);
  const posted = bindSlots(flag, count, true);
  spareFlags.set(count, { memory, flag, posted });
  ring(start().board);
  return { memory: taken.memory, flag: taken.flag };
}

function flagOf(memory: WebAssembly.Memory): Int32Array {
  return new Int32Array(memory.buffer as SharedArrayBuffer, 0, 1);
}

/**
 * How many messages this thread has posted to the watchdog's thread: a
 * deadline armed in a slot bound before posts none.
 */
export function messagesPosted(): number {
  const control = running?.control;
  return control === undefined ? 0 : Atomics.load(control, POSTED);
}

/**
 * How many messages the watchdog's thread has received (taken in), spare
 * flags' bindings included.
 */
export function messagesReceived(): number {
  const control = running?.control;
  return control === undefined ? 0 : Atomics.load(control, RECEIVED);
}

/**
 * Resolves once the Worker runs (at once when it is not starting) and has
 * received every message posted so far but the bindings of spare flags
 * not yet taken (so those of a guest being loaded, which it may have taken
 * as a spare: the thread is then rung, since no ring went with that
 * binding), so that a deadline armed next is kept on time; after `waitMs`
 * it resolves anyway.
 *
 * @param waitMs The longest wait, in milliseconds.
 */
export async function watchdogReady(waitMs: number): Promise<void> {
  const watchdog = running;
  if (watchdog === undefined) return;
  const control = watchdog.control;
  const until = performance.now() + waitMs;
  // A wait alone does not keep the event loop alive (the thread is
  // unref'd): a timer does, until the messages are received.
  const alive = setTimeout(() => {}, waitMs);
  try {
    const waited = Atomics.waitAsync(control, READY, 0, waitMs);
    if (waited.async) await waited.value;
    // A spare flag's binding waits for the thread's next wake-up.
    if (!allReceived(Atomics.load(control, RECEIVED))) ring(watchdog.board);
    for (;;) {
      const received = Atomics.load(control, RECEIVED);
      if (allReceived(received)) break;
      const left = until - performance.now();
      if (left <= 0) return;
      const next = Atomics.waitAsync(control, RECEIVED, received, left);
      if (next.async) await next.value;
    }
    if (!calibrated) await calibrate(watchdog, until);
  } finally {
    clearTimeout(alive);
  }
}

/**
 * How many times the first load rings the thread only for its clock: its
 * bound is the least of as many wake-ups, and one that waited for a core
 * on a busy machine does not make the next stops late.
 */
const CALIBRATION_RINGS = 4;

/** Whether a load has rung the thread for its clock yet. */
let calibrated = false;

/**
 * Rings the thread {@linkcode CALIBRATION_RINGS} times, each once it has
 * read the stamp of the ring before, so that it wakes to each from its
 * wait: before the first call, it knows how far its clock runs ahead of
 * this thread's. Later rings (a call's deadline, a binding) go on
 * tightening that bound.
 */
async function calibrate(watchdog: Running, until: number): Promise<void> {
  calibrated = true;
  const control = watchdog.control;
  for (let round = 0; round < CALIBRATION_RINGS; round++) {
    const seen = Atomics.load(control, SAMPLES);
    ring(watchdog.board);
    const left = until - performance.now();
    if (left <= 0) return;
    const next = Atomics.waitAsync(control, SAMPLES, seen, left);
    if (next.async) await next.value;
  }
}

/**
 * Waits until the watchdog's thread has received every disarm sent by
 * message so far (StopSignals, ticks): from then on it sets no flag for
 * them. At once when none is pending, which is the rule: the thread
 * receives a message within microseconds. A flag cleared after this stays
 * clear unless something armed now sets it. Gives up after `waitMs`.
 *
 * @param waitMs The longest wait, in milliseconds.
 */
export function settleWatchdog(waitMs = 100): void {
  const control = running?.control;
  if (control === undefined) return;
  let until: number | undefined;
  for (;;) {
    const received = Atomics.load(control, RECEIVED);
    if (received - lastDisarm >= 0) return;
    until ??= performance.now() + waitMs;
    const left = until - performance.now();
    if (left <= 0) return;
    Atomics.wait(control, RECEIVED, received, left);
  }
}

/** Whether the watchdog's thread has been started. */
export function watchdogStarted(): boolean {
  return running !== undefined;
}

/**
 * When the watchdog last set a flag for a passed deadline (the first time
 * it did for that deadline: it sets it again every poll until disarmed),
 * and that deadline, both on the clock of `performance.timeOrigin +
 * performance.now()`; `undefined` before it first did. For the
 * stop-latency bench, which splits a stop's lateness into the thread's
 * wake-up and what came after it.
 */
export function lastDeadlineFired():
  | { at: number; deadline: number }
  | undefined {
  if (running === undefined) return undefined;
  const at = running.board.sleepAt[LAST_FIRED_AT];
  if (at === 0) return undefined;
  return { at, deadline: running.board.sleepAt[LAST_FIRED_DEADLINE] };
}

/**
 * Whether the watchdog's thread runs and has received every message posted
 * so far (but the bindings of spare flags not yet taken): a deadline armed
 * now is then kept on time by the flag alone.
 */
export function watchdogCaughtUp(): boolean {
  const control = running?.control;
  if (control === undefined || Atomics.load(control, READY) === 0) {
    return false;
  }
  return allReceived(Atomics.load(control, RECEIVED));
}

/**
 * Whether the thread, having received `received` messages, has every one
 * this thread relies on (it may count a message before this thread does):
 * all posted so far but the bindings of spare flags not yet taken.
 */
function allReceived(received: number): boolean {
  return (needed - received | 0) <= 0;
}

/**
 * The watchdog thread's bound of how far its clock runs ahead of this
 * thread's, in milliseconds, which it takes off its own clock before it
 * compares a deadline; `undefined` before the thread has measured it (it
 * does as it wakes to a ring: a load rings it for that before its first
 * call).
 */
export function watchdogClockAhead(): number | undefined {
  if (running === undefined) return undefined;
  if (Atomics.load(running.control, SAMPLES) === 0) return undefined;
  const ahead = running.board.sleepAt[CLOCK_AHEAD];
  return ahead === 0 ? undefined : ahead;
}
