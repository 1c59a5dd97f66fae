/**
 * The guest the command line runs, read once (from a path, a URL or stdin)
 * within the run's deadline, and its imports and exports read.
 *
 * @module
 */

import { roomForHit } from "../cache/rewrite_splice.ts";
import { isInvalidModule } from "../errors.ts";
import { compileBytes, loadModule, readModuleStream } from "../load/load.ts";
import { type ModuleSignatures, readSignatures } from "../module/signatures.ts";
import type { RunDeadline, RunPhase } from "./cli_deadline.ts";
import type { CommandLineOptions } from "./cli_options.ts";

/** The guest as read. */
export interface ReadGuest {
  /** Its bytes, with room after them (see `roomForHit`). */
  bytes: Uint8Array;
  /** Its name in messages. */
  label: string;
  /** Its imports and exports. */
  signatures: ModuleSignatures;
  /** Whether it was read from stdin (`main.ts -`). */
  fromStdin: boolean;
}

/**
 * Waits for work that comes before the call, within the run's deadline
 * when it has one.
 *
 * @param deadline The run's deadline, if it has one.
 * @param phase What the run is doing, for the deadline's message.
 * @param work The work.
 * @returns What the work gives.
 */
export function beforeCall<T>(
  deadline: RunDeadline | undefined,
  phase: RunPhase,
  work: Promise<T>,
): Promise<T> {
  return deadline === undefined ? work : deadline.race(work, phase);
}

/**
 * Reads the guest and its imports and exports. An invalid module gets the
 * engine's verdict, as any other guest does.
 *
 * @param options The command line's options.
 * @param deadline The run's deadline, if it has one.
 * @returns The guest as read.
 */
export async function readGuest(
  options: CommandLineOptions,
  deadline: RunDeadline | undefined,
): Promise<ReadGuest> {
  // Read with room after the bytes, for a cache's hit or a rewrite to be
  // built in the same buffer (untouched, it costs nothing). Under
  // --timeout the read is part of the run: a guest that never arrives (a
  // URL whose server does not answer, a FIFO no one writes to), or a large
  // file, is given up at the deadline.
  const fromStdin = options.guest === "-";
  const reading: Promise<{ bytes?: Uint8Array; label: string }> = fromStdin
    ? readModuleStream(Deno.stdin.readable, "stdin").then((bytes) => ({
      bytes,
      label: "stdin",
    }))
    : loadModule(options.guest, {
      compile: false,
      room: roomForHit,
      // Read in pieces of 256 KiB, with turns between them, as a signal
      // asks: read whole, 270 MB held the thread 290 to 420 ms (load
      // average 9), though it took a third of the time.
      signal: deadline?.signal,
    });
  const { bytes, label } = await beforeCall(
    deadline,
    "reading the guest",
    reading,
  );
  await deadline?.turn("reading the guest");
  try {
    return {
      bytes: bytes!,
      label,
      signatures: readSignatures(bytes!),
      fromStdin,
    };
  } catch (error) {
    // The engine's verdict on an invalid module, as for any other guest.
    if (isInvalidModule(error)) {
      await beforeCall(
        deadline,
        "loading the guest",
        compileBytes(bytes!, label),
      );
    }
    throw error;
  }
}
