/**
 * A Worker for tests/load_warmup_test.ts: a fresh isolate, whose code V8
 * has not run yet, that rewrites a small guest as a stoppable load does,
 * once, and posts the thread CPU time that took, in milliseconds. With
 * `warm`, the load's warm-up runs first, as importing the API runs it.
 */
import { threadCpuMs } from "./thread_cpu.ts";
import { warmLoadPathAtImport } from "../../src/warmup/load_warmup.ts";
import { instrumentModule } from "../../src/wasm/instrument.ts";

/** The worker's side of its messages (the type checker sees a window). */
const scope = self as unknown as Worker & { close(): void };

scope.onmessage = (
  event: MessageEvent<{ warm: boolean; bytes: Uint8Array }>,
) => {
  const { warm, bytes } = event.data;
  if (warm) warmLoadPathAtImport();
  const before = threadCpuMs();
  instrumentModule(bytes, {
    stopFlag: true,
    deferStart: true,
    stopFlagTraps: true,
    validate: false,
  });
  scope.postMessage(threadCpuMs() - before);
  scope.close();
};
