/**
 * An async guest's deadline among other async guests that spin on the same
 * thread: each takes a slice of 0.5 ms a turn, so a guest whose deadline
 * passes while it waits for its turn is woken by the next guest that
 * yields. How late the deadline lands with the guest alone and behind 40
 * spinning guests, the two sides interleaved, call by call; and the thread
 * CPU each call took (the crowd's slices included).
 */
import { loadGuest } from "../mod.ts";
import { assembleWat } from "../guest/build.ts";
import { cpuMs, printTable } from "./harness.ts";
import { cells } from "./stop_latency.ts";

const RUNS = 40;
const TIMEOUT_MS = 15;
const CROWD = 40;

const SPIN = `(module (func (export "spin") (loop $l (br $l))))`;

/** One deadline's lateness and the CPU its call took, in milliseconds. */
async function stopOnce(
  guest: Awaited<ReturnType<typeof loadGuest>>,
): Promise<{ late: number; cpu: number }> {
  const cpu = cpuMs();
  const start = performance.now();
  const outcome = await guest.invokeAsync("spin", [], { timeout: TIMEOUT_MS });
  if (outcome.outcome !== "timeout") {
    throw new Error(`expected the spin to time out, got "${outcome.outcome}"`);
  }
  return {
    late: performance.now() - start - TIMEOUT_MS,
    cpu: cpuMs() - cpu,
  };
}

/** `alone` and `crowded` (behind {@linkcode CROWD} spinning guests). */
export async function benchAsyncCrowd(): Promise<void> {
  console.log(
    `\nAn async guest's ${TIMEOUT_MS} ms deadline, alone vs behind ${CROWD} spinning async guests: late ms, and process CPU ms a call; ${RUNS} runs a side, interleaved`,
  );
  const bytes = await assembleWat(SPIN);
  const guest = await loadGuest(bytes, { async: true });
  const crowd = await Promise.all(
    Array.from({ length: CROWD }, () => loadGuest(bytes, { async: true })),
  );
  const late = { alone: [] as number[], crowded: [] as number[] };
  const cpu = { alone: 0, crowded: 0 };
  for (let i = 0; i < RUNS; i++) {
    const alone = await stopOnce(guest);
    late.alone.push(alone.late);
    cpu.alone += alone.cpu;
    const end = new AbortController();
    const spinning = crowd.map((other) =>
      other.invokeAsync("spin", [], { signal: end.signal })
    );
    // Every one of them in the rounds before the guest's deadline.
    await new Promise((resolve) => setTimeout(resolve, 5));
    const crowded = await stopOnce(guest);
    late.crowded.push(crowded.late);
    cpu.crowded += crowded.cpu;
    end.abort();
    await Promise.all(spinning);
  }
  const rows = (["alone", "crowded"] as const).map((side) => [
    side,
    ...cells(late[side]),
    `${(cpu[side] / RUNS).toFixed(1)} ms`,
  ]);
  printTable(["guest", "runs", "p50", "p99", "max", "CPU a call"], rows);
}
