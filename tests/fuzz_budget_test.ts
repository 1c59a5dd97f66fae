/**
 * A guest never gets work done that it has not paid for, on random modules:
 * each export of a fuzz module runs once with fuel to spare, which gives
 * what it had spent by each call it made to the host and by its return;
 * then, from the same state, with one unit less than it had spent by one of
 * those points, where it must be stopped before it reaches that point. The
 * checks that test for more than their own segment (a dispatch's margin, a
 * then-arm paid with what comes before the `if`) let some segments pay
 * without a test; were a way through them left out of what the test asks
 * for, the guest would reach the point here with its counter below zero.
 *
 * @module
 */

import assert from "./support/assert.ts";
import { readSignatures } from "../src/module/signatures.ts";
import { instrument } from "../src/wasm/instrument.ts";
import {
  type FuzzModuleCache,
  FuzzModuleMaker,
  runModule,
  type Transform,
} from "./support/fuzz/mod.ts";
import { withAddedImports } from "./support/stop_flag.ts";

/**
 * The seeds, fewer than behaviour fuzzing's: each export runs again for
 * each of its points. Seed 25 holds a dispatch whose case returns: a margin
 * one unit short there is found (tried by hand).
 */
const FIRST_SEED = 1;
const SEED_COUNT = 120;
/** The seeds of the other rewrites, whose checks are placed the same. */
const FLAG_SEED_COUNT = 40;
/** Fuel no fuzz export spends: the reference runs never ask for more. */
const PLENTY = 1n << 60n;

const made: FuzzModuleCache = new Map();

/** What one rewriter's runs found. */
interface Tally {
  points: number;
  failures: string[];
}

/** A point of an export's run, and what the export had spent by then. */
interface Point {
  /** How many calls to the host came before it. */
  before: number;
  /** What it is, for a message. */
  what: string;
  spent: bigint;
}

async function shortByOne(
  transform: Transform,
  seeds: number,
): Promise<Tally> {
  const maker = await FuzzModuleMaker.create(made);
  const tally: Tally = { points: 0, failures: [] };
  try {
    for (let seed = FIRST_SEED; seed < FIRST_SEED + seeds; seed++) {
      const { bytes } = await maker.make(seed);
      const iface = readSignatures(bytes);
      const metered = transform(bytes);
      // Every export with fuel to spare, and no refill: `budget` 0.
      const reference = runModule(metered.bytes, iface, {
        meter: metered,
        budget: 0n,
        startFuel: () => PLENTY,
      });
      if (reference.instantiation !== "ok") continue;
      const exports = reference.calls.flatMap((call, index) => {
        // A call the fuzz host stopped, or one of the engine's limits, is
        // not a finished run to measure.
        if (reference.stop?.at === index) return [];
        const points: Point[] = [...call.counters!].map((
          [event, counter],
          i,
        ) => ({
          before: i,
          what: `its call ${call.events[event]}`,
          spent: PLENTY - counter,
        }));
        if (call.events.at(-2)?.startsWith("return")) {
          points.push({
            before: points.length,
            what: "its return",
            spent: PLENTY - call.fuelLeft!,
          });
        }
        const paid = points.filter((point) => point.spent > 0n);
        if (paid.length === 0) return [];
        return [{ index, name: call.name, points: paid }];
      });
      for (const { index, name, points } of exports) {
        for (const point of points) {
          tally.points++;
          // The same calls before it, from the same state; then one unit
          // short of the point.
          const short = runModule(metered.bytes, iface, {
            meter: metered,
            budget: 0n,
            maxCalls: index + 1,
            startFuel: (call) => call === index ? point.spent - 1n : PLENTY,
          });
          const call = short.calls[index];
          const hostCalls = call?.counters?.size ?? 0;
          const returned = call?.events.at(-2)?.startsWith("return") ?? false;
          const reached = hostCalls > point.before ||
            (point.what === "its return" && returned);
          // The host refused fuel (resumable checks), or a trapping check
          // folded the counter below zero as it trapped.
          const ranOut = short.stop?.reason === "fuel" ||
            (call?.events.at(-2)?.startsWith("throw") === true &&
              call.fuelLeft! < 0n);
          if (!reached && ranOut) continue;
          tally.failures.push(
            `seed ${seed}, export ${name} (call #${index}) had spent ${point.spent} by ${point.what}, yet with ${
              point.spent - 1n
            } it ${
              reached
                ? "reached it"
                : `ended without running out (${call?.events.at(-2)})`
            }`,
          );
        }
      }
    }
  } finally {
    await maker.close();
  }
  return tally;
}

const TRANSFORMS: [string, Transform, number][] = [
  ["resumable checks", (bytes) => instrument(bytes), SEED_COUNT],
  [
    "trapping checks",
    (bytes) => instrument(bytes, { resumable: false }),
    FLAG_SEED_COUNT,
  ],
  [
    "checks that read a stop flag",
    (bytes) => withAddedImports(instrument(bytes, { stopFlag: true })),
    FLAG_SEED_COUNT,
  ],
  [
    "checks that read a stop flag kept set, which the host lets go",
    (bytes) =>
      withAddedImports(instrument(bytes, { stopFlag: true }), { answers: 0 }),
    FLAG_SEED_COUNT,
  ],
];

for (const [label, transform, seeds] of TRANSFORMS) {
  Deno.test(`fuzz: no export gets to a call or its return with one unit of fuel less than it had spent by then (${label})`, async () => {
    const tally = await shortByOne(transform, seeds);
    console.log(
      `fuzz budgets (${label}): ${tally.points} points one unit short, ${tally.failures.length} reached`,
    );
    // Enough points to say something: most seeds give dozens.
    assert.ok(tally.points >= 20 * seeds, `only ${tally.points} points`);
    assert.deepEqual(tally.failures, []);
  });
}
