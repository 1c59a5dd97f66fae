import assert from "./support/assert.ts";
import { FuelMeter, type MeterRunOptions } from "../mod.ts";
import { instrument, type InstrumentedModule } from "../src/wasm/mod.ts";
import { meteringFor } from "../src/meter/meter_tank.ts";
import { wat } from "./support/instrument.ts";
import { expectOutcome } from "./support/outcome.ts";
import { evaluate, meteredQuickJS, quickjsBytes } from "./support/quickjs.ts";
import { meteredSqlJs, sqljsBytes } from "./support/sqljs.ts";
import { meteredBrotli } from "./support/brotli.ts";

/**
 * A minified build in miniature: the stack pointer is an unnamed global,
 * read and written only through accessors exported under short names, and
 * `dig` takes a 16-byte frame at every level before it spins.
 */
function minified(accessors: string): Promise<Uint8Array<ArrayBuffer>> {
  return wat(`(module
    (memory (export "m") 1)
    (global $sp (mut i32) (i32.const 65536))
    (global $other (mut i32) (i32.const 0))
    ${accessors}
    (func $dig (export "dig") (param $depth i32)
      global.get $sp
      i32.const 16
      i32.sub
      global.set $sp
      (if (local.get $depth)
        (then (call $dig (i32.sub (local.get $depth) (i32.const 1))))
        (else (loop $spin (br $spin))))
      global.get $sp
      i32.const 16
      i32.add
      global.set $sp))`);
}

const EMSCRIPTEN_ACCESSORS = `
  (func (export "x") (result i32) global.get $sp)
  (func (export "y") (param i32) local.get 0 global.set $sp)`;

function rewrite(bytes: Uint8Array): InstrumentedModule {
  return instrument(bytes, {
    ...meteringFor(Infinity, true),
    exportStackPointer: true,
  });
}

/**
 * `source` with the stack pointer exported but not handed to the meter:
 * what `run` did before it could find the pointer of a minified build.
 */
function unrestored(source: InstrumentedModule): InstrumentedModule {
  return { ...source, stackPointerExport: undefined };
}

/** Stops `stop` `times` times, reading the pointer before and after. */
function stopsMove(
  meter: FuelMeter,
  pointer: () => number | bigint,
  stop: () => unknown,
  times: number,
  options: MeterRunOptions,
): { before: number | bigint; after: number | bigint } {
  const before = pointer();
  for (let i = 0; i < times; i++) {
    const result = meter.run(stop, options);
    assert.equal(result.outcome, "fuel_exhausted", `stop ${i}`);
  }
  return { before, after: pointer() };
}

async function instance(
  metered: InstrumentedModule,
): Promise<{ meter: FuelMeter; exports: WebAssembly.Exports }> {
  const meter = new FuelMeter(metered);
  const { instance } = await WebAssembly.instantiate(
    metered.bytes,
    meter.imports,
  );
  meter.attach(instance);
  return { meter, exports: instance.exports };
}

Deno.test("the rewriter finds a minified stack pointer by its accessors' bodies and exports it", async () => {
  const metered = rewrite(await minified(EMSCRIPTEN_ACCESSORS));
  assert.equal(metered.stackPointerExport, "early-exit:stack_pointer");
  const { meter, exports } = await instance(metered);
  const sp = exports[metered.stackPointerExport!] as WebAssembly.Global;
  assert.equal(sp.value, 65536);
  const dig = exports.dig as (depth: number) => void;
  const moved = stopsMove(meter, () => sp.value, () => dig(5), 100, {
    fuel: 10_000,
  });
  assert.equal(moved.after, moved.before);
});

Deno.test("unrestored, the pointer drifts down a frame per level per stop; a module without accessors names none", async () => {
  const metered = rewrite(await minified(EMSCRIPTEN_ACCESSORS));
  const { meter, exports } = await instance(unrestored(metered));
  const sp = exports[metered.stackPointerExport!] as WebAssembly.Global;
  const dig = exports.dig as (depth: number) => void;
  const moved = stopsMove(meter, () => sp.value, () => dig(5), 3, {
    fuel: 10_000,
  });
  assert.equal(moved.before, 65536);
  assert.equal(moved.after, 65536 - 3 * 6 * 16); // six frames a stop
  assert.equal(rewrite(await minified("")).stackPointerExport, undefined);
});

Deno.test("two globals with accessor pairs name no stack pointer: guessing could restore the wrong state", async () => {
  const metered = rewrite(
    await minified(`${EMSCRIPTEN_ACCESSORS}
      (func (export "t") (result i32) global.get $other)
      (func (export "u") (param i32) local.get 0 global.set $other)`),
  );
  assert.equal(metered.stackPointerExport, undefined);
});

Deno.test("a reader alone, a writer alone, or accessors that do more name no stack pointer", async () => {
  for (
    const accessors of [
      `(func (export "x") (result i32) global.get $sp)`,
      `(func (export "y") (param i32) local.get 0 global.set $sp)`,
      `(func (export "x") (result i32) global.get $sp)
       (func (export "y") (param i32) local.get 0 i32.const 1 i32.add global.set $sp)`,
      `(func (export "x") (result i32) (local i32) global.get $sp)
       (func (export "y") (param i32) local.get 0 global.set $sp)`,
      // Not exported: the module's own business.
      `(func (result i32) global.get $sp)
       (func (param i32) local.get 0 global.set $sp)`,
    ]
  ) {
    const metered = rewrite(await minified(accessors));
    assert.equal(metered.stackPointerExport, undefined, accessors);
  }
});

Deno.test("the added export takes a free name, and the rewrite adds nothing unless asked", async () => {
  const taken = await minified(`${EMSCRIPTEN_ACCESSORS}
    (func (export "early-exit:stack_pointer"))`);
  assert.equal(
    rewrite(taken).stackPointerExport,
    "early-exit:stack_pointer-1",
  );
  assert.equal(instrument(taken).stackPointerExport, undefined);
});

Deno.test("QuickJS: the stack pointer is back where it was after 200 stops, and drifts without the restore", async () => {
  const metered = rewrite(await quickjsBytes);
  const name = metered.stackPointerExport;
  assert.ok(name !== undefined, "QuickJS's accessors name its stack pointer");
  for (const restore of [true, false]) {
    const { QuickJS, meter, exports } = await meteredQuickJS(
      restore ? metered : unrestored(metered),
    );
    const sp = exports[name] as WebAssembly.Global;
    const vm = QuickJS.newContext();
    const moved = stopsMove(
      meter,
      () => sp.value,
      () => evaluate(vm, "while (true) {}"),
      200,
      { fuel: 20_000 },
    );
    if (!restore) {
      assert.ok(moved.after < moved.before, "the control drifts");
      continue;
    }
    assert.equal(moved.after, moved.before);
    const sum = meter.run(() => evaluate(vm, "1 + 2"));
    assert.equal(expectOutcome(sum, "returned").value, 3);
  }
});

Deno.test("sql.js: the stack pointer is back where it was after 200 stops, even when its glue cannot restore it; unrestored it drifts", async () => {
  const metered = rewrite(await sqljsBytes());
  const name = metered.stackPointerExport;
  assert.ok(name !== undefined, "sql.js's accessors name its stack pointer");
  const runaway =
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";
  // sql.js's exec calls stackRestore in a finally of its own, which runs on
  // the grace fuel; with none, only the meter can put the pointer back.
  const cases = [
    { restore: true, grace: undefined },
    { restore: true, grace: 0 },
    { restore: false, grace: 0 },
  ];
  for (const { restore, grace } of cases) {
    const { SQL, meter, exports } = await meteredSqlJs(
      {},
      restore ? metered : unrestored(metered),
    );
    const sp = exports[name] as WebAssembly.Global;
    const db = new SQL.Database();
    const moved = stopsMove(
      meter,
      () => sp.value,
      () => db.exec(runaway),
      200,
      { fuel: 50_000, grace },
    );
    if (!restore) {
      assert.ok(moved.after < moved.before, "the control drifts");
      continue;
    }
    assert.equal(moved.after, moved.before, `grace ${grace}`);
    const sum = meter.run(() => db.exec("SELECT 20 + 22")[0]!.values);
    assert.deepEqual(expectOutcome(sum, "returned").value, [[42]]);
  }
});

Deno.test("brotli-wasm: wasm-bindgen's stack pointer is back where it was after 200 stops", async () => {
  const { brotli, meter, exports } = await meteredBrotli();
  const add = exports.__wbindgen_add_to_stack_pointer as (d: number) => number;
  const text = new TextEncoder().encode("stack ".repeat(5_000));
  const packed = brotli.compress(text, { quality: 11 });
  const moved = stopsMove(
    meter,
    () => add(0),
    () => brotli.decompress(packed),
    200,
    { fuel: 30_000 },
  );
  assert.equal(moved.after, moved.before);
});
