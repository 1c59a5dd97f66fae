/**
 * A Worker that stops a call on another thread: it says it is ready, gets a
 * StopSignal's buffer and a delay, waits, then sets the signal.
 */
import { StopSignal } from "../../mod.ts";

/** The parts of the worker's global scope used here. */
const scope = self as unknown as {
  postMessage(message: unknown): void;
  onmessage:
    | ((
      event: MessageEvent<{ buffer: SharedArrayBuffer; after: number }>,
    ) => void)
    | null;
};

scope.postMessage("ready");
scope.onmessage = (event) => {
  const { buffer, after } = event.data;
  setTimeout(() => {
    new StopSignal(buffer).stop();
    scope.postMessage("stopped");
  }, after);
};
