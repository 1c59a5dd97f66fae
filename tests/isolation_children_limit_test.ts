/**
 * A process runs at most `isolatedChildrenLimit()` isolated children at
 * once: later calls wait their turn, first come first, and their deadline
 * and abort count while they wait, ending them with no child started.
 *
 * Which children ran a guest is told by the guests themselves: each child's
 * imports module appends its pid to a file as the guest starts.
 */

import assert from "./support/assert.ts";
import { assembleWat } from "../guest/build.ts";
import {
  type CallOutcome,
  invokeIsolated,
  isolatedChildrenExited,
  isolatedChildrenLimit,
  setIsolatedChildrenLimit,
} from "../mod.ts";
import { isolatedCallsWaiting } from "../src/isolate/isolate_children.ts";
import { expectOutcome } from "./support/outcome.ts";
import { childProcesses } from "./support/child_processes.ts";
import { withDirectory } from "./support/temp_directory.ts";

/** Longer than any wait these tests make: a hang. */
const HANG_MS = 120_000;
/**
 * How late a stop may land here: the bound is milliseconds (`deno task
 * bench`); this only catches a queued call that waits for a child.
 */
const SLACK_MS = 10_000;

/** `spin` says it started (`host.started`), then loops for ever; `add` adds. */
const GUEST = await assembleWat(`(module
  (import "host" "started" (func $started))
  (func (export "spin") (call $started) (loop $l (br $l)))
  (func (export "add") (param i32 i32) (result i32)
    (call $started) (i32.add (local.get 0) (local.get 1))))`);

/** An imports module whose `host.started` appends the child's pid to `log`. */
async function startedImports(dir: string, log: string): Promise<string> {
  const path = `${dir}/imports.ts`;
  await Deno.writeTextFile(
    path,
    `export default { host: { started() {
      Deno.writeTextFileSync(${JSON.stringify(log)}, Deno.pid + "\\n", {
        append: true,
      });
    } } };\n`,
  );
  return new URL(`file://${path}`).href;
}

/** The pids of the children whose guest has started, in order. */
function startedPids(log: string): number[] {
  try {
    return Deno.readTextFileSync(log).split("\n").filter((line) => line !== "")
      .map(Number);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
}

/** How many of this process's children are alive (not zombies). */
async function childrenAlive(): Promise<number> {
  return (await childProcesses()).filter(({ zombie }) => !zombie).length;
}

/**
 * Looks at the children alive every 20 ms or so until `fn` ends, and returns
 * the most seen at once.
 */
async function mostChildren(fn: () => Promise<void>): Promise<number> {
  let most = 0;
  let done = false;
  const looking = (async () => {
    while (!done) {
      most = Math.max(most, await childrenAlive());
      // A child lives some hundreds of milliseconds: a look every 20 ms
      // sees each, and leaves the cores to the children.
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  try {
    await fn();
  } finally {
    done = true;
    await looking;
  }
  return most;
}

/** Waits until `log` names `count` children, or fails after HANG_MS. */
async function untilStarted(log: string, count: number): Promise<void> {
  const giveUp = performance.now() + HANG_MS;
  while (startedPids(log).length < count) {
    if (performance.now() > giveUp) {
      throw new Error(`${count} guests never started: ${startedPids(log)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Runs `fn` under `limit`, putting the process's limit back after it. */
async function underLimit(
  limit: number,
  fn: () => Promise<void>,
): Promise<void> {
  const before = setIsolatedChildrenLimit(limit);
  try {
    await fn();
  } finally {
    setIsolatedChildrenLimit(before);
    await isolatedChildrenExited();
  }
}

Deno.test("isolation: the default limit is twice the CPUs, at least 4", () => {
  const cpus = navigator.hardwareConcurrency;
  assert.equal(isolatedChildrenLimit(), Math.max(4, 2 * cpus));
});

/** Where a test's guests say they started, and the options that let them. */
interface StartLog {
  log: string;
  options: { imports: string; permissions: { write: string[] } };
}

/**
 * A test that counts this process's children (Linux), under a limit of 2,
 * after a first call has started the probes a process's first isolated call
 * starts, with a log its guests write their pids to.
 */
function childrenTest(name: string, fn: (run: StartLog) => Promise<void>) {
  Deno.test({
    name,
    ignore: Deno.build.os !== "linux",
    fn: async () => {
      await invokeIsolated(GUEST, "add", [0, 0], {
        imports:
          `data:text/javascript,export default { host: { started() {} } }`,
        permissions: { import: true },
      });
      await isolatedChildrenExited();
      await withDirectory(async (dir) => {
        const log = `${dir}/started`;
        const imports = await startedImports(dir, log);
        const options = { imports, permissions: { write: [log] } };
        await underLimit(2, () => fn({ log, options }));
      });
    },
  });
}

childrenTest(
  "isolation: a call past the limit waits for a child to end, and its deadline and abort count while it waits",
  async ({ log, options }) => {
    // Aborted however the test ends: nothing else stops the spinners.
    const first = new AbortController();
    const second = new AbortController();
    const most = await mostChildren(async () => {
      const spins = [first, second].map((controller) =>
        invokeIsolated(GUEST, "spin", [], {
          ...options,
          signal: controller.signal,
        })
      );
      await untilStarted(log, 2);

      // Two children spin: a third call waits, and its deadline ends it
      // there, with no child started.
      let started = performance.now();
      const timedOut = await invokeIsolated(GUEST, "add", [1, 2], {
        ...options,
        timeout: 200,
      });
      expectOutcome(timedOut, "timeout");
      const late = performance.now() - started - 200;
      assert.ok(
        late < SLACK_MS,
        `the waiting call's deadline ${late} ms late`,
      );

      // An abort ends a waiting call too.
      const aborter = new AbortController();
      const aborting = invokeIsolated(GUEST, "add", [1, 2], {
        ...options,
        signal: aborter.signal,
      });
      await new Promise((resolve) => setTimeout(resolve, 100));
      started = performance.now();
      aborter.abort();
      expectOutcome(await aborting, "aborted");
      assert.ok(performance.now() - started < SLACK_MS);

      // Calls that wait run once a child has ended, in their turn.
      const order: number[] = [];
      const waiting = [3, 4].map((n) =>
        invokeIsolated(GUEST, "add", [n, 10], {
          ...options,
          timeout: HANG_MS,
        }).then((result) => {
          order.push(n);
          return result;
        })
      );
      // Long enough for a child to be spawned, were it allowed.
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.deepEqual(order, []);
      first.abort();
      expectOutcome(await spins[0], "aborted");
      const results = await Promise.all(waiting);
      assert.deepEqual(
        results.map((result) =>
          result.outcome === "returned" ? result.value : result.outcome
        ),
        [13, 14],
      );
      assert.deepEqual(order, [3, 4]);
      second.abort();
      expectOutcome(await spins[1], "aborted");
    }).finally(() => {
      first.abort();
      second.abort();
    });
    assert.ok(most <= 2, `${most} children alive at once`);
    // The two spinners and the two calls that waited; none for the calls
    // stopped while they waited.
    assert.equal(new Set(startedPids(log)).size, 4);
  },
);

childrenTest(
  "isolation: many calls at once never run more children than the limit",
  async ({ log, options }) => {
    let results: CallOutcome[] = [];
    const most = await mostChildren(async () => {
      results = await Promise.all(
        Array.from(
          { length: 6 },
          (_, n) => invokeIsolated(GUEST, "add", [n, 1], options),
        ),
      );
    });
    assert.ok(most <= 2, `${most} children alive at once`);
    assert.deepEqual(
      results.map((result) =>
        result.outcome === "returned" ? result.value : result.outcome
      ),
      [1, 2, 3, 4, 5, 6],
    );
    assert.equal(new Set(startedPids(log)).size, 6);
  },
);

childrenTest(
  "isolation: raising the limit starts waiting calls at once, while the children before them still run",
  async ({ log, options }) => {
    const spinners = [new AbortController(), new AbortController()];
    try {
      const spins = spinners.map((controller) =>
        invokeIsolated(GUEST, "spin", [], {
          ...options,
          signal: controller.signal,
        })
      );
      await untilStarted(log, 2);
      const waiting = invokeIsolated(GUEST, "add", [20, 1], {
        ...options,
        timeout: HANG_MS,
      });
      const giveUp = performance.now() + HANG_MS;
      while (isolatedCallsWaiting() === 0 && performance.now() < giveUp) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert.equal(isolatedCallsWaiting(), 1);
      // Room for one more: the waiting call runs now, not when a spinner
      // ends (neither does until it returns).
      assert.equal(setIsolatedChildrenLimit(3), 2);
      const result = await waiting;
      assert.deepEqual(
        result.outcome === "returned" ? result.value : result.outcome,
        21,
      );
      assert.equal(isolatedCallsWaiting(), 0);
      for (const controller of spinners) controller.abort();
      for (const spin of spins) expectOutcome(await spin, "aborted");
    } finally {
      for (const controller of spinners) controller.abort();
    }
    assert.equal(new Set(startedPids(log)).size, 3);
  },
);

Deno.test("isolation: setIsolatedChildrenLimit refuses what is not a whole number of 1 or more", () => {
  for (const given of [0, -1, 1.5, NaN, Infinity, "4", undefined]) {
    assert.throws(
      () => setIsolatedChildrenLimit(given as number),
      (error: unknown) =>
        error instanceof RangeError &&
        /^setIsolatedChildrenLimit takes a whole number of children, 1 or more; got .+: pass, for example, \d+/
          .test(error.message) &&
        !error.message.includes("\n"),
    );
  }
  assert.equal(
    isolatedChildrenLimit(),
    Math.max(4, 2 * navigator.hardwareConcurrency),
  );
});
