/**
 * Guests loaded inside a Deno Worker are stopped too: the watchdog's thread
 * then starts inside that worker, where Deno starts it later and carries
 * messages on a thread's own parent port slowly.
 */
import assert from "./support/assert.ts";

Deno.test("inside a Deno Worker, deadlines stop a runaway start function and a runaway export", async () => {
  const worker = new Worker(
    new URL("./support/worker_stops_child.ts", import.meta.url),
    { type: "module" },
  );
  try {
    const ended = await new Promise((resolve, reject) => {
      worker.onmessage = (event) => resolve(event.data);
      worker.onerror = (event) => {
        event.preventDefault();
        reject(new Error(event.message));
      };
    });
    assert.deepEqual(ended, { start: "DeadlineExceeded", call: "timeout" });
  } finally {
    worker.terminate();
  }
});
