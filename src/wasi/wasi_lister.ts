/**
 * The listing thread: a thread of its own, created by the watchdog's
 * thread, that lists large directories and does disk work for WASI guests
 * while they wait (its programs are in `wasi_listed.ts`); how work is
 * posted to it; and the same programs run on this thread where the
 * watchdog's thread does not run.
 *
 * @module
 */

import fs from "node:fs";
import { WASI } from "node:wasi";
import { MessageChannel, type MessagePort } from "node:worker_threads";
import { spawnOnWatchdog, watchdogStarted } from "../watchdog/watchdog.ts";
import {
  type DiskFs,
  type DiskWork,
  diskWorkListed,
  readListed,
} from "./wasi_listed.ts";
import { quietly } from "./wasi_quiet.ts";

/**
 * The listing thread's channel, once it was asked for, and the work posted
 * on it that waits for an answer, each with what fails it when the thread
 * ends (or could not start).
 */
let lister:
  | { port: MessagePort; waiting: Map<Int32Array, () => void> }
  | undefined;

/** The listing thread's program: it lists directories, and does disk work. */
function listerMain(
  port: { on(event: "message", fn: (message: never) => void): void },
  Wasi: typeof WASI,
  read: typeof readListed,
  fs: DiskFs,
  work: typeof diskWorkListed,
): void {
  const held = new Map<number, { fd: number; writable: boolean }>();
  port.on("message", (
    message: {
      path: string;
      control: Int32Array;
      data: SharedArrayBuffer;
    } | DiskWork,
  ) => {
    if ("work" in message) return work(fs, held, message);
    const { path, control, data } = message;
    const listed = read(Wasi, path);
    // Cancelled: the state is still set, for a wait that may be pending.
    if (Atomics.load(control, 2) !== 0 || typeof listed === "number") {
      control[1] = typeof listed === "number" ? listed : 29;
      Atomics.store(control, 0, 2);
    } else if (listed.length > data.maxByteLength) {
      control[1] = 29;
      Atomics.store(control, 0, 2);
    } else {
      data.grow(listed.length);
      new Uint8Array(data).set(listed);
      control[1] = listed.length;
      Atomics.store(control, 0, 1);
    }
    Atomics.notify(control, 0);
  });
}

/**
 * Whether the listing thread runs.
 *
 * @returns Whether it was started.
 */
export function listerStarted(): boolean {
  return lister !== undefined;
}

/**
 * Starts the listing thread, if it is not running yet. A run with preopens
 * that a stop can end calls this before its guest starts, so that its first
 * large listing does not wait for the thread to boot; any other run, with
 * its first work for the thread. The watchdog's thread creates it (see
 * `spawnOnWatchdog`): creating a thread here held this one 0.23 to 0.66 s
 * on a busy machine, and no stop could cut that short. Work posted before
 * the thread runs waits in its channel.
 */
export function startLister(): void {
  if (lister !== undefined) return;
  const source = `process.emitWarning = () => {};
(${listerMain.toString()})(require("node:worker_threads").workerData.port, require("node:wasi").WASI, ${readListed.toString()}, require("node:fs"), ${diskWorkListed.toString()});`;
  const channel = new MessageChannel();
  spawnOnWatchdog(source, "early-exit listing", {}, channel.port2);
  const started = {
    port: channel.port1,
    waiting: new Map<Int32Array, () => void>(),
  };
  // The thread ended, or could not start: the work it had fails, and the
  // next run asks for it again. (The thread answers in shared memory, not
  // here; a port that is not listened to never sees its other end close.)
  started.port.on("message", () => {});
  started.port.on("close", () => {
    if (lister === started) lister = undefined;
    for (const fail of started.waiting.values()) fail();
    started.waiting.clear();
  });
  // Never keeps the process alive: a wait for the thread keeps it, with a
  // timer, while it lasts.
  started.port.unref();
  lister = started;
}

/**
 * Posts work to the listing thread, starting it if it is not running.
 *
 * @param message The work.
 * @param control Its state word, 0 until the thread answers.
 * @param fail Answers it with an error when the thread ends first.
 */
export function postToLister(
  message: Record<string, unknown>,
  control?: Int32Array,
  fail?: () => void,
): void {
  const id = message.id as number | undefined;
  if (
    id !== undefined && heldHere.has(id) ||
    lister === undefined && !watchdogStarted()
  ) {
    return doneHere(message);
  }
  startLister();
  const { port, waiting } = lister!;
  // What was answered is let go of here, as more is posted.
  for (const posted of waiting.keys()) {
    if (Atomics.load(posted, 0) !== 0) waiting.delete(posted);
  }
  if (control !== undefined && fail !== undefined) waiting.set(control, fail);
  port.postMessage(message);
}

/**
 * The listing thread's program, run on this thread: for a process in which
 * the watchdog's thread does not run, so that no stop can be due (the
 * command line's run of a WASI command under fuel alone). Nothing but the
 * guest, which holds this thread anyway, waits for the work there, and
 * creating the thread (and the watchdog's thread, which creates it) cost
 * more than the work: a one-shot flite run writing over its output file
 * took 150 to 250 ms more CPU.
 */
let listerHere: ((message: never) => void) | undefined;

/** The ids of the files held on this thread, whose later work stays here. */
const heldHere = new Set<number>();

/** Does a listing thread's work here, at once. */
function doneHere(message: Record<string, unknown>): void {
  if (listerHere === undefined) {
    listerMain(
      { on: (_event, handle) => void (listerHere = handle) },
      WASI,
      readListed,
      fs,
      diskWorkListed,
    );
  }
  const id = message.id as number | undefined;
  if (id !== undefined) {
    if (message.work === "hold") heldHere.add(id);
    else if (message.work === "release") heldHere.delete(id);
  }
  quietly(() => listerHere!(message as never));
}
