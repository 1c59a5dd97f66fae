/**
 * A WASI run's stdout and stderr: captured or passed through to the host's,
 * and, when a stop can end the run, written so that a full pipe holds no
 * thread the stop must reach.
 *
 * @module
 */

import { OutputSink, type StoppableWrites } from "./wasi_stdio.ts";
import type { WasiOutputMode } from "./wasi_stdio.ts";
import {
  type HostStream,
  pipeWrites,
  writesCanBlock,
} from "./wasi_pipe_writes.ts";
import type { StopWatch } from "./wasi_stops.ts";
import { threadWrites } from "./wasi_thread_writes.ts";

/** How a run's output is set up. */
export interface OutputSettings {
  /** What becomes of the guest's stdout. */
  stdout: WasiOutputMode | undefined;
  /** What becomes of the guest's stderr. */
  stderr: WasiOutputMode | undefined;
  /** The most bytes of each that are captured. */
  limit: number;
  /** Where an inherited stderr goes, in place of this process's. */
  hostStderr: HostStream | undefined;
  /** Whether the guest's calls hold the thread (a plain, not async, run). */
  blocking: boolean;
  /** Whether a deadline or a StopSignal can end the run. */
  stoppable: boolean;
  /** Whether an `AbortSignal` can end it. */
  signalled: boolean;
  /** The run's stops. */
  watch: StopWatch;
}

/** A run's two output streams, and how their last writes are waited for. */
export interface RunOutputs {
  /** The guest's stdout. */
  stdout: OutputSink;
  /** The guest's stderr. */
  stderr: OutputSink;
  /** Waits for what the guest wrote last to reach a pipe's reader, or a stop. */
  drain(): Promise<void>;
  /** Lets what the writing thread has yet to write go on after the run. */
  settle(): void;
}

/**
 * Makes a run's stdout and stderr. A run that a stop can end writes to a
 * host stream that is a pipe or a socket where a full pipe holds no thread
 * a stop must reach: an async run asynchronously, one that holds its
 * thread through the writing thread.
 *
 * @param settings How the output is set up.
 * @returns The two streams.
 */
export function runOutputs(settings: OutputSettings): RunOutputs {
  const { blocking, stoppable, watch, hostStderr } = settings;
  const queued = !blocking && (stoppable || settings.signalled)
    ? { queue: pipeWrites, watch }
    : undefined;
  const mayBlock = (mode: WasiOutputMode | undefined, fd: 1 | 2) =>
    (mode ?? "inherit") === "inherit" && writesCanBlock(fd);
  const threaded = blocking && stoppable &&
    (mayBlock(settings.stdout, 1) || mayBlock(settings.stderr, 2));
  // Its writing thread boots beside the load and the guest's work: started
  // by the first write, a command whose output comes at its end waited
  // for all of the boot (see `wasi_thread_writes.ts`). The load waits for
  // the watchdog's thread to have made it before any guest code runs.
  if (threaded) threadWrites.start();
  // The writing thread writes to this process's own descriptors: a stderr
  // of the caller's keeps its blocking write (and its bytes may pass
  // stdout's still in the ring). The command line, which passes one, never
  // holds the thread under a timeout when stdout or stderr is a pipe.
  const queueFor = (
    mode: WasiOutputMode | undefined,
    fd: 1 | 2,
  ): StoppableWrites | undefined =>
    !mayBlock(mode, fd)
      ? undefined
      : queued ?? (threaded && (fd === 1 || hostStderr === undefined)
        ? { thread: threadWrites, fd, watch }
        : undefined);
  return {
    stdout: new OutputSink(
      settings.stdout ?? "inherit",
      settings.limit,
      Deno.stdout,
      queueFor(settings.stdout, 1),
    ),
    stderr: new OutputSink(
      settings.stderr ?? "inherit",
      settings.limit,
      hostStderr ?? Deno.stderr,
      queueFor(settings.stderr, 2),
    ),
    async drain() {
      if (queued !== undefined) await pipeWrites.drain(watch);
      if (threaded) threadWrites.drain(watch);
    },
    settle() {
      if (threaded) threadWrites.settle();
    },
  };
}
