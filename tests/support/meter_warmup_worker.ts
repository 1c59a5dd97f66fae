/**
 * A Worker for tests/meter_warmup_test.ts: a fresh isolate, whose code V8
 * has not run yet, that stops a guest through `FuelMeter.run` once, by a
 * StopSignal set before the run (so that no wait for another thread falls
 * in what is measured), and posts the thread CPU time that run took, in
 * milliseconds (read settled: a cold stop takes about a tick of the
 * thread's clock), with the meter warm-up's status. Without `warm`, the
 * warm-up is used up first by a run that fails at once, so that the
 * attach leaves the stop path cold.
 */
import { FuelMeter } from "../../src/meter/fuel.ts";
import { StopSignal } from "../../src/watchdog/stop_signal.ts";
import { settledThreadCpuMs } from "./thread_cpu.ts";
import {
  meterWarmUpStatus,
  warmMeterStopPath,
} from "../../src/meter/meter_warmup.ts";
import { startWatchdog, watchdogReady } from "../../src/watchdog/watchdog.ts";

/** The worker's side of its messages (the type checker sees a window). */
const scope = self as unknown as Worker & { close(): void };

scope.onmessage = async (
  event: MessageEvent<{ warm: boolean; bytes: Uint8Array }>,
) => {
  const { warm, bytes } = event.data;
  // The warm-up waits for the watchdog's thread; so does this worker.
  startWatchdog();
  await watchdogReady(10_000);
  if (!warm) {
    warmMeterStopPath(() => {
      throw new Error("left cold");
    }, () => undefined);
  }
  const meter = new FuelMeter(bytes);
  const { instance } = await WebAssembly.instantiate(
    meter.bytes,
    meter.imports,
  );
  meter.attach(instance);
  const spin = instance.exports.spin as () => void;
  const stop = new StopSignal();
  stop.stop();
  const before = settledThreadCpuMs();
  const { outcome } = meter.run(spin, { stop });
  const cpu = settledThreadCpuMs() - before;
  const { runs, outcomes } = meterWarmUpStatus();
  scope.postMessage({ cpu, outcome, runs, outcomes });
  scope.close();
};
