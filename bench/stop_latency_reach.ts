/**
 * The stop-latency rows of a call that reaches its caller's code: guest A's
 * host import calls guest B, and B's call runs A's endless loop through a
 * table the host made. B's deadline (sync, async), a StopSignal another
 * thread sets (stop) or an AbortSignal a timer aborts (abort) must stop A's
 * code, which reads A's flag, not B's. Late counts from B's call's start
 * plus the timeout (or from when the signal was set).
 *
 * @module
 */

import { type CallOptions, type Guest, loadGuest } from "../mod.ts";
import { abortAfter, now, settle, stopAt } from "./stop_latency_support.ts";

/** The row's label. */
export const REACH_LABEL = "caller's code reached through a table";

const CALLER = `(module
  (type $spin (func))
  (import "shared" "table" (table 1 funcref))
  (import "host" "call_b" (func $call_b))
  (func $spin (loop $l (br $l)))
  (elem declare func $spin)
  (func (export "install") (table.set 0 (i32.const 0) (ref.func $spin)))
  (func (export "run") (call $call_b)))`;

const CALLEE = `(module
  (type $spin (func))
  (import "shared" "table" (table 1 funcref))
  (func (export "run") (call_indirect (type $spin) (i32.const 0))))`;

/** A caller and a callee over one table, and one stopped call through them. */
interface Pair {
  /** Runs one call; resolves to how late B's stop landed, in ms. */
  stopOnce(): Promise<number>;
}

async function pair(
  assembled: { caller: Uint8Array; callee: Uint8Array },
  mode: string,
  timeout: number,
): Promise<Pair> {
  const async = mode === "async" || mode === "abort";
  const table = new WebAssembly.Table({ element: "anyfunc", initial: 1 });
  let innerOptions: () => CallOptions & { signal?: AbortSignal } = () => ({});
  let from = () => NaN;
  let late = NaN;
  const measured = (outcome: { outcome: string }) => {
    late = performance.now() - from();
    const expected = mode === "sync" || mode === "async"
      ? "timeout"
      : "aborted";
    if (outcome.outcome !== expected) {
      throw new Error(`B's call ended "${outcome.outcome}", not "${expected}"`);
    }
  };
  const callee: Guest = await loadGuest(assembled.callee, {
    label: "B",
    ...(async ? { async: true } : { interruptible: true }),
    imports: { shared: { table } },
  });
  const callB = async
    ? async () => {
      const options = innerOptions();
      measured(await callee.invokeAsync("run", [], options));
    }
    : () => {
      const options = innerOptions();
      measured(callee.invoke("run", [], options));
    };
  const caller: Guest = await loadGuest(assembled.caller, {
    label: "A",
    ...(async ? { async: true } : { interruptible: true }),
    imports: { shared: { table }, host: { call_b: callB } },
  });
  if (async) await caller.invokeAsync("install");
  else caller.call("install");
  return {
    async stopOnce() {
      if (mode === "stop") {
        const { stop, stoppedAt } = await stopAt(now() + timeout);
        innerOptions = () => ({ stop });
        from = () => stoppedAt() - performance.timeOrigin;
      } else if (mode === "abort") {
        innerOptions = () => {
          const { signal, abortedAt } = abortAfter(timeout);
          from = abortedAt;
          return { signal };
        };
      } else {
        innerOptions = () => {
          const start = performance.now();
          from = () => start + timeout;
          return { timeout };
        };
      }
      const outcome = async
        ? await caller.invokeAsync("run")
        : caller.invoke("run");
      if (outcome.outcome !== "returned") {
        throw new Error(`A's call ended "${outcome.outcome}"`);
      }
      return late;
    },
  };
}

/**
 * The row's series: `cold`, the first call of each of `coldRuns` fresh
 * pairs; `warm`, `warmRuns` calls of one pair.
 *
 * @param assemble Turns the text format into a module.
 * @param mode How B's call is stopped.
 * @param runs How many calls of each kind.
 * @param timeout B's timeout, or when the signal is set, in ms.
 * @returns The series, in ms.
 */
export async function reachedCallerCalls(
  assemble: (text: string) => Promise<Uint8Array>,
  mode: string,
  runs: { cold: number; warm: number },
  timeout: number,
): Promise<{ cold: number[]; warm: number[] }> {
  const assembled = {
    caller: await assemble(CALLER),
    callee: await assemble(CALLEE),
  };
  const cold: number[] = [];
  for (let i = 0; i < runs.cold; i++) {
    await settle();
    cold.push(await (await pair(assembled, mode, timeout)).stopOnce());
  }
  await settle();
  const one = await pair(assembled, mode, timeout);
  await settle();
  const warm: number[] = [];
  for (let i = 0; i < runs.warm; i++) warm.push(await one.stopOnce());
  return { cold, warm };
}
