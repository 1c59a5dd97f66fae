/**
 * `limits` bound a guest's memories and tables in every mode: a grow past a
 * limit returns -1, and a guest whose memory or table starts above one is
 * refused before anything is instantiated.
 */

import assert from "./support/assert.ts";
import { assembleWat } from "../guest/build.ts";
import {
  FuelMeter,
  type GuestOptions,
  invokeIsolated,
  isGuestLoadError,
  isImportError,
  loadGuest,
} from "../mod.ts";
import { expectOutcome } from "./support/outcome.ts";

const PAGE = 65536;

/** Grows its memory and its table by `n`, returning what the grow returned. */
const GROWER = assembleWat(`(module
  (memory (export "memory") 1)
  (table 1 funcref)
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "size") (result i32) (memory.size))
  (func (export "table_grow") (param i32) (result i32)
    (table.grow (ref.null func) (local.get 0))))`);

/** Every way `loadGuest` runs a guest: plain, metered, trapping, flagged, async. */
const MODES: [string, GuestOptions][] = [
  ["plain", {}],
  ["metered", { fuel: 1_000_000 }],
  ["metered to trap", { fuel: 1_000_000, interruptible: false }],
  ["interruptible (stop flag)", { interruptible: true }],
  ["with a timeout", { timeout: 60_000, fuel: 1_000_000 }],
];

for (const [mode, options] of MODES) {
  Deno.test(`limits (${mode}): memory.grow and table.grow past a limit return -1`, async () => {
    const guest = await loadGuest(await GROWER, {
      ...options,
      limits: { memory: 4 * PAGE + 100, tables: 10 },
    });
    assert.equal(guest.call("grow", 3), 1);
    assert.equal(guest.call("grow", 1), -1, "a fifth page is past the limit");
    assert.equal(guest.call("size"), 4);
    assert.equal(guest.call("table_grow", 9), 1);
    assert.equal(guest.call("table_grow", 1), -1, "an eleventh element");
    assert.equal(guest.call("table_grow", 0), 10);
  });
}

Deno.test("limits: an async guest's grows stop at the limit too", async () => {
  const guest = await loadGuest(await GROWER, {
    async: true,
    limits: { memory: 2 * PAGE, tables: 1 },
  });
  const grow = await guest.invokeAsync("grow", [2]);
  assert.equal(expectOutcome(grow, "returned").value, -1);
  const table = await guest.invokeAsync("table_grow", [1]);
  assert.equal(expectOutcome(table, "returned").value, -1);
});

Deno.test("limits: without limits the same guest grows past them", async () => {
  const guest = await loadGuest(await GROWER);
  assert.equal(guest.call("grow", 4), 1);
  assert.equal(guest.call("table_grow", 10), 1);
});

Deno.test("limits: a declared maximum below the limit is kept", async () => {
  const bytes = await assembleWat(`(module
    (memory 1 2)
    (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))`);
  const guest = await loadGuest(bytes, { limits: { memory: 100 * PAGE } });
  assert.equal(guest.call("grow", 2), -1);
  assert.equal(guest.call("grow", 1), 1);
});

Deno.test("limits: a memory or table that starts above its limit is refused before instantiation", async () => {
  const memory = await assembleWat(
    `(module (memory 17) (func (export "f")))`,
  );
  for (const options of [{}, { fuel: 1000 }, { interruptible: true }]) {
    await assert.rejects(
      loadGuest(memory, { ...options, limits: { memory: 16 * PAGE } }),
      (error: unknown) =>
        isGuestLoadError(error) && error.reason === "limits" &&
        error.message ===
          `bytes needs memory 0 to start at ${
            17 * PAGE
          } bytes, more than limits.memory (${
            16 * PAGE
          }); raise limits.memory to at least ${
            17 * PAGE
          }, or give the guest a smaller memory`,
    );
  }
  const table = await assembleWat(
    `(module (table 10000000 funcref) (func (export "f")))`,
  );
  await assert.rejects(
    loadGuest(table, { limits: { tables: 1000 } }),
    (error: unknown) =>
      isGuestLoadError(error) && error.reason === "limits" &&
      /table 0 to start at 10000000 elements, more than limits\.tables \(1000\)/
        .test(error.message),
  );
});

Deno.test("limits: imported memories and tables are held to them too", async () => {
  const bytes = await assembleWat(`(module
    (import "env" "memory" (memory 1))
    (import "env" "table" (table 5 funcref))
    (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))`);
  await assert.rejects(
    loadGuest(bytes, { limits: { tables: 4 } }),
    (error: unknown) =>
      isGuestLoadError(error) &&
      /imported table 0 to start at 5 elements/.test(error.message),
  );
  const table = new WebAssembly.Table({ element: "anyfunc", initial: 5 });
  // A memory that could grow past the limit does not fit the limited import.
  // The error names the limited import, whichever way the guest loads.
  const unbounded = new WebAssembly.Memory({ initial: 1 });
  for (const async of [false, true]) {
    await assert.rejects(
      loadGuest(bytes, {
        imports: { env: { memory: unbounded, table } },
        limits: { memory: 2 * PAGE },
        async,
      }),
      (error: unknown) =>
        isImportError(error) && /env\.memory/.test(error.message) &&
        error.expected === "memory 1 2",
      `async: ${async}`,
    );
  }
  const bounded = new WebAssembly.Memory({ initial: 1, maximum: 2 });
  const guest = await loadGuest(bytes, {
    imports: { env: { memory: bounded, table } },
    limits: { memory: 2 * PAGE },
  });
  assert.equal(guest.call("grow", 1), 1);
  assert.equal(guest.call("grow", 1), -1);
  // So does a table that could grow past it: the error names the import
  // (the engine's message for a table gives its index another way).
  await assert.rejects(
    loadGuest(bytes, {
      imports: { env: { memory: bounded, table } },
      limits: { tables: 10 },
    }),
    (error: unknown) =>
      isImportError(error) && /guest import env\.table /.test(error.message),
  );
});

Deno.test("limits: FuelMeter writes them into the bytes it hands out", async () => {
  const meter = new FuelMeter(await GROWER, {
    fuel: 1_000_000,
    limits: { memory: 2 * PAGE, tables: 3 },
  });
  const { instance } = await WebAssembly.instantiate(
    meter.bytes,
    meter.imports,
  );
  meter.attach(instance);
  const grow = instance.exports.grow as (n: number) => number;
  const tableGrow = instance.exports.table_grow as (n: number) => number;
  assert.equal(grow(2), -1);
  assert.equal(grow(1), 1);
  assert.equal(tableGrow(3), -1);
  assert.equal(tableGrow(2), 1);
  assert.throws(
    () => new FuelMeter(GROWER_BYTES, { limits: { memory: 0 } }),
    (error: unknown) =>
      isGuestLoadError(error) &&
      /the module needs memory 0/.test(error.message),
  );
});

const GROWER_BYTES = await GROWER;

Deno.test("limits: invokeIsolated passes them to its child", async () => {
  const grown = await invokeIsolated(GROWER_BYTES, "grow", [2], {
    limits: { memory: 2 * PAGE },
  });
  assert.equal(expectOutcome(grown, "returned").value, -1);
  const free = await invokeIsolated(GROWER_BYTES, "grow", [2]);
  assert.equal(expectOutcome(free, "returned").value, 1);
  await assert.rejects(
    invokeIsolated(GROWER_BYTES, "grow", [1], { limits: { tables: 0 } }),
    (error: unknown) => isGuestLoadError(error) && error.reason === "limits",
  );
});

Deno.test("limits: the option is checked", async () => {
  const bytes = GROWER_BYTES;
  await assert.rejects(
    loadGuest(bytes, { limits: { memory: -1 } }),
    RangeError,
    "limits.memory must be a whole number",
  );
  await assert.rejects(
    loadGuest(bytes, { limits: { stack: 1 } as never }),
    TypeError,
    "limits.stack is not a limit",
  );
  await assert.rejects(
    loadGuest(bytes, { limits: { heap: 0.5 } }),
    RangeError,
    "limits.heap must be a whole number",
  );
  await assert.rejects(
    loadGuest(await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>), {
      limits: { memory: PAGE },
    }),
    TypeError,
    "pass bytes",
  );
});

Deno.test("limits: 64-bit and shared memories are held to them, metered or not", async () => {
  const bytes = await assembleWat(`(module
    (memory $wide i64 1)
    (memory $shared 1 100 shared)
    (func (export "grow_wide") (param i64) (result i64)
      (memory.grow $wide (local.get 0)))
    (func (export "grow_shared") (param i32) (result i32)
      (memory.grow $shared (local.get 0))))`);
  for (const options of [{}, { fuel: 1_000_000 }, { interruptible: true }]) {
    const guest = await loadGuest(bytes, {
      ...options,
      limits: { memory: 3 * PAGE },
    });
    assert.equal(guest.call("grow_wide", 3n), -1n);
    assert.equal(guest.call("grow_wide", 2n), 1n);
    assert.equal(guest.call("grow_shared", 3), -1);
    assert.equal(guest.call("grow_shared", 2), 1);
  }
});

Deno.test("limits: a limit above the engine's own leaves a memory64 the engine's maximum, its own or imported", async () => {
  // The engine lets a memory64 declare at most 262,144 pages (16 GiB): a
  // larger limit written as its maximum made the rewrite invalid.
  const own = await assembleWat(`(module (memory $m i64 1)
    (func (export "grow") (param i64) (result i64) (memory.grow $m (local.get 0))))`);
  const imported = await assembleWat(
    `(module (import "m" "memory" (memory i64 1)))`,
  );
  for (const memory of [2 ** 35, 2 ** 40, Number.MAX_SAFE_INTEGER]) {
    for (const options of [{}, { fuel: 1_000_000 }, { interruptible: true }]) {
      const guest = await loadGuest(own, { ...options, limits: { memory } });
      assert.equal(guest.call("grow", 262_144n), -1n);
      assert.equal(guest.call("grow", 1n), 1n);
      await loadGuest(imported, {
        ...options,
        limits: { memory },
        imports: {
          m: {
            memory: new WebAssembly.Memory(
              {
                initial: 1n,
                address: "i64",
              } as unknown as WebAssembly.MemoryDescriptor,
            ),
          },
        },
      });
    }
  }
});

Deno.test("limits: sql.js under a 64 MiB memory limit gets SQLite's out-of-memory error, and carries on", async () => {
  const { meteredSqlJs, plainSqlJs } = await import("./support/sqljs.ts");
  const big = "SELECT length(hex(zeroblob(50000000)))";
  // Unlimited, the memory grows to hold it.
  const plain = new (await plainSqlJs()).Database();
  assert.deepEqual(plain.exec(big)[0]!.values, [[100_000_000]]);
  plain.close();
  const { SQL } = await meteredSqlJs({ limits: { memory: 64 * 1024 * 1024 } });
  const db = new SQL.Database();
  assert.throws(() => db.exec(big), /out of memory/);
  assert.deepEqual(db.exec("SELECT 1 + 2")[0]!.values, [[3]]);
  db.close();
});
