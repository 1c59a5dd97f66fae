/**
 * An async guest's deadline among other async guests that spin on the same
 * thread: each takes a slice of 0.5 ms a turn, so a guest whose deadline
 * passes while it waits for its turn is woken by the next guest that
 * yields. How late the deadline lands with the guest alone and behind 40
 * spinning guests, the two sides interleaved, call by call; and the thread
 * CPU each call took (the crowd's slices included). Then crowds of async
 * calls waiting in host imports whose deadlines all fall at once, each call
 * on a guest of its own: how late the first and the last of them end, the
 * sizes interleaved round by round.
 */
import { loadGuest } from "../mod.ts";
import { assembleWat } from "../guest/build.ts";
import { cpuMs, printTable } from "./harness.ts";
import { cells } from "./stop_latency_support.ts";

const RUNS = 40;
const TIMEOUT_MS = 15;
const CROWD = 40;

const SPIN = `(module (func (export "spin") (loop $l (br $l))))`;

/** The crowds whose deadlines fall at once, and the rounds of each. */
const AT_ONCE = [1, 10, 100, 300];
const AT_ONCE_ROUNDS = 8;
const AT_ONCE_TIMEOUT_MS = 50;

const WAITS = `(module (import "env" "wait" (func $wait))
  (func (export "waits") (call $wait)))`;

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

/**
 * How late the first and the last of `guests.length` calls end, each
 * waiting in a host import whose promise never settles, all with the same
 * timeout and begun in one turn.
 */
async function stopAtOnce(
  guests: Awaited<ReturnType<typeof loadGuest>>[],
): Promise<{ first: number; last: number }> {
  const late: number[] = [];
  await Promise.all(guests.map(async (guest) => {
    const start = performance.now();
    const outcome = await guest.invokeAsync("waits", [], {
      timeout: AT_ONCE_TIMEOUT_MS,
    });
    late.push(performance.now() - start - AT_ONCE_TIMEOUT_MS);
    if (outcome.outcome !== "timeout") {
      throw new Error(`expected a timeout, got "${outcome.outcome}"`);
    }
  }));
  return { first: Math.min(...late), last: Math.max(...late) };
}

/** Crowds of calls stopped at the same moment, by their size. */
export async function benchStopsAtOnce(): Promise<void> {
  console.log(
    `\nAsync calls waiting in a host import, each on a guest of its own, all with a ${AT_ONCE_TIMEOUT_MS} ms timeout begun in one turn: how late the first and the last end (ms); ${AT_ONCE_ROUNDS} rounds, the sizes interleaved`,
  );
  const bytes = await assembleWat(WAITS);
  const never = () => new Promise<void>(() => {});
  const crowds = await Promise.all(AT_ONCE.map((size) =>
    Promise.all(
      Array.from(
        { length: size },
        () =>
          loadGuest(bytes, { async: true, imports: { env: { wait: never } } }),
      ),
    )
  ));
  const first = AT_ONCE.map(() => [] as number[]);
  const last = AT_ONCE.map(() => [] as number[]);
  for (let round = 0; round < AT_ONCE_ROUNDS; round++) {
    for (const [i, crowd] of crowds.entries()) {
      const ended = await stopAtOnce(crowd);
      first[i].push(ended.first);
      last[i].push(ended.last);
    }
  }
  const median = (values: number[]) =>
    values.toSorted((a, b) => a - b)[values.length >> 1].toFixed(3);
  printTable(
    [
      "calls",
      "first, p50",
      "last, p50",
      "last, max",
      "each call after the first",
    ],
    AT_ONCE.map((size, i) => [
      String(size),
      `${median(first[i])} ms`,
      `${median(last[i])} ms`,
      `${Math.max(...last[i]).toFixed(3)} ms`,
      size === 1
        ? ""
        : `${
          (1000 * (Number(median(last[i])) - Number(median(first[i]))) /
            (size - 1)).toFixed(1)
        } µs`,
    ]),
  );
}
