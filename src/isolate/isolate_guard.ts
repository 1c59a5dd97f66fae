/**
 * The isolated child's guard: a Worker that reads the call from the child's
 * stdin (and the guest's file, when the call names one), hands it to the
 * child's main thread, then keeps reading until the pipe ends and kills the
 * child (SIGKILL, its own pid) when it does.
 *
 * The host keeps the child's stdin open for the whole call and closes it
 * when the call ends; when the host dies (SIGKILL, out of memory, an exit
 * from other code, Ctrl-C), the kernel closes it. So a child never outlives
 * its host's interest in it, even while its main thread spins in a guest
 * that no event loop can interrupt.
 *
 * The guard also keeps the call's deadline, when it has one: it kills the
 * child a few milliseconds after it, so the guest stops in time even when
 * the host's thread is too busy to send the kill (see `invokeIsolated`).
 *
 * The guard is a Web Worker made from a blob URL, which needs no
 * permission, and killing its own pid needs none either. It is the only
 * reader of the request, so the main thread runs no guest before the guard
 * is up, and an imports module that reads or closes `Deno.stdin` cannot
 * take the request's bytes or blind the guard (the Worker holds stdin of
 * its own). Any end of the pipe, a read error included, kills: a request
 * cut short means the host is gone.
 *
 * This module imports nothing, so that the child can start the guard
 * before it loads the rest of the library.
 *
 * @module
 */

/** The call, as the host wrote it: its JSON header line and the module's bytes. */
export interface GuardedRequest {
  /** The JSON header line, without its newline. */
  header: string;
  /**
   * The guest module's bytes: the header's `moduleBytes` of them, from
   * stdin or from the file at its `modulePath`.
   */
  module: Uint8Array;
  /** Why the file at `modulePath` could not be read, when it could not. */
  failure?: string;
}

/**
 * The guard's body. Its source text becomes the Worker's module, so it
 * refers to nothing outside itself.
 */
async function guard(): Promise<void> {
  try {
    const chunk = new Uint8Array(64 * 1024);
    let head = new Uint8Array(0);
    let newline = -1;
    while (newline < 0) {
      const read = await Deno.stdin.read(chunk);
      if (read === null) return Deno.kill(Deno.pid, "SIGKILL");
      const grown = new Uint8Array(head.length + read);
      grown.set(head);
      grown.set(chunk.subarray(0, read), head.length);
      head = grown;
      newline = head.indexOf(0x0a);
    }
    const header = new TextDecoder().decode(head.subarray(0, newline));
    const { moduleBytes: length, deadlineAfterMs, modulePath } = JSON.parse(
      header,
    );
    if (typeof deadlineAfterMs === "number") {
      killAt(performance.now() + deadlineAfterMs);
    }
    if (!Number.isSafeInteger(length) || (length as number) < 0) {
      throw new TypeError("the request states no module length");
    }
    const module = new Uint8Array(length as number);
    if (typeof modulePath === "string") {
      const failure = await readFile(modulePath, module);
      (globalThis as unknown as Worker).postMessage(
        { header, module, failure },
        [module.buffer],
      );
    } else {
      const early = head.subarray(newline + 1, newline + 1 + module.length);
      module.set(early);
      for (let filled = early.length; filled < module.length;) {
        const read = await Deno.stdin.read(module.subarray(filled));
        if (read === null) return Deno.kill(Deno.pid, "SIGKILL");
        filled += read;
      }
      (globalThis as unknown as Worker).postMessage({ header, module }, [
        module.buffer,
      ]);
    }
    // The host sends nothing more: this read ends when it closes the pipe
    // or dies.
    while (await Deno.stdin.read(chunk) !== null) {
      // Ignored.
    }
  } catch {
    // A pipe that fails has ended too.
  }
  Deno.kill(Deno.pid, "SIGKILL");
}

/**
 * Fills `module` from the file at `path`, which must hold exactly as many
 * bytes (the host looked at the file as it was; one that has changed since
 * is refused). Part of the guard's source: it refers to nothing outside
 * itself.
 *
 * @returns Why the file could not be read, or `undefined` when it was.
 */
async function readFile(
  path: string,
  module: Uint8Array,
): Promise<string | undefined> {
  try {
    // Not `using`: this function's source text is all the Worker gets.
    const file = await Deno.open(path);
    try {
      let filled = 0;
      while (filled < module.length) {
        const read = await file.read(module.subarray(filled));
        if (read === null) break;
        filled += read;
      }
      const more = await file.read(new Uint8Array(1));
      if (filled === module.length && more === null) return undefined;
      return `it changed while the call loaded it (${
        more === null ? filled : `more than ${filled}`
      } bytes, ${module.length} when the call began)`;
    } finally {
      file.close();
    }
  } catch (error) {
    return (error as Error).message;
  }
}

/**
 * Kills this process at `deadline` (a time of this thread's
 * `performance.now()`). A timer
 * fires up to a millisecond or more late, so it is set 2 ms early and the
 * rest is waited for in `Atomics.wait`, which wakes on time; this thread has
 * nothing else to do meanwhile. Part of the guard's source: it refers to
 * nothing outside itself.
 */
function killAt(deadline: number): void {
  const left = () => deadline - performance.now();
  const due = () => {
    if (left() > 2) return void setTimeout(due, left() - 2);
    const sleeper = new Int32Array(new SharedArrayBuffer(4));
    for (let rest = left(); rest > 0; rest = left()) {
      Atomics.wait(sleeper, 0, 0, rest);
    }
    Deno.kill(Deno.pid, "SIGKILL");
  };
  due();
}

/**
 * Starts the guard. It blocks this thread while the Worker's runtime is
 * made (some milliseconds), so the child calls it first, before loading
 * anything else, and loads the rest while the guard reads the request.
 *
 * @returns The request, once the guard has read all of it.
 */
export function startGuard(): Promise<GuardedRequest> {
  const url = URL.createObjectURL(
    new Blob([`${killAt}\n${readFile}\n(${guard})();`], {
      type: "application/javascript",
    }),
  );
  const worker = new Worker(url, { type: "module" });
  return new Promise((resolve, reject) => {
    worker.onmessage = (event: MessageEvent<GuardedRequest>) => {
      URL.revokeObjectURL(url);
      resolve(event.data);
    };
    worker.onerror = (event) => {
      event.preventDefault();
      reject(new Error(`the isolated child's guard failed: ${event.message}`));
    };
  });
}
