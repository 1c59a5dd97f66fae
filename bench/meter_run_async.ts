/**
 * `FuelMeter#runAsync` on a loop the cost table makes free, stopped by a
 * deadline (which the watchdog's thread marks in the guest's flag, as it
 * does a StopSignal another thread sets): how late the stop lands
 * with the event loop idle, and with other work on it (2 ms of CPU a turn,
 * which a turn taken before a stop already due runs first). The two sides
 * interleaved, call by call.
 */
import { setImmediate } from "node:timers";
import { FuelMeter } from "../mod.ts";
import { assembleWat } from "../guest/build.ts";
import { printTable } from "./harness.ts";
import { cells } from "./stop_latency_support.ts";

const RUNS = 40;
const TIMEOUT_MS = 15;
const BUSY_TURN_MS = 2;

const { promising } = WebAssembly as unknown as {
  promising(fn: unknown): () => Promise<unknown>;
};

/** A suspendable meter over a free loop, and its spin as a promise. */
async function spinner() {
  const bytes = await assembleWat(
    `(module (func (export "spin") (loop $l (br $l))))`,
  );
  const meter = new FuelMeter(bytes, { suspend: true }, {
    costs: { default: 0 },
  });
  const { instance } = await WebAssembly.instantiate(
    meter.bytes,
    meter.imports,
  );
  meter.attach(instance);
  return { meter, spin: promising(instance.exports.spin) };
}

/** Other work on the event loop while `call` runs: a burn each turn. */
async function withBusyLoop<T>(busy: boolean, call: () => Promise<T>) {
  let on = busy;
  const burn = () => {
    if (!on) return;
    const end = performance.now() + BUSY_TURN_MS;
    while (performance.now() < end);
    setImmediate(burn);
  };
  if (busy) setImmediate(burn);
  try {
    return await call();
  } finally {
    on = false;
  }
}

/** One deadline's lateness, in milliseconds. */
async function stopOnce(
  { meter, spin }: Awaited<ReturnType<typeof spinner>>,
  busy: boolean,
): Promise<number> {
  const start = performance.now();
  const outcome = await withBusyLoop(
    busy,
    () => meter.runAsync(spin, { timeout: TIMEOUT_MS }),
  );
  if (outcome.outcome !== "timeout") {
    throw new Error(`expected the spin to time out, got "${outcome.outcome}"`);
  }
  return performance.now() - start - TIMEOUT_MS;
}

export async function benchMeterRunAsync(): Promise<void> {
  console.log(
    `\nFuelMeter#runAsync on a free loop: late ms from a ${TIMEOUT_MS} ms deadline, event loop idle vs ${BUSY_TURN_MS} ms of work a turn, ${RUNS} runs a side, interleaved`,
  );
  const guest = await spinner();
  const late = { idle: [] as number[], busy: [] as number[] };
  for (let i = 0; i < RUNS; i++) {
    late.idle.push(await stopOnce(guest, false));
    late.busy.push(await stopOnce(guest, true));
  }
  const rows = (["idle", "busy"] as const).map((side) => [
    side,
    ...cells(late[side]),
  ]);
  printTable(["event loop", "runs", "p50", "p99", "max"], rows);
}
