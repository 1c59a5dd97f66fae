/**
 * What metering costs on the guests people stop: two interpreters (QuickJS,
 * Lua), a database (SQLite through sql.js), a compiler in Go (esbuild), a bytecode
 * interpreter of our own in C, the tightest loop (`sum_to`) and many short
 * calls; each in every mode
 * that applies, as the metered side's time over the plain side's, in CPU
 * time and wall time, the sides interleaved.
 */
import { FuelMeter, type Guest, loadGuest } from "../mod.ts";
import {
  compareTimes,
  cpuMs,
  formatNs,
  median,
  overInstances,
  printTable,
  type Times,
} from "./harness.ts";
import {
  type Database,
  evaluate,
  meterOf,
  QUICKJS_WASM,
  quickjsContext,
  type SqlJs,
  sqljs,
  SQLJS_WASM,
} from "./libraries.ts";
import {
  ESBUILD_WASM,
  generatedTypeScript,
  meteredEsbuild,
  plainEsbuild,
} from "../tests/support/esbuild.ts";
import { LUA_WASM, luaEngine, mixedLua } from "../tests/support/lua.ts";
import type { LuaEngine } from "wasmoon";

const INTERPRETER = new URL("../guest/interp/interp.wasm", import.meta.url);
const COMPUTE = new URL("../guest/compute.wasm", import.meta.url);

/**
 * A mixed JavaScript program for QuickJS: recursion, objects, strings, a
 * sort and JSON. Wrapped in a function so that it can run again in the
 * same context.
 */
export const QUICKJS_PROGRAM = `(() => {
  function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
  const f = fib(21);
  const people = [];
  for (let i = 0; i < 8000; i++) {
    people.push({ id: i, name: "p" + i, age: (i * 7919) % 90, tags: ["a" + (i % 7), "b" + (i % 11)] });
  }
  people.sort((a, b) => a.age - b.age || a.id - b.id);
  const byAge = {};
  for (const p of people) (byAge[p.age] ??= []).push(p.name);
  let s = "";
  for (let i = 0; i < 4000; i++) s += String.fromCharCode(97 + (i * 31) % 26);
  const words = s.match(/.{1,7}/g).map((w) => w.split("").reverse().join("").toUpperCase());
  const json = JSON.stringify({ people: people.slice(0, 1500), words });
  const back = JSON.parse(json);
  return [f, back.people[1499].name, Object.keys(byAge).length, words.length, json.length].join(",");
})()`;

/** The SQLite workload: 100k rows, an index, aggregates, 2,000 lookups. */
export function sqlWorkload(SQL: SqlJs): string {
  const db: Database = new SQL.Database();
  try {
    db.run(
      "CREATE TABLE item(id INTEGER PRIMARY KEY, name TEXT, price REAL, tag TEXT)",
    );
    db.run(`INSERT INTO item(name, price, tag)
      WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000)
      SELECT 'item' || i, (i * 7919 % 1000) / 10.0, char(65 + i % 26) FROM n`);
    db.run("CREATE INDEX item_name ON item(name)");
    const groups = db.exec(
      "SELECT tag, count(*), round(sum(price), 2), max(price) FROM item GROUP BY tag ORDER BY tag",
    )[0].values;
    const lookup = db.prepare("SELECT price FROM item WHERE name = ?");
    let total = 0;
    for (let i = 0; i < 2000; i++) {
      lookup.bind([`item${(i * 7919) % 100000 + 1}`]);
      if (lookup.step()) total += lookup.get()[0] as number;
      lookup.reset();
    }
    lookup.free();
    return `${groups.length},${groups[0].join("/")},${total.toFixed(1)}`;
  } finally {
    db.close();
  }
}

/** One row of the table: a guest in one mode, beside the same guest plain. */
interface Row {
  guest: string;
  mode: string;
  plain: { wall: number; cpu: number };
  metered: { wall: number; cpu: number };
}

/** A way to run the work on one instance; returns the check value. */
type Run = () => string;

/**
 * Times each side's instances in interleaved rounds and takes each side's
 * median over its instances. `sides` maps a side's name to its instances;
 * the first side is the plain one.
 */
function timeSides(
  sides: Record<string, Run[]>,
  expected: string,
  options: { rounds: number; roundMs?: number; iterations?: number },
): Record<string, { wall: number; cpu: number }> {
  const cases: Record<string, Run> = {};
  for (const [side, runs] of Object.entries(sides)) {
    runs.forEach((run, i) => {
      const got = run();
      if (got !== expected) {
        throw new Error(`${side} produced ${got}, expected ${expected}`);
      }
      cases[`${side} ${i}`] = run;
    });
  }
  const times: Times = compareTimes(cases, options);
  return Object.fromEntries(
    Object.entries(sides).map(([side, runs]) => [side, {
      wall: overInstances(times.wall, side, runs.length),
      cpu: overInstances(times.cpu, side, runs.length),
    }]),
  );
}

function rowsOf(
  guest: string,
  times: Record<string, { wall: number; cpu: number }>,
): Row[] {
  const [plainName, ...modes] = Object.keys(times);
  return modes.map((mode) => ({
    guest,
    mode,
    plain: times[plainName],
    metered: times[mode],
  }));
}

/** Runs `fn` through `meter.run`, insisting that it returned. */
function metered(meter: FuelMeter, fn: Run, timeout?: number): Run {
  const options = timeout === undefined ? undefined : { timeout };
  return () => {
    const outcome = meter.run(fn, options);
    if (outcome.outcome !== "returned") {
      throw new Error(`metered run ended with ${outcome.outcome}`);
    }
    return outcome.value as string;
  };
}

/** The sides every real workload is measured on, with no instances yet. */
function noSides(): Record<string, Run[]> {
  return {
    plain: [],
    "fuel, stoppable": [],
    "fuel (trapping)": [],
    timeout: [],
    "deadline-only (timeout)": [],
  };
}

/** Instances of a library side: plain, and metered in each mode. */
async function librarySides<L>(
  bytes: Uint8Array,
  instances: number,
  load: (bytes: Uint8Array, meter?: FuelMeter) => Promise<L>,
  work: (library: L) => string,
): Promise<Record<string, Run[]>> {
  const sides = noSides();
  for (let i = 0; i < instances; i++) {
    const plain = await load(bytes);
    sides.plain.push(() => work(plain));
    const resumable = meterOf(bytes);
    const a = await load(bytes, resumable);
    sides["fuel, stoppable"].push(metered(resumable, () => work(a)));
    const trapping = meterOf(bytes, { resumable: false });
    const b = await load(bytes, trapping);
    sides["fuel (trapping)"].push(metered(trapping, () => work(b)));
    const watched = meterOf(bytes);
    const c = await load(bytes, watched);
    sides.timeout.push(metered(watched, () => work(c), 1e9));
    const deadlineOnly = meterOf(bytes, { fuel: false });
    const d = await load(bytes, deadlineOnly);
    sides["deadline-only (timeout)"].push(
      metered(deadlineOnly, () => work(d), 1e9),
    );
  }
  return sides;
}

/** A piece of work whose result comes later, like esbuild's transform. */
type AsyncRun = () => Promise<string>;

/**
 * {@linkcode timeSides} for work that awaits: each instance of each side
 * timed once a round, in turn, the whole await (the glue's timers
 * included) on the clock.
 */
async function timeAsyncSides(
  sides: Record<string, AsyncRun[]>,
  expected: string,
  rounds: number,
): Promise<Record<string, { wall: number; cpu: number }>> {
  const samples: Record<string, { wall: number[]; cpu: number[] }> = {};
  for (const [side, runs] of Object.entries(sides)) {
    for (const [i, run] of runs.entries()) {
      const got = await run();
      if (got !== expected) {
        throw new Error(`${side} ${i} produced another output`);
      }
      samples[`${side} ${i}`] = { wall: [], cpu: [] };
    }
  }
  for (let round = 0; round < rounds; round++) {
    for (const [side, runs] of Object.entries(sides)) {
      for (const [i, run] of runs.entries()) {
        const cpu = cpuMs();
        const start = performance.now();
        await run();
        samples[`${side} ${i}`].wall.push((performance.now() - start) * 1e6);
        samples[`${side} ${i}`].cpu.push((cpuMs() - cpu) * 1e6);
      }
    }
  }
  return Object.fromEntries(
    Object.entries(sides).map(([side, runs]) => {
      const over = (key: "wall" | "cpu") =>
        median(runs.map((_, i) => median(samples[`${side} ${i}`][key])));
      return [side, { wall: over("wall"), cpu: over("cpu") }];
    }),
  );
}

/**
 * esbuild's browser build, in process, stripping the types of generated
 * TypeScript: plain, and metered in each mode through a `FuelMeter` whose
 * entries (`run`, `resume`) the glue calls from its own timers (see
 * docs/other-loaders.md).
 */
async function esbuildRows(instances: number): Promise<Row[]> {
  const source = generatedTypeScript(3000);
  const bytes = await Deno.readFile(ESBUILD_WASM);
  const sides: Record<string, AsyncRun[]> = {
    plain: [],
    "fuel, stoppable": [],
    "fuel (trapping)": [],
    timeout: [],
    "deadline-only (timeout)": [],
  };
  const modes: [string, ConstructorParameters<typeof FuelMeter>[1], boolean][] =
    [
      ["fuel, stoppable", {}, false],
      ["fuel (trapping)", { resumable: false }, false],
      ["timeout", {}, true],
      ["deadline-only (timeout)", { fuel: false }, true],
    ];
  const stops: (() => Promise<void>)[] = [];
  for (let i = 0; i < instances; i++) {
    const plain = await plainEsbuild();
    stops.push(() => plain.stop());
    sides.plain.push(async () =>
      (await plain.transform(source, { loader: "ts" })).code
    );
    for (const [mode, options, watched] of modes) {
      const metered = await meteredEsbuild(new FuelMeter(bytes, options));
      stops.push(() => metered.esbuild.stop());
      sides[mode].push(() =>
        metered.within(
          watched ? { timeout: 1e9 } : {},
          async () =>
            (await metered.esbuild.transform(source, { loader: "ts" })).code,
        )
      );
    }
  }
  const expected = await sides.plain[0]();
  const times = await timeAsyncSides(sides, expected, 5);
  for (const stop of stops) await stop();
  return rowsOf("esbuild (Go): strip the types of 3,000 functions", times);
}

/** Instances of a `loadGuest` side: plain, and metered in each mode. */
async function guestSides(
  bytes: Uint8Array,
  instances: number,
  name: string,
  args: unknown[],
): Promise<Record<string, Run[]>> {
  const call = (guest: Guest, timeout?: number): Run => {
    const options = timeout === undefined ? undefined : { timeout };
    return () => {
      const outcome = guest.invoke(name, args, options);
      if (outcome.outcome !== "returned") {
        throw new Error(`${name} ended with ${outcome.outcome}`);
      }
      return String(outcome.value);
    };
  };
  const sides = noSides();
  for (let i = 0; i < instances; i++) {
    sides.plain.push(call(await loadGuest(bytes)));
    const stoppable = await loadGuest(bytes, {
      fuel: Infinity,
      interruptible: true,
    });
    sides["fuel, stoppable"].push(call(stoppable));
    sides["fuel (trapping)"].push(
      call(await loadGuest(bytes, { fuel: Infinity })),
    );
    sides.timeout.push(call(stoppable, 1e9));
    sides["deadline-only (timeout)"].push(
      call(await loadGuest(bytes, { fuel: false }), 1e9),
    );
  }
  return sides;
}

/** The number of primes below `n`. */
function primesBelow(n: number): number {
  let count = 0;
  for (let i = 2; i < n; i++) {
    let prime = true;
    for (let d = 2; d * d <= i; d++) {
      if (i % d === 0) {
        prime = false;
        break;
      }
    }
    if (prime) count++;
  }
  return count;
}

/** Many short calls: `fib(1)`, one call per run. */
async function perCallRows(instances: number): Promise<Row[]> {
  const bytes = await Deno.readFile(COMPUTE);
  const sides = await guestSides(bytes, instances, "fib", [1]);
  const raw: Run[] = [];
  for (let i = 0; i < instances; i++) {
    const { instance } = await loadGuest(bytes);
    const fib = instance.exports.fib as (n: number) => number;
    raw.push(() => String(fib(1)));
  }
  const times = timeSides(
    { "raw export": raw, ...sides },
    "1",
    { rounds: 7, roundMs: 20 },
  );
  const rows = rowsOf("per call: fib(1), one invoke", times);
  // The first row is plain invoke over the raw export: what invoke costs.
  rows[0].mode = "plain invoke vs raw export";
  return rows.map((row, i) => i === 0 ? row : { ...row, plain: times.plain });
}

function cell(row: Row, key: "wall" | "cpu"): string {
  return (row.metered[key] / row.plain[key]).toFixed(2);
}

/** Runs the rows and prints the table. */
export async function benchReal(): Promise<void> {
  const rows: Row[] = [];
  const quickjs = await Deno.readFile(QUICKJS_WASM);
  const program = QUICKJS_PROGRAM;
  const quickjsExpected = evaluate(await quickjsContext(quickjs), program);
  rows.push(...rowsOf(
    "QuickJS: mixed JS program",
    timeSides(
      await librarySides(
        quickjs,
        3,
        quickjsContext,
        (vm) => evaluate(vm, program),
      ),
      quickjsExpected,
      { rounds: 5, iterations: 1 },
    ),
  ));
  const sqlite = await Deno.readFile(SQLJS_WASM);
  const sqlExpected = sqlWorkload(await sqljs(sqlite));
  rows.push(...rowsOf(
    "SQLite (sql.js): 100k rows, index, aggregates, 2k lookups",
    timeSides(
      await librarySides(sqlite, 3, sqljs, sqlWorkload),
      sqlExpected,
      { rounds: 5, iterations: 1 },
    ),
  ));
  const lua = await Deno.readFile(LUA_WASM);
  const luaProgram = mixedLua(12);
  const luaWork = (engine: LuaEngine) =>
    String(engine.doStringSync(luaProgram));
  rows.push(...rowsOf(
    "Lua 5.4 (wasmoon): mixed Lua program",
    timeSides(
      await librarySides(lua, 3, (_, meter) => luaEngine(meter), luaWork),
      luaWork(await luaEngine()),
      { rounds: 5, iterations: 1 },
    ),
  ));
  rows.push(...await esbuildRows(3));
  const interpN = 100_000;
  rows.push(...rowsOf(
    `bytecode interpreter in C: primes below ${interpN / 1000}k`,
    timeSides(
      await guestSides(await Deno.readFile(INTERPRETER), 5, "run", [interpN]),
      String(primesBelow(interpN)),
      { rounds: 7, iterations: 1 },
    ),
  ));
  const sumN = 100_000_000;
  rows.push(...rowsOf(
    "sum_to(1e8) (compute.wasm, tight loop)",
    timeSides(
      await guestSides(await Deno.readFile(COMPUTE), 3, "sum_to", [sumN]),
      String(BigInt(sumN) * BigInt(sumN - 1) / 2n),
      { rounds: 5, iterations: 1 },
    ),
  ));
  rows.push(...await perCallRows(5));
  console.log(
    "\n## Real guests: metered / plain, every mode (issue targets: QuickJS <= 1.15, SQLite <= 1.10, interpreter <= 1.08, sum_to <= 1.5; deadline-only <= 1.05, sum_to <= 1.3)\n",
  );
  console.log(
    "QuickJS, SQLite, Lua and esbuild: metered through FuelMeter (docs/other-loaders.md), meter.run(work) with no budget to reach; stoppable = new FuelMeter(bytes) (resumable, the default),",
  );
  console.log(
    "trapping = new FuelMeter(bytes, { resumable: false }), timeout = the default meter with meter.run(work, { timeout: 1e9 }),",
  );
  console.log(
    "deadline-only (timeout) = new FuelMeter(bytes, { fuel: false }) with meter.run(work, { timeout: 1e9 }).",
  );
  console.log(
    "Interpreter, sum_to, per call: guest.invoke on loadGuest(bytes) (plain), { fuel: Infinity, interruptible: true } (stoppable: fuel checks and the stop flag both trap),",
  );
  console.log(
    "{ fuel: Infinity } (trapping, no flag), the stoppable guest with invoke(..., { timeout: 1e9 }) (timeout), { fuel: false } with invoke(..., { timeout: 1e9 }) (deadline-only).",
  );
  console.log(
    "Each side 3 (libraries, esbuild, sum_to) or 5 instances, timed in interleaved rounds; a side's time is the median over its instances of the median round.",
  );
  console.log(
    "CPU = the process's CPU time (V8's compiler and GC threads and the watchdog count); wall = elapsed time.\n",
  );
  printTable(
    ["guest", "mode", "plain CPU", "metered CPU", "CPU ratio", "wall ratio"],
    rows.map((row) => [
      row.guest,
      row.mode,
      formatNs(row.plain.cpu),
      formatNs(row.metered.cpu),
      cell(row, "cpu"),
      cell(row, "wall"),
    ]),
  );
}

if (import.meta.main) await benchReal();
