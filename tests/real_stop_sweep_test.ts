/**
 * Deadlines, StopSignals and AbortSignals landing at random moments (from a
 * fixed seed) in real guests run by their own glue: QuickJS under soft
 * stops and under a deadline-only meter, sql.js running hostile SQL under a
 * deadline-only meter, Lua under soft stops, hash-wasm hashing an endless
 * stream. Each run must end with the stop's outcome and branded error, and
 * the library must carry on afterwards (or, where documented, refuse in one
 * line). Times are drawn
 * at random; nothing here asserts how long a stop took.
 */

import assert from "./support/assert.ts";
import {
  type CallOutcome,
  FuelMeter,
  isAborted,
  isDeadlineExceeded,
  type MeterRunOptions,
  StopSignal,
} from "../mod.ts";
import { expectOutcome } from "./support/outcome.ts";
import {
  evaluate,
  interruptCounter,
  meteredQuickJS,
  quickjsBytes,
} from "./support/quickjs.ts";
import { type Database, meteredSqlJs } from "./support/sqljs.ts";
import {
  freshHashWasm,
  meteredHasher,
  patterned,
} from "./support/hash_wasm.ts";
import { meteredLua } from "./support/lua.ts";
import type { StopperRequest } from "./support/stopper.ts";
import type { QuickJSContext, QuickJSHandle } from "quickjs-emscripten-core";
import type { IHasher } from "hash-wasm";

/** A fixed-seed generator of numbers in [0, 1). */
function seeded(seed: number): () => number {
  return () => {
    seed = (Math.imul(seed, 1_664_525) + 1_013_904_223) >>> 0;
    return seed / 2 ** 32;
  };
}

/** How a run is stopped: a `timeout`, a StopSignal from a Worker, an AbortSignal aborted by a host function. */
type Kind = "timeout" | "stop" | "abort";
const KINDS: readonly Kind[] = ["timeout", "stop", "abort"];

/**
 * The stopper Worker, kept for many runs: each `arm(ms)` gives a
 * StopSignal it sets `ms` milliseconds after the run says it has started.
 */
async function stopperWorker() {
  const worker = new Worker(
    new URL("./support/stopper.ts", import.meta.url),
    { type: "module" },
  );
  let replied = () => {};
  worker.onmessage = () => replied();
  const reply = () => new Promise<void>((resolve) => replied = resolve);
  await reply(); // loaded and listening
  return {
    arm(after: number) {
      const stop = new StopSignal();
      const running = new Int32Array(new SharedArrayBuffer(4));
      const stopped = reply();
      const request: StopperRequest = {
        buffer: stop.buffer,
        running: running.buffer as SharedArrayBuffer,
        after,
      };
      worker.postMessage(request);
      const started = () => {
        Atomics.store(running, 0, 1);
        Atomics.notify(running, 0);
      };
      return { stop, started, stopped };
    },
    [Symbol.dispose]: () => worker.terminate(),
  };
}

/** Checks that `result` is the outcome `kind` of stop gives, with its branded error. */
function expectStopped(result: CallOutcome, kind: Kind, what: string): void {
  if (kind === "timeout") {
    assert.ok(
      isDeadlineExceeded(expectOutcome(result, "timeout").error),
      what,
    );
  } else {
    assert.ok(isAborted(expectOutcome(result, "aborted").error), what);
  }
}

/**
 * Runs `work` under `options` and a stop of `kind` that comes about `ms`
 * milliseconds in. `tick` is what a host function the guest calls should
 * call (the abort comes from there).
 */
async function stopAt(
  meter: FuelMeter,
  kind: Kind,
  ms: number,
  stopper: Awaited<ReturnType<typeof stopperWorker>>,
  options: MeterRunOptions,
  work: (tick: () => void) => unknown,
): Promise<CallOutcome> {
  if (kind === "timeout") {
    return meter.run(() => work(() => {}), { ...options, timeout: ms });
  }
  if (kind === "stop") {
    const { stop, started, stopped } = stopper.arm(ms);
    const result = meter.run(() => {
      started();
      return work(() => {});
    }, { ...options, stop });
    await stopped;
    return result;
  }
  const controller = new AbortController();
  const start = performance.now();
  const tick = () => {
    if (performance.now() - start >= ms) controller.abort();
  };
  return meter.run(() => work(tick), { ...options, signal: controller.signal });
}

/** Hostile scripts, each run through `evaluate` or a host call into it. */
const HOSTILE_JS: readonly {
  name: string;
  /** A script evaluated as it is. */
  code?: string;
  /** Or an object made first, then a host call that never returns. */
  object?: string;
  use?: (vm: QuickJSContext, object: QuickJSHandle) => unknown;
  /** Whether it allocates as it goes (a hard stop may then break QuickJS). */
  allocates: boolean;
}[] = [
  { name: "spin", code: "while (true) { tick() }", allocates: false },
  {
    name: "a loop in finally",
    code: "(() => { try { for (;;) tick() } finally { for (;;) tick() } })()",
    allocates: false,
  },
  {
    name: "a getter",
    object: "({ get x() { for (;;) tick() } })",
    use: (vm, object) => vm.getProp(object, "x").dispose(),
    allocates: false,
  },
  {
    name: "toString",
    object: "({ toString() { while (true) tick() } })",
    use: (vm, object) => vm.getString(object),
    allocates: false,
  },
  {
    name: "a Proxy trap",
    object:
      "new Proxy({}, { get() { let a = []; for (;;) { tick(); a.push([a.length]) } } })",
    use: (vm, object) => vm.getProp(object, "k").dispose(),
    allocates: true,
  },
  {
    name: "push",
    code:
      "(() => { let a = []; for (;;) { tick(); a.push({ x: [1, 2, 3], s: 'ab' + a.length }) } })()",
    allocates: true,
  },
  {
    name: "catch and go on",
    code:
      "(() => { for (;;) { try { let a = []; for (;;) { tick(); a.push(a.length) } } catch (e) {} } })()",
    allocates: true,
  },
  {
    name: "recursion that restarts in catch",
    code:
      "(function f(n) { tick(); let o = { n, c: [] }; try { return f(n + 1) } catch { return f(0) } })(0)",
    allocates: true,
  },
];

/**
 * QuickJS on `meter`, with a `tick` function the scripts call. QuickJS's
 * own stack limit is lowered so that deep recursion meets it (a catchable
 * RangeError) before V8's native stack runs out (a trap of its own).
 */
async function quickjsOn(meter: FuelMeter, soft: boolean) {
  const { QuickJS } = await meteredQuickJS(undefined, meter);
  const runtime = QuickJS.newRuntime();
  runtime.setMaxStackSize(256 * 1024);
  const vm = runtime.newContext();
  let tick = () => {};
  vm.newFunction("tick", () => tick()).consume((fn) =>
    vm.setProp(vm.global, "tick", fn)
  );
  let onStopping: (() => void) | undefined;
  if (soft) {
    const setCounter = interruptCounter(QuickJS, runtime, vm);
    runtime.setInterruptHandler(() => meter.stopping);
    onStopping = () => setCounter(1);
  }
  /** Runs one hostile script under a stop of `kind`, `ms` in; what the evaluation threw. */
  const hostile = async (
    script: typeof HOSTILE_JS[number],
    kind: Kind,
    ms: number,
    stopper: Awaited<ReturnType<typeof stopperWorker>>,
    options: MeterRunOptions,
  ) => {
    let object: QuickJSHandle | undefined;
    if (script.object !== undefined) {
      // Not through expectOutcome, whose message would print the handle.
      const made = meter.run(() =>
        vm.unwrapResult(vm.evalCode(script.object!))
      );
      assert.equal(made.outcome, "returned", script.name);
      object = (made as { value: QuickJSHandle }).value;
    }
    let thrown: string | undefined;
    const result = await stopAt(
      meter,
      kind,
      ms,
      stopper,
      { ...options, onStopping },
      (hook) => {
        tick = hook;
        try {
          return object === undefined
            ? evaluate(vm, script.code!)
            : script.use!(vm, object);
        } catch (error) {
          thrown = String((error as Error)?.message ?? error);
          throw error;
        } finally {
          tick = () => {};
        }
      },
    );
    return { result, thrown, object };
  };
  const sum = () => meter.run(() => evaluate(vm, "1 + 2"));
  return { runtime, vm, hostile, sum };
}

Deno.test("QuickJS: soft stops at random moments (deadlines, StopSignals from a Worker, an AbortSignal aborted from a host function) of hostile scripts are each unwound by QuickJS; 1 + 2 after each, and the runtime disposes", async () => {
  using stopper = await stopperWorker();
  const meter = new FuelMeter(await quickjsBytes);
  const { runtime, vm, hostile, sum } = await quickjsOn(meter, true);
  const random = seeded(21);
  // Each script twice, by two kinds of stop.
  for (let i = 0; i < 2 * HOSTILE_JS.length; i++) {
    const script = HOSTILE_JS[i % HOSTILE_JS.length];
    const kind = KINDS[i % KINDS.length];
    const ms = 1 + Math.floor(random() * 20);
    const what = `${script.name}, ${kind} after ${ms} ms`;
    const { result, thrown, object } = await hostile(
      script,
      kind,
      ms,
      stopper,
      // Unwinding frees what the script built; seconds of it on a loaded
      // machine. A grace that ran out would make the stop a hard one.
      { soft: true, grace: 2_000_000_000 },
    );
    expectStopped(result, kind, what);
    // A script QuickJS evaluates throws its uncatchable "interrupted"; a
    // host call (getProp, getString) hands the exception back instead.
    if (script.code !== undefined) assert.equal(thrown, "interrupted", what);
    if (object !== undefined) {
      expectOutcome(meter.run(() => object.dispose()), "returned");
    }
    assert.equal(expectOutcome(sum(), "returned").value, 3, what);
  }
  // QuickJS asserts that nothing leaked.
  expectOutcome(meter.run(() => (vm.dispose(), runtime.dispose())), "returned");
  assert.equal(runtime.alive, false);
});

/** Lua scripts that catch nothing, each calling the host's `tick`. */
const HOSTILE_LUA: readonly { name: string; code: string }[] = [
  { name: "spin", code: "while true do tick() end" },
  {
    name: "a table that grows",
    code: "local t = {} while true do tick() t[#t + 1] = { #t, 'x' .. #t } end",
  },
  {
    name: "a coroutine resumed forever",
    code:
      "local co = coroutine.wrap(function() while true do tick() coroutine.yield() end end) while true do co() end",
  },
  {
    name: "strings built and matched",
    code:
      "local s = '' while true do tick() s = s .. string.format('%d,', #s) if #s > 4096 then s = s:gsub('%d+', 'n') end end",
  },
];

Deno.test("Lua: soft stops at random moments (deadlines, StopSignals from a Worker, an AbortSignal aborted from a host function) of hostile scripts are each unwound by Lua through its count hook; 1 + 2 after each on the same state", async () => {
  using stopper = await stopperWorker();
  const { lua, meter } = await meteredLua({ soft: true });
  let tick = () => {};
  lua.global.set("tick", () => tick());
  const random = seeded(34);
  for (let i = 0; i < 3 * HOSTILE_LUA.length; i++) {
    const script = HOSTILE_LUA[i % HOSTILE_LUA.length];
    const kind = KINDS[i % KINDS.length];
    const ms = 1 + Math.floor(random() * 20);
    const what = `${script.name}, ${kind} after ${ms} ms`;
    let thrown: unknown;
    const result = await stopAt(
      meter,
      kind,
      ms,
      stopper,
      // Enough for Lua to reach its hook from inside any C function.
      { soft: true, grace: 2_000_000_000 },
      (onTick) => {
        tick = onTick;
        try {
          return lua.doStringSync(script.code);
        } catch (error) {
          thrown = error;
          throw error;
        }
      },
    );
    tick = () => {};
    expectStopped(result, kind, what);
    assert.match(
      String((thrown as Error)?.message),
      /stopped by the host/,
      what,
    );
    const sum = meter.run(() => lua.doStringSync("return 1 + 2"), {
      timeout: 20_000,
    });
    assert.equal(expectOutcome(sum, "returned").value, 3, what);
  }
});

Deno.test("QuickJS on a deadline-only meter: hard stops at random moments end each hostile script; one that allocates nothing leaves the context working, one that allocates may break it (a branded trap), and a fresh instance on the same meter then works", async () => {
  using stopper = await stopperWorker();
  const meter = new FuelMeter(await quickjsBytes, { fuel: false });
  let quickjs = await quickjsOn(meter, false);
  const random = seeded(8);
  for (let i = 0; i < 2 * HOSTILE_JS.length; i++) {
    const script = HOSTILE_JS[i % HOSTILE_JS.length];
    const kind = KINDS[i % KINDS.length];
    const ms = 1 + Math.floor(random() * 20);
    const what = `${script.name}, ${kind} after ${ms} ms`;
    const { result, object } = await quickjs.hostile(
      script,
      kind,
      ms,
      stopper,
      {},
    );
    const next = quickjs.sum();
    if (!script.allocates) {
      expectStopped(result, kind, what);
      expectOutcome(meter.run(() => object?.dispose()), "returned");
      assert.equal(expectOutcome(next, "returned").value, 3, what);
      continue;
    }
    // A hard stop can cut QuickJS's reference counting or its collector
    // in half: this run or the next one may trap on its assertions.
    if (result.outcome !== "trap") expectStopped(result, kind, what);
    if (next.outcome === "returned") {
      assert.equal(next.value, 3, what);
      continue;
    }
    expectOutcome(next, "trap");
    quickjs = await quickjsOn(meter, false);
    assert.equal(expectOutcome(quickjs.sum(), "returned").value, 3, what);
  }
});

/** Hostile SQL: none of these ends by itself. */
const HOSTILE_SQL: readonly { name: string; sql: string }[] = [
  {
    name: "a recursive CTE with no end",
    sql:
      "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(tick(x)) FROM c",
  },
  {
    name: "endless blobs",
    sql:
      "WITH RECURSIVE c(i, b) AS (SELECT 1, randomblob(100000) UNION ALL SELECT i + 1, randomblob(100000) FROM c) SELECT count(tick(i)), sum(length(b)) FROM c",
  },
  {
    name: "an endless group_concat",
    sql:
      "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT length(group_concat(tick(x))) FROM c",
  },
  {
    name: "a huge sort",
    sql:
      "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 100000000) SELECT tick(x) FROM c ORDER BY random() LIMIT 1",
  },
  {
    name: "an endless insert in a transaction",
    sql:
      "BEGIN; INSERT INTO big WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT randomblob(tick(100)) FROM c",
  },
];

Deno.test("sql.js on a deadline-only meter: hostile SQL stopped at random moments by deadlines, StopSignals and an AbortSignal aborted from a SQL function; the database answers after each, and VACUUM is refused while the stopped statements stay open", async () => {
  using stopper = await stopperWorker();
  const { SQL, meter } = await meteredSqlJs({ fuel: false });
  const db = new SQL.Database() as Database & {
    create_function(name: string, fn: (x: number) => number): void;
  };
  let tick = () => {};
  db.run(
    "CREATE TABLE t(a); INSERT INTO t VALUES (20), (22); CREATE TABLE big(b)",
  );
  db.create_function("tick", (x) => (tick(), x));
  const ask = (sql: string) => db.exec(sql).map(({ values }) => values);
  const random = seeded(4);
  for (let i = 0; i < 3 * HOSTILE_SQL.length; i++) {
    const { name, sql } = HOSTILE_SQL[i % HOSTILE_SQL.length];
    const kind = KINDS[i % KINDS.length];
    const ms = 1 + Math.floor(random() * 20);
    const what = `${name}, ${kind} after ${ms} ms`;
    const result = await stopAt(meter, kind, ms, stopper, {}, (hook) => {
      tick = hook;
      try {
        return ask(sql);
      } finally {
        tick = () => {};
      }
    });
    expectStopped(result, kind, what);
    // A transaction the stop left open is rolled back, as documented (a
    // stop that came before BEGIN ran left none).
    if (name.includes("transaction")) {
      const rolled = meter.run(() => db.run("ROLLBACK"));
      if (rolled.outcome !== "returned") {
        assert.match(
          expectOutcome(rolled, "error").error.message,
          /no transaction is active/,
        );
      }
    }
    assert.deepEqual(
      expectOutcome(meter.run(() => ask("SELECT sum(a) FROM t")), "returned")
        .value,
      [[[42]]],
      what,
    );
  }
  assert.match(
    expectOutcome(meter.run(() => ask("VACUUM")), "error").error.message,
    /SQL statements in progress/,
  );
  assert.deepEqual(
    expectOutcome(meter.run(() => ask("SELECT count(*) FROM big")), "returned")
      .value,
    [[[0]]],
    "every insert was rolled back",
  );
});

Deno.test("hash-wasm: deadlines and StopSignals at random moments stop an endless stream in five algorithms; each hasher then hashes correctly after init()", async () => {
  using stopper = await stopperWorker();
  const glue = await freshHashWasm();
  const plain = await freshHashWasm();
  const names = [
    "createSHA256",
    "createSHA512",
    "createBLAKE3",
    "createMD5",
    "createXXHash64",
  ] as const;
  const chunk = patterned(1 << 18);
  const hashers: {
    name: string;
    hasher: IHasher;
    meter: FuelMeter;
    expected: string;
  }[] = [];
  for (const name of names) {
    const create = (g: typeof glue) => (g[name] as () => Promise<IHasher>)();
    const { hasher, meter } = await meteredHasher(glue, create);
    const expected = (await create(plain)).init().update(chunk).digest("hex");
    hashers.push({ name, hasher, meter, expected });
  }
  const random = seeded(6);
  for (let i = 0; i < 4 * names.length; i++) {
    const { name, hasher, meter, expected } = hashers[i % names.length];
    const kind = KINDS[i % 2];
    const ms = 1 + Math.floor(random() * 20);
    const result = await stopAt(meter, kind, ms, stopper, {}, () => {
      hasher.init();
      for (;;) hasher.update(chunk);
    });
    expectStopped(result, kind, `${name}, ${kind} after ${ms} ms`);
    const digest = meter.run(() => hasher.init().update(chunk).digest("hex"));
    assert.equal(expectOutcome(digest, "returned").value, expected, name);
  }
});
