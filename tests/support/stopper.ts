/**
 * A Worker that stops a call on another thread: it says it is ready, gets a
 * StopSignal's buffer and a delay, waits, then sets the signal.
 */
import { StopSignal } from "../../mod.ts";

self.postMessage("ready");
self.onmessage = (
  event: MessageEvent<{ buffer: SharedArrayBuffer; after: number }>,
) => {
  const { buffer, after } = event.data;
  setTimeout(() => {
    new StopSignal(buffer).stop();
    self.postMessage("stopped");
  }, after);
};
