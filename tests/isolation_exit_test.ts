/**
 * A stopped isolated call returns when its child is killed, not when the
 * child has gone: a child holding a GiB of memory takes tens of
 * milliseconds to exit. The child is still reaped, its output read and its
 * streams closed, after the call: `isolatedChildrenExited` waits for that,
 * and these tests run with Deno's op and resource sanitizers on to show
 * that nothing else is left.
 *
 * Which processes are this one's children is asked of procps' `ps`, so
 * the tests run on Linux.
 */

import assert from "./support/assert.ts";
import { assembleWat } from "../guest/build.ts";
import { invokeIsolated, isolatedChildrenExited } from "../mod.ts";
import { childrenExiting } from "../src/isolate/isolate_exits.ts";
import { GUARD_KILL_AFTER_MS } from "../src/isolate/isolate.ts";
import { expectOutcome } from "./support/outcome.ts";
import { childProcesses } from "./support/child_processes.ts";

/** Longer than any wait these tests make: a hang. */
const HANG_MS = 120_000;
/**
 * How late a stop may land here. The bound is a few milliseconds on a quiet
 * machine (`deno task bench` measures it); this only catches a call that
 * waits for something it should not, on a machine however busy.
 */
const SLACK_MS = 10_000;
const LINUX = Deno.build.os === "linux";

/** `run` loops for ever. */
const SPIN = await assembleWat(
  `(module (func (export "run") (loop $l (br $l))))`,
);

/**
 * A test of how a child exits: Linux only (it reads the process table),
 * with Deno's op and resource sanitizers on.
 */
function exitTest(name: string, fn: () => Promise<void>): void {
  Deno.test({
    name,
    ignore: !LINUX,
    sanitizeOps: true,
    sanitizeResources: true,
    fn,
  });
}

/**
 * The processes this one started that have not been reaped yet (a zombie
 * included), as `ps` lists them, less the `ps` itself.
 */
async function children(): Promise<number[]> {
  return (await childProcesses()).map(({ pid }) => pid);
}

/** The children not in `before`. */
async function newChildren(before: Set<number>): Promise<number[]> {
  return (await children()).filter((pid) => !before.has(pid));
}

/** Waits for the children still exiting, or fails after {@linkcode HANG_MS}. */
async function reaped(): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error("a killed child was never reaped")),
      HANG_MS,
    );
  });
  try {
    await Promise.race([isolatedChildrenExited(), hang]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A guest that calls `host.filling` (which writes the child's pid into a
 * file) and then fills a GiB-sized store forever.
 */
interface HostileGuest {
  label: string;
  wat: string;
}

const GUESTS: HostileGuest[] = [
  {
    label: "memory.fill of 1 GiB",
    wat: `(module (import "host" "filling" (func $filling))
      (memory 16384 16384)
      (func (export "run")
        (call $filling)
        (loop $l
          (memory.fill (i32.const 0) (i32.const 7) (i32.const 0x40000000))
          (br $l))))`,
  },
  {
    label: "table.fill of 10M elements",
    wat: `(module (import "host" "filling" (func $filling))
      (table 10000000 funcref)
      (func $f) (elem declare func $f)
      (func (export "run")
        (call $filling)
        (loop $l
          (table.fill 0 (i32.const 0) (ref.func $f) (i32.const 10000000))
          (table.fill 0 (i32.const 0) (ref.null func) (i32.const 10000000))
          (br $l))))`,
  },
];

/** An imports module whose `host.filling` writes the child's pid to `marker`. */
async function pidImports(dir: string, marker: string): Promise<string> {
  const path = `${dir}/imports.ts`;
  await Deno.writeTextFile(
    path,
    `export default { host: { filling() {
      Deno.writeTextFileSync(${JSON.stringify(marker)}, String(Deno.pid));
    } } };\n`,
  );
  return new URL(`file://${path}`).href;
}

function readPid(marker: string): number | undefined {
  try {
    return Number(Deno.readTextFileSync(marker));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/**
 * How many times longer than a first call took to reach its guest's work a
 * deadline may grow, doubling, before a test gives up: the machine's load
 * may change between calls, but not that much.
 */
const GROWTH = 16;

/**
 * Milliseconds from the call to `host.filling` in a call that is aborted
 * as soon as the child has written `marker`: how long this machine, as
 * busy as it is now, takes to start such a child and reach the guest's
 * work.
 */
async function timeToFilling(
  bytes: Uint8Array,
  imports: string,
  marker: string,
): Promise<number> {
  const controller = new AbortController();
  const start = performance.now();
  const call = invokeIsolated(bytes, "run", [], {
    signal: controller.signal,
    imports,
    permissions: { write: [marker] },
  });
  let ended = false;
  call.finally(() => ended = true).catch(() => {});
  let reached: number | undefined;
  while (reached === undefined && !ended) {
    const now = performance.now();
    if (readPid(marker) !== undefined) reached = now - start;
    else if (now - start > HANG_MS) break;
    else await new Promise((resolve) => setTimeout(resolve, 5));
  }
  controller.abort();
  expectOutcome(await call, "aborted");
  await reaped();
  assert.ok(reached !== undefined, "the guest never called host.filling");
  await Deno.remove(marker);
  return reached;
}

for (const guest of GUESTS) {
  exitTest(
    `isolation: a ${guest.label} under a deadline returns at the kill, and its child is reaped after`,
    async () => {
      const bytes = await assembleWat(guest.wat);
      const dir = await Deno.makeTempDir({ prefix: "isolation-exit" });
      try {
        const marker = `${dir}/pid`;
        const imports = await pidImports(dir, marker);
        // The deadline must fall while the guest fills. It is set from how
        // long the child took to start filling in a first call; a busy
        // machine may start the next child more slowly, so a call killed
        // sooner is repeated with a longer deadline.
        const reach = await timeToFilling(bytes, imports, marker);
        for (let timeout = Math.ceil(2 * reach) + 500;; timeout *= 2) {
          const before = new Set(await children());
          const start = performance.now();
          const result = await invokeIsolated(bytes, "run", [], {
            timeout,
            imports,
            permissions: { write: [marker] },
          });
          const late = performance.now() - (start + timeout);
          // Read before anything else can run: the call returned while its
          // child was still to be reaped, so it did not wait for the GiB to
          // be given back.
          const exiting = childrenExiting();
          const pid = readPid(marker);
          expectOutcome(result, "timeout");
          assert.equal(exiting, 1);
          assert.ok(late < SLACK_MS, `the stop landed ${late} ms late`);
          await reaped();
          assert.equal(childrenExiting(), 0);
          assert.deepEqual(await newChildren(before), []);
          if (pid === undefined) {
            assert.ok(
              timeout < GROWTH * reach,
              `the guest never started filling within ${timeout} ms, though a first call reached it in ${
                reach.toFixed(0)
              } ms`,
            );
            continue;
          }
          assert.equal(await alive(pid), false);
          break;
        }
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  );
}

/** Whether any process has this pid, a zombie included. */
async function alive(pid: number): Promise<boolean> {
  const { code } = await new Deno.Command("ps", {
    args: ["-p", String(pid)],
    stdout: "null",
    stderr: "null",
  }).output();
  return code === 0;
}

exitTest(
  "isolation: a deadline that falls while the child starts returns at once, and the child is reaped after",
  async () => {
    // Before the child is spawned or while it starts: long before a Deno
    // process has loaded anything.
    for (const timeout of [1, 20]) {
      const before = new Set(await children());
      const result = await invokeIsolated(SPIN, "run", [], { timeout });
      expectOutcome(result, "timeout");
      await reaped();
      assert.equal(childrenExiting(), 0);
      assert.deepEqual(await newChildren(before), []);
    }
  },
);

exitTest(
  "isolation: an abort returns at the kill, and the child is reaped after",
  async () => {
    const bytes = await assembleWat(
      `(module (memory 16384 16384) (func (export "run")
        (loop $l
          (memory.fill (i32.const 0) (i32.const 7) (i32.const 0x40000000))
          (br $l))))`,
    );
    const before = new Set(await children());
    const controller = new AbortController();
    const call = invokeIsolated(bytes, "run", [], {
      signal: controller.signal,
    });
    let settled = false;
    call.finally(() => settled = true).catch(() => {});
    // Once the child exists (it may still be starting).
    const giveUp = performance.now() + HANG_MS;
    while ((await newChildren(before)).length === 0) {
      assert.ok(!settled && performance.now() < giveUp, "no child started");
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    controller.abort();
    expectOutcome(await call, "aborted");
    assert.equal(childrenExiting(), 1);
    await reaped();
    assert.equal(childrenExiting(), 0);
    assert.deepEqual(await newChildren(before), []);
  },
);

exitTest(
  "isolation: a call that returns has its child reaped before it does",
  async () => {
    const bytes = await assembleWat(
      `(module (func (export "run") (result i32) (i32.const 7)))`,
    );
    const before = new Set(await children());
    const result = await invokeIsolated(bytes, "run", [], { timeout: 60_000 });
    assert.equal(expectOutcome(result, "returned").value, 7);
    assert.equal(childrenExiting(), 0);
    assert.deepEqual(await newChildren(before), []);
  },
);

exitTest(
  "isolation: an abort before the call starts no child, and returns aborted",
  async () => {
    const before = new Set(await children());
    const result = await invokeIsolated(SPIN, "run", [], {
      signal: AbortSignal.abort(),
    });
    expectOutcome(result, "aborted");
    await reaped();
    assert.deepEqual(await newChildren(before), []);
  },
);

exitTest(
  "isolation: a guest that returned before its deadline keeps its result when its child is killed before it has gone",
  async () => {
    const bytes = await assembleWat(
      `(module (func (export "run") (result i32) (i32.const 42)))`,
    );
    const dir = await Deno.makeTempDir({ prefix: "isolation-exit" });
    try {
      // The child answers, then spins in its unload handler as it exits,
      // as a child giving back a large memory takes its time to go.
      const imports = `${dir}/imports.ts`;
      await Deno.writeTextFile(
        imports,
        `addEventListener("unload", () => { for (;;); });
        export default {};\n`,
      );
      // The deadline must fall after the answer. It is set from how long a
      // call whose child exits at once takes here, answer and exit; a busy
      // machine may start the next child more slowly, so a call stopped
      // before it answered is repeated with a longer deadline.
      const quick = `${dir}/quick.ts`;
      await Deno.writeTextFile(quick, "export default {};\n");
      const start = performance.now();
      const answered = await invokeIsolated(bytes, "run", [], {
        imports: new URL(`file://${quick}`),
      });
      const reach = performance.now() - start;
      assert.equal(expectOutcome(answered, "returned").value, 42);
      let late = 0;
      for (let timeout = Math.ceil(2 * reach) + 500;; timeout *= 2) {
        const before = new Set(await children());
        const called = performance.now();
        const result = await invokeIsolated(bytes, "run", [], {
          timeout,
          imports: new URL(`file://${imports}`),
        });
        const took = performance.now() - called;
        const exiting = childrenExiting();
        await reaped();
        assert.deepEqual(await newChildren(before), []);
        if (result.outcome === "timeout") {
          assert.ok(
            timeout < GROWTH * reach,
            `no answer within ${timeout} ms, though a first call ended in ${
              reach.toFixed(0)
            } ms`,
          );
          continue;
        }
        assert.equal(expectOutcome(result, "returned").value, 42);
        // A host whose thread woke past the child's own guard may find the
        // child gone already (the guard killed it, as it is there to): the
        // answer is kept, but the call did not return at this host's kill.
        // A busy machine gets a few more tries at a deadline met on time.
        if (took >= timeout + GUARD_KILL_AFTER_MS && late < 8) {
          late++;
          timeout /= 2;
          continue;
        }
        // It returned at the deadline's kill, with the child still there.
        assert.equal(
          exiting,
          1,
          `the call came back ${
            (took - timeout).toFixed(1)
          } ms past its deadline (${late} tries late before)`,
        );
        break;
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
