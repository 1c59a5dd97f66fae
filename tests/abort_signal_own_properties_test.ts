/**
 * A caller's AbortSignal that carries properties of its own over the real
 * ones (an `aborted` or `reason` getter that throws, an `addEventListener`
 * or `removeEventListener` that throws) is read for what it is: every entry
 * point that takes a signal ends in the abort's branded outcome with the
 * real reason, and none rejects with the getter's error or misses the abort.
 * A `reason` getter that threw inside the abort's listener once ended the
 * whole process from `runWasi`.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { invokeIsolated, isAborted, loadGuest, runWasi } from "../mod.ts";

const RUNAWAY = new URL("../guest/runaway.wasm", import.meta.url);
const SLEEP = new URL("../guest/wasi/sleep.wasm", import.meta.url);

/** Which of a signal's own properties throw. */
type Own = "aborted" | "reason" | "listeners";

/** Throws, as a hostile getter or method does. */
function fail(): never {
  throw new Error("the signal's own property was used");
}

/** A real signal of `controller`, with own properties that throw. */
function signalWithOwn(controller: AbortController, own: Own): AbortSignal {
  const signal = controller.signal;
  if (own === "listeners") {
    for (const name of ["addEventListener", "removeEventListener"]) {
      Object.defineProperty(signal, name, { value: fail });
    }
  } else Object.defineProperty(signal, own, { get: fail });
  return signal;
}

/** Each entry point, running something endless until `signal` aborts. */
const ENTRIES: [string, (signal: AbortSignal) => Promise<unknown>][] = [
  ["invokeAsync", async (signal) => {
    const guest = await loadGuest(RUNAWAY, { async: true });
    return await guest.invokeAsync("spin", [], { signal, timeout: 60_000 });
  }],
  ["runWasi", (signal) =>
    runWasi(SLEEP, {
      args: ["60000"],
      signal,
      timeout: 60_000,
      stdout: "capture",
    })],
  [
    "invokeIsolated",
    (signal) =>
      invokeIsolated(RUNAWAY, "spin", [], { signal, timeout: 60_000 }),
  ],
];

/** The abort's error, from an outcome or a rejection. */
async function abortOf(run: () => Promise<unknown>, what: string) {
  let result;
  try {
    result = await run();
  } catch (error) {
    assert.ok(isAborted(error), `${what} rejected with ${error}`);
    return error;
  }
  const { outcome, error } = result as { outcome: string; error: unknown };
  assert.equal(outcome, "aborted", what);
  assert.ok(isAborted(error), what);
  return error;
}

Deno.test("a signal aborted before the call, whose own aborted or reason getter throws, aborts it with the real reason", async () => {
  for (const own of ["reason", "aborted"] as const) {
    for (const [where, run] of ENTRIES) {
      const controller = new AbortController();
      controller.abort("not wanted");
      const signal = signalWithOwn(controller, own);
      const what = `${where}, own ${own}`;
      const error = await abortOf(() => run(signal), what);
      assert.match(error.message, /not wanted/, what);
    }
  }
});

Deno.test("a signal aborted during the call, whose own reason getter or listener methods throw, aborts it with the real reason", async () => {
  for (const own of ["reason", "listeners"] as const) {
    for (const [where, run] of ENTRIES) {
      const controller = new AbortController();
      const signal = signalWithOwn(controller, own);
      const timer = setTimeout(() => controller.abort("enough"), 30);
      const what = `${where}, own ${own}`;
      const error = await abortOf(() => run(signal), what);
      clearTimeout(timer);
      assert.match(error.message, /enough/, what);
    }
  }
});

Deno.test("a load given a signal whose own properties throw is aborted by it", async () => {
  for (const own of ["reason", "aborted", "listeners"] as const) {
    const controller = new AbortController();
    controller.abort("not wanted");
    const signal = signalWithOwn(controller, own);
    const error = await abortOf(() => loadGuest(RUNAWAY, { signal }), own);
    assert.match(error.message, /not wanted/, own);
  }
});
