/**
 * Differential fuzzing of the fuel meter: random valid modules from
 * binaryen's translate-to-fuzz run metered and unmetered and must behave the
 * same (return values, traps, host-call logs, exported state).
 *
 * A fixed range of seeds runs here; `tests/fuzz_long.ts` (`deno task fuzz`)
 * runs many more. Either fails if it compared too few exports.
 * Reproduce one seed with `deno run --allow-read --allow-write --allow-run
 * --allow-env tests/fuzz_long.ts --seed N`.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { readSignatures } from "../src/module/signatures.ts";
import {
  compareRuns,
  coverageProblem,
  type FuzzModuleCache,
  FuzzModuleMaker,
  fuzzSeed,
  runModule,
  type SeedOutcome,
  type Transform,
} from "./support/fuzz/mod.ts";
import { FUZZ_REWRITES } from "./support/fuzz/rewrites.ts";

/** The fixed seeds: enough for every profile many times over, ~15 s. */
const FIRST_SEED = 1;
const SEED_COUNT = 500;
/** Fewer with a stop flag: its checks are few and simple. */
const STOP_FLAG_SEED_COUNT = 150;
/**
 * The modules the runs below make, kept for the next run: they share their
 * first seeds, and a seed's module is the same every time (the first test).
 * Making a module takes longer than metering and running it.
 */
const made: FuzzModuleCache = new Map();

Deno.test("translate-to-fuzz is deterministic per seed", async () => {
  const maker = await FuzzModuleMaker.create();
  try {
    const a = await maker.make(42);
    const b = await maker.make(42);
    const c = await maker.make(43);
    assert.deepEqual(a.bytes, b.bytes);
    assert.notDeepEqual(a.bytes, c.bytes);
    assert.ok(WebAssembly.validate(a.bytes as BufferSource));
    // The instance every command shares makes what one of its own does.
    assert.deepEqual((await maker.makeFresh(42)).bytes, a.bytes);
  } finally {
    await maker.close();
  }
});

Deno.test("the fuzz host records calls, results, traps and state", async () => {
  const wabt = await (await import("wabt")).default();
  const wat = `(module
    (import "fuzzing-support" "log-i32" (func $log (param i32)))
    (import "fuzzing-support" "call-export-catch" (func $catch (param i32) (result i32)))
    (memory (export "memory") 1)
    (global (export "g") (mut i64) (i64.const 5))
    (func (export "add") (param i32 i32) (result i32)
      (call $log (local.get 0))
      (i32.add (local.get 0) (local.get 1)))
    (func (export "trap") (unreachable))
    (func (export "catcher") (result i32)
      (i32.store (i32.const 8) (i32.const 7))
      (global.set 0 (i64.const -1))
      (call $catch (i32.const 99))))`;
  const parsed = wabt.parseWat("host.wat", wat);
  const bytes = parsed.toBinary({}).buffer;
  parsed.destroy();
  const iface = readSignatures(bytes);
  assert.deepEqual(
    iface.exportList.map((e) => `${e.kind} ${e.name}`),
    [
      "memory memory",
      "global g",
      "function add",
      "function trap",
      "function catcher",
    ],
  );
  assert.deepEqual(iface.exportList[2].signature, {
    params: ["i32", "i32"],
    results: ["i32"],
  });
  const run = runModule(bytes, iface);
  assert.equal(run.instantiation, "ok");
  assert.deepEqual(run.calls.map((c) => c.events.slice(0, -1)), [
    // add is export #2: its arguments are the i32 pool from slot 2 on.
    ["log-i32(-1)", "return 41"],
    ["throw RuntimeError: unreachable"],
    ["call-export-catch(99)", "return 1"],
  ]);
  assert.match(run.calls[2].events.at(-1)!, /^state memory=65536:\w+; g=-1n$/);
  assert.notEqual(run.calls[1].events.at(-1), run.calls[2].events.at(-1));

  // A changed log or result is reported with the export and event.
  const other = structuredClone(run);
  other.calls[0].events[1] = "return 40";
  const { mismatch } = compareRuns(run, other);
  assert.match(mismatch ?? "", /export add \(call #0\), event #1/);
  assert.deepEqual(compareRuns(run, structuredClone(run)), { compared: 3 });
});

/** Fuzzes `count` seeds from {@linkcode FIRST_SEED} and reports them. */
async function fuzzSeeds(transform: Transform, count: number): Promise<void> {
  const maker = await FuzzModuleMaker.create(made);
  const outcomes: SeedOutcome[] = [];
  const started = performance.now();
  try {
    for (let seed = FIRST_SEED; seed < FIRST_SEED + count; seed++) {
      outcomes.push(await fuzzSeed(maker, transform, seed));
    }
    // After hundreds of commands, the shared `wasm-opt` instance still
    // makes what a fresh one does.
    const last = FIRST_SEED + count - 1;
    assert.deepEqual(
      (await maker.makeFresh(last)).bytes,
      (await maker.make(last)).bytes,
      `seed ${last}: a fresh wasm-opt instance made other bytes`,
    );
  } finally {
    await maker.close();
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const sum = (f: (o: SeedOutcome) => number) =>
    outcomes.reduce((n, o) => n + f(o), 0);
  const failures = outcomes.filter((o) => o.failure !== undefined);
  const cut = outcomes.filter((o) => o.cut !== undefined);
  const refused = outcomes.filter((o) => o.refused !== undefined);
  const trapped = outcomes.filter((o) => o.instantiation !== "ok").length;
  const profiles = new Map<string, number>();
  for (const o of outcomes) {
    profiles.set(o.profile, (profiles.get(o.profile) ?? 0) + 1);
  }
  console.log(
    `fuzz: ${outcomes.length} modules (${
      [...profiles].map(([p, n]) => `${n} ${p}`).join(", ")
    }), ${sum((o) => o.compared)} of ${
      sum((o) => o.functions)
    } exports compared, ${trapped} failed to instantiate alike, ${
      sum((o) => o.refills)
    } fuel refills, ${cut.length} ` +
      `cut short (fuel or engine limits), ${refused.length} refused at a limit, ${failures.length} failed, ${seconds} s`,
  );
  for (const o of cut) console.log(`  seed ${o.seed}: cut short by ${o.cut}`);
  for (const o of refused) {
    console.log(`  seed ${o.seed}: refused at a limit: ${o.refused}`);
  }
  if (failures.length > 0) {
    assert.fail(
      `${failures.length} seeds failed:\n` +
        failures.map((o) => `seed ${o.seed} (${o.profile}): ${o.failure}`)
          .join("\n"),
    );
  }
  assert.equal(coverageProblem(outcomes), undefined);
}

Deno.test("metered fuzz modules behave like the originals", async () => {
  await fuzzSeeds(FUZZ_REWRITES.fuel!().transform, SEED_COUNT);
});

Deno.test("fuzz modules with a stop flag behave like the originals", async () => {
  await fuzzSeeds(
    FUZZ_REWRITES["stop-flag"]!().transform,
    STOP_FLAG_SEED_COUNT,
  );
});

Deno.test("fuzz modules whose stop flag stays set, but the host lets go, behave like the originals", async () => {
  const { transform, answers } = FUZZ_REWRITES["let-go"]!();
  await fuzzSeeds(transform, STOP_FLAG_SEED_COUNT);
  assert.ok(answers!() > 1000, `only ${answers!()} answers`);
});

Deno.test("a fuzz run that compares too few exports fails", () => {
  const run = (compared: number, functions: number, seeds = 500) =>
    coverageProblem(
      Array.from({ length: seeds }, () => ({ compared, functions })),
    );
  assert.equal(run(13, 13), undefined);
  assert.match(run(5, 5) ?? "", /only 2500 of 2500 exports compared/);
  assert.match(run(12, 20) ?? "", /60%/);
  assert.equal(run(0, 0, 10), undefined, "too few seeds to judge");
  // Refused at a limit: one in a hundred passes, more does not.
  const refusing = (refused: number) =>
    coverageProblem(
      Array.from({ length: 500 }, (_, i) => ({
        compared: 13,
        functions: 13,
        refused: i < refused ? "over a limit" : undefined,
      })),
    );
  assert.equal(refusing(5), undefined);
  assert.match(refusing(6) ?? "", /6 of 500 seeds refused at a limit/);
});
