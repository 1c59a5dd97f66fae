/**
 * A stop that comes while sql.js's `realloc` (a no-stop zone) copies a
 * 40 MB string waits for a bounded amount of guest work, not for the whole
 * copy nor the clock's backstop: each chunk of the copy counts against the
 * wait's `ZONE_WAIT_FUEL`. The stop is asked for from inside the copy, at
 * a chunk counted in a first, unstopped run of the same query, so that
 * what follows it is counted in checks, the same on any machine.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { FuelMeter } from "../mod.ts";
import { ZONE_CHUNK_FUEL, ZONE_WAIT_FUEL } from "../src/meter/meter_waits.ts";
import { ZONE_DEPTH } from "../src/wasm/stop_zones.ts";
import { CHUNK } from "../src/wasm/bulk_helpers.ts";
import { expectOutcome } from "./support/outcome.ts";
import { meteredSqlJs, SQLJS_ZONES, sqljsBytes } from "./support/sqljs.ts";
import { threadCpuMs } from "./support/thread_cpu.ts";

/**
 * 33 strings of 1.25 MB concatenated: `group_concat` grows its result with
 * `realloc`, doubling it, and on a fresh heap each growth moves it whole,
 * the last 38.75 MB of it. The strings themselves are filled in bulk, so
 * the query is quick for its size.
 */
const GROWS =
  "SELECT length(group_concat(s, '')) FROM (WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 33) SELECT printf('%.*c', 1250000, 'x') s FROM c)";

Deno.test("sql.js: a stop during a 40 MB realloc copy lands after a few of its chunks, and the database works after", async () => {
  /** The guest's calls of `on_stop_flag` (with the flag set or not). */
  let checks = 0;
  /** The check at which to stop the guest, if any. */
  let stopAt = -1;
  let stopped: { checks: number; cpu: number } | undefined;
  /** The longest row of checks inside a zone, and where it began. */
  let row = 0;
  let longest = { length: 0, from: 0 };
  let zone: WebAssembly.Global | undefined;
  const meter = new FuelMeter(await sqljsBytes(), {
    stopsWaitFor: SQLJS_ZONES,
  });
  const wrap = (imports: WebAssembly.Imports) => {
    const [name, namespace] = Object.entries(imports)[0]!;
    const fields = Object.getOwnPropertyDescriptors(namespace);
    const inner = fields.on_stop_flag!.value as () => number;
    fields.on_stop_flag = {
      ...fields.on_stop_flag,
      value: () => {
        checks++;
        if (((zone?.value as number) & ZONE_DEPTH) > 0) {
          if (++row > longest.length) {
            longest = { length: row, from: checks - row + 1 };
          }
        } else row = 0;
        if (checks === stopAt) {
          stopped = { checks, cpu: threadCpuMs() };
          meter.stop();
        }
        return inner();
      },
    };
    return { [name]: Object.defineProperties({}, fields) };
  };
  /** A fresh instance on the meter, with a fresh heap, and a database. */
  const fresh = async () => {
    const { SQL, exports } = await meteredSqlJs({}, meter, wrap);
    zone = exports["early-exit:zone"] as WebAssembly.Global;
    const db = new SQL.Database();
    db.run(
      "CREATE TABLE kept(n); INSERT INTO kept WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 500) SELECT i FROM c",
    );
    checks = 0;
    return db;
  };

  // Unstopped: where the copy is, and the CPU time of the whole query.
  const first = await fresh();
  let cpu = threadCpuMs();
  const whole = meter.run(() => first.exec(GROWS)[0]!.values);
  cpu = threadCpuMs() - cpu;
  assert.deepEqual(expectOutcome(whole, "returned").value, [[41_250_000]]);
  // The accumulator's last growth moves 38.75 MB: 591 chunks of 64 KiB
  // with a check after each, and the rest.
  assert.equal(longest.length, Math.floor(31 * 1_250_000 / CHUNK));
  first.close();

  // Again on a fresh heap, stopped at the copy's 20th chunk, 570 before
  // its end.
  const db = await fresh();
  stopAt = longest.from + 20;
  const result = meter.run(() => db.exec(GROWS));
  const cpuAfter = threadCpuMs() - stopped!.cpu;
  expectOutcome(result, "interrupted");
  // The wait was spent 570 chunks before the copy's end: the stop cut
  // `realloc`, and says so (the copy's new block stays allocated).
  assert.equal(result.stoppedInZone, true);
  const after = checks - stopped!.checks;
  // The wait's fuel pays for its first two checks and then a chunk's
  // worth at each: 18 checks in all, with the cleanup's (before the wait
  // was bounded by work, the copy went on until the clock's 100 ms: 258
  // and 323 checks, 71 and 86 ms of CPU time, where now 8 ms).
  const waited = Math.ceil(ZONE_WAIT_FUEL / ZONE_CHUNK_FUEL) + 2;
  assert.ok(after <= waited + 4, `${after} checks after the stop`);
  // What the stop left the thread to do is a small part of the query's
  // own work, both measured here (the query took 460 ms).
  assert.ok(
    cpuAfter < cpu / 10,
    `${cpuAfter.toFixed(1)} ms of CPU after the stop, the query ${
      cpu.toFixed(1)
    } ms`,
  );
  assert.equal(zone!.value, 0, "the run left the zones");

  // The glue's cleanup ran on the grace the chunks gave back: no statement
  // stays open, so VACUUM runs, and so do the next queries.
  stopAt = -1;
  db.run("VACUUM");
  assert.deepEqual(db.exec("SELECT count(*), sum(n) FROM kept")[0]!.values, [
    [500, 125_250],
  ]);
  const again = meter.run(() =>
    db.exec("SELECT length(printf('%.*c', 1000, 'x'))")[0]!.values
  );
  assert.deepEqual(expectOutcome(again, "returned").value, [[1000]]);
  db.close();
});
