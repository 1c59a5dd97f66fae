/**
 * `FuelMeter#run` on real libraries (QuickJS, sql.js), with the stop flag
 * the meter adds by default and without it (`stopFlag: false`): how late a
 * 100 ms deadline lands on a runaway call, and what the flag's checks cost
 * on ordinary work (CPU and wall time, the two sides interleaved, three
 * instances a side).
 */
import process from "node:process";
import { instrument } from "../src/wasm/mod.ts";
import type { FuelMeter } from "../mod.ts";
import {
  evaluate,
  meteredQuickJS,
  quickjsBytes,
} from "../tests/support/quickjs.ts";
import {
  meteredSqlJs,
  SQLJS_ZONES,
  sqljsBytes,
} from "../tests/support/sqljs.ts";
import { printTable } from "./harness.ts";

const TIMEOUT_MS = 100;
const ROUNDS = 6;
const INSTANCES = 3;
/** Ordinary work takes milliseconds; this only catches a broken instance. */
const WORK_TIMEOUT_MS = 10_000;

interface Side {
  flag: boolean;
  meter: FuelMeter;
  work(): unknown;
  spin(): unknown;
}

interface Library {
  name: string;
  make(flag: boolean): Promise<Side>;
}

/**
 * The same rewrite as the meter's own, but without the stop flag: the
 * allocator's zones, and the library's own ones when given.
 */
async function withoutFlag(
  bytes: Promise<Uint8Array>,
  stopsWaitFor?: readonly (string | number)[],
) {
  return instrument(await bytes, {
    exportStackPointer: true,
    stopsWaitFor,
    stopsWaitForAllocator: true,
  });
}

const LIBRARIES: Library[] = [
  {
    name: "QuickJS",
    async make(flag) {
      const { QuickJS, meter } = await meteredQuickJS(
        flag ? undefined : await withoutFlag(quickjsBytes),
      );
      const vm = QuickJS.newContext();
      return {
        flag,
        meter,
        work: () =>
          evaluate(
            vm,
            "function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2) } fib(22)",
          ),
        spin: () => evaluate(vm, "while (true) {}"),
      };
    },
  },
  {
    name: "sql.js",
    async make(flag) {
      // With its zones, as its recipe has it: without them a stop of the
      // runaway query breaks the heap a few times in a hundred, and the
      // instance the bench then replaces costs its rewrite and compile.
      const { SQL, meter } = await meteredSqlJs(
        { stopsWaitFor: SQLJS_ZONES },
        flag ? undefined : await withoutFlag(sqljsBytes(), SQLJS_ZONES),
      );
      const db = new SQL.Database();
      db.run("CREATE TABLE t(a)");
      return {
        flag,
        meter,
        work: () =>
          db.exec(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000) SELECT sum(x * 7 % 13) FROM c",
          ),
        spin: () =>
          db.exec(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
          ),
      };
    },
  },
];

function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

function quantiles(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) =>
    sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return [at(0.5), at(0.99), sorted[sorted.length - 1]]
    .map((v) => v.toFixed(2)).join("/");
}

/** Prints the table; measures, never judges. */
export async function benchMeterRun(): Promise<void> {
  console.log(
    `\nFuelMeter#run on libraries: flag (default) vs stopFlag: false, ${TIMEOUT_MS} ms deadline, ${ROUNDS} rounds x ${INSTANCES} instances a side, interleaved`,
  );
  const rows: string[][] = [];
  for (const library of LIBRARIES) {
    const sides: Side[] = [];
    for (let i = 0; i < INSTANCES; i++) {
      sides.push(await library.make(true), await library.make(false));
    }
    for (const side of sides) side.meter.run(side.work); // warm up
    const cpu = { true: 0, false: 0 };
    const wall = { true: 0, false: 0 };
    const late: Record<string, number[]> = { true: [], false: [] };
    // A stop lands anywhere, also inside the library's allocator: an
    // instance whose ordinary work no longer returns is replaced.
    const replaced = { true: 0, false: 0 };
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, side] of sides.entries()) {
        const key = String(side.flag) as "true" | "false";
        const cpu0 = cpuMs(), wall0 = performance.now();
        let worked: string;
        try {
          worked = side.meter.run(side.work, { timeout: WORK_TIMEOUT_MS })
            .outcome;
        } catch {
          worked = "error";
        }
        cpu[key] += cpuMs() - cpu0;
        wall[key] += performance.now() - wall0;
        if (worked !== "returned") {
          replaced[key]++;
          sides[i] = await library.make(side.flag);
          continue;
        }
        const started = performance.now();
        const result = side.meter.run(side.spin, { timeout: TIMEOUT_MS });
        late[key].push(
          result.outcome === "timeout"
            ? performance.now() - started - TIMEOUT_MS
            : NaN, // shows up in the table as NaN
        );
      }
    }
    rows.push([
      library.name,
      (cpu.true / cpu.false).toFixed(2),
      (wall.true / wall.false).toFixed(2),
      quantiles(late.true),
      quantiles(late.false),
      `${replaced.true}/${replaced.false}`,
    ]);
  }
  printTable([
    "library",
    "flag/none CPU",
    "flag/none wall",
    "late ms p50/p99/max (flag)",
    "late ms p50/p99/max (none)",
    "replaced (flag/none)",
  ], rows);
}

if (import.meta.main) await benchMeterRun();
