import assert from "./support/assert.ts";
import { sha256Hex as sha256 } from "./support/sha256.ts";
import {
  type FuelMeter,
  isDeadlineExceeded,
  isHostImportError,
} from "../mod.ts";
import { expectOutcome } from "./support/outcome.ts";
import {
  type Database,
  meteredSqlJs,
  plainSqlJs,
  RUNAWAY_CTE,
  sqliteInterrupt,
  SQLJS_WASM_SHA256,
  SQLJS_ZONES,
  sqljsBytes,
  WORKLOAD,
} from "./support/sqljs.ts";

/** A fixed-seed generator of numbers in [0, 1). */
function seeded(seed: number): () => number {
  return () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}

/** A fuel cap that stops the runaway query somewhere in its first 2M. */
function randomCap(random: () => number): number {
  return Math.floor(50_000 + random() * 2_000_000);
}

/** Stops the runaway query `count` times with caps from `seed`. */
function randomStops(
  db: Database,
  meter: FuelMeter,
  seed: number,
  count: number,
): string | undefined {
  const random = seeded(seed);
  for (let i = 0; i < count; i++) {
    const result = meter.run(() => ask(db, RUNAWAY_CTE), {
      fuel: randomCap(random),
    });
    if (result.outcome !== "fuel_exhausted") {
      return `stop ${i}: ${result.outcome}`;
    }
    // A stop that cut a zone may have broken the heap without a trap yet.
    if (result.stoppedInZone) return `stop ${i}: cut a zone`;
  }
  return undefined;
}

/**
 * How long a query after the stops may run: on a heap the stops broke it
 * may never end, which is then a failure that says so rather than a hang.
 */
const AFTER_STOPS = { timeout: 10_000 };

function ask(db: Database, sql: string): unknown {
  return db.exec(sql).map(({ values }) => values);
}

Deno.test("sql.js: the same results metered and not", async () => {
  const plain = new (await plainSqlJs()).Database();
  const { SQL, meter } = await meteredSqlJs();
  // The default meter's rewrite stays within 1.6 times the input (1.55).
  const input = (await sqljsBytes()).length;
  assert.ok(
    meter.bytes.length <= 1.6 * input,
    `${meter.bytes.length} bytes metered from ${input}`,
  );
  const db = new SQL.Database();
  for (const sql of WORKLOAD) {
    const metered = expectOutcome(meter.run(() => ask(db, sql)), "returned");
    assert.deepEqual(metered.value, ask(plain, sql), sql);
  }
  db.close();
  plain.close();
});

Deno.test("sql.js: a runaway recursive CTE stopped by a deadline; VACUUM and a query then succeed on the same database", async () => {
  // Without its zones, a stop cutting a heap update in half breaks the
  // heap a few times in a hundred (docs/other-loaders.md).
  const { SQL, meter } = await meteredSqlJs({ stopsWaitFor: SQLJS_ZONES });
  const db = new SQL.Database();
  db.run("CREATE TABLE t(a); INSERT INTO t VALUES (1), (2)");
  const late = expectOutcome(
    meter.run(() => ask(db, RUNAWAY_CTE), { timeout: 100 }),
    "timeout",
  );
  assert.ok(isDeadlineExceeded(late.error));
  assert.equal(meter.stopReason, "deadline");
  expectOutcome(meter.run(() => ask(db, "VACUUM")), "returned");
  assert.deepEqual(
    expectOutcome(meter.run(() => ask(db, "SELECT sum(a) FROM t")), "returned")
      .value,
    [[[3]]],
  );
});

Deno.test("sql.js: without grace fuel its cleanup cannot run, and the statement stays open", async () => {
  const { SQL, meter } = await meteredSqlJs();
  const db = new SQL.Database();
  expectOutcome(
    meter.run(() => ask(db, RUNAWAY_CTE), { fuel: 1_000_000, grace: 0 }),
    "fuel_exhausted",
  );
  assert.match(
    expectOutcome(meter.run(() => ask(db, "VACUUM")), "error").error.message,
    /SQL statements in progress/,
  );
});

Deno.test("sql.js: a stop inside a transaction leaves it open, to be rolled back", async () => {
  const { SQL, meter } = await meteredSqlJs();
  const db = new SQL.Database();
  db.run("CREATE TABLE t(a)");
  const stopped = meter.run(() => {
    db.run("BEGIN");
    db.run("INSERT INTO t VALUES (1)");
    return ask(db, RUNAWAY_CTE);
  }, { fuel: 2_000_000 });
  expectOutcome(stopped, "fuel_exhausted");
  expectOutcome(meter.run(() => db.run("ROLLBACK")), "returned");
  assert.deepEqual(ask(db, "SELECT count(*) FROM t"), [[[0]]]);
});

Deno.test("sql.js: 1,000 consecutive stops leave the database usable", async () => {
  const { SQL, meter } = await meteredSqlJs();
  const db = new SQL.Database();
  db.run("CREATE TABLE t(a); INSERT INTO t VALUES (20), (22)");
  for (let i = 0; i < 1_000; i++) {
    const result = meter.run(() => ask(db, RUNAWAY_CTE), { fuel: 50_000 });
    assert.equal(result.outcome, "fuel_exhausted", `stop ${i}`);
  }
  expectOutcome(meter.run(() => ask(db, "VACUUM"), AFTER_STOPS), "returned");
  assert.deepEqual(
    expectOutcome(
      meter.run(() => ask(db, "SELECT sum(a) FROM t"), AFTER_STOPS),
      "returned",
    ).value,
    [[[42]]],
  );
});

Deno.test("sql.js: stops wait for its allocator and SQLite's buffer growth (its zones): 1,000 stops at random places, then VACUUM and a query", async () => {
  assert.equal(
    await sha256(await sqljsBytes()),
    SQLJS_WASM_SHA256,
    "sql.js's wasm changed: find its zones again (docs/other-loaders.md says how)",
  );
  const { SQL, meter } = await meteredSqlJs({ stopsWaitFor: SQLJS_ZONES });
  const db = new SQL.Database();
  db.run("CREATE TABLE t(a); INSERT INTO t VALUES (20), (22)");
  // Fuel caps drawn at random (a fixed seed): each stop lands somewhere
  // else, as deadlines do. Without the zones seed 3 breaks the heap within
  // 40 stops (the next test).
  assert.equal(randomStops(db, meter, 3, 1_000), undefined);
  expectOutcome(meter.run(() => ask(db, "VACUUM"), AFTER_STOPS), "returned");
  assert.deepEqual(
    expectOutcome(
      meter.run(() => ask(db, "SELECT sum(a) FROM t"), AFTER_STOPS),
      "returned",
    ).value,
    [[[42]]],
  );
});

Deno.test("sql.js: with its zones, 1,000 deadline stops leave the database usable", async () => {
  const { SQL, meter } = await meteredSqlJs({ stopsWaitFor: SQLJS_ZONES });
  const db = new SQL.Database();
  db.run("CREATE TABLE t(a); INSERT INTO t VALUES (20), (22)");
  for (let i = 0; i < 1_000; i++) {
    const result = meter.run(() => ask(db, RUNAWAY_CTE), {
      timeout: 1 + i % 3,
    });
    assert.equal(result.outcome, "timeout", `stop ${i}`);
    // The zones' waits are bounded by work the allocator never comes near.
    assert.equal(result.stoppedInZone, undefined, `stop ${i} cut a zone`);
  }
  expectOutcome(meter.run(() => ask(db, "VACUUM"), AFTER_STOPS), "returned");
  assert.deepEqual(
    expectOutcome(
      meter.run(() => ask(db, "SELECT sum(a) FROM t"), AFTER_STOPS),
      "returned",
    ).value,
    [[[42]]],
  );
});

Deno.test("sql.js: without its zones, stops at random places can leave its heap past repair; a fresh instance on the same meter then works, and the books carry on", async () => {
  const { SQL, meter } = await meteredSqlJs({ stopsWaitFor: false });
  const db = new SQL.Database();
  db.run("CREATE TABLE t(a); INSERT INTO t VALUES (20), (22)");
  // One stop lands inside SQLite's own memory handling (growing a value's
  // buffer: the old buffer is freed before the new one is stored) or inside
  // the C allocator, and the statement's cleanup then frees a buffer a
  // second time. The last test shows that the stops alone do no harm.
  const broken = randomStops(db, meter, 3, 40);
  // What docs/other-loaders.md says: such stops can corrupt the heap.
  assert.match(
    broken ?? "no harm",
    /: trap$/,
    "seed 3 no longer breaks sql.js without its zones: update the docs",
  );
  const before = meter.usage;
  const fresh = await meteredSqlJs({}, meter);
  assert.equal(fresh.meter, meter);
  const db2 = new fresh.SQL.Database();
  const result = meter.run(() => ask(db2, "SELECT 20 + 22"));
  assert.deepEqual(expectOutcome(result, "returned").value, [[[42]]]);
  const after = meter.usage;
  assert.ok(after.consumed > before.consumed, "the books carry on");
  assert.equal(after.remaining, Infinity);
});

Deno.test("sql.js: its allocator alone is not zone enough: stops between SQLite's free and its next store still break it", async () => {
  const { SQL, meter } = await meteredSqlJs({
    stopsWaitFor: SQLJS_ZONES.filter((zone) => zone !== 458),
  });
  const db = new SQL.Database();
  db.run("CREATE TABLE t(a); INSERT INTO t VALUES (20), (22)");
  assert.match(
    randomStops(db, meter, 3, 40) ?? "no harm",
    /: trap$/,
    "sql.js survives without sqlite3VdbeMemGrow as a zone: update the docs",
  );
});

Deno.test("sql.js: the same random stops with no cleanup leave its heap whole: what breaks it is SQLite's cleanup of a statement stopped mid-update", async () => {
  const { SQL, meter } = await meteredSqlJs();
  const db = new SQL.Database();
  db.run("CREATE TABLE t(a); INSERT INTO t VALUES (20), (22)");
  const random = seeded(2);
  for (let i = 0; i < 40; i++) {
    const result = meter.run(() => ask(db, RUNAWAY_CTE), {
      fuel: randomCap(random),
      grace: 0,
    });
    assert.equal(result.outcome, "fuel_exhausted", `stop ${i}`);
  }
  // The heap is whole: a new statement runs. The stopped ones were never
  // finalized, which is what grace: 0 costs.
  assert.deepEqual(
    expectOutcome(meter.run(() => ask(db, "SELECT sum(a) FROM t")), "returned")
      .value,
    [[[42]]],
  );
  assert.match(
    expectOutcome(meter.run(() => ask(db, "VACUUM")), "error").error.message,
    /SQL statements in progress/,
  );
});

Deno.test("sql.js: its own error is the error outcome, the original as cause, and the database carries on", async () => {
  const { SQL, meter } = await meteredSqlJs();
  const db = new SQL.Database();
  const failed = expectOutcome(meter.run(() => ask(db, "SELEC 1")), "error");
  assert.equal(
    failed.error.message,
    'FuelMeter.run: the function threw: Error: near "SELEC": syntax error',
  );
  assert.ok(failed.error.cause instanceof Error);
  assert.deepEqual(
    expectOutcome(meter.run(() => ask(db, "SELECT 1")), "returned").value,
    [[[1]]],
  );
});

/** 2,000 rows into a table with an index: a write of many pages. */
const INSERT_ROWS =
  "INSERT INTO t(b, c) WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) SELECT printf('%x', i * 2654435761 % 4294967291), zeroblob(200) FROM n";

/** sql.js with a table and index that `INSERT_ROWS` fills, and what one insert costs. */
async function tableToFill() {
  const { SQL, meter, exports } = await meteredSqlJs({
    stopsWaitFor: SQLJS_ZONES,
  });
  const db = new SQL.Database();
  db.run(
    "CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT, c BLOB); CREATE INDEX tb ON t(b)",
  );
  const cost = expectOutcome(meter.run(() => db.run(INSERT_ROWS)), "returned")
    .fuel!.consumed;
  const interrupt = sqliteInterrupt(SQL, meter, exports, db);
  return { meter, db, cost, interrupt };
}

Deno.test("sql.js: INSERTs stopped at 40 points through their work, each stop told to SQLite (a soft stop): every one is rolled back whole, and PRAGMA integrity_check passes after each", async () => {
  const { meter, db, cost, interrupt } = await tableToFill();
  const stops = 40;
  for (let k = 0; k < stops; k++) {
    // Every fortieth of the way through, inside a transaction or not.
    const fuel = Math.floor(cost * (k + 0.5) / stops);
    const sql = k % 2 === 0 ? `BEGIN; ${INSERT_ROWS}` : INSERT_ROWS;
    const what = `stop ${k}, at ${fuel} of ${cost}`;
    let thrown: unknown;
    const result = meter.run(() => {
      try {
        return db.exec(sql);
      } catch (error) {
        thrown = error;
        throw error;
      }
    }, {
      fuel,
      soft: true,
      grace: 20_000_000,
      onStopping: interrupt.onStopping,
    });
    expectOutcome(result, "fuel_exhausted");
    // SQLite ended the statement itself, and rolled it back.
    assert.equal((thrown as Error).message, "interrupted", what);
    assert.equal(interrupt.settle(result), true, what);
    // An interrupted write rolls back its whole transaction: none is left.
    const rollback = meter.run(() => db.run("ROLLBACK"));
    assert.match(
      expectOutcome(rollback, "error").error.message,
      /no transaction is active/,
      what,
    );
    assert.deepEqual(
      expectOutcome(
        meter.run(() =>
          ask(db, "PRAGMA integrity_check; SELECT count(*) FROM t")
        ),
        "returned",
      ).value,
      [[["ok"]], [[2000]]],
      what,
    );
  }
  // And the table takes the next insert whole.
  expectOutcome(meter.run(() => db.run(INSERT_ROWS)), "returned");
  assert.deepEqual(ask(db, "SELECT count(*) FROM t"), [[[4000]]]);
});

Deno.test("sql.js: an INSERT stopped where SQLite cannot hear it (no grace left) leaves the connection refusing every statement, rather than reading a write half done", async () => {
  const { meter, db, cost, interrupt } = await tableToFill();
  const result = meter.run(() => db.exec(INSERT_ROWS), {
    fuel: Math.floor(cost / 2),
    soft: true,
    grace: 0,
    onStopping: interrupt.onStopping,
  });
  expectOutcome(result, "fuel_exhausted");
  assert.equal(interrupt.settle(result), false);
  for (const sql of ["SELECT count(*) FROM t", "PRAGMA integrity_check"]) {
    const refused = expectOutcome(meter.run(() => ask(db, sql)), "error");
    assert.ok(isHostImportError(refused.error), sql);
    assert.match(refused.error.message, /interrupted/, sql);
  }
});
