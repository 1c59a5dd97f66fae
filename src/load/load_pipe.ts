/**
 * Reads a named pipe (a FIFO) for a load that can be stopped, on a thread
 * of its own. Opening a FIFO blocks until a writer opens it, and Deno's
 * `open` cannot be cancelled: a load stopped while it waited left the open
 * pending, which kept the process from exiting until someone wrote to the
 * pipe. The thread keeps the process alive while the load waits for it,
 * as the open did, and is terminated when the read ends or the load is
 * stopped: its pending open then keeps nothing alive.
 *
 * @module
 */

import { Worker } from "node:worker_threads";

/** What the thread sends back: the bytes, or why there are none. */
type PipeAnswer =
  | { bytes: Uint8Array }
  | { head: Uint8Array }
  | { tooLarge: true }
  | { error: string };

/** The thread's program, run from its source text (no file, no fetch). */
function readOnThread(threads: {
  parentPort: { postMessage(message: unknown, transfer?: unknown[]): void };
  workerData: { path: string; url: boolean; max: number };
}): void {
  const { path, url, max } = threads.workerData;
  const send = (message: unknown, transfer?: unknown[]) =>
    threads.parentPort.postMessage(message, transfer);
  (async () => {
    const file = await Deno.open(url ? new URL(path) : path);
    const chunks: Uint8Array[] = [];
    let total = 0;
    // The first bytes, which rule out a module that is not wasm (or is a
    // component) at once, rather than after an endless writer's gigabyte.
    const head = new Uint8Array(8);
    for await (const chunk of file.readable) {
      if (total < head.length) {
        head.set(chunk.subarray(0, head.length - total), total);
      }
      total += chunk.length;
      const seen = Math.min(total, head.length);
      const magic = [0x00, 0x61, 0x73, 0x6d].every((b, i) => head[i] === b);
      const component = head[4] === 0x0d && head[6] === 0x01;
      if ((seen >= 4 && !magic) || (seen === 8 && component)) {
        return send({ head: head.slice(0, seen) });
      }
      if (total > max) return send({ tooLarge: true });
      chunks.push(chunk);
    }
    const bytes = new Uint8Array(total);
    let at = 0;
    for (const chunk of chunks) {
      bytes.set(chunk, at);
      at += chunk.length;
    }
    send({ bytes }, [bytes.buffer]);
  })().catch((error) => send({ error: String(error?.message ?? error) }));
}

/**
 * Reads a named pipe to its end, up to `max` bytes, on a thread of its own
 * that `signal` ends.
 *
 * @param target The pipe's path or `file:` URL.
 * @param max The most bytes to read.
 * @param signal Ends the read: the promise then rejects with its reason.
 * @returns The bytes, `"too_large"` past `max`, the first bytes alone
 *   (`head`) when they rule out a module, or the read's error message.
 */
export function readPipe(
  target: URL | string,
  max: number,
  signal: AbortSignal,
): Promise<
  Uint8Array | "too_large" | { error: string } | { head: Uint8Array }
> {
  if (signal.aborted) return Promise.reject(signal.reason);
  const worker = new Worker(
    `(${readOnThread.toString()})(require("node:worker_threads"))`,
    {
      eval: true,
      name: "early-exit pipe reader",
      // Not the default copy of process.env, which asks for --allow-env.
      env: {},
      workerData: {
        path: String(target),
        url: target instanceof URL,
        max,
      },
    },
  );
  return new Promise((resolve, reject) => {
    const end = () => {
      signal.removeEventListener("abort", onAbort);
      worker.terminate();
    };
    const onAbort = () => {
      end();
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort);
    worker.on("message", (answer: PipeAnswer) => {
      end();
      if ("bytes" in answer) resolve(answer.bytes);
      else if ("head" in answer) resolve({ head: answer.head });
      else if ("tooLarge" in answer) resolve("too_large");
      else resolve(answer);
    });
    worker.on("error", (error: Error) => {
      end();
      resolve({ error: error.message });
    });
  });
}
