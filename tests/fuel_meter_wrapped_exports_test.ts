/**
 * `FuelMeter#wrapExports`: a library's glue calls its instance outside
 * every `meter.run` too (emscripten's constructors as the library starts,
 * a later call the caller did not wrap), where no deadline or StopSignal
 * reached it; handed the wrapped exports, each such call runs as a run.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { assembleWat } from "../guest/build.ts";
import {
  Aborted,
  DeadlineExceeded,
  FuelExhausted,
  FuelMeter,
  GuestTrap,
} from "../mod.ts";
import { attachedMeter } from "./support/attached_meter.ts";
import { stopFromWorker } from "./support/worker_stop.ts";
import { quickjsBytes } from "./support/quickjs.ts";
import {
  RUNAWAY_CTE,
  SQLJS_ZONES,
  sqljsBytes,
  wrappedSqlJs,
} from "./support/sqljs.ts";
import {
  newQuickJSWASMModuleFromVariant,
  newVariant,
  type QuickJSSyncVariant,
} from "quickjs-emscripten-core";
import releaseSyncPackage from "@jitl/quickjs-wasmfile-release-sync";

/** How late a stop may land here: only a lost stop gets near it. */
const SLACK_MS = 5_000;

const GUEST = await assembleWat(`(module
  (import "host" "call" (func $call))
  (memory (export "memory") 1)
  (global (export "g") i32 (i32.const 5))
  (func (export "spin") (loop $forever (br $forever)))
  (func (export "add") (param i32 i32) (result i32)
    (i32.add (local.get 0) (local.get 1)))
  (func (export "calls_host") (call $call))
  (func (export "traps") unreachable))`);

type Fn = (...args: unknown[]) => unknown;

function attached(call: () => void = () => {}) {
  return attachedMeter<Fn>(GUEST, {}, undefined, { host: { call } });
}

Deno.test("FuelMeter#wrapExports: a call outside every run ends at the wrap's deadline, with the branded error", async () => {
  const { meter, exports } = await attached();
  const wrapped = meter.wrapExports(exports as WebAssembly.Exports, {
    timeout: 50,
  });
  const started = performance.now();
  assert.throws(
    () => (wrapped.spin as Fn)(),
    (error: Error) =>
      error instanceof DeadlineExceeded && /50 ms allowed/.test(error.message),
  );
  const late = performance.now() - started - 50;
  assert.ok(late < SLACK_MS, `${late.toFixed(1)} ms late`);
  assert.equal((wrapped.add as Fn)(2, 3), 5);
  // Memories, tables and globals pass as they are.
  assert.equal(wrapped.memory, exports.memory);
  assert.equal(wrapped.g, exports.g);
  assert.ok(Object.isFrozen(wrapped));
});

Deno.test("FuelMeter#wrapExports: a StopSignal from another thread ends a call outside every run", async () => {
  const { meter, exports } = await attached();
  const thrown = await stopFromWorker((stop, started) => {
    const wrapped = meter.wrapExports(exports as WebAssembly.Exports, {
      stop,
    });
    try {
      started();
      (wrapped.spin as Fn)();
    } catch (error) {
      return error;
    }
  });
  assert.ok(thrown instanceof Aborted, String(thrown));
});

Deno.test("FuelMeter#wrapExports: inside a run a wrapped function is the instance's own, under the run's stops", async () => {
  const { meter, exports } = await attached();
  const wrapped = meter.wrapExports(exports as WebAssembly.Exports, {
    fuel: 1_000_000_000,
  });
  // The run's cap holds, not the wrap's.
  const capped = meter.run(() => (wrapped.spin as Fn)(), { fuel: 1_000 });
  assert.equal(capped.outcome, "fuel_exhausted");
  assert.equal(capped.fuel?.consumed, 1_000);
  const sum = meter.run(() => (wrapped.add as Fn)(1, 2));
  assert.equal(sum.outcome === "returned" && sum.value, 3);
});

Deno.test("FuelMeter#wrapExports: what the glue's import threw comes back as it was; a trap as GuestTrap; a fuel cap as FuelExhausted", async () => {
  const thrown = { glue: "its own unwinding" };
  const { meter, exports } = await attached(() => {
    throw thrown;
  });
  const wrapped = meter.wrapExports(exports as WebAssembly.Exports, {
    fuel: 10_000,
  });
  assert.throws(() => (wrapped.calls_host as Fn)(), (error) => {
    assert.equal(error, thrown);
    return true;
  });
  assert.throws(() => (wrapped.traps as Fn)(), GuestTrap);
  assert.throws(() => (wrapped.spin as Fn)(), FuelExhausted);
});

Deno.test("FuelMeter#wrapExports refuses exports of an instance not attached, and options run refuses, at once", async () => {
  const { meter, exports } = await attached();
  const other = new FuelMeter(GUEST);
  const { instance } = await WebAssembly.instantiate(other.bytes, {
    ...other.imports,
    host: { call: () => {} },
  });
  for (const given of [instance.exports, {}, undefined]) {
    assert.throws(
      () => meter.wrapExports(given as WebAssembly.Exports),
      (error: Error) =>
        error instanceof TypeError &&
        /give the exports of the instance attached/.test(error.message),
    );
  }
  assert.throws(
    () => other.wrapExports(instance.exports),
    (error: Error) =>
      error instanceof TypeError && /attach it first/.test(error.message),
  );
  assert.throws(
    () => meter.wrapExports(exports as WebAssembly.Exports, { timeout: -5 }),
    (error: Error) =>
      error instanceof RangeError &&
      /FuelMeter\.wrapExports/.test(error.message),
  );
  // A deadline that a meter whose guest traps cannot serve.
  const trapping = await attachedMeter<Fn>(
    GUEST,
    { resumable: false },
    undefined,
    { host: { call: () => {} } },
  );
  assert.throws(
    () =>
      trapping.meter.wrapExports(trapping.exports as WebAssembly.Exports, {
        timeout: 50,
      }),
    (error: Error) =>
      error instanceof TypeError && /resumable: true/.test(error.message),
  );
});

Deno.test("QuickJS: handed wrapped exports, its glue starts and runs, and its own call outside a run ends at the wrap's deadline", async () => {
  const meter = new FuelMeter(await quickjsBytes);
  let calls = 0;
  const variant = newVariant<QuickJSSyncVariant>(
    releaseSyncPackage as unknown as QuickJSSyncVariant,
    {
      emscriptenModule: {
        instantiateWasm(
          imports: WebAssembly.Imports,
          receive: (instance: WebAssembly.Instance) => void,
        ) {
          WebAssembly.instantiate(meter.bytes, {
            ...imports,
            ...meter.imports,
          }).then(({ instance }) => {
            meter.attach(instance, { timeout: 10_000 });
            const wrapped = meter.wrapExports(instance.exports, {
              timeout: 200,
            });
            // Counts the glue's calls, each of which goes to a wrapper.
            const exports = Object.fromEntries(
              Object.entries(wrapped).map(([name, value]) => [
                name,
                typeof value === "function"
                  ? (...args: unknown[]) => (calls++, value(...args))
                  : value,
              ]),
            );
            receive({ exports } as WebAssembly.Instance);
          });
          return {};
        },
      } as never,
    },
  );
  const QuickJS = await newQuickJSWASMModuleFromVariant(variant);
  // The glue's own first calls (its constructors among them) went through.
  assert.ok(calls > 0, `${calls} calls`);
  const vm = QuickJS.newContext();
  const sum = meter.run(() =>
    vm.unwrapResult(vm.evalCode("1 + 2")).consume(vm.dump)
  );
  assert.equal(sum.outcome === "returned" && sum.value, 3);
  // Not wrapped in a run by the caller: the wrap's deadline.
  assert.throws(() => vm.evalCode("while (true) {}"), DeadlineExceeded);
});

Deno.test("sql.js: handed wrapped exports, a query the caller did not put in a run ends at the wrap's deadline; the glue's cleanup runs, and the database carries on", async () => {
  // Its zones, so that a stop never cuts a heap update in half.
  const meter = new FuelMeter(await sqljsBytes(), {
    stopsWaitFor: SQLJS_ZONES,
  });
  const SQL = await wrappedSqlJs(meter, { timeout: 200 });
  const db = new SQL.Database();
  db.run("CREATE TABLE t(a); INSERT INTO t VALUES (20), (22)");
  const started = performance.now();
  assert.throws(() => db.exec(RUNAWAY_CTE), DeadlineExceeded);
  const late = performance.now() - started - 200;
  assert.ok(late < SLACK_MS, `${late.toFixed(1)} ms late`);
  // The glue freed the stopped statement (its own call, a run of its own):
  // VACUUM refuses while a statement is in progress.
  db.run("VACUUM");
  assert.deepEqual(db.exec("SELECT sum(a) FROM t")[0].values, [[42]]);
  db.close();
});
