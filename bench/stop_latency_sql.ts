/**
 * What a stop leaves sql.js to do: hostile queries whose time goes inside
 * its no-stop zones (its allocator copying or filling large blocks) or into
 * a write's cleanup, stopped by deadlines spread from 20 to 140 ms. _CPU
 * after_ is the calling thread's CPU time from the moment the stop began
 * (the run's `onStopping`) to `run` returning: what the guest made the host
 * do after the stop, whatever the machine's load. _late_ is from the
 * deadline to `run` returning, by the clock.
 *
 * The last two rows write a temporary table without end: one stopped hard
 * (the glue's cleanup then finalizes, and so commits, the cut statement),
 * one through SQLite's own interrupt (`soft: true`, an `onStopping` that
 * sets the flag `sqlite3_interrupt()` sets), which rolls it back.
 *
 * All rows run in one fresh process: sql.js's memory, grown to hundreds of
 * MB, goes with it.
 */
import type { CallOutcome, FuelMeter, MeterRunOptions } from "../mod.ts";
import {
  type Database,
  meteredSqlJs,
  sqliteInterrupt,
  SQLJS_ZONES,
} from "../tests/support/sqljs.ts";
import { threadCpuMs } from "../tests/support/thread_cpu.ts";
import { jsonFromFreshProcess, printTable } from "./harness.ts";
import { percentile, settle } from "./stop_latency_support.ts";

/** Runs per row: each is a query of up to 140 ms and its stop. */
const RUNS = 20;

/** An endless sequence of rows, for the endless queries. */
const ENDLESS =
  "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c)";

interface Row {
  label: string;
  /** The query. */
  sql: string;
  /** Stops it through SQLite's interrupt rather than hard. */
  interrupt?: boolean;
}

const ROWS: Row[] = [
  {
    label: "`replace()` growing a 100 MB string",
    sql: "SELECT length(replace(printf('%.*c', 50000000, 'x'), 'x', 'yy'))",
  },
  {
    label: "`printf('%.*c', 3e8, 'x')`",
    sql: "SELECT length(printf('%.*c', 300000000, 'x'))",
  },
  {
    label: "an endless `group_concat` of 1,000 bytes",
    sql:
      `SELECT length(group_concat(x)) FROM (${ENDLESS} SELECT printf('%.*c', 1000, 'y') x FROM c)`,
  },
  {
    label: "an endless `CREATE TEMP TABLE ... AS`, hard stop",
    sql: `CREATE TEMP TABLE t AS ${ENDLESS} SELECT i, randomblob(100) FROM c`,
  },
  {
    label: "the same, stopped through SQLite's interrupt",
    sql: `CREATE TEMP TABLE t AS ${ENDLESS} SELECT i, randomblob(100) FROM c`,
    interrupt: true,
  },
];

/** A fixed-seed generator of numbers in [0, 1). */
function seeded(seed: number): () => number {
  return () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}

interface Measured {
  late: number[];
  cpuAfter: number[];
  /** Runs whose database failed `PRAGMA integrity_check` after. */
  malformed: number;
  /**
   * Instances on which a new database could not be opened within
   * {@linkcode AFTER_STOP_TIMEOUT_MS} after an earlier run's stop: the
   * stops left the heap past using, though the database closed.
   */
  lost: number;
  /**
   * Runs whose stop cut a zone (`stoppedInZone`: the wait for the guest to
   * leave was spent), after which the instance was replaced.
   */
  cut: number;
}

/**
 * One row's runs, each on a fresh database (on a fresh instance after a
 * stop that cut a zone, or once the instance is past using).
 */
async function measure(row: Row): Promise<Measured> {
  let loaded = await meteredSqlJs({ stopsWaitFor: SQLJS_ZONES });
  const random = seeded(7);
  const measured: Measured = {
    late: [],
    cpuAfter: [],
    malformed: 0,
    lost: 0,
    cut: 0,
  };
  for (let run = 0; run < RUNS; run++) {
    await settle();
    const { SQL, meter, exports } = loaded;
    // Opening a database calls the guest too, and a heap that an earlier
    // stop broke could keep it busy for good: it gets a deadline as well.
    const db = bounded(meter, () => new SQL.Database());
    const interrupt = db && row.interrupt
      ? bounded(meter, () => sqliteInterrupt(SQL, meter, exports, db))
      : undefined;
    if (db === undefined || (row.interrupt && interrupt === undefined)) {
      if (++measured.lost > RUNS) {
        throw new Error(`${row.label}: ${measured.lost} instances lost`);
      }
      loaded = await meteredSqlJs({}, meter);
      run--;
      continue;
    }
    const timeout = Math.round(20 + random() * 120);
    let stoppedCpu = NaN;
    const options: MeterRunOptions = {
      timeout,
      onStopping: () => {
        stoppedCpu = threadCpuMs();
        interrupt?.onStopping();
      },
      ...(interrupt ? { soft: true, grace: 20_000_000 } : {}),
    };
    const sql = row.sql;
    const start = performance.now();
    const result = meter.run(() => db.exec(sql), options);
    const end = performance.now();
    const cpuEnd = threadCpuMs();
    interrupt?.settle(result);
    expectTimeout(result, row.label);
    measured.late.push(end - (start + timeout));
    measured.cpuAfter.push(cpuEnd - stoppedCpu);
    if (!whole(meter, db)) measured.malformed++;
    // A cut zone may leave the heap past repair: what a user is told to
    // do then is what the next run starts from.
    if (result.stoppedInZone) measured.cut++;
    if (!closed(meter, db) || result.stoppedInZone) {
      loaded = await meteredSqlJs({}, meter);
    }
  }
  return measured;
}

function expectTimeout(result: CallOutcome, label: string): void {
  if (result.outcome === "timeout") return;
  const error = "error" in result ? `: ${result.error}` : "";
  throw new Error(
    `${label}: expected the call to end "timeout", got "${result.outcome}"${error}`,
  );
}

/**
 * How long the check and the close after a stop may run, in milliseconds:
 * after a hard stop the library's heap may be past repair, and a call into
 * it then may never end, so they are stopped too.
 */
const AFTER_STOP_TIMEOUT_MS = 10_000;

/**
 * What `call` returned, run under the after-stop deadline; undefined when
 * it did not return.
 */
function bounded<T>(meter: FuelMeter, call: () => T): T | undefined {
  let value: T | undefined;
  const result = meter.run(() => {
    value = call();
  }, { timeout: AFTER_STOP_TIMEOUT_MS });
  return result.outcome === "returned" ? value : undefined;
}

/** Whether the database passes SQLite's own check of it. */
function whole(meter: FuelMeter, db: Database): boolean {
  return bounded(
    meter,
    () => db.exec("PRAGMA integrity_check")[0]?.values[0]?.[0] === "ok",
  ) === true;
}

/** Closes the database; false when the instance is past using. */
function closed(meter: FuelMeter, db: Database): boolean {
  return bounded(meter, () => {
    db.close();
    return true;
  }) === true;
}

/** Prints the sql.js rows of the stop-latency section. */
export async function benchSqlStopLatency(): Promise<void> {
  const results = await jsonFromFreshProcess(
    new URL(import.meta.url),
    [],
    "sql.js's stops",
  ) as Measured[];
  const ms = (value: number) => value.toFixed(1);
  const rows = ROWS.map((row, i) => {
    const { late, cpuAfter, malformed, lost, cut } = results[i]!;
    return [
      row.label,
      String(late.length),
      `${ms(percentile(cpuAfter, 0.5))} / ${ms(Math.max(...cpuAfter))}`,
      `${ms(percentile(late, 0.5))} / ${ms(Math.max(...late))}`,
      String(cut),
      String(malformed),
      String(lost),
    ];
  });
  console.log(
    `\n### sql.js: what a stop leaves it to do (hard stops but the last, deadlines of 20 to 140 ms)\n\nCPU after = the calling thread's CPU time from the stop's start (onStopping) to run returning; late = from the deadline to run returning, by the clock. Cut a zone = runs whose stop landed inside a zone, its wait spent (stoppedInZone), after which the instance is replaced; malformed = runs after which PRAGMA integrity_check failed; lost = instances on which a new database would not open within 10 s after a stop.\n`,
  );
  printTable(
    [
      "sql.js, query",
      "runs",
      "CPU after p50 / max, ms",
      "late p50 / max, ms",
      "cut a zone",
      "malformed",
      "lost",
    ],
    rows,
  );
}

// `deno run -A bench/stop_latency_sql.ts`: every row, as JSON.
if (import.meta.main) {
  const results: Measured[] = [];
  for (const row of ROWS) results.push(await measure(row));
  console.log(JSON.stringify(results));
}
