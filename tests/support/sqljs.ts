/** sql.js (SQLite) with and without a FuelMeter, for the integration tests. */

import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import {
  type CallOutcome,
  FuelMeter,
  type FuelMeterOptions,
  type MeterRunOptions,
} from "../../mod.ts";
import type { InstrumentedModule } from "../../src/wasm/mod.ts";

/** The parts of sql.js's API the tests use. */
export interface SqlJs {
  Database: new () => Database;
}

/** A sql.js database. */
export interface Database {
  exec(sql: string): { columns: string[]; values: unknown[][] }[];
  run(sql: string): Database;
  close(): void;
  /** Adds a SQL function that calls `fn`. */
  create_function(name: string, fn: (...args: number[]) => unknown): Database;
  /** The connection's address in the guest's memory (`sqlite3*`). */
  db: number;
}

type InitSqlJs = (config?: {
  instantiateWasm?: (
    imports: WebAssembly.Imports,
    receive: (instance: WebAssembly.Instance) => void,
  ) => object;
}) => Promise<SqlJs>;

const GLUE = fileURLToPath(import.meta.resolve("sql.js"));
const WASM = new URL("./sql-wasm.wasm", import.meta.resolve("sql.js"));
const require = createRequire(import.meta.url);

/**
 * A fresh copy of sql.js's glue: `initSqlJs` keeps its first module for
 * good, so each instance needs its own copy.
 */
function freshInit(): InitSqlJs {
  delete require.cache[GLUE];
  return require(GLUE) as InitSqlJs;
}

/**
 * The no-stop zones of sql.js 1.16.0's `sql-wasm.wasm`, whose names are
 * stripped: its `malloc` and `free` (exported as `Ia` and `Ja`, which the
 * glue calls `_malloc` and `_free`), its `realloc` (function 1827, the one
 * function with two parameters that calls both), and SQLite's
 * `sqlite3VdbeMemGrow` (function 458), which frees a value's old buffer
 * before it stores the new one. They belong to this build only:
 * {@linkcode SQLJS_WASM_SHA256} says which.
 */
export const SQLJS_ZONES: readonly (string | number)[] = [
  "Ia",
  "Ja",
  1827,
  458,
];

/** The SHA-256 of the `sql-wasm.wasm` that {@linkcode SQLJS_ZONES} fits. */
export const SQLJS_WASM_SHA256 =
  "43bbcdd44287e5a2db3b6b5af34b1a3485a7a441285d247976c1ebe3c61f8dbf";

/** sql.js's own bytes, as npm ships them. */
export function sqljsBytes(): Promise<Uint8Array<ArrayBuffer>> {
  return Deno.readFile(WASM);
}

/** sql.js as it comes. */
export function plainSqlJs(): Promise<SqlJs> {
  return freshInit()({
    instantiateWasm(imports, receive) {
      Deno.readFile(WASM)
        .then((bytes) => WebAssembly.instantiate(bytes, imports))
        .then(({ instance }) => receive(instance));
      return {};
    },
  });
}

/**
 * sql.js metered: emscripten's instantiateWasm hook hands it the metered
 * bytes. Given a meter, a fresh instance on that meter (what to do when
 * stops have left the heap past repair); given what `instrument()`
 * returned, a meter of that. `wrap` may stand in for the meter's imports,
 * to watch the guest's calls of them.
 */
export async function meteredSqlJs(
  options: FuelMeterOptions = {},
  source?: InstrumentedModule | FuelMeter,
  wrap: (imports: WebAssembly.Imports) => WebAssembly.Imports = (imports) =>
    imports,
): Promise<
  { SQL: SqlJs; meter: FuelMeter; exports: WebAssembly.Exports }
> {
  const meter = source instanceof FuelMeter
    ? source
    : new FuelMeter(source ?? await sqljsBytes(), options);
  let exports!: WebAssembly.Exports;
  const SQL = await freshInit()({
    instantiateWasm(imports, receive) {
      WebAssembly.instantiate(meter.bytes, {
        ...imports,
        ...wrap(meter.imports),
      })
        .then(({ instance }) => {
          meter.attach(instance);
          exports = instance.exports;
          receive(instance);
        });
      return {};
    },
  });
  return { SQL, meter, exports };
}

/**
 * sql.js on `meter`, its glue handed the instance's exports through
 * `meter.wrapExports(exports, options)`: each call the glue makes outside a
 * `meter.run` (its constructors, a query the caller did not wrap) runs as
 * one, under `options`.
 */
export async function wrappedSqlJs(
  meter: FuelMeter,
  options: MeterRunOptions,
): Promise<SqlJs> {
  return await freshInit()({
    instantiateWasm(imports, receive) {
      WebAssembly.instantiate(meter.bytes, { ...imports, ...meter.imports })
        .then(({ instance }) => {
          meter.attach(instance);
          const exports = meter.wrapExports(instance.exports, options);
          receive({ exports } as WebAssembly.Instance);
        });
      return {};
    },
  });
}

/** A query that never ends: a recursive CTE without a bound. */
export const RUNAWAY_CTE =
  "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";

/** A table, an index and queries over it, in order: a real workload. */
export const WORKLOAD: readonly string[] = [
  "CREATE TABLE item(id INTEGER PRIMARY KEY, name TEXT, price REAL, tag TEXT)",
  `INSERT INTO item(name, price, tag)
     WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
     SELECT 'item' || i, (i * 7919 % 1000) / 10.0, char(65 + i % 26) FROM n`,
  "CREATE INDEX item_tag ON item(tag)",
  "SELECT tag, count(*), round(sum(price), 2), min(name), max(price) FROM item GROUP BY tag ORDER BY tag",
  "SELECT a.tag, count(*) FROM item a JOIN item b ON a.id = b.id + 1 WHERE a.price > b.price GROUP BY a.tag ORDER BY 2 DESC LIMIT 5",
  "SELECT upper(substr(name, 1, 3)) || length(name), printf('%.3f', avg(price)) FROM item GROUP BY 1 ORDER BY 1 LIMIT 3",
];

/**
 * Where SQLite keeps three fields of a connection (`struct sqlite3`, at
 * `Database#db`) in sql.js 1.16.0's build (SQLite 3.54.1, wasm32; see
 * {@linkcode SQLJS_WASM_SHA256}), as byte offsets: `u1.isInterrupted`, the
 * flag `sqlite3_interrupt()` sets (which the build does not export),
 * `nVdbeActive`, the statements running, and `nVdbeWrite`, those of them
 * that write. Found by watching a connection's words from inside a SQL
 * function; {@linkcode sqliteInterrupt} checks them again.
 */
export const SQLJS_CONNECTION = {
  interrupted: 304,
  active: 196,
  writing: 204,
} as const;

/** SQLite's own interrupt, for soft stops of sql.js: see {@linkcode sqliteInterrupt}. */
export interface SqliteInterrupt {
  /**
   * The run's `onStopping`: sets SQLite's interrupt flag, so that the
   * statement running ends at its next step with `SQLITE_INTERRUPT` and
   * SQLite rolls its writes back, and counts one more statement running,
   * so that a statement the glue starts after the stop is refused too
   * (SQLite clears the flag when a statement starts with none running).
   * It reads `meter.stopping` too: SQLite hears of the stop at its next
   * step, so its rollback is bounded by the grace, not by the 100 ms a
   * soft stop no library has heard of gets.
   */
  onStopping(): void;
  /**
   * Called after every run, with its outcome. Takes back the statement
   * `onStopping` counted; then, if the run was stopped and a write is
   * still running (the stop cut it short before SQLite saw the flag: the
   * grace ran out, or the stop was hard), sets the flag for good, so that
   * SQLite refuses every later statement ("interrupted") rather than read
   * what the write left half done, and returns false. True when the
   * connection is whole.
   */
  settle(result: CallOutcome): boolean;
}

/**
 * SQLite's own interrupt for `db`, on the instance whose exports are
 * `exports`: a stop told to SQLite at once (`onStopping`) lets SQLite end
 * the statement and roll it back itself, where a hard stop's cleanup
 * (`sqlite3_finalize`, run on the grace) would commit what the statement
 * had done so far. The offsets of {@linkcode SQLJS_CONNECTION} are checked
 * on a scratch database first.
 */
export function sqliteInterrupt(
  SQL: SqlJs,
  meter: FuelMeter,
  exports: WebAssembly.Exports,
  db: Database,
): SqliteInterrupt {
  const memory = Object.values(exports).find((value) =>
    value instanceof WebAssembly.Memory
  );
  if (memory === undefined) throw new Error("sql.js exports no memory");
  const word = (database: Database, offset: number) =>
    new Int32Array(memory.buffer, database.db + offset, 1);
  const { interrupted, active, writing } = SQLJS_CONNECTION;
  // Checked by what SQLite does with them: inside a write, one statement
  // runs and it writes; the flag set there ends the statement.
  const scratch = new SQL.Database();
  try {
    const seen: number[] = [];
    scratch.create_function("look", (stop: number) => {
      seen.push(word(scratch, active)[0], word(scratch, writing)[0]);
      if (stop) word(scratch, interrupted)[0] = 1;
      return 1;
    });
    scratch.run("CREATE TABLE t(a); INSERT INTO t VALUES (look(0))");
    let message = "";
    try {
      scratch.exec(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 9) SELECT look(x = 3) FROM c",
      );
    } catch (error) {
      message = (error as Error).message;
    }
    if (`${seen.slice(0, 2)} ${message}` !== "1,1 interrupted") {
      throw new Error(
        `this sql.js build keeps its connection's fields elsewhere: ${seen} ${message}`,
      );
    }
  } finally {
    scratch.close();
  }
  let counted = false;
  return {
    onStopping() {
      word(db, interrupted)[0] = 1;
      word(db, active)[0] += 1;
      counted = true;
      void meter.stopping; // heard
    },
    settle(result) {
      if (counted) word(db, active)[0] -= 1;
      counted = false;
      const stopped = !["returned", "error", "trap"].includes(result.outcome);
      if (!stopped || word(db, writing)[0] === 0) return true;
      word(db, interrupted)[0] = 1;
      return false;
    },
  };
}
