/**
 * A stopped isolated call returns when its child is killed, not when the
 * child has gone: a child holding a GiB of memory takes tens of
 * milliseconds to exit. The child is still reaped, its output read and its
 * streams closed, after the call: `isolatedChildrenExited` waits for that,
 * and these tests run with Deno's op and resource sanitizers on to show
 * that nothing else is left.
 *
 * Which processes are this one's children is read from /proc, so the tests
 * run on Linux.
 */

import assert from "./support/assert.ts";
import { assembleWat } from "../guest/build.ts";
import { invokeIsolated, isolatedChildrenExited } from "../mod.ts";
import { childrenExiting } from "../src/isolate_exits.ts";
import { expectOutcome } from "./support/outcome.ts";

/** Longer than any wait these tests make: a hang. */
const HANG_MS = 120_000;
/**
 * How late a stop may land here. The bound is a few milliseconds on a quiet
 * machine (`deno task bench` measures it); this only catches a call that
 * waits for something it should not, on a machine however busy.
 */
const SLACK_MS = 10_000;
const LINUX = Deno.build.os === "linux";

/** The processes this one started that have not been reaped yet. */
function children(): number[] {
  const pids: number[] = [];
  for (const task of Deno.readDirSync("/proc/self/task")) {
    const listed = Deno.readTextFileSync(
      `/proc/self/task/${task.name}/children`,
    ).trim();
    if (listed !== "") pids.push(...listed.split(/\s+/).map(Number));
  }
  return pids;
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
 * A guest that fills a GiB-sized store once, calls `host.filled` (which
 * writes the child's pid into a file), and then fills it again forever.
 */
interface HostileGuest {
  label: string;
  wat: string;
  /** A first deadline by which the store is likely to be full. */
  timeout: number;
}

const GUESTS: HostileGuest[] = [
  {
    label: "memory.fill of 1 GiB",
    timeout: 4_000,
    wat: `(module (import "host" "filled" (func $filled))
      (memory 16384 16384)
      (func (export "run")
        (memory.fill (i32.const 0) (i32.const 7) (i32.const 0x40000000))
        (call $filled)
        (loop $l
          (memory.fill (i32.const 0) (i32.const 9) (i32.const 0x40000000))
          (br $l))))`,
  },
  {
    label: "table.fill of 10M elements",
    timeout: 1_000,
    wat: `(module (import "host" "filled" (func $filled))
      (table 10000000 funcref)
      (func $f) (elem declare func $f)
      (func (export "run")
        (table.fill 0 (i32.const 0) (ref.func $f) (i32.const 10000000))
        (call $filled)
        (loop $l
          (table.fill 0 (i32.const 0) (ref.null func) (i32.const 10000000))
          (br $l))))`,
  },
];

/** An imports module whose `host.filled` writes the child's pid to `marker`. */
async function pidImports(dir: string, marker: string): Promise<string> {
  const path = `${dir}/imports.ts`;
  await Deno.writeTextFile(
    path,
    `export default { host: { filled() {
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

for (const guest of GUESTS) {
  Deno.test({
    name:
      `isolation: a ${guest.label} under a deadline returns at the kill, and its child is reaped after`,
    ignore: !LINUX,
    sanitizeOps: true,
    sanitizeResources: true,
    async fn() {
      const bytes = await assembleWat(guest.wat);
      const dir = await Deno.makeTempDir({ prefix: "isolation-exit" });
      try {
        const marker = `${dir}/pid`;
        const imports = await pidImports(dir, marker);
        // The deadline must fall once the store is full; a busy machine
        // may start the child slowly, so a call killed sooner is repeated
        // with a longer deadline.
        for (let timeout = guest.timeout;; timeout *= 2) {
          const before = new Set(children());
          const start = performance.now();
          const result = await invokeIsolated(bytes, "run", [], {
            timeout,
            imports,
            permissions: { write: [marker] },
          });
          const late = performance.now() - (start + timeout);
          const pid = readPid(marker);
          // The call returned before its child was reaped: it did not wait
          // for the GiB to be given back.
          const left = children().filter((child) => !before.has(child));
          assert.equal(childrenExiting(), 1);
          assert.equal(left.length, 1, `children left: ${left}`);
          expectOutcome(result, "timeout");
          assert.ok(late < SLACK_MS, `the stop landed ${late} ms late`);
          await reaped();
          assert.equal(childrenExiting(), 0);
          assert.deepEqual(children().filter((c) => !before.has(c)), []);
          if (pid === undefined) {
            assert.ok(
              timeout < 32_000,
              `the guest never filled its store within ${timeout} ms`,
            );
            continue;
          }
          assert.deepEqual(left, [pid]);
          assert.equal(await exists(`/proc/${pid}`), false);
          break;
        }
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

Deno.test({
  name:
    "isolation: a deadline that falls while the child starts returns at once, and the child is reaped after",
  ignore: !LINUX,
  sanitizeOps: true,
  sanitizeResources: true,
  async fn() {
    const bytes = await assembleWat(
      `(module (func (export "run") (loop $l (br $l))))`,
    );
    // Before the child is spawned or while it starts: long before a Deno
    // process has loaded anything.
    for (const timeout of [1, 20]) {
      const before = new Set(children());
      const result = await invokeIsolated(bytes, "run", [], { timeout });
      expectOutcome(result, "timeout");
      await reaped();
      assert.equal(childrenExiting(), 0);
      assert.deepEqual(children().filter((c) => !before.has(c)), []);
    }
  },
});

Deno.test({
  name:
    "isolation: an abort returns at the kill, and the child is reaped after",
  ignore: !LINUX,
  sanitizeOps: true,
  sanitizeResources: true,
  async fn() {
    const bytes = await assembleWat(
      `(module (memory 16384 16384) (func (export "run")
        (loop $l
          (memory.fill (i32.const 0) (i32.const 7) (i32.const 0x40000000))
          (br $l))))`,
    );
    const before = new Set(children());
    const controller = new AbortController();
    const call = invokeIsolated(bytes, "run", [], {
      signal: controller.signal,
    });
    let settled = false;
    call.finally(() => settled = true).catch(() => {});
    // Once the child exists (it may still be starting).
    const giveUp = performance.now() + HANG_MS;
    while (children().every((child) => before.has(child))) {
      assert.ok(!settled && performance.now() < giveUp, "no child started");
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    controller.abort();
    expectOutcome(await call, "aborted");
    assert.equal(childrenExiting(), 1);
    await reaped();
    assert.equal(childrenExiting(), 0);
    assert.deepEqual(children().filter((c) => !before.has(c)), []);
  },
});

Deno.test({
  name: "isolation: a call that returns has its child reaped before it does",
  ignore: !LINUX,
  sanitizeOps: true,
  sanitizeResources: true,
  async fn() {
    const bytes = await assembleWat(
      `(module (func (export "run") (result i32) (i32.const 7)))`,
    );
    const before = new Set(children());
    const result = await invokeIsolated(bytes, "run", [], { timeout: 60_000 });
    assert.equal(expectOutcome(result, "returned").value, 7);
    assert.equal(childrenExiting(), 0);
    assert.deepEqual(children().filter((c) => !before.has(c)), []);
  },
});

Deno.test({
  name:
    "isolation: an abort before the call starts no child, and returns aborted",
  ignore: !LINUX,
  sanitizeOps: true,
  sanitizeResources: true,
  async fn() {
    const bytes = await assembleWat(
      `(module (func (export "run") (loop $l (br $l))))`,
    );
    const before = new Set(children());
    const result = await invokeIsolated(bytes, "run", [], {
      signal: AbortSignal.abort(),
    });
    expectOutcome(result, "aborted");
    await reaped();
    assert.deepEqual(children().filter((c) => !before.has(c)), []);
  },
});
