/**
 * The `wasi_snapshot_preview1` imports a WASI guest gets: `node:wasi`'s,
 * with the calls that could block, end the process or leave state behind
 * replaced. Sleeps and reads from a stream are promises (the guest is
 * suspended through JSPI) that a stop rejects; stdio is early-exit's; files
 * are tracked. `proc_exit` is left out, for the runner's interrupt import.
 *
 * @module
 */

import {
  CLOCK,
  ERRNO,
  EVENT_SIZE,
  EVENTTYPE,
  fits,
  ioVectors,
  readSubscriptions,
  type Subscription,
  writeEvent,
} from "./wasi_abi.ts";
import type { GuestFiles, WasiFunction } from "./wasi_files.ts";
import type { InputSource, OutputSink } from "./wasi_stdio.ts";
import type { StopWatch } from "./wasi_stops.ts";
import { startTimer } from "../watchdog/long_timer.ts";

/** An import: it may return a promise, which suspends the guest. */
// deno-lint-ignore no-explicit-any
export type WasiImport = (...args: any[]) => number | Promise<number>;

/** What the imports work with. */
export interface WasiImportParts {
  /** `node:wasi`'s functions. */
  wasi: Record<string, WasiFunction>;
  /** The guest's memory, once instantiated. */
  memory: () => WebAssembly.Memory;
  /** The guest's files. */
  files: GuestFiles;
  /** stdin. */
  stdin: InputSource;
  /** stdout and stderr. */
  output: [OutputSink, OutputSink];
  /** Ends waits when the run stops. */
  watch: StopWatch;
  /**
   * Whether the guest runs as a plain call, which cannot wait for a
   * promise: a sleep then blocks the thread, until the run's deadline or
   * `StopSignal` ends it.
   */
  blocking?: boolean;
}

/**
 * Builds the imports.
 *
 * @param parts What the imports work with.
 * @returns The `wasi_snapshot_preview1` functions.
 */
export function wasiImports(
  parts: WasiImportParts,
): Record<string, WasiImport> {
  const { wasi, memory, stdin, output, watch } = parts;
  const files = parts.files.functions();
  const stdioClosed = [false, false, false];
  const view = () => new DataView(memory().buffer);
  // proc_exit is not among them: runWasi makes it the runner's interrupt
  // import, which stops a guest that catches what unwinds it.
  const { proc_exit: _, ...others } = wasi;
  return {
    ...others,
    ...files,
    fd_write: (fd: number, iovs: number, count: number, written: number) => {
      if (fd !== 1 && fd !== 2) return files.fd_write(fd, iovs, count, written);
      if (stdioClosed[fd]) return ERRNO.BADF;
      const vectors = ioVectors(memory(), iovs, count);
      if (typeof vectors === "number") return vectors;
      if (!fits(memory().buffer.byteLength, written, 4)) return ERRNO.FAULT;
      const finish = (n: number | { errno: number }) => {
        if (typeof n !== "number") return n.errno;
        view().setUint32(written >>> 0, n, true);
        return ERRNO.SUCCESS;
      };
      // A promise when the write waits for one in flight to a pipe.
      const n = output[fd - 1].write(vectors);
      return n instanceof Promise ? n.then(finish) : finish(n);
    },
    fd_read: (fd: number, iovs: number, count: number, read: number) => {
      if (fd !== 0) return files.fd_read(fd, iovs, count, read);
      if (stdioClosed[0]) return ERRNO.BADF;
      const checked = ioVectors(memory(), iovs, count);
      if (typeof checked === "number") return checked;
      if (!fits(memory().buffer.byteLength, read, 4)) return ERRNO.FAULT;
      const finish = (n: number) => {
        view().setUint32(read >>> 0, n, true);
        return ERRNO.SUCCESS;
      };
      // Read again once the stream gives bytes: memory may have grown, and
      // memory only grows, so what fitted still fits.
      const n = stdin.read(
        () => ioVectors(memory(), iovs, count) as Uint8Array[],
        watch,
      );
      return typeof n === "number" ? finish(n) : n.then(finish);
    },
    // Closing the host's stdio would close this process's. A closed stdin
    // is read no more; its stream is let go of when the run ends, as any
    // stream the guest did not read to its end.
    fd_close: (fd: number) => {
      if (fd > 2) return files.fd_close(fd);
      if (stdioClosed[fd]) return ERRNO.BADF;
      stdioClosed[fd] = true;
      return ERRNO.SUCCESS;
    },
    fd_renumber: (from: number, to: number) =>
      from <= 2 || to <= 2 ? ERRNO.NOTSUP : files.fd_renumber(from, to),
    poll_oneoff: (into: number, out: number, count: number, events: number) =>
      pollOneoff(parts, into, out, count, events, stdioClosed[0]),
    // In slices, looking at the run's stops between them: 4 GiB of random
    // bytes take seconds, inside one host call no check interrupts.
    random_get: (buffer: number, length: number) => {
      buffer >>>= 0;
      length >>>= 0;
      if (!fits(memory().buffer.byteLength, buffer, length)) {
        return ERRNO.FAULT;
      }
      for (let at = 0; at < length; at += RANDOM_SLICE) {
        const stopped = watch.stopped();
        if (stopped !== undefined) throw stopped;
        const errno = wasi.random_get(
          buffer + at,
          Math.min(RANDOM_SLICE, length - at),
        );
        if (errno !== ERRNO.SUCCESS) return errno;
      }
      return ERRNO.SUCCESS;
    },
  };
}

/** The random bytes `random_get` makes between two looks at the stops. */
export const RANDOM_SLICE = 1 << 20;

/**
 * `poll_oneoff`: descriptors are ready at once (a read then waits in
 * `fd_read`), but for a read of a stdin stream, which is ready when the
 * stream gives bytes; clocks and the stream are waited for, in a promise a
 * stop ends.
 */
function pollOneoff(
  parts: WasiImportParts,
  into: number,
  out: number,
  count: number,
  events: number,
  stdinClosed: boolean,
): number | Promise<number> {
  const { wasi, memory, stdin, watch, blocking } = parts;
  if (count === 0) return ERRNO.INVAL;
  const subscriptions = readSubscriptions(
    new DataView(memory().buffer),
    into,
    count,
  );
  if (typeof subscriptions === "number") return subscriptions;
  const size = memory().buffer.byteLength;
  if (!fits(size, out, count * EVENT_SIZE) || !fits(size, events, 4)) {
    return ERRNO.FAULT;
  }
  out >>>= 0;
  events >>>= 0;
  // A read of a stdin stream with nothing pending is ready once the stream
  // gives a chunk (or ends); every other descriptor at once. A plain call
  // cannot wait for the stream: its stdin is ready at once too, as is one
  // the guest closed (whose stream is the caller's to read on).
  const waitsForStdin = (s: Subscription) =>
    !blocking && !stdinClosed && s.type === EVENTTYPE.FD_READ && s.fd === 0 &&
    stdin.waiting;
  const ready = subscriptions.filter((s) =>
    s.type !== EVENTTYPE.CLOCK && !waitsForStdin(s)
  );
  if (ready.length > 0) {
    const view = new DataView(memory().buffer);
    ready.forEach((subscription, index) => {
      const stdinRead = "fd" in subscription && subscription.fd === 0;
      const nbytes = stdinRead ? BigInt(Math.max(1, stdin.ready)) : 1n;
      writeEvent(view, out + index * EVENT_SIZE, subscription, nbytes);
    });
    view.setUint32(events, ready.length, true);
    return ERRNO.SUCCESS;
  }
  let first: Subscription | undefined;
  let wait = Infinity;
  for (const subscription of subscriptions) {
    if (subscription.type !== EVENTTYPE.CLOCK) continue;
    let ns = subscription.timeout;
    if (subscription.absolute) {
      // The clock's own now, read through node:wasi into the event buffer.
      const errno = wasi.clock_time_get(subscription.clock, 1n, out);
      if (errno !== ERRNO.SUCCESS) return errno;
      const now = new DataView(memory().buffer).getBigUint64(out, true);
      ns = ns > now ? ns - now : 0n;
    } else if (
      subscription.clock !== CLOCK.REALTIME &&
      subscription.clock !== CLOCK.MONOTONIC
    ) {
      return ERRNO.NOTSUP;
    }
    const ms = Number(ns) / 1e6;
    if (ms < wait) {
      wait = ms;
      first = subscription;
    }
  }
  const fire = () => {
    const view = new DataView(memory().buffer);
    writeEvent(view, out, first!);
    view.setUint32(events, 1, true);
    return ERRNO.SUCCESS;
  };
  if (wait <= 0) return fire();
  const reads = subscriptions.filter(waitsForStdin);
  if (reads.length > 0) return firstOf(parts, reads, wait, fire, out, events);
  if (!blocking) return watch.sleep(wait).then(fire);
  watch.sleepBlocking(wait);
  return fire();
}

/**
 * Waits for the stdin stream's next chunk or the first clock, whichever
 * comes first, unless the run stops first (which cancels the stream, as a
 * stopped read does). A chunk that comes after the clock is kept for the
 * next read.
 */
function firstOf(
  { memory, stdin, watch }: WasiImportParts,
  reads: Subscription[],
  wait: number,
  fire: () => number,
  out: number,
  events: number,
): Promise<number> {
  let cancel: (() => void) | undefined;
  const clock = new Promise<"clock">((resolve) => {
    if (wait !== Infinity) cancel = startTimer(wait, () => resolve("clock"));
  });
  const input = stdin.fetch().then(() => "stdin" as const);
  return watch.race(Promise.race([clock, input]), () => {
    cancel?.();
    stdin.close();
  }).then((first) => {
    cancel?.();
    if (first === "clock") return fire();
    const view = new DataView(memory().buffer);
    reads.forEach((subscription, index) => {
      const nbytes = BigInt(Math.max(1, stdin.ready));
      writeEvent(view, out + index * EVENT_SIZE, subscription, nbytes);
    });
    view.setUint32(events, reads.length, true);
    return ERRNO.SUCCESS;
  });
}
